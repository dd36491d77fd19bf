"""The price book: meters, products, plan ladders, limits and charges (pydantic v2).

Cross-references (meters named by plans, ladder order, policies) are checked by
`check_references`, which reports every problem with the dotted path of the bad field.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pricing.pricebook_charges import ChargeSpec, Money, Quantity

Aggregation = Literal["sum", "count", "peak_concurrent", "peak_gauge", "value_at_end"]
ADDITIVE: frozenset[str] = frozenset({"sum", "count"})
LimitPolicy = Literal["none", "auto_upgrade", "flex"]
Term = Literal["monthly", "annual"]
Identifier = Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meter(_Frozen):
    """What the pipeline measures per (account, cycle); named by the key in `meters`."""

    event_types: list[str] = Field(min_length=1)
    aggregation: Aggregation
    field: str | None = None
    """The data field summed (aggregation sum); None for count and gauges."""
    where: dict[str, str | bool | int] = {}
    """Only events whose data fields equal these values count."""
    unit: str
    description: str = ""


class Allowance(_Frozen):
    """A limit that grows with seats and committed conversations, split across orgs.

    limit = (base + per_seat x seats + per_1k_conversations x conversations / 1,000)
            / organisations
    """

    base: Quantity
    per_seat: Quantity = Decimal(0)
    per_1k_conversations: Quantity = Decimal(0)


Limit = Allowance | Quantity


class Plan(_Frozen):
    id: Identifier
    name: str = ""
    fee: Money = Decimal(0)
    """Base fee per cycle of the product."""
    free: bool = False
    """Free plans renew on the 1st of the month and are never auto-upgraded."""
    seat_price: dict[Term, Money] = {}
    """Price of one full-time seat for one period of the term (a month, a year)."""
    seasonal_seat_price: Money | None = None
    """Price of one seasonal seat for one whole window (none: the book prices no window)."""
    limits: dict[str, Limit] = {}
    """Meter -> included quantity (allotment / tier limit / storage allowance)."""
    overage: dict[str, ChargeSpec] = {}
    """Meter -> how the quantity above the limit is charged (arrears)."""
    usage: dict[str, ChargeSpec] = {}
    """Meter -> how the whole quantity is charged (arrears)."""
    illustrative: bool = False
    """True when the seeds do not give this plan's figures (made up for the example)."""
    note: str = ""


class Product(_Frozen):
    id: Identifier
    name: str = ""
    billing: Literal["advance", "arrears"] = "advance"
    """When the base fee is charged: at the start of the cycle, or at its end."""
    cycle: Literal["anniversary", "calendar_month"] = "anniversary"
    months: int = Field(default=1, ge=1, le=12)
    send_limit_meter: str | None = None
    """The meter the limit policies act on when it reaches the plan's limit."""
    policies: list[LimitPolicy] = ["none"]
    flex_min_fee: Money | None = None
    """Flex is offered only on plans whose fee is at least this (None: any paid plan)."""
    auto_downgrade_meter: str | None = None
    """With flex + auto_downgrade: move to the lowest plan covering this, next cycle."""
    upgrade_next_cycle_meter: str | None = None
    """Over the plan's limit on this meter: upgrade next cycle to a covering plan."""
    follow_meter: str | None = None
    """The plan follows this meter, up or down, from the next cycle."""
    downgrade_guard_meter: str | None = None
    """A requested downgrade to a plan whose limit is below this value is refused."""
    seats_meter: str | None = None
    """The meter holding full-time seats at the end of the period (allowances)."""
    plans: list[Plan] = Field(min_length=1)
    """The ladder, lowest tier first."""

    def plan(self, plan_id: str) -> Plan:
        for candidate in self.plans:
            if candidate.id == plan_id:
                return candidate
        raise KeyError(f"product {self.id!r} has no plan {plan_id!r}")

    def rank(self, plan_id: str) -> int:
        for index, candidate in enumerate(self.plans):
            if candidate.id == plan_id:
                return index
        raise KeyError(f"product {self.id!r} has no plan {plan_id!r}")


class SmsRate(_Frozen):
    """Credits per segment for one destination country."""

    sms: int = Field(ge=0)
    mms: int = Field(ge=0)
    illustrative: list[Literal["sms", "mms"]] = []
    """Which of the two figures the seeds do not give (made up for the example)."""


class AlertSpec(_Frozen):
    """Alert thresholds of one meter: fractions of the limit and absolute quantities."""

    percent: list[Annotated[Decimal, Field(gt=0, le=10)]] | None = None
    """Fractions of the limit (0.8 = 80%); None: the book's `alert_thresholds`."""
    absolute: list[Annotated[Decimal, Field(gt=0)]] = []
    """Quantities of the meter at which an alert fires, whatever the plan."""


class PriceBook(_Frozen):
    name: Identifier
    version: str = Field(min_length=1)
    effective_from: date
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    lateness_hours: float = Field(default=24, ge=0)
    """Events up to this long after a cycle's end still belong to it; invoices wait."""
    alert_thresholds: list[Annotated[Decimal, Field(gt=0, le=1)]] = [
        Decimal("0.8"),
        Decimal("1"),
    ]
    """Fractions of a limit at which an alert is raised."""
    alerts: dict[str, AlertSpec] = {}
    """Per-meter thresholds overriding `alert_thresholds` (and adding absolute ones)."""
    description: str = ""
    meters: dict[str, Meter]
    products: list[Product] = Field(min_length=1)
    sms_rates: dict[str, SmsRate] = {}
    """ISO 3166 alpha-2 country -> credits per segment."""

    def product(self, product_id: str) -> Product:
        for candidate in self.products:
            if candidate.id == product_id:
                return candidate
        raise KeyError(f"price book {self.name!r} has no product {product_id!r}")

    def is_additive(self, meter: str) -> bool:
        """Sums and counts add up across plan intervals; peaks and end values do not."""
        return self.meters[meter].aggregation in ADDITIVE
