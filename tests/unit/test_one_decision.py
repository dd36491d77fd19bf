"""One decision: what the stream's core decides is what billing invoices, and a rejected
record changes nothing (issue "One decision core": each test failed before the core).

`stream` runs a log through the decision core as the worker does (live limits on);
`bill` runs the same log through `metering rate`'s path (read_log + rate_log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.batch import Core, DictStore, RawRecord
from core.derive import rules_for
from core.limits import LimitsContext, limits_context, tick
from core.process import Deduplicator, Policy
from pricing.pricebook_loader import load_pricebook
from projections.offline_log import read_log
from projections.offline_rating import rate_log
from schemas.records import Decision, RejectReason

BOOK = load_pricebook("marketing_tiers")
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def ev(eid: str, etype: str, time: str, data: dict[str, Any], account: str = "acme") -> bytes:
    return json.dumps({"specversion": "1.0", "id": eid, "source": "app", "type": etype,
                       "subject": account, "time": time, "data": data}).encode()


def records(lines: list[bytes], start: int = 1) -> list[RawRecord]:
    out = []
    for offset, line in enumerate(lines, start=start):
        doc = json.loads(line)
        t = datetime.fromisoformat(doc["time"].replace("Z", "+00:00")).timestamp()
        out.append(RawRecord("events", 0, offset, t + 1, doc["subject"].encode(), line))
    return out


def core(limits: LimitsContext | None = None) -> Core:
    return Core(DictStore(), rules_for(BOOK), Policy(), Deduplicator(),
                limits if limits is not None else limits_context(BOOK))


def stream(lines: list[bytes]) -> list[Decision]:
    return core().decide_batch(records(lines)).decisions


def bill(lines: list[bytes], until: str) -> list[dict[str, Any]]:
    aggregator, _ = read_log(lines, BOOK, fallback=FAR)
    out, problems = rate_log(BOOK, aggregator, datetime.fromisoformat(until))
    assert not problems
    return out


def charged(decisions: list[Decision]) -> list[tuple[str, Decimal]]:
    return sorted((d.kind, d.cost) for d in decisions if d.cost)


def immediate(invoices: list[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    kinds = {"flex_purchase": "flex.purchased", "upgrade_difference": "plan.upgraded"}
    return sorted((kinds[ln["kind"]], Decimal(ln["amount"])) for r in invoices
                  if r["record"] == "invoice" and r["kind"] == "immediate"
                  for ln in r["lines"] if ln["kind"] in kinds)


SUBSCRIBE = ev("s1", "account.subscribed", "2025-03-01T00:00:00Z",
               {"product": "email", "plan": "email-7k"})


def test_flex_bought_while_blocked_is_invoiced() -> None:
    log = [SUBSCRIBE,
           ev("e1", "email.sent", "2025-03-02T09:00:00Z", {"count": 70_000}),
           ev("e2", "email.sent", "2025-03-03T09:00:00Z", {"count": 1_000}),  # blocked
           ev("p1", "account.settings_changed", "2025-03-04T09:00:00Z",
              {"product": "email", "limit_policy": "flex"}),
           ev("e3", "email.sent", "2025-03-05T09:00:00Z", {"count": 2_000})]
    live = stream(log)
    assert [d.kind for d in live] == ["sending.blocked", "flex.purchased", "sending.unblocked"]
    assert charged(live) == [("flex.purchased", Decimal("1000.00"))]  # 10,000 x $0.10
    assert immediate(bill(log, "2025-04-02T00:00:00+00:00")) == charged(live)


def test_an_upgrade_by_a_scheduled_send_is_invoiced_and_followed() -> None:
    log = [SUBSCRIBE,
           ev("p1", "account.settings_changed", "2025-03-01T00:00:00Z",
              {"product": "email", "limit_policy": "auto_upgrade"}),
           ev("e1", "email.sent", "2025-03-02T09:00:00Z", {"count": 65_000}),
           ev("x1", "send.scheduled", "2025-03-03T09:00:00Z",
              {"product": "email", "count": 10_000}),
           ev("e2", "email.sent", "2025-04-02T09:00:00Z", {"count": 100})]
    live = stream(log)
    upgraded, = (d for d in live if d.kind == "plan.upgraded")
    assert (upgraded.plan, upgraded.target_plan, upgraded.cost) == (
        "email-7k", "email-8k", Decimal("600.00"))
    billed = bill(log, "2025-05-02T00:00:00+00:00")
    assert immediate(billed) == charged(live)
    march = next(r for r in billed if r["record"] == "invoice" and r["kind"] == "cycle"
                 and r["cycle_start"].startswith("2025-03-01"))
    fees = [(ln["plan"], ln["amount"]) for ln in march["lines"] if ln["kind"] == "base_fee"]
    assert fees == [("email-8k", "7600.00")]  # April is billed on the plan the stream enforces


def test_a_rejected_event_sent_again_once_fixed_is_judged_again() -> None:
    c = core()
    early = ev("e1", "email.sent", "2025-03-02T09:00:00Z", {"count": 5})
    first = c.decide_batch(records([early], start=1))
    assert [r.reason for r in first.rejected] == [RejectReason.UNKNOWN_ACCOUNT]
    again = c.decide_batch(records([SUBSCRIBE, early], start=2))
    assert again.duplicates == 0 and [e.id for e in again.metered] == ["s1", "e1"]
    # a copy of the accepted one is a duplicate; a fresh core (a restart) answers the same
    assert c.decide_batch(records([early], start=4)).duplicates == 1
    fresh = core()
    fresh.decide_batch(records([early], start=1))
    assert [e.id for e in fresh.decide_batch(records([SUBSCRIBE, early], start=2)).metered] \
        == ["s1", "e1"]


def test_a_rejected_account_event_changes_no_state() -> None:
    c = core()
    c.decide_batch(records([SUBSCRIBE]))
    before = c.states.get("acme")
    out = c.decide_batch(records([ev("p1", "account.plan_change_requested",
                                     "2025-02-20T00:00:00Z",
                                     {"product": "email", "plan": "email-15k",
                                      "effective": "now"})], start=2))
    assert [r.reason for r in out.rejected] == [RejectReason.BEFORE_SUBSCRIPTION]
    assert out.states == {} and c.states.get("acme") == before
    assert before is not None and before.products["email"].plan == "email-7k"


class Broken(dict[str, Any]):
    def get(self, *_: Any, **__: Any) -> Any:
        raise RuntimeError("limits broke")


def test_a_failure_in_the_limits_never_loses_the_usage() -> None:
    c = core(LimitsContext(Broken(), "marketing_tiers"))
    out = c.decide_batch(records([SUBSCRIBE, ev("e1", "email.sent", "2025-03-02T09:00:00Z",
                                                 {"count": 5})]))
    assert [e.id for e in out.metered] == ["s1", "e1"] and out.rejected == []
    assert [m.offset for m, _ in out.limits_errors] == [2]  # a subscription moves no limit
    assert all("limits broke" in error for _, error in out.limits_errors)
    assert c.states.get("acme") is not None  # the subscription's state is stored


@pytest.mark.parametrize("policy", ["none", "flex", "auto_upgrade"])
def test_the_batch_entry_point_decides_as_record_by_record(policy: str) -> None:
    log = [SUBSCRIBE,
           ev("p1", "account.settings_changed", "2025-03-01T00:00:00Z",
              {"product": "email", "limit_policy": policy}),
           *[ev(f"e{i}", "email.sent", f"2025-03-{i + 2:02d}T09:00:00Z", {"count": 9_000})
             for i in range(12)]]
    whole = core().decide_batch(records(log))
    one = core()
    singles = [one.decide_batch([r]) for r in records(log)]
    assert whole.decisions == [d for b in singles for d in b.decisions]
    assert whole.alerts == [a for b in singles for a in b.alerts]
    assert whole.metered == [e for b in singles for e in b.metered]


def test_the_auto_downgrade_billed_is_the_one_the_core_scheduled() -> None:
    """flex + auto_downgrade on email-10k: 24 hours before the end the core schedules the
    lowest paid tier covering the active profiles then (6,000: email-7k); profiles removed
    in the last hours do not make the bill choose another plan (email-5k at the end)."""
    log = [ev("s1", "account.subscribed", "2025-03-01T00:00:00Z",
              {"product": "email", "plan": "email-10k"}),
           ev("p1", "account.settings_changed", "2025-03-01T00:00:00Z",
              {"product": "email", "limit_policy": "flex", "auto_downgrade": True})]
    log += [ev(f"a{n}", "profile.added", "2025-03-10T00:00:00Z",
               {"profile_id": f"p{n}", "emailable": True}) for n in range(6_000)]
    log += [ev(f"r{n}", "profile.removed", "2025-03-31T20:00:00Z",
               {"profile_id": f"p{n}", "emailable": True}) for n in range(5_500)]
    log.append(ev("e1", "email.sent", "2025-04-02T09:00:00Z", {"count": 1}))
    c = core()
    rs = records(log)
    notice = datetime(2025, 3, 31, tzinfo=UTC)  # the worker's clock, 24 h before the end
    before_notice = [r for r in rs if r.timestamp - 1 < notice.timestamp()]
    c.decide_batch(before_notice)
    state = c.states.get("acme")
    assert state is not None
    ticked = tick(state, "acme", limits_context(BOOK), notice)
    c.states.put("acme", ticked.state)
    scheduled, = (d for d in ticked.decisions if d.kind == "downgrade.scheduled")
    assert scheduled.target_plan == "email-7k"
    c.decide_batch(rs[len(before_notice):])
    final = c.states.get("acme")
    assert final is not None and final.products["email"].plan == "email-7k"  # enforced
    billed = bill(log, "2025-04-05T00:00:00+00:00")
    march = next(r for r in billed if r["record"] == "invoice" and r["kind"] == "cycle")
    assert [(ln["plan"], ln["amount"]) for ln in march["lines"] if ln["kind"] == "base_fee"] \
        == [("email-7k", "7000.00")]


def test_a_change_requested_at_the_start_of_a_cycle_does_not_replace_the_pending_one() -> None:
    """Found by the property test: the first record of April is a plan change requested
    for May; the stream used to roll into April after applying it, so April ran on the
    May plan while April was billed on the plan requested in March."""
    log = [SUBSCRIBE,
           ev("r1", "account.plan_change_requested", "2025-03-10T00:00:00Z",
              {"product": "email", "plan": "email-5k", "effective": "next_cycle"}),
           ev("r2", "account.plan_change_requested", "2025-04-01T09:00:00Z",
              {"product": "email", "plan": "email-10k", "effective": "next_cycle"}),
           ev("e1", "email.sent", "2025-04-02T09:00:00Z", {"count": 1})]
    c = core()
    c.decide_batch(records(log))
    state = c.states.get("acme")
    assert state is not None and state.products["email"].plan == "email-5k"
    assert state.products["email"].next_plan == "email-10k"
    billed = bill(log, "2025-05-02T00:00:00+00:00")
    fees = [(r["cycle_start"][:10], ln["plan"]) for r in billed
            if r["record"] == "invoice" and r["kind"] == "cycle"
            for ln in r["lines"] if ln["kind"] == "base_fee"]
    assert fees == [("2025-03-01", "email-5k"), ("2025-04-01", "email-10k")]
