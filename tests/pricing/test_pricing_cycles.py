"""Cycle calendar: anchors on the 29th-31st, leap years, boundaries, annual terms."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pricing_helpers import utc

from pricing.cycles import Cycle, add_months, calendar_month, cycle_containing, next_cycle


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 1, 31), 2, date(2025, 3, 31)),
        (date(2025, 1, 30), 1, date(2025, 2, 28)),
        (date(2025, 1, 29), 1, date(2025, 2, 28)),
        (date(2024, 1, 29), 1, date(2024, 2, 29)),
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2025, 1, 15), -1, date(2024, 12, 15)),
    ],
)
def test_add_months_clamps_to_short_months(anchor: date, months: int, expected: date) -> None:
    assert add_months(anchor, months) == expected


def test_jan_31_anchor_goes_feb_28_then_back_to_mar_31() -> None:
    anchor = date(2025, 1, 31)
    first = cycle_containing(anchor, utc(2025, 2, 10))
    assert (first.start, first.end) == (utc(2025, 1, 31), utc(2025, 2, 28))
    second = next_cycle(first, anchor)
    assert (second.start, second.end) == (utc(2025, 2, 28), utc(2025, 3, 31))
    third = next_cycle(second, anchor)
    assert (third.start, third.end) == (utc(2025, 3, 31), utc(2025, 4, 30))


def test_leap_year_anchor_on_the_30th() -> None:
    anchor = date(2024, 1, 30)
    feb = cycle_containing(anchor, utc(2024, 2, 28, 23, 59))
    assert (feb.start, feb.end) == (utc(2024, 1, 30), utc(2024, 2, 29))
    mar = cycle_containing(anchor, utc(2024, 2, 29))
    assert (mar.start, mar.end) == (utc(2024, 2, 29), utc(2024, 3, 30))


@pytest.mark.parametrize("day", [29, 30, 31])
def test_consecutive_cycles_tile_time_without_gaps(day: int) -> None:
    anchor = date(2023, 1, day)
    cycle = cycle_containing(anchor, utc(2023, 1, day))
    for _ in range(30):
        following = next_cycle(cycle, anchor)
        assert following.start == cycle.end
        assert following.start.day in (day, 28, 29, 30)
        cycle = following


def test_instant_exactly_at_a_boundary_belongs_to_the_next_cycle() -> None:
    anchor = date(2025, 1, 15)
    boundary = utc(2025, 3, 15)
    after = cycle_containing(anchor, boundary)
    before = cycle_containing(anchor, boundary - timedelta(microseconds=1))
    assert after.start == boundary and before.end == boundary
    assert after.contains(boundary) and not before.contains(boundary)


def test_offset_instants_are_converted_to_utc() -> None:
    from datetime import datetime, timezone

    t = datetime(2025, 3, 14, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # 01:00Z on the 15th
    assert cycle_containing(date(2025, 1, 15), t).start == utc(2025, 3, 15)


def test_naive_instants_are_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError):
        cycle_containing(date(2025, 1, 1), datetime(2025, 1, 2))


def test_calendar_month_and_annual_term() -> None:
    month = calendar_month(utc(2024, 2, 29, 12))
    assert (month.start, month.end, month.id) == (utc(2024, 2, 1), utc(2024, 3, 1), "2024-02-01")
    year = cycle_containing(date(2024, 2, 29), utc(2025, 2, 28), months=12)
    assert (year.start, year.end) == (utc(2025, 2, 28), utc(2026, 2, 28))


def test_cycle_before_the_anchor_is_deterministic() -> None:
    c = cycle_containing(date(2025, 5, 31), utc(2025, 3, 1))
    assert (c.start, c.end) == (utc(2025, 2, 28), utc(2025, 3, 31))


def test_cycle_validates_its_bounds() -> None:
    with pytest.raises(ValueError):
        Cycle(utc(2025, 2, 1), utc(2025, 1, 1))
