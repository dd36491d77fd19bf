"""Property tests (hypothesis): flex vs upgrade, proration, determinism, segments, signs."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pricing_helpers import aggregates, book, timeline, utc

from pricing.cycles import cycle_containing
from pricing.limits import decide_at_limit
from pricing.pricebook_loader import parse_pricebook
from pricing.proration import prorate
from pricing.rating import rate_cycle
from pricing.sms import segments
from pricing.timeline import PlanInterval

FAST = settings(max_examples=60, deadline=None)


@st.composite
def falling_ladders(draw: st.DrawFn) -> list[tuple[int, int]]:
    """(limit, fee) tiers: limits rise, unit price (fee / limit) falls by at least 1%."""
    limit = draw(st.integers(100, 100_000))
    fee = Decimal(draw(st.integers(10, 10_000)))
    tiers = [(limit, int(fee))]
    for _ in range(draw(st.integers(1, 4))):
        new_limit = limit + draw(st.integers(1, 200_000))
        max_rate = fee / limit * Decimal("0.99")
        new_fee = draw(st.integers(int(fee), max(int(fee), int(max_rate * new_limit))))
        if Decimal(new_fee) / new_limit > max_rate:
            break
        tiers.append((new_limit, new_fee))
        limit, fee = new_limit, Decimal(new_fee)
    return tiers


def _ladder_book(tiers: list[tuple[int, int]]) -> Any:
    plans = [
        {"id": f"t{i}", "fee": fee, "limits": {"sent": limit}}
        for i, (limit, fee) in enumerate(tiers)
    ]
    return parse_pricebook(
        {
            "name": "ladder",
            "version": "1",
            "effective_from": "2025-01-01",
            "meters": {"sent": {"event_types": ["x"], "aggregation": "count", "unit": "msg"}},
            "products": [
                {
                    "id": "p",
                    "send_limit_meter": "sent",
                    "policies": ["none", "auto_upgrade", "flex"],
                    "plans": plans,
                }
            ],
        }
    )


@FAST
@given(falling_ladders())
def test_flex_costs_more_than_the_upgrade_difference(tiers: list[tuple[int, int]]) -> None:
    assume(len(tiers) >= 2)
    ladder = _ladder_book(tiers)
    for i in range(len(tiers) - 1):
        limit = Decimal(tiers[i][0])
        flex = decide_at_limit(ladder, "p", f"t{i}", "flex", limit, limit + 1)
        upgrade = decide_at_limit(ladder, "p", f"t{i}", "auto_upgrade", limit, limit + 1)
        assert flex.target_plan == upgrade.target_plan == f"t{i + 1}"
        assert flex.cost > upgrade.cost


@FAST
@given(
    st.dates(date(2000, 1, 1), date(2100, 12, 31)),
    st.sampled_from([1, 12]),
    st.decimals(0, 100_000, places=2),
)
def test_proration_over_a_whole_period_is_the_full_price(
    anchor: date, months: int, price: Decimal
) -> None:
    period = cycle_containing(anchor, utc(anchor.year, anchor.month, anchor.day), months)
    assert prorate(price, period.start, period) == price
    assert prorate(price, period.end - timedelta(microseconds=1), period) <= price


PACKAGE_METERS = ["contacts.peak", "email.sent", "bandwidth.bytes", "domains.custom.peak"]
CARTS = ["carts.standard", "carts.premium", "carts.edi"]


@FAST
@given(
    st.sampled_from(["starter", "silver", "gold", "platinum"]),
    st.lists(st.integers(0, 10**12), min_size=4, max_size=4),
    st.lists(st.integers(0, 50), min_size=3, max_size=3),
    st.decimals(0, 500, places=2),
)
def test_rating_is_deterministic_and_signs_are_sane(
    plan: str, package: list[int], carts: list[int], credit: Decimal
) -> None:
    anchor = date(2025, 1, 31)
    cycle = cycle_containing(anchor, utc(2025, 2, 10))
    for name, product, plan_id, values in (
        ("package_plans", "package", plan, dict(zip(PACKAGE_METERS, package, strict=True))),
        ("peak_carts", "carts", "carts", dict(zip(CARTS, carts, strict=True))),
    ):
        tl = timeline(anchor, PlanInterval(product, plan_id, utc(2025, 1, 31)))
        agg = aggregates(cycle, {product: values})  # type: ignore[dict-item]
        first = rate_cycle(book(name), tl, cycle, agg, credit_balance=credit)
        again = rate_cycle(book(name), tl, cycle, agg, credit_balance=credit)
        reordered = aggregates(cycle, {product: dict(reversed(list(values.items())))})  # type: ignore[arg-type]
        assert first == again == rate_cycle(book(name), tl, cycle, reordered, credit_balance=credit)
        assert first.invoice.to_json_dict() == again.invoice.to_json_dict()
        for line in first.invoice.lines:
            assert line.amount >= 0 or line.kind == "credit"
        assert first.invoice.total >= 0 and first.credit_balance >= 0


GSM = st.sampled_from("abcXYZ019 .,!?@$")
OTHER = st.sampled_from("жλ😀中é")


@FAST
@given(st.text(GSM, max_size=400), GSM, st.sampled_from(["sms", "mms"]))
def test_segment_count_is_monotonic_in_length(text: str, extra: str, channel: str) -> None:
    assert segments(text + extra, channel) >= segments(text, channel)  # type: ignore[arg-type]


@FAST
@given(st.text(OTHER, max_size=200), OTHER)
def test_segment_count_is_monotonic_in_length_for_unicode_text(text: str, extra: str) -> None:
    assert segments(text + extra) >= segments(text)
