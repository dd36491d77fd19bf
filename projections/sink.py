"""Idempotent batch writes of metered and rejected records to ClickHouse.

Two layers of idempotence (DESIGN.md section 3):
- an `insert_deduplication_token` from (topic, partition, first offset, last offset) makes a
  retried insert of the same batch a no-op;
- usage_log is a ReplacingMergeTree keyed by (account, source, id), read with FINAL, with a
  version that prefers the first arrival; so producer duplicates and replays with other
  batch bounds still count once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from projections.client import INSERT_SETTINGS
from schemas.records import MeteredEvent, RejectedEvent

MAX_VERSION = 2**63 - 1

USAGE_COLUMNS = [
    "account", "source", "id", "type", "event_time", "cycle_start", "cycle_end", "meters",
    "kinds", "quantities", "dim", "data", "src_partition", "src_offset", "received_at",
    "version",
]
REJECTED_COLUMNS = [
    "reason", "detail", "topic", "src_partition", "src_offset", "received_at", "raw",
    "raw_size", "source", "id", "account", "type",
]
PROGRESS_COLUMNS = ["consumer", "topic", "partition", "next_offset"]


def batch_token(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    return f"{topic}:{partition}:{first_offset}-{last_offset}"


def usage_row(m: MeteredEvent) -> list[Any]:
    return [
        m.account, m.source, m.id, m.type, m.time, m.cycle_start, m.cycle_end,
        [v.meter for v in m.meters], [v.kind for v in m.meters], [v.quantity for v in m.meters],
        m.dim, json.dumps(m.data, sort_keys=True, default=str), m.partition, m.offset,
        m.received_at,
        MAX_VERSION - m.offset,  # first arrival (lowest offset) wins under FINAL
    ]


def rejected_row(r: RejectedEvent) -> list[Any]:
    return [
        r.reason.value, r.detail, r.topic, r.partition, r.offset, r.received_at, r.raw,
        r.raw_size, r.source, r.id, r.account, r.type,
    ]


class ClickHouseSink:
    """Writes one Kafka batch (one topic partition range) at a time; blocking calls."""

    def __init__(self, client: Any, database: str, consumer: str) -> None:
        self._client = client
        self._db = database
        self._consumer = consumer

    def _insert(self, table: str, rows: Sequence[Sequence[Any]], columns: list[str],
                token: str) -> None:
        if not rows:
            return
        self._client.insert(
            f"{self._db}.{table}", rows, column_names=columns,
            settings={**INSERT_SETTINGS, "insert_deduplication_token": token},
        )

    def write_metered(self, topic: str, partition: int, first: int, last: int,
                      records: Sequence[MeteredEvent]) -> None:
        token = batch_token(topic, partition, first, last)
        self._insert("usage_log", [usage_row(m) for m in records], USAGE_COLUMNS, token)

    def write_rejected(self, topic: str, partition: int, first: int, last: int,
                       records: Sequence[RejectedEvent]) -> None:
        token = batch_token(topic, partition, first, last)
        self._insert("rejected_events", [rejected_row(r) for r in records], REJECTED_COLUMNS,
                     token)

    def write_progress(self, topic: str, partition: int, next_offset: int) -> None:
        self._client.insert(
            f"{self._db}.ingest_progress", [[self._consumer, topic, partition, next_offset]],
            column_names=PROGRESS_COLUMNS, settings=INSERT_SETTINGS,
        )
