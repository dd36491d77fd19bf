"""What the demo read back from ClickHouse, and the story's checks on it. Pure: rows in,
facts out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from demo.story import LATE_ACCOUNT
from projections.expected_invoices import comparable

Row = tuple[Any, ...]


@dataclass
class Outcome:
    """Rows of the pipeline's tables (ClickHouse, FINAL) after the story ran."""

    alerts: list[Row] = field(default_factory=list)
    """(account, kind, threshold, value, limit_value, crossed_at)"""
    decisions: list[Row] = field(default_factory=list)
    """(account, kind, reason, plan, target_plan, cost, at)"""
    invoices: list[dict[str, Any]] = field(default_factory=list)
    """Invoice documents with their number."""
    plan_changes: list[Row] = field(default_factory=list)
    """(account, from_plan, to_plan, effective, reason)"""
    rejected: list[Row] = field(default_factory=list)
    """(reason, account, id)"""
    accepted_events: int = 0

    def of(self, account: str) -> list[dict[str, Any]]:
        return [d for d in self.invoices if d["account"] == account]


@dataclass(frozen=True)
class Fact:
    account: str
    claim: str
    seen: str
    holds: bool


def _cycle(docs: Iterable[dict[str, Any]], start: str, revision: int = 0
           ) -> dict[str, Any] | None:
    return next((d for d in docs if d["kind"] == "cycle" and d["cycle_start"] == start
                 and int(d.get("revision") or 0) == revision), None)


def _total(doc: dict[str, Any] | None) -> str:
    return "none" if doc is None else str(doc["total"])


def _fact(account: str, claim: str, seen: object, holds: bool) -> Fact:
    return Fact(account, claim, str(seen), holds)


def facts(o: Outcome, offline: list[tuple[Any, ...]]) -> list[Fact]:
    """The story's claims, each with what the pipeline actually produced."""
    out: list[Fact] = []
    live = sorted(comparable(d) for d in o.invoices if not int(d.get("revision") or 0))
    out.append(_fact("*", f"live invoices == `metering rate` offline ({len(offline)})",
                     f"{len(live)} live, {len(set(live) ^ set(offline))} differ",
                     live == offline))
    flex = [r for r in o.decisions if r[0] == "acme-flex"]
    out.append(_fact("acme-flex", "flex.purchased for $1,000 (email-7k -> email-8k limit)",
                     [(r[1], str(r[5])) for r in flex],
                     [(r[1], r[5]) for r in flex] == [("flex.purchased", Decimal(1000))]))
    blue = [r for r in o.alerts if r[0] == "bluebird-news" and r[1] == "threshold"]
    out.append(_fact("bluebird-news", "alerts at 80%, 90%, 100% of 70,000 emails",
                     [r[2] for r in blue], [r[2] for r in blue] == ["80%", "90%", "100%"]))
    blocked = [r[1] for r in o.decisions if r[0] == "bluebird-news"]
    out.append(_fact("bluebird-news", "sending.blocked once the limit is passed", blocked,
                     blocked == ["sending.blocked"]))
    up = [(r[1], r[4], r[5]) for r in o.decisions if r[0] == "upward-shop"]
    out.append(_fact("upward-shop", "plan.upgraded to email-8k for the $600 difference",
                     up, up == [("plan.upgraded", "email-8k", Decimal(600))]))
    march = _cycle(o.of("acme-sms"), "2025-03-01T00:00:00Z")
    credits = (march or {}).get("usage", {}).get("sms.credits")
    out.append(_fact("acme-sms", "March: 200 SMS credits (segments x country rates)",
                     credits, credits == "200"))
    grows = [(r[1], r[2]) for r in o.plan_changes if r[0] == "grows-fast"]
    april = _cycle(o.of("grows-fast"), "2025-04-01T00:00:00Z")
    out.append(_fact("grows-fast", "2,501 contacts: starter -> silver at the close of April",
                     f"{grows}, April invoice {_total(april)}",
                     grows == [("starter", "silver")] and april is not None))
    seats = [d["total"] for d in o.of("acme-seats") if d["kind"] == "immediate"]
    out.append(_fact("acme-seats", "the 11th seat from 16 March billed for 16/31 days: $45.94",
                     seats, "45.94" in seats))
    plan = o.of("acme-plan")
    upgrade = sorted(d["total"] for d in plan if d["kind"] == "immediate")
    credit = [ln["amount"] for d in plan if d["kind"] == "cycle"
              for ln in d.get("lines", []) if ln["kind"] == "credit"]
    refused = [r[0] for r in o.rejected if r[1] == "acme-plan"]
    out.append(_fact("acme-plan", "upgrade prorated at once ($870.97), the downgrade's "
                     "credit used by the April invoice (-$712.00), 10 -> 8 seats before "
                     "renewal refused", f"{upgrade}, credit {credit}, rejected {refused}",
                     "870.97" in upgrade and credit[:1] == ["-712.00"]
                     and refused == ["seat_reduction_before_renewal"]))
    window = sorted(ln["amount"] for d in o.of("season") for ln in d.get("lines", [])
                    if ln["kind"] == "seasonal_seats")
    over = [(r[2], r[3], r[4]) for r in o.alerts if r[0] == "season"]
    out.append(_fact("season", "April window: 3 + 2 seasonal seats ($180 + $120), one alert "
                     "at 6 users for 5 seats", f"{window}, alerts {over}",
                     window == ["120.00", "180.00"]
                     and [(t, int(v), int(lim)) for t, v, lim in over] == [("100%", 6, 5)]))
    storage = _cycle(o.of("acme-storage"), "2025-03-01T00:00:00Z")
    overage = sorted(ln["amount"] for ln in (storage or {}).get("lines", [])
                     if ln["kind"] == "overage")
    out.append(_fact("acme-storage", "March storage overage: $3 attachments + $50 data",
                     overage, overage == ["3.00", "50.00"]))
    carts = _cycle(o.of("acme-carts"), "2025-03-10T00:00:00Z")
    out.append(_fact("acme-carts", "cycle from 10 March billed on its peak: $125",
                     _total(carts), _total(carts) == "125.00"))
    late = [r for r in o.rejected if r[1] == LATE_ACCOUNT]
    out.append(_fact(LATE_ACCOUNT, "the late April batch rejected live as too_late",
                     [r[0] for r in late], [r[0] for r in late] == ["too_late"]))
    before = _cycle(o.of(LATE_ACCOUNT), "2025-04-01T00:00:00Z")
    rev = _cycle(o.of(LATE_ACCOUNT), "2025-04-01T00:00:00Z", revision=1)
    seen = "no revision" if rev is None else (
        f"{rev['number']}: {rev['previous_total']} -> {rev['rerated_total']} ({rev['total']})")
    out.append(_fact(LATE_ACCOUNT, "re-rating April: one revision, +$100 (100 blocks of "
                     "1,000 emails)", seen, rev is not None and before is not None and
                     Decimal(rev["total"]) == Decimal(100) and rev["previous_total"]
                     == before["total"]))
    return out
