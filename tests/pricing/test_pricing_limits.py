"""Mid-cycle limit decisions under each policy, and alert thresholds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pricing_helpers import book, d, utc

from pricing.cycles import cycle_containing
from pricing.limits import crossed_thresholds, decide_at_limit, decision_invoice


def test_within_the_limit_is_allowed() -> None:
    decision = decide_at_limit(book("marketing_tiers"), "email", "email-7k", "none", d(1), d(70000))
    assert decision.action == "allow" and decision.cost == 0


def test_policy_none_blocks_until_next_cycle() -> None:
    decision = decide_at_limit(book("marketing_tiers"), "email", "email-7k", "none", d(0), d(70001))
    assert (decision.action, decision.reason, decision.limit) == ("block", "limit_reached", 70000)


def test_auto_upgrade_moves_to_next_tier_and_costs_the_fee_difference() -> None:
    mt = book("marketing_tiers")
    decision = decide_at_limit(mt, "email", "email-7k", "auto_upgrade", d(70000), d(70001))
    assert (decision.action, decision.target_plan, decision.cost) == (
        "upgrade", "email-8k", Decimal("600.00"),
    )  # fmt: skip
    cycle = cycle_containing(date(2025, 1, 1), utc(2025, 1, 5))
    invoice = decision_invoice(mt, "acct-1", decision, cycle)
    assert invoice is not None
    assert [x.kind for x in invoice.lines] == ["upgrade_difference"]


def test_a_scheduled_send_crossing_several_tiers_upgrades_to_a_covering_tier() -> None:
    mt = book("marketing_tiers")
    decision = decide_at_limit(mt, "email", "email-7k", "auto_upgrade", d(60000), d(95000))
    assert (decision.target_plan, decision.cost) == ("email-10k", Decimal("2000.00"))


def test_top_of_the_ladder_blocks() -> None:
    mt = book("marketing_tiers")
    decision = decide_at_limit(mt, "email", "email-15k", "auto_upgrade", d(0), d(150001))
    assert (decision.action, decision.reason) == ("block", "top_of_ladder")


def test_second_flex_buys_the_following_tier_at_the_base_rate() -> None:
    mt = book("marketing_tiers")
    first = decide_at_limit(mt, "email", "email-7k", "flex", d(70000), d(70001))
    second = decide_at_limit(mt, "email", "email-7k", "flex", d(80000), d(80001), earlier=[first])
    assert (second.target_plan, second.capacity, second.cost) == (
        "email-10k", 20000, Decimal("2000.00"),
    )  # fmt: skip
    within = decide_at_limit(mt, "email", "email-7k", "flex", d(1), d(79000), earlier=[first])
    assert within.action == "allow" and within.limit == 80000


def test_sms_flex_only_from_495_dollar_plans() -> None:
    mt = book("marketing_tiers")
    small = decide_at_limit(mt, "sms", "sms-10k", "flex", d(9999), d(10001))
    assert (small.action, small.reason) == ("block", "flex_not_eligible")
    big = decide_at_limit(mt, "sms", "sms-50k", "flex", d(50000), d(50003))
    assert (big.action, big.capacity, big.cost) == ("flex", 50000, Decimal("495.00"))


def test_reviews_offer_no_flex() -> None:
    mt = book("marketing_tiers")
    decision = decide_at_limit(mt, "reviews", "reviews-200", "flex", d(200), d(201))
    assert decision.action == "block"
    upgrade = decide_at_limit(mt, "reviews", "reviews-200", "auto_upgrade", d(200), d(201))
    assert (upgrade.target_plan, upgrade.cost) == ("reviews-1000", Decimal("45.00"))


def test_free_plan_over_its_profile_limit_is_blocked_paid_plan_is_not() -> None:
    mt = book("marketing_tiers")
    meter = "profiles.active.peak"
    free = decide_at_limit(mt, "email", "email-free", "none", d(250), d(251), meter=meter)
    assert (free.action, free.reason) == ("block", "free_plan_over_profile_limit")
    paid = decide_at_limit(mt, "email", "email-7k", "none", d(7000), d(7001), meter=meter)
    assert (paid.action, paid.reason) == ("allow", "upgrade_next_cycle")


def test_alert_thresholds_crossed() -> None:
    limit, marks = d(1000), [Decimal("0.8"), Decimal("1.0")]
    assert crossed_thresholds(limit, d(700), d(850), marks) == [Decimal("0.8")]
    assert crossed_thresholds(limit, d(799), d(1000), marks) == [Decimal("0.8"), Decimal("1.0")]
    assert crossed_thresholds(limit, d(800), d(900), marks) == []
