"""Usage day by day (`api.usage_history`) from the live state the core keeps, against an
oracle computed here from the events themselves: cumulative sums per UTC day, the running
peak of a gauge, the forecast as value x cycle length / elapsed and the day it crosses the
allotment. Events arrive out of order within the cycle, as late events do."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from api.usage import current_usage
from api.usage_chart import render_usage
from api.usage_history import usage_history
from core.accounts import AccountState
from core.process import Policy
from tests.unit.helpers import Harness, event
from tests.unit.test_api_http import CTX

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
EMAIL_LIMIT = 70_000  # email-7k in marketing_tiers
PROFILES_LIMIT = 7_000
# (day of March, profiles added (+) or removed (-)): level 50, 30, 70
PROFILE_MOVES = [(2, 50), (4, -20), (6, 40)]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def build(seed: int) -> tuple[AccountState, dict[date, int]]:
    """acme on email-7k; emails on random days 1-10 of March (up to NOW), fed shuffled."""
    rng = random.Random(seed)
    h = Harness(policy=Policy(allowed_lateness=timedelta(days=400)), limits=CTX)
    h.feed(event("account.subscribed", {"product": "email", "plan": "email-7k",
                                        "anchor": "2026-03-01"}, account="acme", eid="s",
                 time=_iso(START)), received=_iso(START))
    sends = []
    for i in range(60):
        at = START + timedelta(seconds=rng.randrange(int((NOW - START).total_seconds())))
        sends.append((at, rng.randrange(1, 2_000), f"e{i}"))
    per_day: dict[date, int] = defaultdict(int)
    for at, count, _ in sends:
        per_day[at.date()] += count
    rng.shuffle(sends)
    for at, count, eid in sends:
        h.feed(event("email.sent", {"count": count}, account="acme", eid=eid, time=_iso(at)),
               received=_iso(NOW))
    n = 0
    for day, moves in PROFILE_MOVES:
        at = _iso(START + timedelta(days=day - 1, hours=9))
        kind = "profile.added" if moves > 0 else "profile.removed"
        for _ in range(abs(moves)):
            n += 1
            h.feed(event(kind, {"profile_id": f"p{n if moves > 0 else n - 50}",
                                "emailable": True}, account="acme", eid=f"p{n}", time=at),
                   received=_iso(NOW))
    return h.states["acme"], dict(per_day)


def test_each_day_is_the_cycle_to_date_sum_and_the_forecast_is_the_rate_carried_on() -> None:
    state, per_day = build(seed=7)
    history = usage_history(state, "acme", CTX, NOW)
    emails = next(m for m in history.meters if m.meter == "email.sent")
    days = [START.date() + timedelta(days=i) for i in range(10)]  # 1..10 March
    total, expected = 0, []
    for d in days:
        total += per_day.get(d, 0)
        expected.append(total)
    assert [p.day for p in emails.days] == days
    assert [int(p.value) for p in emails.days] == expected
    assert emails.reads == "sum" and emails.limit == EMAIL_LIMIT and emails.value == total
    elapsed, length = (NOW - START).total_seconds(), 31 * 86_400
    assert emails.forecast == round(total * length / elapsed)
    # the same figure the usage route answers now
    now = current_usage(state, "acme", CTX, NOW)
    assert next(m.value for p in now.products for m in p.meters
                if m.meter == "email.sent") == emails.value


def test_the_day_the_forecast_crosses_the_allotment() -> None:
    state, _ = build(seed=3)
    # 50,000 more on 10 March: the rate now runs out before the cycle's end
    h = Harness(policy=Policy(allowed_lateness=timedelta(days=400)), limits=CTX)
    h.states["acme"] = state
    h.feed(event("email.sent", {"count": 50_000}, account="acme", eid="big",
                 time="2026-03-10T06:00:00Z"), received=_iso(NOW))
    emails = next(m for m in usage_history(h.states["acme"], "acme", CTX, NOW).meters
                  if m.meter == "email.sent")
    value = float(emails.value)
    rate = value / (NOW - START).total_seconds()
    crossing = NOW + timedelta(seconds=(EMAIL_LIMIT - value) / rate)
    assert emails.forecast > EMAIL_LIMIT > value
    assert emails.over_at == crossing.date()


def test_a_gauge_reads_its_running_peak_day_by_day() -> None:
    state, _ = build(seed=1)
    history = usage_history(state, "acme", CTX, NOW)
    profiles = next(m for m in history.meters if m.meter == "profiles.active.peak")
    # levels by the end of each day: 0, 50 (2nd), 50, 30 (4th), 30, 70 (6th) ...
    assert [int(p.value) for p in profiles.days] == [0, 50, 50, 50, 50, 70, 70, 70, 70, 70]
    assert profiles.reads == "peak" and profiles.limit == PROFILES_LIMIT
    assert profiles.forecast == profiles.value == 70 and profiles.over_at is None


def test_a_cycle_that_ended_shows_the_new_cycle_empty() -> None:
    state, _ = build(seed=2)
    later = datetime(2026, 4, 3, 8, tzinfo=UTC)
    history = usage_history(state, "acme", CTX, later)
    emails = next(m for m in history.meters if m.meter == "email.sent")
    assert history.cycle_start == datetime(2026, 4, 1, tzinfo=UTC)
    assert [p.day for p in emails.days] == [date(2026, 4, d) for d in (1, 2, 3)]
    assert all(p.value == 0 for p in emails.days) and emails.forecast == 0
    profiles = next(m for m in history.meters if m.meter == "profiles.active.peak")
    assert [int(p.value) for p in profiles.days] == [70, 70, 70]  # the level carries over


def test_a_state_kept_before_the_days_shows_the_value_now_exactly() -> None:
    state, _ = build(seed=4)
    assert state.live is not None
    old = state.model_copy(update={"live": state.live.model_copy(update={
        "daily": {}, "daily_end": {}, "opening": {}})})
    emails = next(m for m in usage_history(old, "acme", CTX, NOW).meters
                  if m.meter == "email.sent")
    assert emails.value == state.live.sums["email.sent"] == emails.days[-1].value
    assert all(p.value == 0 for p in emails.days[:-1])


def test_an_untracked_account_has_no_meters() -> None:
    state, _ = build(seed=5)
    bare = state.model_copy(update={"live": None})
    history = usage_history(bare, "acme", CTX, NOW)
    assert not history.tracked and history.meters == []


def test_the_chart_is_a_png_and_an_svg_with_every_meter(tmp_path: Path) -> None:
    state, _ = build(seed=6)
    history = usage_history(state, "acme", CTX, NOW)
    png, svg = render_usage(history, "png"), render_usage(history, "svg")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    text = svg.decode()
    assert "email · email-7k · email.sent" in text
    assert f"allotment {EMAIL_LIMIT:,}" in text
    assert f"forecast {history.meters[0].forecast:,.0f}" in text
    assert Decimal(0) <= history.meters[0].value
