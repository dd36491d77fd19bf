"""Rows of the cycle views, as one shape shared by ClickHouse and the in-memory aggregator.

`CounterRow` is a row of `cycle_counters` (sum and distinct meters), `PeakRow` a row of
`cycle_peaks` (delta and set gauges: opening, peak and end value). Instants are aware UTC;
quantities are `Decimal`. `AggregateRows` holds both lists, sorted like
`projections.queries.counters` / `peaks` (account, cycle start, meter).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal


def utc(t: datetime) -> datetime:
    """An aware UTC instant (ClickHouse returns naive UTC datetimes)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True, order=True)
class CounterRow:
    account: str
    cycle_start: datetime
    cycle_end: datetime
    meter: str
    value: Decimal
    events: int


@dataclass(frozen=True, order=True)
class PeakRow:
    account: str
    cycle_start: datetime
    cycle_end: datetime
    meter: str
    opening: Decimal
    peak: Decimal
    end_value: Decimal
    events: int


@dataclass(frozen=True)
class AggregateRows:
    counters: tuple[CounterRow, ...]
    peaks: tuple[PeakRow, ...]

    @classmethod
    def of(cls, counters: Iterable[CounterRow], peaks: Iterable[PeakRow]) -> AggregateRows:
        return cls(tuple(sorted(counters)), tuple(sorted(peaks)))

    def for_account(self, account: str) -> AggregateRows:
        return AggregateRows(tuple(r for r in self.counters if r.account == account),
                             tuple(r for r in self.peaks if r.account == account))
