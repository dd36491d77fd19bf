"""One produced record of a test workload, and how test events are written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Record:
    key: bytes | None
    value: bytes
    arrival: datetime
    expect: str  # "accept", "duplicate" or a rejection reason
    event_key: tuple[str, str] | None = None

    @property
    def ts_ms(self) -> int:
        return int(self.arrival.timestamp() * 1000)


def event_doc(etype: str, account: str | None, t: datetime, data: dict[str, Any], eid: str,
              source: str = "urn:test:svc") -> dict[str, Any]:
    ev: dict[str, Any] = {"specversion": "1.0", "id": eid, "source": source, "type": etype,
                          "time": t.isoformat().replace("+00:00", "Z"), "data": data}
    if account is not None:
        ev["subject"] = account
    return ev


def as_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
