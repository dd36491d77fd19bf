"""Proration by whole days: days remaining over days in the period.

The day of the change counts as remaining (a seat added on the 16th of a 31-day month is
charged 16/31). A change at the first instant of a period is charged in full; periods are
[start, end) with boundaries at 00:00 UTC, so a period's day count is exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pricing.cycles import Cycle
from pricing.invoice import Invoice, InvoiceLine
from pricing.money import cents
from pricing.pricebook import PriceBook, Term


def days_remaining(at: datetime, period: Cycle) -> tuple[int, int]:
    """(days remaining counting the day of `at`, days in the period)."""
    if not period.contains(at):
        raise ValueError(f"{at.isoformat()} is outside the period {period.id}")
    total = (period.end.date() - period.start.date()).days
    remaining = (period.end.date() - at.astimezone(period.start.tzinfo).date()).days
    return remaining, total


def prorate(amount: Decimal, at: datetime, period: Cycle) -> Decimal:
    """`amount` x days remaining / days in the period, rounded half-up to cents."""
    remaining, total = days_remaining(at, period)
    return cents(amount * remaining / total)


def _invoice(
    book: PriceBook, account: str, period: Cycle, at: datetime, lines: list[InvoiceLine]
) -> Invoice:
    return Invoice(
        account=account,
        cycle_start=period.start,
        cycle_end=period.end,
        kind="immediate",
        currency=book.currency,
        lines=tuple(lines),
        pricebook=f"{book.name}@{book.version}",
        issued_at=at,
    )


def seat_addition_invoice(
    book: PriceBook,
    account: str,
    product_id: str,
    plan_id: str,
    term: Term,
    added_seats: int,
    at: datetime,
    period: Cycle,
) -> Invoice:
    """Seats added mid-period, charged at once for the rest of the month or contract."""
    if added_seats <= 0:
        raise ValueError("added seats must be positive")
    plan = book.product(product_id).plan(plan_id)
    price = plan.seat_price[term]
    remaining, total = days_remaining(at, period)
    line = InvoiceLine(
        kind="proration",
        product=product_id,
        meter=None,
        quantity=Decimal(added_seats),
        unit_price=price,
        amount=cents(price * added_seats * remaining / total),
        plan=plan_id,
        description=f"{added_seats} seat(s) added, {remaining}/{total} days of the {term} term",
        period_start=at,
        period_end=period.end,
    )
    return _invoice(book, account, period, at, [line])


def plan_change_proration_invoice(
    book: PriceBook,
    account: str,
    product_id: str,
    old_plan: str,
    new_plan: str,
    term: Term,
    seats: int,
    at: datetime,
    period: Cycle,
) -> Invoice:
    """A mid-period plan change on a seat product: an upgrade pays the prorated
    difference at once; a downgrade yields a credit line (carried to later invoices)."""
    product = book.product(product_id)
    old_price = product.plan(old_plan).seat_price[term]
    new_price = product.plan(new_plan).seat_price[term]
    remaining, total = days_remaining(at, period)
    difference = new_price - old_price
    amount = cents(difference * seats * remaining / total)
    line = InvoiceLine(
        kind="proration" if amount >= 0 else "credit",
        product=product_id,
        meter=None,
        quantity=Decimal(seats),
        unit_price=difference,
        amount=amount,
        plan=new_plan,
        description=f"{old_plan} -> {new_plan}, {remaining}/{total} days of the {term} term",
        period_start=at,
        period_end=period.end,
    )
    return _invoice(book, account, period, at, [line])


def seasonal_seats_invoice(
    book: PriceBook,
    account: str,
    product_id: str,
    plan_id: str,
    seats: int,
    window: Cycle,
    at: datetime,
) -> Invoice:
    """Seasonal seats bought for a whole window (`Plan.seasonal_seat_price` each)."""
    price = book.product(product_id).plan(plan_id).seasonal_seat_price
    if price is None or seats <= 0:
        raise ValueError("the plan prices no seasonal seats, or none were added")
    last = window.end.date() - timedelta(days=1)
    line = InvoiceLine(
        kind="seasonal_seats",
        product=product_id,
        meter=None,
        quantity=Decimal(seats),
        unit_price=price,
        amount=cents(price * seats),
        plan=plan_id,
        description=f"{seats} seasonal seat(s), window {window.start.date()} to {last}",
        period_start=window.start,
        period_end=window.end,
    )
    return _invoice(book, account, window, at, [line])
