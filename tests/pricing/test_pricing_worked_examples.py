"""The worked examples of DESIGN.md section 6, through the reference price books."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from pricing_helpers import aggregates, book, d, timeline, utc

from pricing.cycles import cycle_containing
from pricing.limits import decide_at_limit, decision_invoice
from pricing.peaks import peak_concurrent
from pricing.proration import seat_addition_invoice
from pricing.rating import rate_cycle
from pricing.sms import credits, segments
from pricing.sms_rates import sms_rate
from pricing.storage import attachments_kb, storage_bytes
from pricing.timeline import PlanInterval
from pricing.units import GB


def test_flex_purchase_costs_1000_dollars() -> None:
    mt = book("marketing_tiers")
    decision = decide_at_limit(mt, "email", "email-7k", "flex", d(69_990), d(70_001))
    assert decision.action == "flex"
    assert decision.target_plan == "email-8k"
    assert decision.capacity == 10_000
    assert decision.unit_price == Decimal("0.1")
    assert decision.cost == Decimal("1000.00")
    assert decision.limit == 80_000
    cycle = cycle_containing(date(2025, 1, 10), utc(2025, 11, 20))
    invoice = decision_invoice(mt, "acct-1", decision, cycle)
    assert invoice is not None and invoice.kind == "immediate"
    assert [(line.kind, line.amount) for line in invoice.lines] == [
        ("flex_purchase", Decimal("1000.00"))
    ]
    assert invoice.total == Decimal("1000.00")


def test_sms_to_50_us_and_50_ca_costs_200_credits() -> None:
    mt = book("marketing_tiers")
    text = "Black Friday: 20% off everything today only!"
    assert segments(text, "sms") == 1
    us = credits(sms_rate(mt, "US", "sms"), segments(text), "outbound", "delivered")
    ca = credits(sms_rate(mt, "CA", "sms"), segments(text), "outbound", "delivered")
    assert (us, ca) == (1, 3)
    assert 50 * us + 50 * ca == 200


def test_cdp_usage_fee_2480_40_and_total_7245_40() -> None:
    mt = book("marketing_tiers")
    anchor = date(2025, 1, 15)
    tl = timeline(anchor, PlanInterval("cdp", "cdp-1m", utc(2025, 1, 15)))
    cycle = cycle_containing(anchor, utc(2025, 3, 20))
    agg = aggregates(cycle, {"cdp": {"profiles.total.peak": 1_520_000}})
    result = rate_cycle(mt, tl, cycle, agg)
    fee = result.invoice.lines_of("usage_fee", "cdp")
    assert [(x.quantity, x.unit_price, x.amount) for x in fee] == [
        (Decimal(520), Decimal("4.77"), Decimal("2480.40"))
    ]
    base = result.invoice.lines_of("base_fee", "cdp")
    assert [x.amount for x in base] == [Decimal("4765.00")]
    assert result.invoice.total == Decimal("7245.40")
    assert mt.product("cdp").plan("cdp-2m").fee == Decimal(9100) > result.invoice.total
    assert result.plan_changes == ()


def test_carts_billed_on_peak_per_category_without_proration() -> None:
    pc = book("peak_carts")
    anchor = date(2025, 1, 28)
    cycle = cycle_containing(anchor, utc(2025, 2, 10))
    assert (cycle.start, cycle.end) == (utc(2025, 1, 28), utc(2025, 2, 28))
    standard = [
        (utc(2025, 1, 2), +1),  # active before the cycle: counts from its first moment
        (utc(2025, 2, 1), +1),
        (utc(2025, 2, 5), -1),  # disabled...
        (utc(2025, 2, 9), +1),  # ...and another enabled: the licence is reused
        (utc(2025, 2, 27, 12), +1),  # the day before the cycle ends: counts in full
    ]
    premium = [(utc(2025, 2, 3), +1), (utc(2025, 2, 4), -1)]
    std_peak, std_close = peak_concurrent(standard, cycle)
    prem_peak, _ = peak_concurrent(premium, cycle)
    assert (std_peak, std_close, prem_peak) == (3, 3, 1)
    tl = timeline(anchor, PlanInterval("carts", "carts", utc(2025, 1, 28)))
    agg = aggregates(
        cycle, {"carts": {"carts.standard": std_peak, "carts.premium": prem_peak, "carts.edi": 0}}
    )
    invoice = rate_cycle(pc, tl, cycle, agg).invoice
    got = {(x.meter, x.quantity, x.amount) for x in invoice.lines}
    assert got == {("carts.standard", 3, Decimal("75.00")), ("carts.premium", 1, Decimal("50.00"))}
    # issued once the lateness after the end has passed (the book says 24 h)
    assert invoice.issued_at == cycle.end + timedelta(hours=24)


def test_storage_overage_in_whole_gb_with_per_seat_allowances() -> None:
    ss = book("seats_storage")
    month = cycle_containing(date(2025, 1, 1), utc(2025, 4, 10))
    data = storage_bytes({"message": 20_000_000, "customer": 1_000_000})  # 4.1 GB
    files = attachments_kb([20_200_000_000 // 1000 * 1000])  # 20.2 GB in one file
    assert data == Decimal("4.1") * GB
    tl = timeline(date(2024, 6, 3), PlanInterval("storage", "professional", utc(2024, 6, 3)))
    agg = aggregates(
        month,
        {
            "storage": {
                "seats.full_time.end": 10,
                "storage.data.bytes": data,
                "storage.attachments.bytes": files * 1000,
            }
        },
    )
    # allowances: data 2.5 GB + 10 x 125 MB = 3.75 GB; attachments 5 GB + 10 x 1.25 GB = 17.5
    invoice = rate_cycle(ss, tl, month, agg).invoice
    got = {(x.meter, x.quantity, x.unit_price, x.amount) for x in invoice.lines}
    assert got == {
        ("storage.data.bytes", 1, Decimal(50), Decimal("50.00")),  # 0.35 GB over -> 1 GB
        ("storage.attachments.bytes", 3, Decimal(1), Decimal("3.00")),  # 2.7 GB over -> 3 GB
    }
    assert invoice.total == Decimal("53.00")


def test_seat_added_mid_month_is_prorated_for_the_rest_of_the_month() -> None:
    ss = book("seats_storage")
    anchor = date(2025, 3, 1)
    at = utc(2025, 3, 16, 9, 30)
    period = cycle_containing(anchor, at)
    invoice = seat_addition_invoice(ss, "acct-1", "seats", "professional", "monthly", 1, at, period)
    (line,) = invoice.lines
    # $89 x 16 remaining days (16th-31st) / 31 days = 45.935... -> 45.94
    assert (line.kind, line.quantity, line.amount) == ("proration", 1, Decimal("45.94"))
    # the next month bills all seats in full
    tl = timeline(anchor, PlanInterval("seats", "professional", utc(2025, 3, 1), seats=11))
    result = rate_cycle(ss, tl, period, aggregates(period, {}))
    (fee,) = result.invoice.lines
    assert (fee.quantity, fee.amount, fee.period_start) == (11, Decimal("979.00"), utc(2025, 4, 1))


def test_seat_added_mid_contract_is_prorated_for_the_rest_of_the_contract() -> None:
    ss = book("seats_storage")
    anchor = date(2025, 1, 1)
    at = utc(2025, 7, 1)
    contract = cycle_containing(anchor, at, months=12)
    assert (contract.start, contract.end) == (utc(2025, 1, 1), utc(2026, 1, 1))
    invoice = seat_addition_invoice(
        ss, "acct-1", "seats", "professional", "annual", 2, at, contract
    )
    (line,) = invoice.lines
    # $948 x 2 seats x 184 remaining days / 365 = 955.79...
    assert (line.quantity, line.unit_price, line.amount) == (2, Decimal(948), Decimal("955.79"))
    assert line.period_end == utc(2026, 1, 1)
