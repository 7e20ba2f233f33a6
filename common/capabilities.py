"""What a model served through mictl takes, as /v1/models says it (the
instance's and the front router's). Every site's tools and JSON output are
emulated through the prompt (instance_runner/speak/)."""

from __future__ import annotations

from typing import Literal

import msgspec


class Capabilities(msgspec.Struct, frozen=True):
    tools: Literal["native", "emulated", "none"] = "emulated"
    response_format: Literal["native", "emulated", "none"] = "emulated"
    images: Literal["true", "false", "unknown"] = "unknown"  # not sent to pages yet


EMULATED = Capabilities()
