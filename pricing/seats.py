"""Seat rules: no reduction before renewal; seasonal seat windows in UTC.

`change_seats` is the one home of the contract rule, called by the decision core (which
refuses a reading the rule refuses) and by the rater (which bills what it accepts)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pricing.cycles import Cycle, cycle_containing
from pricing.pricebook import Term

SeatEffective = Literal["now", "renewal"]


class SeatChangeRefused(ValueError):
    pass


@dataclass(frozen=True)
class SeatContract:
    """Full-time seats contracted, and a reduction waiting for the renewal."""

    seats: int = 0
    pending: int | None = None
    pending_at: datetime | None = None

    def at(self, t: datetime) -> SeatContract:
        """The contract in force at `t`: a pending reduction applies from its renewal."""
        if self.pending is not None and self.pending_at is not None and t >= self.pending_at:
            return SeatContract(self.pending)
        return self


@dataclass(frozen=True)
class SeatChange:
    contract: SeatContract
    added: int
    """Seats added now (charged prorated for the rest of the period)."""
    reduced_from: datetime | None = None
    """When a reduction takes effect: `at` (a renewal instant) or the period's end."""


def seat_period(anchor: date, term: Term, t: datetime) -> Cycle:
    """The seat period containing `t`: the monthly cycle, or the 12-month contract."""
    return cycle_containing(anchor, t, 12 if term == "annual" else 1)


def change_seats(contract: SeatContract, requested: int, effective: SeatEffective,
                 at: datetime, period: Cycle) -> SeatChange:
    """A full-time seat reading against the contract (`period`: the seat period of `at`).

    More seats: added at once. Fewer, `effective="now"`: refused unless `at` is the
    period's first instant (a renewal). Fewer, `effective="renewal"`: the contract keeps
    its seats until the period ends, then the lower count applies; a later reading
    replaces a pending one."""
    current = contract.at(at)
    if requested < 0:
        raise SeatChangeRefused("seats cannot be negative")
    if requested >= current.seats:
        return SeatChange(SeatContract(requested), requested - current.seats)
    if at == period.start:
        return SeatChange(SeatContract(requested), 0, at)
    if effective == "renewal":
        return SeatChange(replace(current, pending=requested, pending_at=period.end), 0,
                          period.end)
    raise SeatChangeRefused(
        f"seats cannot be reduced before renewal ({current.seats} -> {requested} before "
        f"{period.end.isoformat()}); send the reading with effective \"renewal\"")


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


def seasonal_over_limit(window: Cycle, limit: int, assigned: int, at: datetime) -> bool:
    """More seasonal users assigned than the window's seats, while it is not closed."""
    return at < window.end and assigned > limit


def seasonal_seats_to_bill(window: Cycle, window_seats: int, billed: int,
                           at: datetime) -> int:
    """Seasonal seats a reading adds to a window: a window is bought whole, once per
    seat, while it is not closed; fewer seats later refund nothing."""
    return max(0, window_seats - billed) if at < window.end else 0
