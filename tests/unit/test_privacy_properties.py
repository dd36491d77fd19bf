"""Property: emails and phone numbers planted anywhere in an event (values, keys, contact
fields, extension attributes, an SMS body, text that is not JSON) never come out of the
scrubber nor out of the per-record decision, accepted or rejected."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.privacy import (
    redact,
    redact_loose,
    scrub_decoded,
    scrub_event,
    scrub_raw,
)
from tests.unit.helpers import Harness

DIGITS = "0123456789"


def _digits(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=lo, max_size=hi)


def _international(cc: str, groups: list[str], sep: str, paren: bool) -> str:
    head, *rest = groups
    return f"+{cc}{sep or ' '}" + (f"({head})" if paren else head) + "".join(
        f"{sep}{g}" for g in rest)


international = st.builds(_international, _digits(1, 3),
                          st.lists(_digits(2, 4), min_size=3, max_size=4),
                          st.sampled_from(["", " ", "-", "."]), st.booleans())
e164 = st.builds(lambda cc, n: f"+{cc}{n}", _digits(1, 3), _digits(7, 12))
national_parens = st.builds(lambda a, b, sep, c: f"({a}) {b}{sep}{c}", _digits(3, 3),
                            _digits(3, 3), st.sampled_from(["-", ".", " "]), _digits(4, 4))
tel = st.builds(lambda n: f"tel:{n}", e164 | international)
phones = st.one_of(e164, international, national_parens, tel)
"""Phone numbers recognisable in any string (international, tel:, parenthesised)."""
national = st.builds(lambda a, b, c, sep: f"{a}{sep}{b}{sep}{c}", _digits(3, 3),
                     _digits(3, 3), _digits(4, 4), st.sampled_from(["", "-", ".", " "]))
"""Recognised under a contact key, or in text that is not JSON."""
emails = st.emails()
CONTACT_KEYS = ["to", "from", "phone", "recipient", "email", "to_email", "body", "From",
                "recipientPhone", "customer-email", "msisdn", "Text"]


@st.composite
def planted_doc(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """An event whose data and extension attributes hide personal data anywhere."""
    secrets = draw(st.lists(st.one_of(phones, emails), min_size=1, max_size=4))
    hidden = draw(st.lists(national, max_size=2))  # only under contact keys

    def embedded() -> st.SearchStrategy[str]:
        return st.builds(lambda a, s, b: a + s + b, st.text(max_size=6),
                         st.sampled_from(secrets), st.text(max_size=6))

    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), embedded())
    key = st.one_of(st.text(max_size=6), embedded())
    tree = st.recursive(leaf, lambda c: st.lists(c, max_size=3)
                        | st.dictionaries(key, c, max_size=3), max_leaves=12)
    contact = st.dictionaries(st.sampled_from(CONTACT_KEYS),
                              st.sampled_from(secrets + hidden or ["x"]) | tree, max_size=3)
    data = draw(st.dictionaries(key, tree, max_size=4)) | draw(contact)
    etype = draw(st.sampled_from(["sms.sent", "email.sent", "profile.added", "made.up"]))
    doc = {"specversion": "1.0", "id": "e1", "source": "urn:s", "type": etype,
           "subject": "acc", "time": "2026-03-10T12:00:00Z", "data": data,
           **draw(st.dictionaries(key, tree, max_size=3)), **draw(contact)}
    return doc, secrets + hidden


def assert_absent(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(planted_doc())
def test_scrubbed_event_and_copy_hold_none_of_it(case: tuple[dict[str, Any], list[str]]
                                                 ) -> None:
    doc, secrets = case
    assert_absent(json.dumps(scrub_event(doc, keep_sms_body=False), ensure_ascii=False),
                  secrets)
    assert_absent(scrub_raw(json.dumps(doc).encode(), 10**9), secrets)
    kept = scrub_event(doc, keep_sms_body=True)
    if doc["type"] == "sms.sent":  # the body stays for the count, and only it
        kept["data"].pop("body", None)
    assert_absent(json.dumps(kept, ensure_ascii=False), secrets)


@PROPS
@given(st.lists(st.one_of(phones, national, emails), min_size=1, max_size=4),
       st.lists(st.binary(max_size=30), max_size=4))
def test_text_that_is_not_json_is_redacted(secrets: list[str], filler: list[bytes]) -> None:
    parts = [s.encode() for s in secrets] + filler
    raw = b"\xff{" + b" ".join(sorted(parts))  # never JSON, not even UTF-8
    assert_absent(scrub_raw(raw, 10**9), secrets)


@PROPS
@given(st.data())
def test_the_decision_forwards_none_of_it(data: st.DataObject) -> None:
    """Accepted or rejected: the metered record, the rejection, its detail and copy."""
    secrets = data.draw(st.lists(st.one_of(phones, emails), min_size=1, max_size=3))
    hidden = data.draw(st.lists(national, min_size=1, max_size=2))  # contact keys only
    secret = st.sampled_from(secrets)
    text = st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), secret, st.text(max_size=5))
    sms_data: dict[str, Any] = {
        "to_country": data.draw(st.sampled_from(["US", "CA", "GB", "ZZ", "us"])),
        "body": data.draw(text),
        **data.draw(st.dictionaries(st.sampled_from(CONTACT_KEYS[:-1]),
                                    st.sampled_from(secrets + hidden), max_size=3)),
        **data.draw(st.dictionaries(text, st.integers(0, 3), max_size=1)),  # invalid: extra
    }
    # extension attributes only: envelope id / source / subject are kept as given
    extension_name = st.text(max_size=5).filter(
        lambda k: k not in {"specversion", "id", "source", "type", "subject", "time", "data"})
    doc = {"specversion": "1.0", "id": data.draw(st.sampled_from(["s1", "s2"])),
           "source": "urn:s", "type": data.draw(st.sampled_from(["sms.sent", "sms.sent", "x"])),
           "subject": data.draw(st.sampled_from(["acc", "ghost"])),
           "time": data.draw(st.sampled_from(["2026-03-10T12:00:00Z", "2026-01-01T00:00:00Z",
                                              "2026-03-10T12:00:00"])),
           "data": sms_data, **data.draw(st.dictionaries(extension_name, text, max_size=2))}
    h = Harness()
    h.subscribe(time="2026-02-01T00:00:00Z")
    received = data.draw(st.sampled_from(["2026-03-10T12:00:01Z", "2026-04-05T00:00:00Z"]))
    out = h.feed(json.dumps(doc).encode(), received=received)
    assert (out.metered is None) != (out.rejected is None)
    record = out.metered or out.rejected
    assert record is not None
    assert_absent(record.model_dump_json(), secrets + hidden)
    assert_absent(json.dumps(record.model_dump(mode="json"), ensure_ascii=False),
                  secrets + hidden)


@PROPS
@given(st.text(max_size=60))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    loose = redact_loose(text)
    assert redact_loose(loose) == loose


@PROPS
@given(st.datetimes(timezones=st.timezones()), st.uuids())
def test_times_and_uuids_are_never_taken_for_personal_data(t: Any, u: Any) -> None:
    assert redact(t.isoformat()) == t.isoformat()
    assert redact(str(u)) == str(u)


json_docs = st.dictionaries(
    st.one_of(st.sampled_from(["id", "source", "subject", "type", "data", "time", "to",
                               "body", "url", "ext"]), st.text(max_size=6)),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12)
                 | st.sampled_from(["sms.sent", "a@b.co", "+15551234567", "(555) 123-4567"]),
                 lambda c: st.lists(c, max_size=3)
                 | st.dictionaries(st.sampled_from(["body", "to", "n", "x", "url"]), c,
                                   max_size=3), max_leaves=10),
    max_size=6)


@PROPS
@given(json_docs, st.booleans())
def test_the_fast_path_decides_exactly_as_the_full_scrub(doc: dict[str, Any],
                                                         ascii_only: bool) -> None:
    raw = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")
    assert scrub_decoded(raw, doc) == scrub_event(doc, keep_sms_body=True)


def test_the_fast_path_takes_plain_events_as_they_are() -> None:
    doc = {"specversion": "1.0", "id": "e1", "source": "urn:s", "type": "sms.sent",
           "subject": "acc", "time": "2026-03-10T12:00:00Z",
           "data": {"to_country": "US", "body": "Sale today!"}}
    assert scrub_decoded(json.dumps(doc).encode(), doc) is doc
    nested: Any = 1
    for _ in range(80):
        nested = [nested]
    deep = {**doc, "data": {"to_country": "US", "x": nested}}
    assert scrub_decoded(json.dumps(deep).encode(), deep) != deep
