"""The live state keeps only the meters the limits read (issue 6: limits cost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.limits import LimitsContext, LiveRun, watched_products
from pricing.pricebook_loader import load_pricebook
from tests.unit.test_limits import CTX, T0, Account, keys

SEATS_BOOK = load_pricebook("seats_storage")


def test_events_of_meters_no_limit_reads_leave_the_state_unwritten() -> None:
    acc = Account()  # email only
    at = T0 + timedelta(days=5)
    assert acc.send(2, at).state_changed  # the first usage event opens the live cycle
    for etype, data in [("bandwidth.used", {"bytes": 10**6, "kind": "hosting"}),
                        ("cart.activated", {"cart_id": "c1", "category": "standard"}),
                        ("sms.sent", {"to_country": "US", "segments": 1})]:
        out = acc.feed(etype, data, at)
        assert out.metered is not None and out.metered.meters
        assert not out.state_changed and out.alerts == () and out.decisions == ()
    assert acc.send(3, at).state_changed
    assert acc.state.live.sums == {"email.sent": Decimal(5)}
    assert "carts.standard" not in acc.state.levels


def test_gauges_some_known_plan_limits_are_kept_for_every_watched_account() -> None:
    acc = Account()  # email only; profiles.total is limited by the cdp plans
    out = acc.feed("profile.added", {"profile_id": "p1", "emailable": False},
                   T0 + timedelta(days=1))
    assert out.state_changed
    assert acc.state.levels == {"profiles.total": Decimal(1)}
    assert CTX.gauges >= {"profiles.total", "profiles.active"}


def test_a_plan_change_keeps_the_cycle_to_date_of_its_meters() -> None:
    acc = Account(plan="email-5k")
    acc.send(3_000, T0 + timedelta(days=5))
    acc.feed("account.plan_change_requested",
             {"product": "email", "plan": "email-7k", "effective": "now"},
             T0 + timedelta(days=6))
    assert keys(acc.send(53_000, T0 + timedelta(days=7))) == ["80%"]  # 56,000 of 70,000


def test_a_storage_allowance_reads_the_full_time_seats_level() -> None:
    ctx = LimitsContext({SEATS_BOOK.name: SEATS_BOOK}, SEATS_BOOK.name)
    acc = Account()
    acc.h.limits = ctx
    acc.feed("account.subscribed", {"product": "storage", "plan": "business",
                                    "anchor": "2026-03-01", "pricebook": "seats_storage"},
             T0 + timedelta(hours=1))
    acc.feed("seats.changed", {"full_time": 10}, T0 + timedelta(hours=2))
    assert acc.state.levels["seats.full_time"] == 10
    (_, _, _, product, plan), = watched_products(acc.state, ctx)
    run = LiveRun(acc.state, "acc", ctx, datetime(2026, 3, 2, tzinfo=UTC), 0)
    # 5 GB + 10 seats x 250 MB
    assert run.limit(product, plan, "storage.data.bytes") == Decimal(7_500_000_000)
