"""Warm the in-process deduplicator from the tail of the metered topic.

The window of (account, source, id) first-seen offsets lives in memory, so a restart or a
rebalance would forget it: a copy of an event processed before the restart would then
pass the early filter. The usage log still counts it once (FINAL), but the live limits
would count it twice. Reading back the newest metered records (which carry every
accepted event's id and input offset) restores the window before the first batch.
"""

from __future__ import annotations

import time

import orjson
import structlog
from kafka import KafkaConsumer, TopicPartition

from stream_processors.process import Deduplicator

log = structlog.get_logger(__name__)


def warm_dedup(bootstrap: str, metered_topic: str, dedup: Deduplicator,
               messages_per_partition: int, timeout: float = 120.0) -> int:
    """Remember the events of the last `messages_per_partition` metered messages of every
    partition (oldest first, so the window keeps the newest); the number remembered."""
    started = time.monotonic()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             group_id=None, auto_offset_reset="earliest",
                             fetch_max_bytes=64 * 1024 * 1024)
    seen = 0
    try:
        parts = consumer.partitions_for_topic(metered_topic) or set()
        tps = [TopicPartition(metered_topic, p) for p in sorted(parts)]
        if not tps:
            return 0
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(0, end[tp] - messages_per_partition))
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining and time.monotonic() - started < timeout:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    batch = orjson.loads(record.value)
                    for e in batch["events"]:
                        dedup.is_duplicate(e["account"], e["source"], e["id"], e["offset"])
                        seen += 1
            for tp in list(remaining):
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()
    log.info("dedup.warmed", events=seen, seconds=round(time.monotonic() - started, 3))
    return seen
