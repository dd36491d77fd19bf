"""The adapter from aggregator rows to pricing's inputs: meter names and carried gauges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from pricing.cycles import Cycle, cycle_containing
from pricing.pricebook_loader import load_pricebook
from pricing.rating import rate_cycle
from pricing.timeline import PlanInterval, PlanTimeline
from projections.aggregate_rows import AggregateRows, CounterRow, PeakRow
from projections.rating_inputs import cycle_aggregates, meter_values

MARCH = cycle_containing(date(2025, 3, 1), datetime(2025, 3, 5, tzinfo=UTC))
FEB = cycle_containing(date(2025, 3, 1), datetime(2025, 2, 5, tzinfo=UTC))
D = Decimal


def peak(meter: str, opening: int, top: int, end: int, cycle: Cycle = MARCH) -> PeakRow:
    return PeakRow("a", cycle.start, cycle.end, meter, D(opening), D(top), D(end), 1)


def test_meter_names_follow_pricing() -> None:
    rows = AggregateRows.of(
        [CounterRow("a", MARCH.start, MARCH.end, "email.sent", D(70001), 3)],
        [peak("profiles.active", 0, 7, 5), peak("profiles.total", 0, 9, 8),
         peak("carts.standard", 1, 3, 2), peak("storage.data.bytes", 0, 10, 4),
         peak("seats.full_time", 10, 12, 11)])
    values = meter_values(rows, "a", MARCH)
    assert values["email.sent"] == 70001
    assert (values["profiles.active.peak"], values["profiles.active.end"]) == (D(7), D(5))
    assert values["profiles.total.peak"] == 9 and values["contacts.peak"] == 9
    assert values["carts.standard"] == 3  # plain cart name = the peak
    assert values["storage.data.bytes"] == 4  # plain storage name = the end value
    assert values["seats.full_time.end"] == 11


def test_a_gauge_without_a_row_carries_its_last_end_value() -> None:
    rows = AggregateRows.of([], [peak("carts.edi", 0, 4, 2, FEB)])
    values = meter_values(rows, "a", MARCH)
    assert (values["carts.edi"], values["carts.edi.end"]) == (D(2), D(2))


def test_cdp_usage_fee_2480_40_and_total_7245_40_through_the_adapter() -> None:
    # 1,520,000 profile events do not fit an example file; the mapping is what matters here
    book = load_pricebook("marketing_tiers")
    rows = AggregateRows.of([], [peak("profiles.total", 1_000_000, 1_520_000, 1_400_000)])
    timeline = PlanTimeline("a", date(2025, 3, 1),
                            (PlanInterval("cdp", "cdp-1m", MARCH.start),))
    result = rate_cycle(book, timeline, MARCH, cycle_aggregates(rows, "a", MARCH, ["cdp"]))
    fee, = result.invoice.lines_of("usage_fee", "cdp")
    assert (fee.quantity, fee.unit_price, fee.amount) == (D(520), D("4.77"), D("2480.40"))
    assert result.invoice.total == D("7245.40")
