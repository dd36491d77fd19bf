"""Price simulation: the closed cycles of a period rated under the current book and a
candidate, from the usage log in ClickHouse, compared; nothing is issued.

The candidate is another version of a deployment book: it replaces the book of the same
`name`, and only the accounts whose subscription names that book are rated (no other
account can change). Both ratings read what re-rating reads (`rerating.rerating_source`:
the usage log, late events included, SMS credits re-derived where the candidate's rates
differ) and rate with the one rater (`offline_rating.AccountRater`, as the projector and
re-rating do), every cycle closed at `now` (its end plus the book's lateness passed).
Selected: every invoice line whose service starts inside [from month, to month] (a fee
billed in advance counts in the month of the cycle it pays for, usage in the month its
cycle starts), and every plan change and limit decision made (effective) in the period.
`pricing.simulation.compare` makes the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

from infra.clock import Clock
from pricing.book_diff import book_changes
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import PriceBookError, parse_pricebook_text
from pricing.simulation import (
    Rated,
    RatedChange,
    RatedCharge,
    SimulationError,
    SimulationReport,
    SimulationRequest,
    SimulationResult,
    compare,
    month_range,
    replaced_book,
)
from projections.aggregate_rows import utc
from projections.invoicing import Record
from projections.offline_rating import AccountRater, RatingSource
from projections.projector import book_of
from projections.rerating import rerating_source

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Period:
    from_month: str
    to_month: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, from_month: str, to_month: str) -> Period:
        try:
            start, end = month_range(from_month, to_month)
        except ValueError as exc:
            raise SimulationError("bad_period", str(exc)) from exc
        return cls(from_month, to_month, start, end)


def _ts(value: str) -> datetime:
    return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def describe_change(r: Record) -> RatedChange | None:
    """A plan change or limit decision record in one line (None: nothing decided)."""
    if r["record"] == "plan_change":
        return RatedChange(account=r["account"], kind="plan_change", at=_ts(r["effective"]),
                           description=f"{r['product']}: {r['from_plan']} -> {r['to_plan']} "
                                       f"({r['reason']})")
    if r["record"] == "limit_decision" and r["action"] != "allow" and r.get("at"):
        target = f" -> {r['target_plan']}" if r.get("target_plan") else ""
        return RatedChange(account=r["account"], kind="limit_decision", at=_ts(r["at"]),
                           description=f"{r['product']}: {r['action']} at {r['meter']} "
                                       f"limit {r['limit']} ({r['plan']}{target}), "
                                       f"cost {r['cost']}")
    return None


def select(records: Iterable[Record], period: Period) -> Rated:
    """The invoice lines whose service starts in the period (the line's period start, else
    its invoice's cycle start), and the changes made in it."""
    charges: list[RatedCharge] = []
    changes: list[RatedChange] = []
    for r in records:
        if r["record"] != "invoice":
            change = describe_change(r)
            if change is not None and period.start <= change.at < period.end:
                changes.append(change)
            continue
        for ln in r["lines"]:
            start = ln.get("period_start") or r["cycle_start"]
            if period.start <= _ts(start) < period.end:
                charges.append(RatedCharge(account=r["account"], month=start[:7],
                                           product=ln["product"], plan=ln.get("plan"),
                                           amount=Decimal(ln["amount"])))
    return Rated(charges=charges, changes=changes)


def rate_selected(source: RatingSource, book: PriceBook, accounts: Iterable[str],
                  now: datetime, period: Period,
                  on_account: Callable[[], None] | None = None) -> Rated:
    """Every selected account rated under `book`, the period's part kept."""
    until = now - timedelta(hours=book.lateness_hours)
    charges: list[RatedCharge] = []
    changes: list[RatedChange] = []
    for account in accounts:
        records = AccountRater(book, account, source.control_events(account), until
                               ).run(source)
        part = select(records, period)
        charges += part.charges
        changes += part.changes
        if on_account is not None:
            on_account()
    return Rated(charges=charges, changes=changes)


def accounts_of(source: RatingSource, books: Mapping[str, PriceBook], default: str,
                name: str, only: set[str] | None) -> list[str]:
    """The accounts rated under the book `name` (of those in `only`, when given)."""
    return [a for a in source.accounts() if (only is None or a in only) and
            book_of(source.control_events(a), books, default).name == name]


def simulate(client: Any, db: str, books: Mapping[str, PriceBook], default: str,
             candidate: PriceBook, now: datetime, period: Period, report_id: str,
             accounts: set[str] | None = None,
             on_account: Callable[[], None] | None = None) -> SimulationReport:
    """The report of `candidate` against the deployment's book of the same name."""
    t0 = time.perf_counter()
    current, candidate = replaced_book(books, candidate)
    now_source = rerating_source(client, db, current)
    selected = accounts_of(now_source, books, default, current.name, accounts)
    before = rate_selected(now_source, current, selected, now, period, on_account)
    other = now_source if candidate.sms_rates == current.sms_rates else \
        rerating_source(client, db, current, candidate)
    after = rate_selected(other, candidate, selected, now, period, on_account)
    report = compare(report_id, before, after,
                     current_book=f"{current.name}@{current.version}",
                     candidate_book=f"{candidate.name}@{candidate.version}",
                     from_month=period.from_month, to_month=period.to_month, rated_at=now,
                     currency=current.currency, book_changes=book_changes(current, candidate),
                     accounts=selected)
    return report.model_copy(update={"seconds": round(time.perf_counter() - t0, 2)})


def run_request(client: Any, db: str, books: Mapping[str, PriceBook], default: str,
                raw: bytes, clock: Clock) -> SimulationResult | None:
    """A queued `SimulationRequest` run: its result, failed with a reason when the book,
    the period or the simulation itself fails (never an exception: one request's bad luck
    does not stop the process). None for a record that is not a request (logged)."""
    try:
        request = SimulationRequest.model_validate_json(raw)
    except ValidationError as exc:
        log.warning("simulation.bad_request", error=str(exc)[:300])
        return None

    def failed(reason: str, detail: str) -> SimulationResult:
        log.info("simulation.failed", id=request.id, reason=reason, detail=detail[:300])
        return SimulationResult(id=request.id, status="failed", finished_at=clock.now(),
                                reason=reason, detail=detail[:2000])
    try:
        candidate = parse_pricebook_text(request.pricebook, f"simulation {request.id}")
        report = simulate(client, db, books, default, candidate, clock.now(),
                          Period.of(request.from_month, request.to_month), request.id,
                          set(request.accounts) or None)
    except PriceBookError as exc:
        return failed("invalid_pricebook", str(exc))
    except SimulationError as exc:
        return failed(exc.reason, exc.detail)
    except Exception as exc:  # a bug must not stop the sink: the requester is told
        log.exception("simulation.error", id=request.id)
        return failed("simulation_error", f"the simulation failed: {type(exc).__name__}")
    log.info("simulation.done", id=request.id, accounts=len(report.accounts),
             seconds=report.seconds, difference=str(report.total.difference))
    return SimulationResult(id=request.id, status="done", finished_at=clock.now(),
                            report=report)


def publish_result(bootstrap: str, topic: str, result: SimulationResult) -> None:
    """The result on the (compacted) simulations topic, keyed by id, acknowledged."""
    from kafka import KafkaProducer

    from infra.topics import BIG_RECORD_BYTES

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                             compression_type="zstd", max_request_size=BIG_RECORD_BYTES)
    try:
        producer.send(topic, key=result.id.encode(),
                      value=orjson.dumps(result.model_dump(mode="json"))).get(timeout=60)
    finally:
        producer.close()
