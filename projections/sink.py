"""Idempotent batch writes of metered and rejected records to ClickHouse.

Two layers of idempotence (DESIGN.md section 3):
- an `insert_deduplication_token` from (topic, partition, first offset, last offset) makes a
  retried insert of the same batch a no-op;
- usage_log is a ReplacingMergeTree keyed by (account, source, id), read with FINAL, with a
  version that prefers the first arrival; so producer duplicates and replays with other
  batch bounds still count once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from infra.metrics import INSERT_SECONDS, ROWS_INSERTED
from projections.client import INSERT_SETTINGS
from schemas.metered_wire import ROW_SETTINGS, USAGE_COLUMNS, encode_row
from schemas.records import MeteredEvent, RejectedEvent

REJECTED_COLUMNS = [
    "reason", "detail", "topic", "src_partition", "src_offset", "received_at", "raw",
    "raw_size", "source", "id", "account", "type",
]
PROGRESS_COLUMNS = ["consumer", "topic", "partition", "next_offset", "watermark"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALERT_COLUMNS = [
    "id", "account", "product", "plan", "meter", "kind", "threshold", "level", "value",
    "limit_value", "crossed_at", "cycle_start", "cycle_end", "projected",
    "projected_overage_cost", "currency", "exhausts_at", "src_offset",
]
DECISION_COLUMNS = [
    "id", "account", "product", "meter", "kind", "reason", "plan", "target_plan",
    "limit_value", "capacity", "unit_price", "cost", "currency", "pricebook", "at",
    "effective", "cycle_start", "cycle_end", "src_offset",
]


def _opt_ts(value: str | None) -> datetime | None:
    return None if value is None else _ts(value)


def _opt_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def alert_row(d: dict[str, Any]) -> list[Any]:
    """An alerts row from an Alert in its JSON form (as on the alerts topic)."""
    return [
        d["id"], d["account"], d["product"], d["plan"], d["meter"], d["kind"], d["threshold"],
        Decimal(d["level"]), Decimal(d["value"]), _opt_dec(d.get("limit")),
        _ts(d["crossed_at"]), _ts(d["cycle_start"]), _ts(d["cycle_end"]),
        Decimal(d["projected"]), Decimal(d["projected_overage_cost"]), d["currency"],
        _opt_ts(d.get("exhausts_at")), d.get("offset", -1),
    ]


def decision_row(d: dict[str, Any]) -> list[Any]:
    """A decisions row from a Decision in its JSON form (as on the decisions topic)."""
    return [
        d["id"], d["account"], d["product"], d["meter"], d["kind"], d["reason"], d["plan"],
        d.get("target_plan"), Decimal(d["limit"]), Decimal(d["capacity"]),
        Decimal(d["unit_price"]), Decimal(d["cost"]), d["currency"], d["pricebook"],
        _ts(d["at"]), _opt_ts(d.get("effective")), _ts(d["cycle_start"]),
        _ts(d["cycle_end"]), d.get("offset", -1),
    ]


def batch_token(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    return f"{topic}:{partition}:{first_offset}-{last_offset}"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


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
        with INSERT_SECONDS.labels(table=table).time():
            self._client.insert(
                f"{self._db}.{table}", rows, column_names=columns,
                settings={**INSERT_SETTINGS, "insert_deduplication_token": token},
            )
        ROWS_INSERTED.labels(table=table).inc(len(rows))

    def write_metered(self, topic: str, partition: int, first: int, last: int,
                      records: Sequence[MeteredEvent]) -> None:
        self.write_rows(topic, partition, first, last,
                        b"\n".join(encode_row(m) for m in records))

    def write_rows(self, topic: str, partition: int, first: int, last: int,
                   rows: bytes) -> None:
        """usage_log rows (a JSONEachRow block, `schemas.metered_wire`) of one metered-topic
        range, with that range's dedup token; ClickHouse parses them."""
        if not rows.strip():
            return
        with INSERT_SECONDS.labels(table="usage_log").time():
            self._client.raw_insert(
                f"{self._db}.usage_log", USAGE_COLUMNS, insert_block=rows, fmt="JSONEachRow",
                settings={**INSERT_SETTINGS, **ROW_SETTINGS,
                          "insert_deduplication_token": batch_token(topic, partition, first,
                                                                    last)})
        ROWS_INSERTED.labels(table="usage_log").inc(rows.strip().count(b"\n") + 1)

    def write_rejected(self, topic: str, partition: int, first: int, last: int,
                       records: Sequence[RejectedEvent]) -> None:
        token = batch_token(topic, partition, first, last)
        self._insert("rejected_events", [rejected_row(r) for r in records], REJECTED_COLUMNS,
                     token)

    def write_docs(self, table: str, topic: str, partition: int, first: int, last: int,
                   docs: Sequence[dict[str, Any]]) -> None:
        """Alerts or decisions (JSON documents) of one topic range, deduplicated by id."""
        if table == "alerts":
            rows, columns = [alert_row(d) for d in docs], ALERT_COLUMNS
        elif table == "decisions":
            rows, columns = [decision_row(d) for d in docs], DECISION_COLUMNS
        else:
            raise ValueError(f"no such document table {table!r}")
        self._insert(table, rows, columns, batch_token(topic, partition, first, last))

    def write_progress(self, progress: dict[tuple[str, int], int],
                       watermarks: dict[tuple[str, int], datetime] | None = None) -> None:
        """Next offset (and the newest record time seen) per (topic, partition)."""
        marks = watermarks or {}
        rows = [[self._consumer, topic, partition, next_offset,
                 marks.get((topic, partition), EPOCH)]
                for (topic, partition), next_offset in sorted(progress.items())]
        if rows:
            self._client.insert(f"{self._db}.ingest_progress", rows,
                                column_names=PROGRESS_COLUMNS, settings=INSERT_SETTINGS)
