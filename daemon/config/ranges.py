"""Value ranges of config keys, as msgspec constraints: a value outside one
is refused naming its key (at --check-config and at reload alike). Shared by
schema.py and fleet.py, which import nothing else of each other's.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Count = Annotated[int, msgspec.Meta(ge=0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
SecondsOrZero = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
# A utilisation (in flight plus queued over capacity): above 1 when requests queue.
Utilisation = Annotated[float, msgspec.Meta(ge=0)]
