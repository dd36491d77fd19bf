"""The invoice document as display strings, shared by the HTML and PDF renderers.

Input is a `Printable`: the published invoice as the contract types it
(`schemas.billing.InvoiceDocument`, read by `document_of`), the lines it shows, a
revision's difference and the seller. Money stays Decimal until it becomes text;
nothing here escapes or encodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.billing import InvoiceDocument, InvoiceLineRecord

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
class Printable:
    """What an invoice document shows."""

    invoice: InvoiceDocument
    status: str
    """`issued`, or `revised` for a revision."""
    lines: tuple[InvoiceLineRecord, ...]
    """A revision shows its full re-rated lines; other invoices their lines."""
    difference: tuple[InvoiceLineRecord, ...] | None
    """A revision's lines: the difference to the invoice it replaces."""
    seller: Mapping[str, Any] | None = None


def document_of(doc: Mapping[str, Any], seller: Mapping[str, Any] | None = None
                ) -> Printable:
    """A published invoice (as on `billing.invoices`) read through the contract
    (`InvoiceDocument`; a document off it raises `pydantic.ValidationError`)."""
    invoice = InvoiceDocument.model_validate(doc)
    revised = invoice.revision > 0
    return Printable(invoice, "revised" if revised else "issued",
                     tuple(invoice.rerated_lines or invoice.lines),
                     tuple(invoice.lines) if revised else None, seller)


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


def line_view(line: InvoiceLineRecord, currency: str, invoice_period: str) -> LineView:
    details = [f"plan {line.plan}"] if line.plan else []
    if line.period_start and line.period_end:
        own = period(line.period_start, line.period_end)
        if own != invoice_period:
            details.append(own)
    return LineView(
        description=line.description or KIND_LABELS.get(line.kind, line.kind),
        detail=" · ".join(details),
        product=line.product,
        meter=line.meter or "—",
        quantity=quantity(line.quantity),
        unit_price=unit_price(line.unit_price, currency),
        amount=money(line.amount, currency),
    )


def invoice_view(doc: Printable) -> InvoiceView:
    inv = doc.invoice
    currency, revision = inv.currency, inv.revision
    span = period(inv.cycle_start, inv.cycle_end)
    seller = doc.seller or PLACEHOLDER_SELLER
    address: Sequence[Any] = seller.get("address") or ()
    if isinstance(address, str):
        address = address.splitlines()
    facts: tuple[tuple[str, str], ...] = (
        ("Invoice number", inv.number),
        ("Account", inv.account),
        ("Billing period", span),
        ("Issue date", day(instant(inv.issued_at)) if inv.issued_at else "—"),
        ("Price book", inv.pricebook or "—"),
        ("Invoice kind", INVOICE_KINDS.get(inv.kind, inv.kind)),
        ("Revision", f"{revision} (original)" if revision == 0 else str(revision)),
        ("Status", doc.status),
        ("Series", inv.series),
        ("Invoice id", inv.invoice_id),
    )
    if inv.credit_balance is not None:  # a downgrade's credit, after this invoice
        facts += (("Credit balance left", money(inv.credit_balance, currency)),)
    difference = doc.difference or ()
    return InvoiceView(
        number=inv.number,
        seller_name=str(seller.get("name") or ""),
        seller_address=tuple(str(x) for x in address),
        facts=facts,
        lines=tuple(line_view(x, currency, span) for x in doc.lines),
        total=money(inv.total, currency),
        difference_title=f"Difference to revision {revision - 1}" if revision > 0 else None,
        difference=tuple(line_view(x, currency, span) for x in difference),
        difference_total=money(sum((Decimal(x.amount) for x in difference), ZERO), currency),
        previous_total=(money(inv.previous_total, currency)
                        if inv.previous_total is not None else None),
    )
