"""The answer of a price simulation: two ratings of the same cycles compared (pure).

A simulation rates the same closed cycles twice with the one rater (the current book,
then the candidate) and hands both results here as `Rated`: the invoice lines of the
period (of cycle invoices and immediate ones: flex purchases, upgrade differences, seat
charges, first fees), each in the month of the service it bills (a fee billed in advance
is the month of the cycle it pays for, usage the month its cycle starts in), and the plan
changes and limit decisions each rating made in the period. `compare` turns them into a
`SimulationReport`:
- `months`: revenue per month before, after, the difference and the difference in % of
  before;
- `plans`: the same per month and plan (a line is revenue of the plan it names; a plan
  the candidate moves an account to gains what it bills);
- `accounts`: per account before, after, difference, and the changes only one rating made
  (`new`: the candidate would make it, `gone`: only the current book makes it);
- `top_gain` / `top_loss`: the ten accounts with the largest increase / decrease.
Money is Decimal throughout, in the books' currency; a percentage is rounded to 0.01 and
is None where before is 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pricing.book_diff import BookChange
from pricing.pricebook import PriceBook

ZERO = Decimal("0.00")
TOP = 10


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RatedCharge(_Model):
    """One invoice line of a rating, in the month of the service it bills."""

    account: str
    month: str
    """YYYY-MM of the line's period start (its invoice's cycle start when it has none)."""
    product: str
    plan: str | None
    amount: Decimal


class RatedChange(_Model):
    """A plan change or limit decision one rating made, described in one line."""

    account: str
    kind: Literal["plan_change", "limit_decision"]
    at: datetime
    description: str


class Rated(_Model):
    charges: list[RatedCharge] = []
    changes: list[RatedChange] = []


class Totals(_Model):
    before: Decimal
    after: Decimal
    difference: Decimal
    difference_pct: Decimal | None


class MonthTotals(Totals):
    month: str


class PlanTotals(Totals):
    month: str
    product: str
    plan: str


class ChangeDifference(_Model):
    kind: Literal["plan_change", "limit_decision"]
    status: Literal["new", "gone"]
    at: datetime
    description: str


class AccountDifference(Totals):
    account: str
    changes: list[ChangeDifference] = []


class SimulationReport(_Model):
    id: str
    current: str
    """The book rated now, `name@version`."""
    candidate: str
    from_month: str
    to_month: str
    rated_at: datetime
    """Cycles closed at this time (minus the lateness) were rated."""
    currency: str
    book_changes: list[BookChange]
    total: Totals
    months: list[MonthTotals]
    plans: list[PlanTotals]
    accounts: list[AccountDifference]
    top_gain: list[AccountDifference] = Field(default_factory=list)
    top_loss: list[AccountDifference] = Field(default_factory=list)
    seconds: float = 0.0
    """How long the simulation took (both ratings)."""


class SimulationRequest(_Model):
    """A simulation asked for over HTTP, carried to the process that owns ClickHouse."""

    id: str
    requested_at: datetime
    requested_by: str
    """The API key's name."""
    pricebook: str = Field(max_length=262_144)
    """The candidate book as YAML text (validated by the API before it is queued)."""
    from_month: str
    to_month: str
    accounts: list[str] = []
    """Only these accounts (empty: every account of the book)."""


class SimulationResult(_Model):
    """The answer to a `SimulationRequest`: a report, or why there is none."""

    id: str
    status: Literal["done", "failed"]
    finished_at: datetime
    report: SimulationReport | None = None
    reason: str | None = None
    """Machine-readable, when failed (`unknown_book`, `bad_period`, `invalid_pricebook`,
    `simulation_error`)."""
    detail: str | None = None


def pct(before: Decimal, difference: Decimal) -> Decimal | None:
    if before == 0:
        return None
    return (difference * 100 / before).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _totals(before: Decimal, after: Decimal) -> dict[str, Decimal | None]:
    return {"before": before, "after": after, "difference": after - before,
            "difference_pct": pct(before, after - before)}


def _change_key(c: RatedChange) -> tuple[str, str, datetime, str]:
    return (c.account, c.kind, c.at, c.description)


def compare(report_id: str, current: Rated, candidate: Rated, *, current_book: str,
            candidate_book: str, from_month: str, to_month: str, rated_at: datetime,
            currency: str, book_changes: list[BookChange],
            accounts: list[str] | None = None) -> SimulationReport:
    """The report of two ratings of the same cycles. `accounts`: every account rated
    (one without an invoice in either rating is listed at 0)."""
    months: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    plans: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    money: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for side, rated in enumerate((current, candidate)):
        for charge in rated.charges:
            months[charge.month][side] += charge.amount
            money[charge.account][side] += charge.amount
            plans[(charge.month, charge.product, charge.plan or "-")][side] += charge.amount
    listed = set(accounts or ())
    ours = {_change_key(c): c for c in current.changes}
    theirs = {_change_key(c): c for c in candidate.changes}
    changes: dict[str, list[ChangeDifference]] = defaultdict(list)
    for status, only in (("new", theirs.keys() - ours.keys()),
                         ("gone", ours.keys() - theirs.keys())):
        for key in only:
            c = (theirs if status == "new" else ours)[key]
            changes[c.account].append(ChangeDifference(kind=c.kind, status=status, at=c.at,
                                                       description=c.description))
    for found in changes.values():
        found.sort(key=lambda d: (d.at, d.status, d.description))
    rows = [AccountDifference(account=a, changes=changes.get(a, []), **_totals(*money[a]))
            for a in sorted(listed | money.keys() | changes.keys())]
    moved = [r for r in rows if r.difference != 0]
    gain = sorted((r for r in moved if r.difference > 0),
                  key=lambda r: (-r.difference, r.account))[:TOP]
    loss = sorted((r for r in moved if r.difference < 0),
                  key=lambda r: (r.difference, r.account))[:TOP]
    before = sum((m[0] for m in months.values()), ZERO)
    after = sum((m[1] for m in months.values()), ZERO)
    return SimulationReport(
        id=report_id, current=current_book, candidate=candidate_book, from_month=from_month,
        to_month=to_month, rated_at=rated_at, currency=currency, book_changes=book_changes,
        total=Totals(**_totals(before, after)),
        months=[MonthTotals(month=m, **_totals(*v))
                for m, v in sorted(months.items())],
        plans=[PlanTotals(month=k[0], product=k[1], plan=k[2],
                          **_totals(*v))
               for k, v in sorted(plans.items())],
        accounts=rows, top_gain=gain, top_loss=loss)


def month_range(from_month: str, to_month: str) -> tuple[datetime, datetime]:
    """[first instant of `from_month`, first instant after `to_month`) in UTC; both
    YYYY-MM. ValueError with a reason when malformed or reversed."""
    def first(value: str) -> datetime:
        try:
            year, month = (int(p) for p in value.split("-"))
            return datetime(year, month, 1, tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"not a month (YYYY-MM): {value!r}") from exc
    start, last = first(from_month), first(to_month)
    if last < start:
        raise ValueError(f"--to {to_month} is before --from {from_month}")
    end = datetime(last.year + (last.month == 12), last.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


class SimulationError(ValueError):
    """A simulation that cannot run: `reason` is a machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def replaced_book(books: Mapping[str, PriceBook],
                  candidate: PriceBook) -> tuple[PriceBook, PriceBook]:
    """(the deployment book the candidate replaces, the candidate as it is rated).

    A candidate replaces the deployment book of its name (`unknown_book` otherwise) and
    bills in its currency (`currency_differs`); it is rated with the deployment's one
    lateness: a candidate does not move when cycles close. Every caller (the command, the
    API, the sink's agent) goes through here, so they agree on the book and the diff."""
    current = books.get(candidate.name)
    if current is None:
        raise SimulationError(
            "unknown_book", f"the candidate is named {candidate.name!r}; a candidate "
            f"replaces a deployment book of the same name ({', '.join(sorted(books))})")
    if candidate.currency != current.currency:
        raise SimulationError("currency_differs", f"the candidate bills in "
                              f"{candidate.currency}, {current.name} in {current.currency}")
    return current, candidate.model_copy(update={"lateness_hours": current.lateness_hours})
