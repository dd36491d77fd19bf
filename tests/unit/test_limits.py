"""Live limits through process_record: alerts, the four policies, can-send, the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.can_send import can_send
from core.limits import LimitsContext, limits_context, tick
from core.process import Outcome, Policy
from pricing.pricebook import AlertSpec
from pricing.pricebook_loader import load_pricebook
from tests.unit.helpers import Harness, event

BOOK = load_pricebook("marketing_tiers")
CTX = LimitsContext({BOOK.name: BOOK}, BOOK.name)
T0 = datetime(2026, 3, 1, tzinfo=UTC)  # the account's anchor: cycles start on the 1st


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class Account:
    def __init__(self, plan: str = "email-7k", policy: str = "none",
                 auto_downgrade: bool = False, product: str = "email") -> None:
        self.h = Harness(policy=Policy(allowed_lateness=timedelta(days=400)), limits=CTX)
        self.n = 0
        self.feed("account.subscribed", {"product": product, "plan": plan,
                                         "anchor": "2026-03-01"}, T0)
        if policy != "none" or auto_downgrade:
            self.feed("account.settings_changed", {"product": product, "limit_policy": policy,
                                                   "auto_downgrade": auto_downgrade}, T0)

    def feed(self, etype: str, data: dict[str, Any], at: datetime,
             offset: int | None = None, eid: str | None = None) -> Outcome:
        self.n += 1
        raw = event(etype, data, account="acc", eid=eid or f"e{self.n}", time=iso(at))
        out = self.h.feed(raw, received=iso(at), offset=offset)
        assert out.rejected is None, out.rejected
        return out

    def send(self, count: int, at: datetime, **kw: Any) -> Outcome:
        return self.feed("email.sent", {"count": count}, at, **kw)

    @property
    def state(self) -> Any:
        return self.h.states["acc"]


def keys(out: Outcome) -> list[str]:
    return [a.threshold for a in out.alerts if a.kind == "threshold"]


def test_one_event_over_every_threshold_fires_each_once_in_order() -> None:
    acc = Account()
    out = acc.send(70_000, T0 + timedelta(days=20))
    assert keys(out) == ["80%", "90%", "100%"]
    assert [a.level for a in out.alerts[:3]] == [Decimal(56000), Decimal(63000), Decimal(70000)]
    first = out.alerts[0]
    assert (first.value, first.limit, first.plan) == (Decimal(70000), Decimal(70000), "email-7k")
    assert first.crossed_at == T0 + timedelta(days=20)
    # 70,000 in 20 of 31 days -> 108,500 projected; 38,500 over at $0.10 = $3,850.00
    assert first.projected == Decimal(108500)
    assert first.projected_overage_cost == Decimal("3850.00")
    assert out.decisions == ()  # reaching the limit is not crossing it


def test_many_small_events_fire_each_threshold_once() -> None:
    acc = Account()
    fired: list[str] = []
    for i in range(100):
        fired += keys(acc.send(700, T0 + timedelta(days=28, minutes=i)))
    assert fired == ["80%", "90%", "100%"]


def test_a_replayed_offset_raises_nothing_again() -> None:
    acc = Account()
    out = acc.send(60_000, T0 + timedelta(days=28), offset=100)
    assert keys(out) == ["80%"]
    again = acc.send(60_000, T0 + timedelta(days=28), offset=100, eid=f"e{acc.n}")
    assert again.alerts == () and again.metered is not None


def test_next_cycle_rearms_thresholds() -> None:
    acc = Account()
    assert keys(acc.send(60_000, T0 + timedelta(days=28))) == ["80%"]
    nxt = acc.send(60_000, datetime(2026, 4, 29, tzinfo=UTC))
    assert keys(nxt) == ["80%"]
    assert nxt.alerts[0].cycle_start == datetime(2026, 4, 1, tzinfo=UTC)


def test_forecast_says_when_the_allotment_runs_out() -> None:
    acc = Account()
    out = acc.send(35_000, T0 + timedelta(days=10))
    forecast = [a for a in out.alerts if a.kind == "forecast"]
    assert len(forecast) == 1 and forecast[0].exhausts_at == T0 + timedelta(days=20)
    assert [a for a in acc.send(1, T0 + timedelta(days=11)).alerts if a.kind == "forecast"] == []


def test_policy_none_blocks_until_an_upgrade() -> None:
    acc = Account(policy="none")
    acc.send(70_000, T0 + timedelta(days=5))
    out = acc.send(1, T0 + timedelta(days=6))
    assert [(d.kind, d.reason) for d in out.decisions] == [("sending.blocked", "limit_reached")]
    answer = can_send(acc.state, "acc", "email", 1, CTX, T0 + timedelta(days=6))
    assert (answer.action, answer.allowed, answer.reason) == ("block", False, "limit_reached")
    assert acc.send(5, T0 + timedelta(days=7)).decisions == ()  # blocked once
    up = acc.feed("account.plan_change_requested",
                  {"product": "email", "plan": "email-10k", "effective": "now"},
                  T0 + timedelta(days=8))
    assert [d.kind for d in up.decisions] == ["sending.unblocked"]
    assert can_send(acc.state, "acc", "email", 1000, CTX, T0 + timedelta(days=8)).allowed


def test_policy_none_unblocks_at_the_next_cycle() -> None:
    acc = Account(policy="none")
    acc.send(70_001, T0 + timedelta(days=5))
    assert not can_send(acc.state, "acc", "email", 1, CTX, T0 + timedelta(days=30)).allowed
    assert can_send(acc.state, "acc", "email", 1, CTX, datetime(2026, 4, 1, tzinfo=UTC)).allowed
    out = acc.send(1, datetime(2026, 4, 2, tzinfo=UTC))
    assert [(d.kind, d.reason) for d in out.decisions] == [("sending.unblocked", "next_cycle")]


def test_auto_upgrade_moves_to_the_next_tier_at_once_and_records_the_difference() -> None:
    acc = Account(policy="auto_upgrade")
    before = can_send(acc.state, "acc", "email", 70_001, CTX, T0 + timedelta(days=5))
    assert (before.action, before.target_plan, before.cost) == ("upgrade", "email-8k",
                                                                 Decimal("600.00"))
    out = acc.send(70_001, T0 + timedelta(days=5))
    (d,) = out.decisions
    assert (d.kind, d.plan, d.target_plan, d.cost) == ("plan.upgraded", "email-7k", "email-8k",
                                                       Decimal("600.00"))
    assert acc.state.products["email"].plan == "email-8k"
    assert acc.state.products["email"].since == T0 + timedelta(days=5)
    assert can_send(acc.state, "acc", "email", 9_999, CTX, T0 + timedelta(days=6)).action == \
        "allow"


def test_flex_buys_the_next_tiers_capacity_at_the_current_rate() -> None:
    acc = Account(policy="flex")
    out = acc.send(70_001, T0 + timedelta(days=5))
    (d,) = out.decisions
    assert (d.kind, d.target_plan, d.capacity, d.unit_price, d.cost) == (
        "flex.purchased", "email-8k", Decimal(10_000), Decimal("0.1"), Decimal("1000.00"))
    assert acc.state.products["email"].plan == "email-7k"  # flex is not a plan change
    answer = can_send(acc.state, "acc", "email", 9_999, CTX, T0 + timedelta(days=6))
    assert (answer.action, answer.limit) == ("allow", Decimal(80_000))
    assert acc.send(9_999, T0 + timedelta(days=6)).decisions == ()
    assert can_send(acc.state, "acc", "email", 1, CTX, T0 + timedelta(days=40)).limit == \
        Decimal(70_000)  # the flexed capacity ends with the cycle


def test_flex_is_refused_below_the_minimum_fee_and_blocks() -> None:
    acc = Account(plan="sms-10k", policy="flex", product="sms")
    out = acc.feed("sms.sent", {"to_country": "US", "segments": 1000}, T0 + timedelta(days=1))
    for i in range(10):
        out = acc.feed("sms.sent", {"to_country": "US", "segments": 1000},
                       T0 + timedelta(days=1, minutes=i))
    assert [(d.kind, d.reason) for d in out.decisions] == [
        ("sending.blocked", "flex_not_eligible")]


def test_changing_the_policy_while_blocked_buys_flex_and_unblocks() -> None:
    acc = Account(policy="none")
    acc.send(70_001, T0 + timedelta(days=5))
    out = acc.feed("account.settings_changed", {"product": "email", "limit_policy": "flex"},
                   T0 + timedelta(days=6))
    assert [(d.kind, d.cost) for d in out.decisions] == [
        ("flex.purchased", Decimal("1000.00")), ("sending.unblocked", Decimal(0))]


def test_free_plan_over_its_profile_limit_cannot_send_until_under_it() -> None:
    acc = Account(plan="email-free")
    outs = [acc.feed("profile.added", {"profile_id": f"p{i}", "emailable": True},
                     T0 + timedelta(hours=1, seconds=i)) for i in range(251)]
    assert [d.reason for d in outs[-1].decisions] == ["free_plan_over_profile_limit"]
    assert not can_send(acc.state, "acc", "email", 1, CTX, T0 + timedelta(hours=2)).allowed
    out = acc.feed("profile.removed", {"profile_id": "p0", "emailable": True},
                   T0 + timedelta(hours=3))
    assert [(d.kind, d.reason) for d in out.decisions] == [
        ("sending.unblocked", "under_profile_limit")]


def test_scheduled_send_that_would_cross_upgrades_in_advance() -> None:
    acc = Account(policy="auto_upgrade")
    acc.send(60_000, T0 + timedelta(days=3))
    out = acc.feed("send.scheduled", {"product": "email", "count": 15_000},
                   T0 + timedelta(days=4))
    assert [(d.kind, d.reason, d.target_plan) for d in out.decisions] == [
        ("plan.upgraded", "scheduled_send", "email-8k")]
    quiet = Account(policy="none")
    assert quiet.feed("send.scheduled", {"product": "email", "count": 90_000},
                      T0 + timedelta(days=4)).decisions == ()


def test_auto_downgrade_is_scheduled_24_hours_before_the_cycle_ends() -> None:
    acc = Account(policy="flex", auto_downgrade=True)
    for i in range(4000):
        acc.feed("profile.added", {"profile_id": f"p{i}", "emailable": True},
                 T0 + timedelta(days=1, seconds=i))
    end = datetime(2026, 4, 1, tzinfo=UTC)
    early = tick(acc.state, "acc", CTX, end - timedelta(hours=24, seconds=1))
    assert early.decisions == []
    due = tick(early.state, "acc", CTX, end - timedelta(hours=24))
    (d,) = due.decisions
    assert (d.kind, d.plan, d.target_plan, d.effective) == (
        "downgrade.scheduled", "email-7k", "email-5k", end)
    assert tick(due.state, "acc", CTX, end - timedelta(hours=1)).decisions == []
    after = tick(due.state, "acc", CTX, end + timedelta(hours=1))
    assert after.state.products["email"].plan == "email-5k"
    assert after.state.products["email"].since == end


def test_an_upgrade_cancels_a_pending_downgrade() -> None:
    acc = Account(policy="flex", auto_downgrade=True)
    end = datetime(2026, 4, 1, tzinfo=UTC)
    acc.h.states["acc"] = tick(acc.state, "acc", CTX, end - timedelta(hours=20)).state
    assert acc.state.live.downgrades == {"email": "email-5k"}  # no active profiles
    out = acc.feed("account.plan_change_requested",
                   {"product": "email", "plan": "email-10k", "effective": "now"},
                   end - timedelta(hours=10))
    assert [d.kind for d in out.decisions] == ["downgrade.cancelled"]
    assert tick(acc.state, "acc", CTX, end + timedelta(hours=1)).state.products[
        "email"].plan == "email-10k"


def test_absolute_thresholds_from_the_price_book() -> None:
    book = BOOK.model_copy(update={"alerts": {"email.sent": AlertSpec(
        percent=[Decimal("0.5")], absolute=[Decimal(1000)])}})
    acc = Account()
    acc.h.limits = LimitsContext({book.name: book}, book.name)
    assert keys(acc.send(40_000, T0 + timedelta(days=25))) == ["=1000", "50%"]


def test_a_profile_removed_at_a_cycles_first_instant_is_not_in_its_live_peak() -> None:
    """Half-open cycles in the live limits as in the peak views: a contact removed at
    exactly April's first instant was active only in March; one added later in April
    raises the peak, and a second change at the first instant does not undo that."""
    h = Harness(policy=Policy(allowed_lateness=timedelta(days=400)),
                limits=limits_context(load_pricebook("package_plans")))
    h.feed(event("account.subscribed", {"product": "package", "plan": "starter",
                                        "pricebook": "package_plans", "anchor": "2026-03-01"},
                 eid="s", time="2026-03-01T00:00:00Z"), received="2026-03-01T00:00:00Z")

    def profile(op: str, pid: str, t: str) -> None:
        h.feed(event(f"profile.{op}", {"profile_id": pid, "emailable": True},
                     eid=f"{op}-{pid}-{t}", time=t), received=t)

    profile("added", "p0", "2026-03-02T00:00:00Z")
    profile("added", "p1", "2026-03-03T00:00:00Z")
    profile("removed", "p0", "2026-04-01T00:00:00Z")
    live = h.states["acc"].live
    assert live is not None and live.start.isoformat() == "2026-04-01T00:00:00+00:00"
    assert live.peaks["profiles.active"] == 1  # was 2: p0 counted in April
    profile("added", "p2", "2026-04-05T00:00:00Z")  # 2 active
    profile("removed", "p1", "2026-04-01T00:00:00Z")  # a late change at the first instant
    live = h.states["acc"].live
    assert live is not None
    assert live.peaks["profiles.active"] == 2
