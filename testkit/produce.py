"""Produce a generated workload through the real producer library; return each record's
(partition, offset)."""

from __future__ import annotations

from producers import MeteringProducer, ProducerSettings
from testkit.workload import Record


def produce(bootstrap: str, prefix: str, records: list[Record]) -> list[tuple[int, int]]:
    producer = MeteringProducer(
        bootstrap, ProducerSettings(topic_prefix=prefix, linger_ms=5),
        max_request_size=4_000_000)
    futures = [producer.send_raw(r.key, r.value, timestamp_ms=r.ts_ms) for r in records]
    producer.flush()
    placed = []
    for f in futures:
        meta = f.get(timeout=60)
        placed.append((meta.partition, meta.offset))
    producer.close()
    return placed
