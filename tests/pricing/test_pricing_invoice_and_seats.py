"""Invoices (JSON, differences), proration, seat rules, storage sizing, plan reviews."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from pricing_helpers import book, utc

from pricing.cycles import cycle_containing
from pricing.invoice import Invoice, InvoiceLine, invoice_difference
from pricing.plan_changes import review_plan_change
from pricing.proration import days_remaining, plan_change_proration_invoice, prorate
from pricing.seats import (
    SeatChangeRefused,
    SeatContract,
    change_seats,
    seasonal_seat_available,
    seasonal_window,
)
from pricing.storage import allowance, attachment_kb, storage_kb, whole_gb_needed
from pricing.units import GB

CYCLE = cycle_containing(date(2025, 1, 1), utc(2025, 3, 5))


def _line(kind: str, amount: str, meter: str | None = "m", quantity: int = 1) -> InvoiceLine:
    return InvoiceLine(kind, "p", meter, Decimal(quantity), Decimal(amount), Decimal(amount))  # type: ignore[arg-type]


def _invoice(*lines: InvoiceLine) -> Invoice:
    return Invoice("acct-1", CYCLE.start, CYCLE.end, "cycle", "USD", tuple(lines))


def test_invoice_json_has_decimal_strings() -> None:
    invoice = _invoice(_line("overage", "2480.4", quantity=520), _line("base_fee", "4765"))
    data = json.loads(json.dumps(invoice.to_json_dict()))
    assert data["total"] == "7245.40"
    assert [x["amount"] for x in data["lines"]] == ["2480.40", "4765.00"]
    assert data["lines"][0]["quantity"] == "520"
    assert data["cycle_start"] == "2025-03-01T00:00:00Z"


def test_negative_lines_only_for_credits_and_adjustments() -> None:
    with pytest.raises(ValueError):
        _line("overage", "-1")
    assert _line("credit", "-1").amount == Decimal("-1.00")


def test_invoice_difference_sums_to_the_change_in_total() -> None:
    old = _invoice(_line("overage", "10"), _line("base_fee", "99", meter=None))
    new = _invoice(_line("overage", "12.50", quantity=2), _line("usage_fee", "3"))
    diff = invoice_difference(old, new)
    assert all(x.kind == "adjustment" for x in diff)
    assert sum(x.amount for x in diff) == new.total - old.total == Decimal("-93.50")
    assert invoice_difference(new, new) == []


def test_proration_by_days_remaining() -> None:
    assert days_remaining(utc(2025, 3, 1), CYCLE) == (31, 31)
    assert days_remaining(utc(2025, 3, 31, 23, 59), CYCLE) == (1, 31)
    assert prorate(Decimal(31), utc(2025, 3, 1), CYCLE) == Decimal("31.00")
    with pytest.raises(ValueError):
        days_remaining(utc(2025, 4, 1), CYCLE)


def test_mid_period_plan_upgrade_charges_and_downgrade_credits() -> None:
    ss = book("seats_storage")
    at = utc(2025, 3, 17)  # 15 of 31 days remain
    up = plan_change_proration_invoice(
        ss, "acct-1", "seats", "professional", "business", "monthly", 4, at, CYCLE
    )
    assert [(x.kind, x.amount) for x in up.lines] == [("proration", Decimal("38.71"))]
    down = plan_change_proration_invoice(
        ss, "acct-1", "seats", "business", "professional", "monthly", 4, at, CYCLE
    )
    assert [(x.kind, x.amount) for x in down.lines] == [("credit", Decimal("-38.71"))]


def test_seats_cannot_be_reduced_before_renewal() -> None:
    five = SeatContract(5)
    assert change_seats(five, 7, "now", utc(2025, 3, 9), CYCLE).added == 2
    at_renewal = change_seats(five, 3, "now", CYCLE.start, CYCLE)
    assert (at_renewal.contract, at_renewal.added) == (SeatContract(3), 0)
    with pytest.raises(SeatChangeRefused, match="before renewal"):
        change_seats(five, 4, "now", utc(2025, 3, 9), CYCLE)


def test_a_reduction_for_the_renewal_waits_for_the_period_end() -> None:
    change = change_seats(SeatContract(5), 3, "renewal", utc(2025, 3, 9), CYCLE)
    assert change.contract == SeatContract(5, 3, CYCLE.end)
    assert change.reduced_from == CYCLE.end
    assert change.contract.at(utc(2025, 3, 31)).seats == 5
    assert change.contract.at(CYCLE.end).seats == 3
    # a later reading replaces the pending one: back up to 6 adds one seat, nothing pends
    again = change_seats(change.contract, 6, "now", utc(2025, 3, 20), CYCLE)
    assert (again.contract, again.added) == (SeatContract(6), 1)


def test_seasonal_window_opens_and_closes_at_midnight_utc() -> None:
    window = seasonal_window(date(2025, 6, 1), date(2025, 6, 30))
    assert (window.start, window.end) == (utc(2025, 6, 1), utc(2025, 7, 1))
    assert window.contains(utc(2025, 6, 30, 23, 59)) and not window.contains(utc(2025, 7, 1))
    assert seasonal_seat_available(window, limit=3, assigned=2, at=utc(2025, 5, 20))
    assert not seasonal_seat_available(window, limit=3, assigned=3, at=utc(2025, 6, 2))


def test_storage_sizing_in_decimal_units() -> None:
    counts = {"company": 10, "customer": 10, "conversation": 2, "message": 5, "attachment": 1,
              "event": 100, "audit_log": 100, "note": 5, "custom_object": 2,
              "custom_attribute": 20}  # fmt: skip
    # 1 + 1 + 1 + 1 + 0.1 + 7 + 7 + 1 + 1 + 1 KB
    assert storage_kb(counts) == Decimal("21.1")
    assert [attachment_kb(b) for b in (0, 1, 1000, 1001)] == [0, 1, 1, 2]
    assert whole_gb_needed(Decimal(3 * GB), Decimal(3 * GB)) == 0
    assert whole_gb_needed(Decimal(3 * GB + 1), Decimal(3 * GB)) == 1
    assert allowance(Decimal(5)) == 5
    with pytest.raises(ValueError):
        storage_kb({"spaceship": 1})


def test_requested_plan_changes() -> None:
    email = book("marketing_tiers").product("email")
    at = utc(2025, 3, 9)
    up = review_plan_change(email, "email-7k", "email-10k", at, CYCLE)
    assert (up.accepted, up.effective, up.cancels_pending_downgrade) == (True, at, True)
    down = review_plan_change(email, "email-10k", "email-7k", at, CYCLE, Decimal(6500))
    assert (down.accepted, down.effective) == (True, CYCLE.end)
    refused = review_plan_change(email, "email-10k", "email-7k", at, CYCLE, Decimal(7500))
    assert (refused.accepted, refused.reason) == (False, "below_current_usage")
