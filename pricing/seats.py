"""Seat rules: no reduction before renewal; seasonal seat windows in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pricing.cycles import Cycle


class SeatChangeRefused(ValueError):
    pass


def check_seat_change(current: int, requested: int, at: datetime, period: Cycle) -> int:
    """The seats added by a change (>= 0); reductions only at renewal (period start)."""
    if requested < 0:
        raise SeatChangeRefused("seats cannot be negative")
    if requested < current and at != period.start:
        raise SeatChangeRefused("seats cannot be reduced before renewal")
    return max(0, requested - current)


def seasonal_window(first_day: date, last_day: date) -> Cycle:
    """A seasonal window: from 00:00 UTC of its first day to 00:00 UTC after its last."""
    if last_day < first_day:
        raise ValueError("a window ends on or after the day it starts")
    start = datetime.combine(first_day, time(0), tzinfo=UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)
    return Cycle(start, end)


def seasonal_seat_available(window: Cycle, limit: int, assigned: int, at: datetime) -> bool:
    """A seasonal user can be added to a window not yet closed that has a free seat."""
    return at < window.end and assigned < limit
