"""The CloudEvents 1.0 envelope in structured JSON mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1
"""Version of the event contract; part of every JSON Schema file name."""


class CloudEvent(BaseModel):
    """One event. (`source`, `id`) is its idempotency key; `subject` is the account id."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=128)
    subject: str = Field(min_length=1, max_length=128, description="The account id.")
    time: datetime = Field(description="RFC 3339; UTC or with an offset; stored as UTC.")
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("time")
    @classmethod
    def _aware_utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        return v.astimezone(UTC)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.id)
