"""What a model served through mictl takes, as /v1/models says it (the
instance's and the front router's). Every site's tools and JSON output are
emulated through the prompt (instance_runner/speak/); images go in where
the site file's [upload] says the model takes them."""

from __future__ import annotations

from typing import Literal

import msgspec


class Capabilities(msgspec.Struct, frozen=True):
    tools: Literal["native", "emulated", "none"] = "emulated"
    response_format: Literal["native", "emulated", "none"] = "emulated"
    # The instance knows (its site file's [upload]); None where it is not
    # known (the front's list joins many accounts' sites).
    images: bool | None = None


EMULATED = Capabilities()
