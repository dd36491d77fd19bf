"""Billing cycle arithmetic: half-open [start, end) intervals in UTC.

Monthly cycles run from an anchor day. When a month is shorter than the anchor day the
cycle boundary falls on that month's last day, and the following boundary returns to the
anchor day (Jan 31 -> Feb 28/29 -> Mar 31). Boundaries are at 00:00 UTC.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time


@dataclass(frozen=True, order=True)
class Cycle:
    """One billing cycle, the half-open interval [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("cycle boundaries must be timezone-aware")
        if not self.start < self.end:
            raise ValueError("cycle start must be before its end")

    @property
    def id(self) -> str:
        """A stable key for the cycle of one account: its start date, ISO formatted."""
        return self.start.date().isoformat()

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end


def _require_aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {t!r}")
    return t.astimezone(UTC)


def add_months(anchor: date, months: int) -> date:
    """The anchor day `months` months later, clamped to the last day of a shorter month."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor.day, last))


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def cycle_containing(anchor: date, t: datetime, months: int = 1) -> Cycle:
    """The cycle of `months` months anchored on `anchor` that contains instant `t`.

    Works for instants before the anchor too (cycle index negative), which lets a late
    subscription event still place earlier usage deterministically.
    """
    if months < 1:
        raise ValueError("a cycle lasts at least one month")
    t = _require_aware(t)
    day = t.date()
    elapsed = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    n = elapsed // months
    # At most two corrections: the guess can be one cycle late or early around the anchor day.
    while _midnight(add_months(anchor, n * months)) > t:
        n -= 1
    while _midnight(add_months(anchor, (n + 1) * months)) <= t:
        n += 1
    return Cycle(
        _midnight(add_months(anchor, n * months)),
        _midnight(add_months(anchor, (n + 1) * months)),
    )


def calendar_month(t: datetime) -> Cycle:
    """The calendar month containing `t` (cycles anchored on the 1st)."""
    return cycle_containing(date(2000, 1, 1), t)


def next_cycle(cycle: Cycle, anchor: date, months: int = 1) -> Cycle:
    return cycle_containing(anchor, cycle.end, months)
