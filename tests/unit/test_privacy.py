"""Personal data never leaves the decision: contact fields dropped, emails and phone numbers
redacted, an SMS body reduced to its segments and alphabet (core/privacy.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest

from core.privacy import (
    EMAIL_MARK,
    PHONE_MARK,
    TOO_DEEP,
    is_contact_key,
    redact,
    redact_loose,
    scrub_event,
    scrub_raw,
)
from core.process import Policy
from core.validate import RAW_KEEP_CHARS
from schemas.envelope import CloudEvent
from schemas.events import EVENT_DATA, ObjectKind
from schemas.records import RejectReason
from tests.unit.helpers import Harness, event

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+1 415 555 0199"
EMAIL = "jane.doe+promo@example.org"


def subscribed(policy: Policy | None = None) -> Harness:
    h = Harness(policy=policy)
    h.subscribe(time="2026-03-01T00:00:00Z")
    return h


def meters(data: dict[str, Any], h: Harness | None = None, **extra: Any) -> dict[str, Any]:
    h = h or subscribed()
    out = h.feed(event("sms.sent", data, **extra))
    assert out.metered is not None, out.rejected
    return {"meters": {m.meter: m.quantity for m in out.metered.meters},
            "data": out.metered.data, "json": out.metered.model_dump_json()}


def test_contact_fields_are_dropped_and_the_sms_is_still_rated() -> None:
    got = meters({"to_country": "CA", "body": "x" * 161, "to": PHONE, "from": "+14155550100",
                  "phone": PHONE, "recipient": {"name": "Jane", "email": EMAIL},
                  "to_email": EMAIL, "Email": EMAIL},
                 recipient=PHONE, email=EMAIL)
    assert got["meters"] == {"sms.credits": Decimal(6), "sms.segments": Decimal(2)}
    assert got["data"] == {"to_country": "CA", "segments": 2, "encoding": "gsm7",
                           "channel": "sms", "direction": "outbound", "status": "delivered"}
    assert PHONE not in got["json"] and EMAIL not in got["json"]


@pytest.mark.parametrize(("body", "segments", "encoding"), [
    ("Call me on +44 20 7946 0958 or write to jane@example.org", 1, "gsm7"),
    ("🎉" * 36, 2, "ucs2"),  # 72 UTF-16 units: ceil(72 / 67)
    ("a" * 160, 1, "gsm7"),
])
def test_the_body_becomes_its_segments_and_alphabet(body: str, segments: int,
                                                    encoding: str) -> None:
    got = meters({"to_country": "US", "body": body})
    assert got["data"]["segments"] == segments and got["data"]["encoding"] == encoding
    assert got["meters"]["sms.segments"] == segments
    assert "body" not in got["data"] and body not in got["json"]


def test_segments_given_by_the_producer_keep_no_invented_encoding() -> None:
    assert "encoding" not in meters({"to_country": "US", "segments": 3})["data"]
    assert meters({"to_country": "US", "segments": 3, "encoding": "ucs2"})["data"][
        "encoding"] == "ucs2"


def test_a_late_sms_keeps_its_segments_in_the_rejected_copy_and_rates_the_same() -> None:
    body = "Votre code: 123456. Répondez STOP au +33 6 12 34 56 78" + "!" * 120
    raw = event("sms.sent", {"to_country": "GB", "body": body, "to": "+33612345678"},
                time="2026-03-31T23:00:00Z")
    live = subscribed()
    late = live.feed(raw, received="2026-04-03T00:00:00Z")
    assert late.rejected is not None and late.rejected.reason == RejectReason.TOO_LATE
    copy = json.loads(late.rejected.raw)
    assert copy["data"] == {"to_country": "GB", "segments": 2, "encoding": "gsm7"}
    assert "+33" not in late.rejected.model_dump_json()
    # re-rating decides the copy again without a lateness limit: same meters as the original
    again = subscribed(Policy(allowed_lateness=timedelta(days=36_500)))
    original = again.feed(raw, received="2026-04-03T00:00:00Z")
    replayed = again.feed(late.rejected.raw.encode(), received="2026-04-03T00:00:00Z")
    assert original.metered is not None and replayed.duplicate  # same (source, id)
    fresh = subscribed(Policy(allowed_lateness=timedelta(days=36_500)))
    from_copy = fresh.feed(late.rejected.raw.encode(), received="2026-04-03T00:00:00Z")
    assert from_copy.metered is not None
    assert from_copy.metered.meters == original.metered.meters
    assert from_copy.metered.data == original.metered.data


def test_identity_and_the_webhook_url_are_kept_as_given() -> None:
    doc = {"specversion": "1.0", "id": "ord-1", "source": "urn:shop", "subject": "acme",
           "type": "account.webhook_configured", "time": "2026-03-10T12:00:00Z",
           "data": {"url": "https://ops:s3cret@hooks.example.com/metering?to=+15551234567"}}
    assert scrub_event(doc, keep_sms_body=True) == doc
    assert scrub_event(doc, keep_sms_body=False) == doc


def test_every_shipped_example_event_is_left_unchanged() -> None:
    docs = [json.loads(line) for path in sorted((ROOT / "pricing" / "examples").glob("*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]
    assert len(docs) > 100
    assert all(scrub_event(doc, keep_sms_body=True) == doc for doc in docs)


@pytest.mark.parametrize(("key", "contact"), [
    ("to", True), ("from", True), ("to_email", True), ("Phone-Number", True),
    ("recipientPhone", True), ("customer_email", True), ("msisdn", True), ("body", True),
    ("emailable", False), ("to_country", False), ("count", False), ("profile_id", False),
    ("subject", False), ("segments", False), ("tokens", False),
])
def test_contact_keys(key: str, contact: bool) -> None:
    assert is_contact_key(key) is contact


@pytest.mark.parametrize(("text", "expected"), [
    ("write to jane@example.org today", f"write to {EMAIL_MARK} today"),
    ("jane%40example.org", EMAIL_MARK),
    ("call +1 (415) 555-0199.", f"call {PHONE_MARK}."),
    ("tel:+442079460958", PHONE_MARK),
    ("office (020) 7946 0958", f"office {PHONE_MARK}"),
    ("2026-03-10T14:00:00+02:00", "2026-03-10T14:00:00+02:00"),
    ("123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"),
    ("order 555-123-4567", "order 555-123-4567"),  # ambiguous with ids: only in raw text
    ("email-7k", "email-7k"),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_loose_redaction_of_unparsed_text_takes_national_numbers_too() -> None:
    text = redact_loose("sms to 555-123-4567, then 5551234567 from a@b.co")
    assert text == f"sms to {PHONE_MARK}, then {PHONE_MARK} from {EMAIL_MARK}"


def test_no_field_of_the_event_contract_is_a_contact_key() -> None:
    names = {name for model in EVENT_DATA.values() for name in model.model_fields}
    names |= set(get_args(ObjectKind)) | set(CloudEvent.model_fields)
    assert {name for name in names if is_contact_key(name)} == {"body"}  # sms.sent: counted


def test_rejected_copy_of_text_that_is_not_json_is_redacted() -> None:
    h = subscribed()
    for raw in (b'{"to": "+15551234567", "email": "a@b.co", ', b"\xff\xfe to a@b.co 5551234567"):
        out = h.feed(raw)
        assert out.rejected is not None
        assert out.rejected.reason in (RejectReason.MALFORMED_JSON, RejectReason.NOT_UTF8)
        text = out.rejected.model_dump_json()
        assert "a@b.co" not in text and "5551234567" not in text
        assert EMAIL_MARK in out.rejected.raw and PHONE_MARK in out.rejected.raw


def test_a_huge_record_is_cut_without_half_an_address() -> None:
    raw = b"x " * 9000 + b"jane@example.org " * 2000
    copy = scrub_raw(raw, RAW_KEEP_CHARS)
    assert len(copy) == RAW_KEEP_CHARS and "@" not in copy and "jane" not in copy


def test_detail_and_type_are_redacted() -> None:
    h = subscribed()
    unknown = h.feed(event("jane@example.org", {}))
    assert unknown.rejected is not None
    assert unknown.rejected.reason == RejectReason.UNKNOWN_TYPE
    assert "jane" not in unknown.rejected.model_dump_json()
    extra = h.feed(event("email.sent", {"count": 1, "jane@example.org": 1}, eid="e2"))
    assert extra.rejected is not None and extra.rejected.reason == RejectReason.INVALID_DATA
    assert extra.rejected.detail == f"{EMAIL_MARK}: Extra inputs are not permitted"


def test_a_producer_sending_contact_fields_with_other_mistakes_is_still_rejected() -> None:
    h = subscribed()
    out = h.feed(event("email.sent", {"count": 1, "to": EMAIL, "extra": True}))
    assert out.rejected is not None and out.rejected.reason == RejectReason.INVALID_DATA
    assert EMAIL not in out.rejected.model_dump_json()
    both = h.feed(event("sms.sent", {"to_country": "US", "segments": 1, "body": "hi " + PHONE},
                        eid="e2"))
    assert both.rejected is not None and both.rejected.reason == RejectReason.INVALID_DATA
    assert PHONE not in both.rejected.model_dump_json()


def test_structures_nested_too_deep_are_cut() -> None:
    nested: Any = EMAIL
    for _ in range(200):
        nested = [nested]
    doc = {"specversion": "1.0", "type": "x", "ext": nested}
    text = json.dumps(scrub_event(doc, keep_sms_body=False))
    assert EMAIL not in text and TOO_DEEP in text


def test_the_shortcut_key_sets_name_no_contact_key() -> None:
    from core import privacy

    assert not any(is_contact_key(k) for k in privacy._ENVELOPE | privacy._FIELDS)
    fields = {name for model in EVENT_DATA.values() for name in model.model_fields}
    assert fields - {"body"} <= privacy._FIELDS
