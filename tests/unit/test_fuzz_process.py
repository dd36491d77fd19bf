"""Bad input at the door: the pipeline's own per-record decision (`process_record`) over
arbitrary bytes, arbitrary JSON documents and near-valid CloudEvents with mutated fields.

Whatever comes in: nothing raises; every record is accepted or rejected with a reason of
`RejectReason`; a rejection's detail and copy are bounded; every output serialises as the
worker sends it and becomes a ClickHouse row as the sink builds it.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from core.limits import limits_context
from core.process import Outcome, Policy, process_record
from core.validate import RAW_KEEP_CHARS, RecordMeta
from projections.sink import rejected_row
from schemas.events import EVENT_DATA
from schemas.metered_wire import UsageRow, encode_row
from schemas.records import RejectReason
from tests.unit.helpers import BOOK, RULES, event

CTX = limits_context(BOOK)
T = "2026-03-10T12:00:00Z"
RECEIVED = datetime(2026, 3, 10, 12, 0, 1, tzinfo=UTC)
VALID: dict[str, dict[str, Any]] = {
    "email.sent": {"count": 3},
    "sms.sent": {"to_country": "US", "body": "Sale today!"},
    "bandwidth.used": {"bytes": 1000, "kind": "hosting"},
    "profile.added": {"profile_id": "p1", "emailable": True},
    "profile.removed": {"profile_id": "p1", "emailable": True},
    "profile.consent_changed": {"profile_id": "p2", "emailable": False},
    "cart.activated": {"cart_id": "c1", "category": "standard"},
    "cart.deactivated": {"cart_id": "c1", "category": "standard"},
    "order.review_ready": {"order_id": "o1"},
    "seats.changed": {"full_time": 3, "seasonal": [
        {"first_day": "2026-03-01", "last_day": "2026-03-05", "seats": 2}]},
    "storage.measured": {"objects": {"note": 5, "message": 7}},
    "attachment.stored": {"attachment_id": "a1", "bytes": 1234},
    "attachment.deleted": {"attachment_id": "a1", "bytes": 1234},
    "account.subscribed": {"product": "sms", "plan": "sms-1250"},
    "account.plan_change_requested": {"product": "email", "plan": "email-8k",
                                      "effective": "now"},
    "account.settings_changed": {"product": "email", "limit_policy": "flex",
                                 "auto_downgrade": True},
    "account.cancelled": {"product": "sms"},
    "account.webhook_configured": {"url": "https://hooks.example.com/m"},
    "send.scheduled": {"product": "email", "count": 5},
}
NASTY_TEXT = [
    '"', "\\", "\\\\\"", "') OR 1=1 --", "'; DROP TABLE metering.usage_log; --",
    "{db}", "{account:String}", "%s", "\x00", "\u202e\u200b\ufeff", "🎉" * 40, "Ω",
    "\ud800", "", " ", "null", "NaN", "[/x]", "\r\n", "a" * 100_000, "9" * 400,
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z",
    "2026-03-10T12:00:00", "2126-03-10T12:00:00Z", "1969-12-31T23:59:59Z",
]
NASTY_NUMBERS: list[Any] = [10**30, -(10**30), 2**63, 2**64, -1, 0, 1.5, -0.0, 1e308,
                            True, False, None]
RAW_LITERALS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "[" * 3000 + "]" * 3000,
                "{\"a\":" * 3000 + "1" + "}" * 3000, "123" + "0" * 5000]
ENVELOPE_FIELDS = ["specversion", "id", "source", "type", "subject", "time", "data",
                   "datacontenttype", "ext"]


def fresh_states() -> dict[str, Any]:
    """An account subscribed (email, flex, auto-downgrade) with live limits on."""
    states: dict[str, Any] = {}
    setup: list[tuple[str, dict[str, Any]]] = [
        ("account.subscribed", {"product": "email", "plan": "email-7k",
                                "anchor": "2026-03-01"}),
        ("account.settings_changed", {"product": "email", "limit_policy": "flex",
                                      "auto_downgrade": True})]
    for n, (etype, data) in enumerate(setup):
        out = decide(event(etype, data, eid=f"setup-{n}", time="2026-03-01T00:00:00Z"),
                     states, offset=n, received=datetime(2026, 3, 1, tzinfo=UTC))
        assert out.metered is not None and out.state is not None
        states[out.state_account] = out.state
    return states


def decide(raw: bytes, states: dict[str, Any], offset: int = 100,
           received: datetime = RECEIVED, key: bytes | None = b"acc") -> Outcome:
    return process_record(raw, RecordMeta("events", 0, offset, received), key, states.get,
                          RULES, Policy(), None, CTX)


def check(out: Outcome) -> Outcome:
    """The invariants every decision keeps, whatever the input."""
    assert (out.metered is None) != (out.rejected is None)
    if out.rejected is not None:
        r = out.rejected
        assert isinstance(r.reason, RejectReason)
        assert len(r.detail) <= 1000 and len(r.raw) <= RAW_KEEP_CHARS
        assert all(len(v) <= 512 for v in (r.source, r.id, r.account, r.type))
        assert type(r).model_validate_json(r.model_dump_json()) == r
        rejected_row(r)
    if out.metered is not None:
        m = out.metered
        assert all(math.isfinite(v.quantity) for v in m.meters)
        row = UsageRow.model_validate_json(encode_row(m))
        assert row.src_offset == m.offset and row.quantities == [v.quantity for v in m.meters]
    for record in (*out.alerts, *out.decisions):
        record.model_dump_json()
    if out.state is not None:
        out.state.model_dump_json()
    return out


def labelled(out: Outcome) -> None:
    """`check`, and what happened, for --hypothesis-show-statistics."""
    check(out)
    label("accepted" if out.rejected is None else out.rejected.reason.value)


def test_every_valid_base_event_is_accepted() -> None:
    """The near-valid fuzz starts from these, so it reaches the deep end of the decision."""
    assert set(VALID) == set(EVENT_DATA)
    states = fresh_states()
    for n, (etype, data) in enumerate(VALID.items()):
        out = check(decide(event(etype, data, eid=f"v{n}", time=T), states, offset=10 + n))
        assert out.metered is not None, (etype, out.rejected)
        if out.state is not None:
            states[out.state_account] = out.state


FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([b"acc", None, b"\xff"]))
def test_arbitrary_bytes(raw: bytes, key: bytes | None) -> None:
    labelled(decide(raw, fresh_states(), key=key))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=40),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=25)


@FUZZ
@given(json_values)
def test_arbitrary_json_documents(doc: Any) -> None:
    labelled(decide(json.dumps(doc).encode("utf-8", errors="surrogatepass"), fresh_states()))


@FUZZ
@given(json_values, st.sampled_from(sorted(VALID)))
def test_arbitrary_data_in_a_valid_envelope(data: Any, etype: str) -> None:
    raw = json.dumps({"specversion": "1.0", "id": "x", "source": "urn:s", "type": etype,
                      "subject": "acc", "time": T, "data": data}).encode(
        "utf-8", errors="surrogatepass")
    labelled(decide(raw, fresh_states()))


nasty = st.one_of(st.sampled_from(NASTY_TEXT), st.sampled_from(NASTY_NUMBERS),
                  st.sampled_from(RAW_LITERALS).map(lambda lit: ("raw", lit)),
                  st.text(st.characters(exclude_categories=()), max_size=30),
                  st.integers(), st.floats(), st.builds(dict), st.builds(list),
                  st.dictionaries(st.sampled_from(NASTY_TEXT[:6]), st.integers(), max_size=2))


def mutated(etype: str, mutations: list[tuple[bool, str, Any]]) -> bytes:
    """A valid event of `etype` with each (in data?, field, value) applied; ("raw", text)
    values go into the JSON text as they are (NaN, deep nesting, huge numbers)."""
    doc: dict[str, Any] = {"specversion": "1.0", "id": "m1", "source": "urn:s", "type": etype,
                           "subject": "acc", "time": T, "data": dict(VALID[etype])}
    literals: dict[str, str] = {}
    for in_data, name, value in mutations:
        if isinstance(value, tuple):
            literals[f"@@raw{len(literals)}@@"] = value[1]
            value = f"@@raw{len(literals) - 1}@@"
        target = doc["data"] if in_data and isinstance(doc["data"], dict) else doc
        target[name] = value
    text = json.dumps(doc, ensure_ascii=False)
    for placeholder, literal in literals.items():
        text = text.replace(f'"{placeholder}"', literal)
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[bytes, datetime, bytes | None]:
    etype = draw(st.sampled_from(sorted(VALID)))
    fields = [*VALID[etype], "extra", "to", "body"]
    free = [f for f in ("profile_id", "cart_id", "order_id", "attachment_id", "plan")
            if f in VALID[etype]]
    text = st.one_of(st.sampled_from(NASTY_TEXT[:20]),
                     st.text(st.characters(codec="utf-8"), min_size=1,
                             max_size=40))
    mutation = st.one_of(
        st.tuples(st.just(False), st.sampled_from(ENVELOPE_FIELDS), nasty),
        st.tuples(st.just(True), st.sampled_from(fields), nasty),
        # odd but valid text where the contract takes free text: stored as given
        st.tuples(st.just(False), st.sampled_from(["id", "source", "ext"]), text),
        *([st.tuples(st.just(True), st.sampled_from(free), text)] if free else []))
    raw = mutated(etype, draw(st.lists(mutation, min_size=1, max_size=3)))
    if draw(st.integers(0, 3)) == 0:  # splice bytes that are not UTF-8, or cut it short
        at = draw(st.integers(0, len(raw)))
        raw = draw(st.sampled_from([raw[:at] + b"\xff\xfe" + raw[at:], raw[:at]]))
    received = draw(st.sampled_from([RECEIVED, RECEIVED, RECEIVED,
                                     datetime(1970, 1, 1, tzinfo=UTC),
                                     datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                                     datetime(2026, 5, 1, tzinfo=UTC)]))
    key = draw(st.sampled_from([b"acc", b"acc", b"acc", b"acc", None, b"other"]))
    return raw, received, key


@FUZZ
@given(near_valid())
def test_near_valid_cloudevents(case: tuple[bytes, datetime, bytes | None]) -> None:
    raw, received, key = case
    labelled(decide(raw, fresh_states(), received=received, key=key))


@settings(max_examples=60, deadline=None)
@given(st.lists(near_valid(), min_size=2, max_size=6))
def test_a_stream_of_them_keeps_the_account_consistent(
        cases: list[tuple[bytes, datetime, bytes | None]]) -> None:
    """State written by one odd record (an account event) is read by the next ones."""
    states = fresh_states()
    for offset, (raw, received, key) in enumerate(cases, start=100):
        out = check(decide(raw, states, offset=offset, received=received, key=key))
        if out.state_changed and out.state is not None:
            states[out.state_account] = out.state


def test_times_the_usage_log_cannot_hold_are_invalid_envelopes() -> None:
    """Found by the fuzz: such a time raised (OverflowError), or was accepted with a
    received time as far out and then could not be inserted (ClickHouse DateTime)."""
    states = fresh_states()
    for n, (t, received) in enumerate([
            ("0001-01-01T00:00:00+01:00", RECEIVED), ("9999-12-31T23:59:59-01:00", RECEIVED),
            ("2126-03-10T12:00:00Z", datetime(2126, 3, 10, 12, 0, 1, tzinfo=UTC)),
            ("1970-01-31T23:59:59Z", datetime(1970, 2, 1, tzinfo=UTC))]):
        out = check(decide(event("email.sent", {"count": 1}, eid=f"t{n}", time=t), states,
                           offset=200 + n, received=received))
        assert out.rejected is not None and out.rejected.reason == RejectReason.INVALID_ENVELOPE
        assert "time out of range" in out.rejected.detail


def test_a_record_time_near_the_end_of_the_calendar_is_decided() -> None:
    out = check(decide(event("email.sent", {"count": 1}, time=T), fresh_states(),
                       received=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)))
    assert out.rejected is not None and out.rejected.reason == RejectReason.TOO_LATE
