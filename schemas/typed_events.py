"""Every event type as one model (envelope + that type's data), for one validator call.

`TYPED_EVENT.validate_json(raw)` checks a whole record, envelope and data, in one
pydantic-core call, discriminated on `type`. It is stricter than the two steps it stands
for (`CloudEvent`, then `EVENT_DATA[type]`): no extension attributes, `data` required.
Whatever it refuses goes the two-step way (`core.validate`), which names the reason; what
it accepts, the two steps accept with the same values (a contract test keeps them in step).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from schemas.envelope import Envelope
from schemas.events import EVENT_DATA


class TypedEvent(Envelope):
    """An envelope with its validated data (one model per type, below)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    data: BaseModel


def _typed(event_type: str, data: type[BaseModel]) -> type[TypedEvent]:
    name = "Typed_" + event_type.replace(".", "_")
    literal = cast(Any, Literal)[event_type]
    return create_model(name, __base__=TypedEvent, type=(literal, ...), data=(data, ...))


TYPED_MODELS: dict[str, type[TypedEvent]] = {t: _typed(t, m) for t, m in EVENT_DATA.items()}
_ONE_OF: Any = Annotated[cast(Any, Union)[tuple(TYPED_MODELS.values())],
                         Field(discriminator="type")]
TYPED_EVENT: TypeAdapter[TypedEvent] = TypeAdapter(_ONE_OF)
