"""The metered topic's wire format: rows ready for ClickHouse to parse.

One message is one input partition range: a header line (`MeteredBatchHeader`, JSON),
then the accepted events of the range as `usage_log` rows in ClickHouse's JSONEachRow
format, one JSON object per line (`UsageRow` documents them). The sink inserts the rows as
they came (`raw_insert`, format JSONEachRow, `date_time_input_format=best_effort`): no
Python per row on its side. The worker encodes each row once with orjson (`encode_row`),
without a pydantic model on the way out.

[first_offset, last_offset] covers every input record of the range, including rejected
and duplicate ones, so the sink can report ingest progress exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas.records import MeteredEvent

MAX_VERSION = 2**63 - 1
USAGE_COLUMNS = [
    "account", "source", "id", "type", "event_time", "cycle_start", "cycle_end", "meters",
    "kinds", "quantities", "dim", "data", "src_partition", "src_offset", "received_at",
    "version",
]
ROW_SETTINGS = {"date_time_input_format": "best_effort"}
"""ClickHouse input setting the rows need (their times are RFC 3339 with an offset)."""


class MeteredBatchHeader(BaseModel):
    """The first line of a metered message."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    max_timestamp: datetime | None = Field(
        None, description="Newest record timestamp of the range: the stream's watermark.")
    rows: int = Field(0, description="Number of row lines after the header.")


class UsageRow(BaseModel):
    """One row line of a metered message: a `usage_log` row (column names as keys)."""

    model_config = ConfigDict(frozen=True)

    account: str
    source: str
    id: str
    type: str
    event_time: datetime
    cycle_start: datetime
    cycle_end: datetime
    meters: list[str]
    kinds: list[str]
    quantities: list[Decimal]
    dim: str
    data: str = Field(description="The stored event data, JSON with sorted keys.")
    src_partition: int
    src_offset: int
    received_at: datetime
    version: int = Field(description="MAX_VERSION - src_offset: the first arrival wins "
                                     "under FINAL.")


def _plain(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent: ClickHouse parses it as a Decimal
    raise TypeError(f"{type(value).__name__} is not a row value")


def usage_row(m: MeteredEvent) -> dict[str, Any]:
    """The `usage_log` row of an accepted event (column -> value)."""
    meters = m.meters
    return {
        "account": m.account, "source": m.source, "id": m.id, "type": m.type,
        "event_time": m.time, "cycle_start": m.cycle_start, "cycle_end": m.cycle_end,
        "meters": [v.meter for v in meters], "kinds": [v.kind for v in meters],
        "quantities": [v.quantity for v in meters], "dim": m.dim,
        "data": orjson.dumps(m.data, option=orjson.OPT_SORT_KEYS).decode(),
        "src_partition": m.partition, "src_offset": m.offset, "received_at": m.received_at,
        "version": MAX_VERSION - m.offset,
    }


def encode_row(m: MeteredEvent) -> bytes:
    """One JSONEachRow line (without its newline)."""
    return orjson.dumps(usage_row(m), default=_plain)


def encode_batch(header: MeteredBatchHeader, rows: Sequence[bytes]) -> bytes:
    head = header.model_copy(update={"rows": len(rows)}).model_dump_json().encode()
    return b"\n".join((head, *rows))


def decode_batch(blob: bytes) -> tuple[MeteredBatchHeader, bytes]:
    """(header, the JSONEachRow rows as one block, possibly empty)."""
    head, _, rows = blob.partition(b"\n")
    return MeteredBatchHeader.model_validate_json(head), rows


def row_keys(rows: bytes) -> Iterator[tuple[str, str, str, int]]:
    """(account, source, id, input offset) of each row of a block."""
    for line in rows.splitlines():
        if line:
            d = orjson.loads(line)
            yield d["account"], d["source"], d["id"], d["src_offset"]
