"""Read the ClickHouse cycle views into `AggregateRows` (the shape the memory aggregator gives).

SQL text with bound parameters only (the database name is a validated identifier).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from projections.aggregate_rows import AggregateRows, CounterRow, PeakRow, utc
from projections.queries import Query

COUNTER_COLUMNS = "account, cycle_start, cycle_end, meter, value, events"
PEAK_COLUMNS = "account, cycle_start, cycle_end, meter, opening, peak, end_value, events"


def _view_query(db: str, view: str, columns: str, account: str | None) -> Query:
    parts = ["SELECT", columns, "FROM", f"{db}.{view}"]
    params: dict[str, str] = {}
    if account is not None:
        parts.append("WHERE account = {account:String}")
        params["account"] = account
    parts.append("ORDER BY account, cycle_start, meter")
    return Query(" ".join(parts), dict(params))


def counters_query(db: str, account: str | None = None) -> Query:
    return _view_query(db, "cycle_counters", COUNTER_COLUMNS, account)


def peaks_query(db: str, account: str | None = None) -> Query:
    return _view_query(db, "cycle_peaks", PEAK_COLUMNS, account)


def read_aggregates(client: Any, db: str, account: str | None = None) -> AggregateRows:
    """Every counter and peak row of the views (optionally of one account)."""
    counters = [
        CounterRow(a, utc(start), utc(end), meter, Decimal(value), int(events))
        for a, start, end, meter, value, events in counters_query(db, account).rows(client)
    ]
    peaks = [
        PeakRow(a, utc(start), utc(end), meter, Decimal(opening), Decimal(peak),
                Decimal(end_value), int(events))
        for a, start, end, meter, opening, peak, end_value, events
        in peaks_query(db, account).rows(client)
    ]
    return AggregateRows.of(counters, peaks)
