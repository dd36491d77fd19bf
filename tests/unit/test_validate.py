"""Every way an input can be bad maps to one machine-readable reason; nothing raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.validate import MAX_EVENT_BYTES, Decoded, decode
from schemas.records import RejectedEvent, RejectReason
from tests.unit.helpers import event, meta


def reason(raw: bytes) -> RejectReason | None:
    out = decode(raw, meta())
    return out.reason if isinstance(out, RejectedEvent) else None


def test_valid_event_decodes_to_typed_data() -> None:
    out = decode(event("email.sent", {"count": 3}, time="2026-03-10T14:00:00+02:00"), meta())
    assert isinstance(out, Decoded)
    assert out.event.time.isoformat() == "2026-03-10T12:00:00+00:00"
    assert out.data.count == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(("raw", "expected"), [
    (b"{not json", RejectReason.MALFORMED_JSON),
    (b"[1, 2]", RejectReason.MALFORMED_JSON),
    (b'{"id": "\xff\xfe"}', RejectReason.NOT_UTF8),
    (b" " * (MAX_EVENT_BYTES + 1), RejectReason.TOO_LARGE),
    (event("teleport.used", {}), RejectReason.UNKNOWN_TYPE),
    (event("email.sent", {"count": 1}, account=""), RejectReason.MISSING_ACCOUNT),
    (event("email.sent", {"count": 1}, specversion="0.3"), RejectReason.INVALID_ENVELOPE),
    (event("email.sent", {"count": 1}, time="2026-03-10T12:00:00"),
     RejectReason.INVALID_ENVELOPE),
    (event("email.sent", {"count": -2}), RejectReason.NEGATIVE_QUANTITY),
    (event("email.sent", {"count": 10**9}), RejectReason.QUANTITY_TOO_LARGE),
    (event("bandwidth.used", {"bytes": 10**18, "kind": "hosting"}),
     RejectReason.QUANTITY_TOO_LARGE),
    (event("bandwidth.used", {"bytes": -1, "kind": "hosting"}), RejectReason.NEGATIVE_QUANTITY),
    (event("storage.measured", {"objects": {"note": -5}}), RejectReason.NEGATIVE_QUANTITY),
    (event("cart.activated", {"category": "standard"}), RejectReason.INVALID_DATA),
    (event("sms.sent", {"to_country": "US"}), RejectReason.INVALID_DATA),
    (event("email.sent", {"count": 1, "extra": True}), RejectReason.INVALID_DATA),
])
def test_reasons(raw: bytes, expected: RejectReason) -> None:
    assert reason(raw) == expected


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_quantities(token: str) -> None:
    raw = event("bandwidth.used", {"bytes": 0, "kind": "hosting"}).replace(
        b'"bytes": 0', f'"bytes": {token}'.encode())
    assert reason(raw) == RejectReason.NON_FINITE_QUANTITY


def test_rejection_keeps_identity_and_a_bounded_copy() -> None:
    raw = event("email.sent", {"count": -1}, eid="x-1")
    out = decode(raw, meta(offset=42))
    assert isinstance(out, RejectedEvent)
    assert (out.source, out.id, out.account, out.offset) == ("urn:s", "x-1", "acc", 42)
    assert json.loads(out.raw)["id"] == "x-1"
    big = decode(b"\x00" * 50_000, meta())
    assert isinstance(big, RejectedEvent) and len(big.raw) <= 4096 and big.raw_size == 50_000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_decode_never_raises_on_bytes(raw: bytes) -> None:
    assert isinstance(decode(raw, meta()), Decoded | RejectedEvent)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c,
                                                                        max_size=4)))
def test_decode_never_raises_on_json_shapes(data: object) -> None:
    raw = json.dumps({"specversion": "1.0", "id": "1", "source": "s", "type": "email.sent",
                      "subject": "a", "time": "2026-01-01T00:00:00Z", "data": data}).encode()
    assert isinstance(decode(raw, meta()), Decoded | RejectedEvent)
