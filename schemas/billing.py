"""The billing records as they travel: rating output, candidates, published documents.

The rater (`projections.offline_rating`) emits invoice, plan-change and limit-decision
records; the projector proposes the invoices and plan changes as candidates (with their
ids and series) on `billing.invoice_candidates`; the ledger numbers each candidate once
and publishes it on `billing.invoices` as `invoice.issued`, `invoice.revised` or
`plan.changed`. Every stage adds fields to the one before, never renames one: a cycle is
`cycle_start` / `cycle_end` on the record, and a line's service period `period_start` /
`period_end`.

Amounts and quantities are decimal strings (`"12.50"`, `"1000"`: exact, never floats);
times are RFC 3339 strings in UTC (`Z`). Exported as JSON Schema (`schemas/json/`) like
the events; the ledger validates every candidate it reads with these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Decimal_ = Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?$",
                                description="A decimal number, exact, as a string.")]
Time = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$",
                            description="RFC 3339, UTC.")]
InvoiceKind = Literal["cycle", "immediate"]
LineKind = Literal["base_fee", "overage", "usage_fee", "flex_purchase", "upgrade_difference",
                   "proration", "seasonal_seats", "credit", "adjustment"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class InvoiceLineRecord(_Record):
    kind: LineKind
    product: str
    meter: str | None = None
    plan: str | None = None
    description: str = ""
    quantity: Decimal_
    unit_price: Decimal_
    amount: Decimal_ = Field(description="Rounded half-up to cents.")
    period_start: Time | None = Field(None, description="The service the line bills.")
    period_end: Time | None = None


class InvoiceRecord(_Record):
    """An invoice of one account: the cycle's (arrears and the next fee) or an immediate
    one (a mid-cycle purchase); `revision` > 0 is a re-rating's revision of a cycle
    invoice, whose lines are the difference."""

    record: Literal["invoice"]
    account: str
    cycle_start: Time
    cycle_end: Time
    kind: InvoiceKind
    revision: int = Field(ge=0)
    issued_at: Time | None
    pricebook: str = Field(description='The price book that rated it, "name@version".')
    currency: str
    lines: list[InvoiceLineRecord]
    total: Decimal_
    usage: dict[str, Decimal_] | None = Field(
        None, description="A cycle invoice: every meter of the cycle (0 included).")
    credit_balance: Decimal_ | None = Field(
        None, description="The credit left after this invoice took what it could.")
    rerated_lines: list[InvoiceLineRecord] | None = Field(
        None, description="A revision: the invoice as re-rated (its lines are the "
                          "difference to the one it replaces).")
    rerated_total: Decimal_ | None = None
    previous_total: Decimal_ | None = None
    replaces: str | None = Field(None, description="A revision: the invoice id it revises.")


class PlanChangeRecord(_Record):
    record: Literal["plan_change"]
    account: str
    product: str
    from_plan: str | None
    to_plan: str
    effective: Time
    reason: str


class LimitDecisionRecord(_Record):
    """A limit decision the rater priced (the stream took it; it is never re-proposed)."""

    record: Literal["limit_decision"]
    account: str
    product: str
    meter: str
    action: str
    plan: str
    target_plan: str | None
    limit: Decimal_
    cost: Decimal_
    reason: str
    at: Time | None


class InvoiceCandidate(InvoiceRecord):
    invoice_id: str = Field(description="uuid5 of the invoice's identity "
                                        "(projections.invoicing).")
    series: str = Field(pattern=r"^(INV|REV)-\d{4}$")


class InvoiceRevision(InvoiceCandidate):
    """A re-rating's revision of a cycle invoice (`metering rerate`): its lines are the
    difference to the invoice it replaces, `rerated_lines` the invoice as re-rated."""

    revision: int = Field(ge=1)
    rerated_lines: list[InvoiceLineRecord]
    rerated_total: Decimal_
    previous_total: Decimal_
    replaces: str


class PlanChangeCandidate(PlanChangeRecord):
    id: str


class NumberedInvoice(InvoiceCandidate):
    """An invoice (or revision) the ledger numbered, as ClickHouse `invoices.doc` holds
    it."""

    number: str = Field(pattern=r"^(INV|REV)-\d{4}-\d{6,}$")


class InvoiceDocument(NumberedInvoice):
    """`billing.invoices`: a numbered invoice (revision 0) or revision, published."""

    type: Literal["invoice.issued", "invoice.revised"]


class PlanChangedDocument(PlanChangeCandidate):
    type: Literal["plan.changed"]


RatingRecord = Annotated[InvoiceRecord | PlanChangeRecord | LimitDecisionRecord,
                         Field(discriminator="record")]
Candidate = Annotated[InvoiceCandidate | PlanChangeCandidate, Field(discriminator="record")]
Published = Annotated[InvoiceDocument | PlanChangedDocument, Field(discriminator="type")]
RATING_RECORD: TypeAdapter[InvoiceRecord | PlanChangeRecord | LimitDecisionRecord] = \
    TypeAdapter(RatingRecord)
CANDIDATE: TypeAdapter[InvoiceCandidate | PlanChangeCandidate] = TypeAdapter(Candidate)
PUBLISHED: TypeAdapter[InvoiceDocument | PlanChangedDocument] = TypeAdapter(Published)
BILLING_SCHEMAS: dict[str, type[BaseModel]] = {
    "billing.invoice_line": InvoiceLineRecord, "billing.invoice": InvoiceRecord,
    "billing.plan_change": PlanChangeRecord, "billing.limit_decision": LimitDecisionRecord,
    "billing.invoice_candidate": InvoiceCandidate,
    "billing.invoice_revision": InvoiceRevision,
    "billing.plan_change_candidate": PlanChangeCandidate,
    "billing.numbered_invoice": NumberedInvoice,
    "billing.invoice_document": InvoiceDocument,
    "billing.plan_changed_document": PlanChangedDocument,
}
"""Exported as `schemas/json/<name>.v1.json`."""
