"""Send CloudEvents with record time = event time (a replayed log), for scenario tests."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from producers import MeteringProducer, ProducerSettings

_ids = count()


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Sender:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.producer = MeteringProducer(bootstrap, ProducerSettings(topic_prefix=prefix,
                                                                     linger_ms=5))
        self.futures: list[Any] = []
        self.sent = 0

    def send(self, account: str, etype: str, data: dict[str, Any], at: datetime,
             eid: str | None = None, received: datetime | None = None) -> None:
        """`received`: the record timestamp (default: the event time, a replayed log)."""
        doc = {"specversion": "1.0", "id": eid or f"ev-{next(_ids)}", "source": "urn:test",
               "type": etype, "subject": account, "time": iso(at), "data": data}
        stamp = received or at
        self.futures.append(self.producer.send(doc, timestamp_ms=int(stamp.timestamp() * 1000)))
        self.sent += 1

    def flush(self) -> list[tuple[int, int]]:
        self.producer.flush()
        placed = [(m.partition, m.offset) for m in (f.get(timeout=60) for f in self.futures)]
        self.futures = []
        return placed

    def close(self) -> None:
        self.producer.close()
