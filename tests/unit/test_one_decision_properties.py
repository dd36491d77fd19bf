"""Property: over random logs (policies and auto-downgrade, settings changes, requested plan
changes, sends, scheduled sends, profiles; the worker's clock looking 24 hours before each
cycle's end), every decision the stream's core takes with a cost is invoiced exactly
once by `metering rate`'s path, and each cycle is billed on the plan the stream enforces.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.batch import RawRecord
from core.limits import limits_context, tick
from tests.unit.test_one_decision import BOOK, bill, core, ev, records

START = datetime(2025, 3, 1, tzinfo=UTC)
PAID = ["email-5k", "email-7k", "email-8k", "email-10k"]
POLICIES = ["none", "flex", "auto_upgrade"]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@st.composite
def logs(draw: st.DrawFn) -> list[bytes]:
    plan = draw(st.sampled_from(PAID))
    out = [ev("s", "account.subscribed", _iso(START), {"product": "email", "plan": plan}),
           ev("set0", "account.settings_changed", _iso(START),
              {"product": "email", "limit_policy": draw(st.sampled_from(POLICIES))})]
    t = START
    for i in range(draw(st.integers(3, 25))):
        t += timedelta(hours=draw(st.integers(6, 120)))
        kind = draw(st.sampled_from(["send"] * 6 + ["scheduled", "policy", "request",
                                                     "profile"]))
        if kind == "send":
            out.append(ev(f"e{i}", "email.sent", _iso(t),
                          {"count": draw(st.integers(1, 40_000))}))
        elif kind == "scheduled":
            out.append(ev(f"x{i}", "send.scheduled", _iso(t),
                          {"product": "email", "count": draw(st.integers(1, 60_000))}))
        elif kind == "policy":
            out.append(ev(f"p{i}", "account.settings_changed", _iso(t),
                          {"product": "email",
                           "limit_policy": draw(st.sampled_from(POLICIES)),
                           "auto_downgrade": draw(st.booleans())}))
        elif kind == "profile":
            out.append(ev(f"f{i}", "profile.added", _iso(t),
                          {"profile_id": f"f{i}", "emailable": True}))
        else:
            out.append(ev(f"r{i}", "account.plan_change_requested", _iso(t),
                          {"product": "email", "plan": draw(st.sampled_from(PAID)),
                           "effective": "next_cycle"}))
    return out


def _when(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_every_live_charge_is_invoiced_once_on_the_plan_enforced(log: list[bytes]) -> None:
    c = core()
    ctx = limits_context(BOOK)
    charges: list[tuple[str, Decimal, datetime]] = []
    entering: dict[datetime, str] = {}  # cycle start -> the plan the stream enforces first
    looked: set[datetime] = set()
    for record in records(log):
        state = c.states.get("acme")
        while state is not None and state.live is not None and \
                state.live.end - timedelta(hours=24) <= _record_time(record) and \
                state.live.start not in looked:  # the worker's clock, 24 h before the end
            looked.add(state.live.start)
            ticked = tick(state, "acme", ctx, state.live.end - timedelta(hours=24))
            state = ticked.state
            c.states.put("acme", state)
            charges += [(d.kind, d.cost, d.at) for d in ticked.decisions if d.cost]
            if _record_time(record) >= state.live.end:
                state = tick(state, "acme", ctx, state.live.end).state  # roll over
                c.states.put("acme", state)
        if state is not None:  # the plan the cycle of this record starts with (rolled over)
            cycle = state.cycle_for(_record_time(record))
            if cycle.start not in entering:
                rolled = tick(state, "acme", ctx, cycle.start).state
                entering[cycle.start] = rolled.products["email"].plan
        out = c.decide_batch([record])
        charges += [(d.kind, d.cost, d.at) for d in out.decisions if d.cost]
    last = max(_record_time(r) for r in records(log))
    billed = bill(log, _iso(last + timedelta(days=70)))
    kinds = {"flex_purchase": "flex.purchased", "upgrade_difference": "plan.upgraded"}
    invoiced = [(kinds[ln["kind"]], Decimal(ln["amount"]), _when(r["issued_at"]))
                for r in billed if r["record"] == "invoice" and r["kind"] == "immediate"
                for ln in r["lines"] if ln["kind"] in kinds]
    assert sorted(invoiced) == sorted(charges)
    for r in billed:
        if r["record"] != "invoice" or r["kind"] != "cycle":
            continue
        following = _when(r["cycle_end"])
        if following in entering:  # the fee of the next cycle, on the plan enforced in it
            fee_plans = [ln["plan"] for ln in r["lines"] if ln["kind"] == "base_fee"]
            assert fee_plans == [entering[following]]


def _record_time(record: RawRecord) -> datetime:
    return datetime.fromtimestamp(record.timestamp - 1, UTC)


def test_the_reference_book_is_the_one_the_stream_limits() -> None:
    assert BOOK.name == "marketing_tiers"
