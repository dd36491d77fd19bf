"""rate_cycle: fees, overages, plan consequences, splits, credits, cancellation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pricing_helpers import aggregates, book, timeline, utc

from pricing.aggregates import IntervalUsage
from pricing.cycles import cycle_containing
from pricing.limits import decide_at_limit
from pricing.rating import rate_cycle, rated_products
from pricing.timeline import PlanInterval, cycle_for, timeline_from_changes

ANCHOR = date(2025, 1, 10)
CYCLE = cycle_containing(ANCHOR, utc(2025, 3, 12))  # [Mar 10, Apr 10)


def _package(plan: str = "starter", **kw: object) -> PlanInterval:
    return PlanInterval("package", plan, utc(2025, 1, 10), **kw)  # type: ignore[arg-type]


def test_package_overages_and_contact_upgrade_next_cycle() -> None:
    pp = book("package_plans")
    agg = aggregates(
        CYCLE,
        {
            "package": {
                "contacts.peak": 3100,
                "email.sent": 16_001,
                "bandwidth.bytes": 160 * 10**9,
                "domains.custom.peak": 1,
            }
        },
    )
    result = rate_cycle(pp, timeline(ANCHOR, _package()), CYCLE, agg)
    got = {(x.kind, x.meter, x.quantity, x.amount) for x in result.invoice.lines}
    assert ("overage", "contacts.peak", 1, Decimal("10.00")) in got
    assert ("overage", "email.sent", 2, Decimal("2.00")) in got
    # 110 GB over: 100 GB at $0.10 + 10 GB at $0.05
    assert ("overage", "bandwidth.bytes", 100, Decimal("10.00")) in got
    assert ("overage", "bandwidth.bytes", 10, Decimal("0.50")) in got
    (change,) = result.plan_changes
    assert (change.to_plan, change.effective, change.reason) == ("silver", CYCLE.end, "over_limit")
    # the next cycle's fee is already on the upgraded package
    (fee,) = result.invoice.lines_of("base_fee")
    assert (fee.plan, fee.amount, fee.period_start) == ("silver", Decimal("199.00"), CYCLE.end)


def test_usage_is_priced_by_the_plan_active_when_it_accrued() -> None:
    pp = book("package_plans")
    mid = utc(2025, 3, 25)
    tl = timeline(
        ANCHOR,
        PlanInterval("package", "starter", utc(2025, 1, 10), mid),
        PlanInterval("package", "silver", mid),
    )
    splits = {
        "package": [
            IntervalUsage(CYCLE.start, {"email.sent": Decimal(20_000)}),
            IntervalUsage(mid, {"email.sent": Decimal(10_000)}),
        ]
    }
    agg = aggregates(CYCLE, {"package": {"email.sent": 30_000}}, splits)
    lines = rate_cycle(pp, tl, CYCLE, agg).invoice.lines_of("overage")
    # starter (15,000) pays 5,000 over; under silver (125,000) the cumulative 30,000 is fine
    assert [(x.plan, x.quantity, x.amount) for x in lines] == [("starter", 5, Decimal("5.00"))]
    unsplit = aggregates(CYCLE, {"package": {"email.sent": 30_000}})
    assert rate_cycle(pp, tl, CYCLE, unsplit).invoice.lines_of("overage") == []


def test_plan_change_at_a_boundary_starts_with_the_new_cycle() -> None:
    pp = book("package_plans")
    tl = timeline(
        ANCHOR,
        PlanInterval("package", "starter", utc(2025, 1, 10), CYCLE.end),
        PlanInterval("package", "gold", CYCLE.end),
    )
    agg = aggregates(CYCLE, {"package": {"email.sent": 16_000}})
    result = rate_cycle(pp, tl, CYCLE, agg)
    assert [(x.plan, x.amount) for x in result.invoice.lines_of("overage")] == [
        ("starter", Decimal("1.00"))
    ]
    assert [(x.plan, x.amount) for x in result.invoice.lines_of("base_fee")] == [
        ("gold", Decimal("299.00"))
    ]


def test_cancellation_keeps_overages_and_drops_the_next_fee() -> None:
    pp = book("package_plans")
    tl = timeline(ANCHOR, _package(end=utc(2025, 3, 20)))
    agg = aggregates(CYCLE, {"package": {"email.sent": 16_000, "contacts.peak": 9000}})
    result = rate_cycle(pp, tl, CYCLE, agg)
    assert result.invoice.lines_of("base_fee") == []
    assert result.invoice.total > 0 and result.plan_changes == ()


def test_analytics_plan_follows_active_profiles_up_and_down() -> None:
    mt = book("marketing_tiers")
    up_tl = timeline(ANCHOR, PlanInterval("analytics", "analytics-13500", utc(2025, 1, 10)))
    up = rate_cycle(
        mt, up_tl, CYCLE, aggregates(CYCLE, {"analytics": {"profiles.active.end": 20000}})
    )
    assert [(c.to_plan, c.reason) for c in up.plan_changes] == [("analytics-25k", "follow_meter")]
    assert up.invoice.total == Decimal("150.00")
    down_tl = timeline(ANCHOR, PlanInterval("analytics", "analytics-50k", utc(2025, 1, 10)))
    down = rate_cycle(
        mt, down_tl, CYCLE, aggregates(CYCLE, {"analytics": {"profiles.active.end": 13500}})
    )
    assert [c.to_plan for c in down.plan_changes] == ["analytics-13500"]


def test_email_profiles_over_limit_upgrade_next_cycle_but_never_a_free_plan() -> None:
    mt = book("marketing_tiers")
    tl = timeline(ANCHOR, PlanInterval("email", "email-7k", utc(2025, 1, 10)))
    agg = aggregates(CYCLE, {"email": {"profiles.active.peak": 8500, "email.sent": 1}})
    assert [c.to_plan for c in rate_cycle(mt, tl, CYCLE, agg).plan_changes] == ["email-10k"]
    free_tl = timeline(ANCHOR, PlanInterval("email", "email-free", utc(2025, 1, 1)))
    month = cycle_for(mt, free_tl, "email", utc(2025, 3, 12))
    assert month is not None and month.start == utc(2025, 3, 1)  # free plans renew on the 1st
    free = rate_cycle(
        mt, free_tl, month, aggregates(month, {"email": {"profiles.active.peak": 400}})
    )
    assert free.plan_changes == () and free.invoice.total == 0


def test_auto_downgrade_with_flex_unless_upgraded() -> None:
    mt = book("marketing_tiers")
    interval = PlanInterval(
        "email", "email-10k", utc(2025, 1, 10), policy="flex", auto_downgrade=True
    )
    tl = timeline(ANCHOR, interval)
    agg = aggregates(CYCLE, {"email": {"profiles.active.end": 4000, "profiles.active.peak": 6000}})
    result = rate_cycle(mt, tl, CYCLE, agg)
    assert [(c.to_plan, c.reason) for c in result.plan_changes] == [("email-5k", "auto_downgrade")]
    assert [x.amount for x in result.invoice.lines_of("base_fee")] == [Decimal("5100.00")]
    upgrade = decide_at_limit(
        mt, "email", "email-10k", "auto_upgrade", Decimal(0), Decimal(100_001), at=utc(2025, 3, 20)
    )
    assert rate_cycle(mt, tl, CYCLE, agg, [upgrade]).plan_changes == ()


def test_credit_balance_is_applied_and_the_rest_carried() -> None:
    pc = book("peak_carts")
    tl = timeline(ANCHOR, PlanInterval("carts", "carts", utc(2025, 1, 10)))
    agg = aggregates(CYCLE, {"carts": {"carts.standard": 2}})
    result = rate_cycle(pc, tl, CYCLE, agg, credit_balance=Decimal("80.00"))
    (credit,) = result.invoice.lines_of("credit")
    assert credit.amount == Decimal("-50.00")
    assert result.invoice.total == 0 and result.credit_balance == Decimal("30.00")


def test_only_products_whose_cycle_it_is_are_rated() -> None:
    ss = book("seats_storage")
    tl = timeline(
        ANCHOR,
        PlanInterval("seats", "business", utc(2025, 1, 10), seats=3),
        PlanInterval("storage", "business", utc(2025, 1, 10)),
    )
    assert rated_products(ss, tl, CYCLE) == ["seats"]
    month = cycle_containing(date(2025, 1, 1), utc(2025, 3, 12))
    assert rated_products(ss, tl, month) == ["storage"]


def test_storage_allowance_shared_by_organisations_and_conversations() -> None:
    ss = book("seats_storage")
    month = cycle_containing(date(2025, 1, 1), utc(2025, 3, 12))
    interval = PlanInterval(
        "storage", "enterprise-conversations", utc(2025, 1, 1),
        organisations=2, committed_conversations=10_000,
    )  # fmt: skip
    # data: (10 GB + 10 x 150 MB) / 2 orgs = 5.75 GB per organisation
    agg = aggregates(month, {"storage": {"storage.data.bytes": 5_750_000_001}})
    (line,) = rate_cycle(ss, timeline(ANCHOR, interval), month, agg).invoice.lines
    assert (line.quantity, line.amount) == (1, Decimal("50.00"))
    within = aggregates(month, {"storage": {"storage.data.bytes": 5_750_000_000}})
    assert rate_cycle(ss, timeline(ANCHOR, interval), month, within).invoice.lines == ()


def test_timeline_from_changes_closes_each_interval_at_the_next() -> None:
    tl = timeline_from_changes(
        "acct-1",
        ANCHOR,
        [
            PlanInterval("package", "silver", utc(2025, 2, 10)),
            PlanInterval("package", "starter", utc(2025, 1, 10)),
        ],
        cancellations={"package": utc(2025, 5, 1)},
    )
    assert [(i.plan, i.end) for i in tl.intervals] == [
        ("starter", utc(2025, 2, 10)),
        ("silver", utc(2025, 5, 1)),
    ]
    assert tl.active("package", utc(2025, 5, 1)) is None
