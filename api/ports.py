"""What the API needs from the outside, as protocols (the real ones: `AccountView`,
`producers.MeteringProducer`; unit tests pass fakes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from core.accounts import AccountState
from schemas.envelope import CloudEvent


class StateView(Protocol):
    def get(self, account: str) -> AccountState | None: ...

    def wait_for(self, account: str, offset: int,
                 timeout: float = 10.0) -> AccountState | None: ...


class EventProducer(Protocol):
    """Sends validated CloudEvents to the events topic, keyed by account (acks=all).
    `send` returns a future whose `get(timeout)` gives the record's partition and offset."""

    def build(self, event_type: str, account: str, data: dict[str, Any], *,
              id: str | None = None, time: datetime | None = None,
              source: str | None = None) -> CloudEvent: ...

    def send(self, event: CloudEvent, timestamp_ms: int | None = None) -> Any: ...

    def close(self, timeout: float | None = None) -> None: ...
