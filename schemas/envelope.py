"""The CloudEvents 1.0 envelope in structured JSON mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1
"""Version of the event contract; part of every JSON Schema file name."""
EARLIEST = datetime(1970, 2, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Event times are in [EARLIEST, LATEST): their cycles then fit ClickHouse `DateTime`
(1970-01-01 .. 2106-02-07), which holds the cycle bounds of the usage log."""


TIME_PATTERN = r"^(1970-(0[2-9]|1[0-2])|197[1-9]-\d\d|19[89]\d-\d\d|20\d\d-\d\d)-"
"""The year range of `time` as far as a pattern can say it (an offset can still move an
instant at the edges out of range: the validator has the last word)."""


def _time_text(value: Any) -> Any:
    """`time` is an RFC 3339 string (or a `datetime`), never a number."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("time must be an RFC 3339 string")


JsonTime = Annotated[datetime, BeforeValidator(_time_text), Field(strict=False)]


class Envelope(BaseModel):
    """The attributes every event carries beside its data (what the decision reads)."""

    model_config = ConfigDict(frozen=True, strict=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=128)
    subject: str = Field(min_length=1, max_length=128, description="The account id.")
    time: JsonTime = Field(description="RFC 3339; UTC or with an offset; stored as UTC; "
                                       "from 1970-02-01 (included) to 2100-01-01.",
                           json_schema_extra={"pattern": TIME_PATTERN})
    datacontenttype: str | None = None
    dataschema: str | None = None

    @field_validator("time")
    @classmethod
    def _aware_utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        try:
            v = v.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00: before the first UTC datetime
            v = datetime.min.replace(tzinfo=UTC)
        if not EARLIEST <= v < LATEST:
            raise ValueError("time out of range (1970-02-01 .. 2100-01-01)")
        return v

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.id)


class CloudEvent(Envelope):
    """One event. (`source`, `id`) is its idempotency key; `subject` is the account id."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    data: dict[str, Any] = Field(default_factory=dict)
