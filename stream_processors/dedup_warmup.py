"""Warm the in-process deduplicator from the tail of the metered topic.

The window of (account, source, id) first-seen offsets lives in memory, so a restart or a
rebalance would forget it: a copy of an event processed before the restart would then
pass the early filter. The usage log still counts it once (FINAL), but the live limits
would count it twice. Reading back the newest metered records (which carry every
accepted event's id and input offset) restores the window before the first batch.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from core.process import Deduplicator
from infra.topics import read_to_end
from schemas.metered_wire import decode_batch, row_keys

log = structlog.get_logger(__name__)


def warm_dedup(bootstrap: str, metered_topic: str, dedup: Deduplicator,
               messages_per_partition: int, timeout: float = 120.0) -> int:
    """Remember the events of the last `messages_per_partition` metered messages of every
    partition (oldest first, so the window keeps the newest); the number remembered."""
    started = time.monotonic()
    seen = 0

    def one(record: Any) -> None:
        nonlocal seen
        for account, source, event_id, offset in row_keys(decode_batch(record.value)[1]):
            dedup.is_duplicate(account, source, event_id, offset)
            seen += 1

    try:
        read_to_end(bootstrap, metered_topic, one, last=messages_per_partition,
                    timeout=timeout)
    except TimeoutError:  # a first filter only: the usage log deduplicates exactly anyway
        log.warning("dedup.warm_incomplete", events=seen)
    log.info("dedup.warmed", events=seen, seconds=round(time.monotonic() - started, 3))
    return seen
