"""The per-record decision: accounts, cycles, lateness, dedup, replays, derivation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.accounts import AccountState
from core.process import Deduplicator, Policy, process_record
from schemas.records import RejectReason
from tests.unit.helpers import RULES, Harness, event, meta


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_usage_before_any_subscription_is_unknown_account() -> None:
    h = Harness()
    out = h.feed(event("email.sent", {"count": 1}))
    assert out.rejected is not None and out.rejected.reason == RejectReason.UNKNOWN_ACCOUNT


def test_jan_31_anchor_places_events_in_clamped_cycles() -> None:
    h = Harness(policy=Policy(allowed_lateness=timedelta(days=3650)))
    h.subscribe(time="2024-01-31T00:00:00Z")
    cases = {
        "2024-02-28T23:59:59Z": ("2024-01-31", "2024-02-29"),
        "2024-02-29T00:00:00Z": ("2024-02-29", "2024-03-31"),  # boundary exactly at midnight
        "2024-03-30T12:00:00Z": ("2024-02-29", "2024-03-31"),
        "2024-03-31T00:00:00Z": ("2024-03-31", "2024-04-30"),
    }
    for n, (t, (start, end)) in enumerate(cases.items()):
        out = h.feed(event("email.sent", {"count": 1}, eid=f"e{n}", time=t), received=t)
        assert out.metered is not None, out.rejected
        assert (out.metered.cycle_start.date().isoformat(),
                out.metered.cycle_end.date().isoformat()) == (start, end)


def test_lateness_is_measured_on_record_time_against_cycle_end() -> None:
    h = Harness(policy=Policy(allowed_lateness=timedelta(hours=24)))
    h.subscribe(time="2026-03-01T00:00:00Z")
    t = "2026-03-31T23:00:00Z"  # cycle [Mar 1, Apr 1); closes Apr 2 00:00
    inside = h.feed(event("email.sent", {"count": 1}, eid="in", time=t),
                    received="2026-04-01T23:59:59Z")
    at_close = h.feed(event("email.sent", {"count": 1}, eid="late", time=t),
                      received="2026-04-02T00:00:00Z")
    assert inside.metered is not None
    assert at_close.rejected is not None
    assert at_close.rejected.reason == RejectReason.TOO_LATE


def test_future_timestamp_is_rejected_beyond_tolerance() -> None:
    h = Harness(policy=Policy(max_future=timedelta(minutes=5)))
    h.subscribe(time="2026-03-01T00:00:00Z")
    ok = h.feed(event("email.sent", {"count": 1}, eid="a", time="2026-03-10T12:04:59Z"),
                received="2026-03-10T12:00:00Z")
    ahead = h.feed(event("email.sent", {"count": 1}, eid="b", time="2026-03-10T12:05:01Z"),
                   received="2026-03-10T12:00:00Z")
    assert ok.metered is not None
    assert ahead.rejected is not None
    assert ahead.rejected.reason == RejectReason.FUTURE_TIMESTAMP


def test_duplicate_at_other_offset_dropped_replay_at_same_offset_processed() -> None:
    h = Harness()
    h.subscribe(time="2026-03-01T00:00:00Z")
    raw = event("email.sent", {"count": 4}, eid="dup")
    first = h.feed(raw, offset=10)
    again = h.feed(raw, offset=11)
    replay = h.feed(raw, offset=10)
    assert first.metered is not None and again.duplicate and replay.metered is not None


def test_account_event_replayed_below_last_offset_changes_nothing() -> None:
    h = Harness(dedup=False)
    h.subscribe(time="2026-03-01T00:00:00Z")  # offset 0
    change = event("account.settings_changed", {"product": "email", "limit_policy": "flex"},
                   eid="set", time="2026-03-02T00:00:00Z")
    h.feed(change, offset=5)
    state = h.states["acc"]
    assert state.last_offset == 5 and state.products["email"].limit_policy == "flex"
    replay = h.feed(change, offset=5)
    assert not replay.state_changed and h.states["acc"] is state


def test_usage_older_than_subscription_offset_is_unknown_after_state_reload() -> None:
    h = Harness(dedup=False)
    h.subscribe(time="2026-03-01T00:00:00Z")
    h.states["acc"] = h.states["acc"].model_copy(update={"subscribed_offset": 7})
    out = h.feed(event("email.sent", {"count": 1}), offset=3)
    assert out.rejected is not None and out.rejected.reason == RejectReason.UNKNOWN_ACCOUNT


@pytest.mark.parametrize("key", [b"other", b"", None])
def test_key_must_be_the_account(key: bytes | None) -> None:
    h = Harness()
    h.subscribe()
    out = process_record(event("email.sent", {"count": 1}), meta(5), key, h.states.get,
                         RULES, Policy())
    assert out.rejected is not None and out.rejected.reason == RejectReason.KEY_MISMATCH


def test_sms_body_is_counted_and_never_stored() -> None:
    h = Harness()
    h.subscribe(time="2026-03-01T00:00:00Z")
    body = "x" * 161  # GSM, 2 segments
    out = h.feed(event("sms.sent", {"to_country": "CA", "body": body}))
    assert out.metered is not None
    meters = {m.meter: m.quantity for m in out.metered.meters}
    assert meters == {"sms.credits": Decimal(6), "sms.segments": Decimal(2)}
    assert "body" not in out.metered.data and out.metered.data["segments"] == 2


def test_unknown_country_is_rejected_not_priced_at_zero() -> None:
    h = Harness()
    h.subscribe(time="2026-03-01T00:00:00Z")
    out = h.feed(event("sms.sent", {"to_country": "ZZ", "segments": 1}))
    assert out.rejected is not None and out.rejected.reason == RejectReason.UNKNOWN_COUNTRY
    free = h.feed(event("sms.sent", {"to_country": "ZZ", "segments": 1,
                                     "direction": "inbound"}, eid="in"))
    assert free.metered is not None  # costs nothing, so no rate is needed


def test_derived_quantities() -> None:
    h = Harness()
    h.subscribe(time="2026-03-01T00:00:00Z")
    cases = [
        ("profile.added", {"profile_id": "p", "emailable": True},
         {"profiles.total": 1, "profiles.active": 1}),
        ("profile.removed", {"profile_id": "p", "emailable": False}, {"profiles.total": -1}),
        ("profile.consent_changed", {"profile_id": "p", "emailable": False},
         {"profiles.active": -1}),
        ("order.review_ready", {"order_id": "o", "excluded": True}, {}),
        ("storage.measured", {"objects": {"conversation": 1000, "event": 100}},
         {"storage.data.bytes": 507_000}),
        ("attachment.stored", {"attachment_id": "a", "bytes": 1001},
         {"storage.attachments.bytes": 2000}),
        ("sms.sent", {"to_country": "US", "segments": 2, "status": "skipped"},
         {"sms.credits": 0, "sms.segments": 0}),
        ("sms.sent", {"to_country": "US", "segments": 2, "status": "failed"},
         {"sms.credits": 2, "sms.segments": 2}),
    ]
    for n, (etype, data, expected) in enumerate(cases):
        out = h.feed(event(etype, data, eid=f"d{n}"))
        assert out.metered is not None, (etype, out.rejected)
        assert {m.meter: m.quantity for m in out.metered.meters} == \
            {k: Decimal(v) for k, v in expected.items()}, etype


def test_deduplicator_window_is_bounded() -> None:
    d = Deduplicator(capacity=3)
    for i in range(10):
        assert not d.is_duplicate("a", "s", str(i), i)
    assert len(d) == 3


@settings(max_examples=200, deadline=None)
@given(a=st.tuples(st.text(max_size=6), st.text(max_size=6), st.text(max_size=6)),
       b=st.tuples(st.text(max_size=6), st.text(max_size=6), st.text(max_size=6)))
def test_deduplicator_keys_never_collide(a: tuple[str, str, str],
                                         b: tuple[str, str, str]) -> None:
    d = Deduplicator()
    d.remember(*a, 1)
    assert d.seen(*b, 2) == (a == b)  # ("ab", "c", "d") is not ("a", "bc", "d")


@settings(max_examples=300, deadline=None)
@given(anchor=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       seconds=st.integers(min_value=0, max_value=40 * 366 * 86400))
def test_cycle_for_contains_the_instant_and_cycles_tile(anchor: date, seconds: int) -> None:
    start = datetime.combine(anchor, datetime.min.time(), UTC)
    state = AccountState(anchor=anchor, subscribed_offset=0, subscribed_at=start, last_offset=0)
    t = start + timedelta(seconds=seconds)
    cycle = state.cycle_for(t)
    assert cycle.start <= t < cycle.end
    assert state.cycle_for(cycle.end).start == cycle.end
    assert cycle.start.day == anchor.day or cycle.start.day < anchor.day  # clamped only down
    assert 28 <= (cycle.end - cycle.start).days <= 31
