"""Invoices and their lines; JSON form with decimal strings; revision differences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pricing.money import ZERO, cents
from schemas.billing import InvoiceKind, LineKind

NEGATIVE_KINDS: frozenset[str] = frozenset({"credit", "adjustment"})


def _num(value: Decimal) -> str:
    return format(value.normalize() if value == value.to_integral_value() else value, "f")


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class InvoiceLine:
    kind: LineKind
    product: str
    meter: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    plan: str | None = None
    description: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None

    def __post_init__(self) -> None:
        if self.amount != cents(self.amount) or self.amount.as_tuple().exponent != -2:
            object.__setattr__(self, "amount", cents(self.amount))
        if self.amount < ZERO and self.kind not in NEGATIVE_KINDS:
            raise ValueError(f"a {self.kind} line cannot be negative")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "product": self.product,
            "meter": self.meter,
            "plan": self.plan,
            "description": self.description,
            "quantity": _num(self.quantity),
            "unit_price": _num(self.unit_price),
            "amount": format(self.amount, "f"),
            "period_start": _time(self.period_start),
            "period_end": _time(self.period_end),
        }


@dataclass(frozen=True)
class Invoice:
    account: str
    cycle_start: datetime
    cycle_end: datetime
    """The cycle it bills (an immediate invoice: the cycle its purchase falls in); each
    line carries the service period it bills (`InvoiceLine.period_start` / `_end`)."""
    kind: InvoiceKind
    currency: str
    lines: tuple[InvoiceLine, ...]
    pricebook: str = ""
    """Name and version of the price book that rated it, "name@version"."""
    issued_at: datetime | None = None
    revision: int = 0

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), cents(ZERO))

    def lines_of(self, kind: LineKind, product: str | None = None) -> list[InvoiceLine]:
        return [
            line
            for line in self.lines
            if line.kind == kind and (product is None or line.product == product)
        ]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "cycle_start": _time(self.cycle_start),
            "cycle_end": _time(self.cycle_end),
            "kind": self.kind,
            "revision": self.revision,
            "issued_at": _time(self.issued_at),
            "pricebook": self.pricebook,
            "currency": self.currency,
            "lines": [line.to_json_dict() for line in self.lines],
            "total": format(self.total, "f"),
        }


def _key(line: InvoiceLine) -> tuple[object, ...]:
    return (line.kind, line.product, line.meter, line.plan, line.description, line.period_start)


def invoice_difference(old: Invoice, new: Invoice) -> list[InvoiceLine]:
    """Adjustment lines turning `old` into `new`; their sum is new.total - old.total.

    Lines are matched on (kind, product, meter, plan, description, period start); each
    changed group yields one adjustment line with the difference of quantity and amount.
    """
    groups: dict[tuple[object, ...], tuple[list[InvoiceLine], list[InvoiceLine]]] = {}
    for line in old.lines:
        groups.setdefault(_key(line), ([], []))[0].append(line)
    for line in new.lines:
        groups.setdefault(_key(line), ([], []))[1].append(line)
    adjustments: list[InvoiceLine] = []
    for before, after in groups.values():
        amount = sum((x.amount for x in after), ZERO) - sum((x.amount for x in before), ZERO)
        quantity = sum((x.quantity for x in after), ZERO) - sum((x.quantity for x in before), ZERO)
        if amount == ZERO and quantity == ZERO:
            continue
        sample = (after or before)[0]
        adjustments.append(
            InvoiceLine(
                kind="adjustment",
                product=sample.product,
                meter=sample.meter,
                quantity=quantity,
                unit_price=sample.unit_price,
                amount=amount,
                plan=sample.plan,
                description=f"revision of {sample.kind}: {sample.description}".rstrip(": "),
                period_start=sample.period_start,
                period_end=sample.period_end,
            )
        )
    return adjustments
