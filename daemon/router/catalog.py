"""`GET /v1/models` and `GET /v1/models/{id}` of the front: what the pool
serves, as OpenAI model objects (the official SDK's `models.list()` and
`models.retrieve(id)`). An id the pool does not serve is an OpenAI-shaped
404 naming what it does serve. Pure: a set of model ids in, bytes out.
"""

from __future__ import annotations

import msgspec

from common.capabilities import EMULATED, Capabilities


class ModelObject(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "mictl"
    capabilities: Capabilities = EMULATED


class ModelList(msgspec.Struct):
    data: list[ModelObject | dict[str, object]]
    object: str = "list"


class UnknownModel(Exception):
    """An id the pool does not serve; the message names what it serves."""

    def __init__(self, model: str, known: set[str]) -> None:
        served = ", ".join(sorted(known)) or "none yet"
        super().__init__(f"The model '{model}' does not exist (served: {served})")


def listing(known: set[str], extra: list[dict[str, object]] | None = None) -> bytes:
    """Every model served, then `extra` entries (the aliases)."""
    models: list[ModelObject | dict[str, object]] = [ModelObject(m) for m in sorted(known)]
    return msgspec.json.encode(ModelList(models + (extra or [])))


def retrieve(known: set[str], model: str) -> bytes:
    """The model object of `model`, or UnknownModel."""
    if model not in known:
        raise UnknownModel(model, known)
    return msgspec.json.encode(ModelObject(model))
