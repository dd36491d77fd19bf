"""The invoice document as display strings, shared by the HTML and PDF renderers.

Input is the stored invoice document: `Invoice.to_json_dict()` plus `number`, `series`,
`invoice_id`, `status`, optionally `difference` (lines), `previous_total` and `seller`.
Money stays Decimal until it becomes text; nothing here escapes or encodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Placeholder seller: no real company is configured yet; a document may pass `seller`.
PLACEHOLDER_SELLER: Mapping[str, Any] = {
    "name": "Metering Demo Inc.",
    "address": ["(placeholder seller, not a real company)", "1 Example Street", "Nowhere"],
}
CENT = Decimal("0.01")
ZERO = Decimal(0)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
KIND_LABELS = {
    "base_fee": "Base fee",
    "overage": "Overage",
    "usage_fee": "Usage fee",
    "flex_purchase": "Flex purchase",
    "upgrade_difference": "Upgrade difference",
    "proration": "Proration",
    "seasonal_seats": "Seasonal seats",
    "credit": "Credit",
    "adjustment": "Adjustment",
}
INVOICE_KINDS = {"cycle": "Cycle (end of billing period)", "immediate": "Immediate"}
COLUMNS = ("Description", "Product", "Meter", "Quantity", "Unit price", "Amount")


def money(value: str | Decimal, currency: str) -> str:
    """`USD 7,245.40`; negative as `USD -45.94`."""
    amount = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{currency} {amount:,.2f}"


def unit_price(value: str | Decimal, currency: str) -> str:
    """At least two decimals, more when the price has them (`USD 0.0035`)."""
    price = Decimal(value)
    price = price.quantize(CENT) if price == price.quantize(CENT) else price.normalize()
    return f"{currency} {price:,f}"


def quantity(value: str | Decimal) -> str:
    return f"{Decimal(value).normalize():,f}"


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def day(value: datetime) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def period(start: str, end: str) -> str:
    """Half-open [start, end) shown with the last day included: `1 Mar 2025 – 31 Mar 2025`."""
    first, after = instant(start), instant(end)
    last = after - timedelta(microseconds=1) if after > first else after
    return f"{day(first)} – {day(last)}"


@dataclass(frozen=True)
class LineView:
    description: str
    detail: str
    """Plan and (when it differs from the invoice's) the line's own period."""
    product: str
    meter: str
    quantity: str
    unit_price: str
    amount: str

    def cells(self) -> tuple[str, str, str, str, str, str]:
        text = f"{self.description}\n{self.detail}" if self.detail else self.description
        return (text, self.product, self.meter, self.quantity, self.unit_price, self.amount)


@dataclass(frozen=True)
class InvoiceView:
    number: str
    seller_name: str
    seller_address: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]
    lines: tuple[LineView, ...]
    total: str
    difference_title: str | None
    difference: tuple[LineView, ...]
    difference_total: str
    previous_total: str | None


def line_view(line: Mapping[str, Any], currency: str, invoice_period: str) -> LineView:
    kind = str(line.get("kind", ""))
    details = [f"plan {line['plan']}"] if line.get("plan") else []
    if line.get("period_start") and line.get("period_end"):
        own = period(line["period_start"], line["period_end"])
        if own != invoice_period:
            details.append(own)
    return LineView(
        description=str(line.get("description") or KIND_LABELS.get(kind, kind)),
        detail=" · ".join(details),
        product=str(line.get("product") or ""),
        meter=str(line.get("meter") or "—"),
        quantity=quantity(line["quantity"]),
        unit_price=unit_price(line["unit_price"], currency),
        amount=money(line["amount"], currency),
    )


def invoice_view(doc: Mapping[str, Any]) -> InvoiceView:
    currency = str(doc["currency"])
    revision = int(doc.get("revision") or 0)
    span = period(doc["cycle_start"], doc["cycle_end"])
    issued = doc.get("issued_at")
    seller = doc.get("seller") or PLACEHOLDER_SELLER
    address: Sequence[Any] = seller.get("address") or ()
    if isinstance(address, str):
        address = address.splitlines()
    facts: tuple[tuple[str, str], ...] = (
        ("Invoice number", str(doc["number"])),
        ("Account", str(doc["account"])),
        ("Billing period", span),
        ("Issue date", day(instant(issued)) if issued else "—"),
        ("Price book", str(doc.get("pricebook") or "—")),
        ("Invoice kind", INVOICE_KINDS.get(str(doc["kind"]), str(doc["kind"]))),
        ("Revision", f"{revision} (original)" if revision == 0 else str(revision)),
        ("Status", str(doc.get("status") or "issued")),
        ("Series", str(doc.get("series") or "—")),
        ("Invoice id", str(doc.get("invoice_id") or "—")),
    )
    if doc.get("credit_balance") is not None:  # a downgrade's credit, after this invoice
        facts += (("Credit balance left", money(doc["credit_balance"], currency)),)
    difference = doc.get("difference")
    previous = doc.get("previous_total")
    return InvoiceView(
        number=str(doc["number"]),
        seller_name=str(seller.get("name") or ""),
        seller_address=tuple(str(x) for x in address),
        facts=facts,
        lines=tuple(line_view(x, currency, span) for x in doc.get("lines") or ()),
        total=money(doc["total"], currency),
        difference_title=f"Difference to revision {revision - 1}" if revision > 0 else None,
        difference=tuple(line_view(x, currency, span) for x in difference or ()),
        difference_total=money(sum((Decimal(x["amount"]) for x in difference or ()), ZERO),
                               currency),
        previous_total=money(previous, currency) if previous is not None else None,
    )
