"""Personal data out of events: contact fields dropped, emails and phone numbers redacted.

Pure; no I/O. `validate.decode` scrubs every parsed event before anything reads it and
`validate.reject` scrubs the copy of every rejected record, so what is stored or forwarded
(the metered record and `usage_log.data`, the rejected topic, `rejected_events.raw` and
`detail`) carries no recipient, sender or message text. Nothing is hashed: the pipeline
never needs to know that two events concern the same recipient, and a hash of a phone
number without a managed secret is reversible by enumeration.

Rules, at any depth of `data` and among the envelope's extension attributes:
- a key naming contact data or message content (`to`, `from`, `phone`, `recipient`,
  `email`, `to_email`, `body`, ... see `is_contact_key`) is dropped with its value, whatever
  the value is; the event is then judged as if the producer had not sent it;
- in every other string, keys included, an email address becomes `[email]` and a phone
  number in international (`+44 20 7946 0958`), `tel:` or `(555) 123-4567` form becomes
  `[phone]`. Numbers, and national numbers written without `+` or parentheses, are left
  alone there (they cannot be told apart from ids, dates and amounts);
- exempt: the envelope's `id`, `source` and `subject` (the idempotency key and the account
  id: the pipeline needs them as given) and the `url` of `account.webhook_configured`
  (where the account's webhooks are delivered);
- `sms.sent` `body`: kept for the decision only (its segments are counted, then only the
  count and the alphabet are stored: `derive.py`); in a rejected record's copy it becomes
  `segments` and `encoding` at once, so a late SMS can still be re-rated from that copy.

A rejected record's copy is the parsed record, scrubbed and re-serialised; a record that is
not JSON (or not UTF-8) is kept as text with wider patterns redacted (also bare runs of 7
or more digits, which may be national phone numbers).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import orjson

from pricing import sms

EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"
TOO_DEEP = "[too deep]"
MAX_DEPTH = 64
"""Structures nested deeper are replaced (no valid event comes near this depth)."""
PARSE_LIMIT = 16_000_000
"""A rejected record larger than this is not parsed; its text is redacted instead."""

IDENTITY = frozenset({"id", "source", "subject"})
"""Envelope attributes kept as given: the idempotency key and the account id."""
CONTACT_KEYS = frozenset({
    "to", "from", "cc", "bcc", "replyto", "sender", "recipient", "recipients", "phone",
    "phones", "phonenumber", "mobile", "mobilenumber", "msisdn", "tel", "telephone", "cell",
    "fax", "email", "emails", "emailaddress", "toemail", "fromemail", "tophone",
    "fromphone", "tonumber", "fromnumber", "toaddress", "fromaddress", "destination",
    "body", "text", "content", "html", "plaintext", "messagebody", "messagetext", "smsbody",
})
"""Normalised key names (lower case, letters and digits only) of contact data or text.
Not `message`: it is a storage object kind (`storage.measured`)."""
CONTACT_SUFFIXES = ("email", "emails", "emailaddress", "phone", "phones", "phonenumber",
                    "msisdn", "recipient", "recipients")
_ENVELOPE = frozenset({"specversion", "id", "source", "type", "subject", "time", "data",
                       "datacontenttype", "dataschema"})
_FIELDS = frozenset({"count", "to_country", "segments", "encoding", "channel", "direction",
                     "status", "bytes", "kind", "profile_id", "emailable", "cart_id",
                     "category", "order_id", "excluded", "full_time", "seasonal", "objects",
                     "attachment_id", "product", "plan", "anchor", "pricebook", "effective",
                     "limit_policy", "auto_downgrade", "url", "term"})
"""Keys known not to be contact keys (a shortcut; tests keep them in step with schemas)."""

_LOCAL_CHARS = r"\w.!#$%&'*+/=?^`{|}~-"
EMAIL = re.compile(rf"(?<![{_LOCAL_CHARS}])[{_LOCAL_CHARS}]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
"""An address, widened to the whole run of address characters around it. The look-behind
makes a match start only where a run starts (no quadratic backtracking on long runs)."""
PHONE = re.compile(
    r"(?:tel:\s*\+?|\+)\s*\(?\d[\d\s().\-/]{5,30}\d"
    r"|\(\d{1,5}\)[\s.\-]?\d{2,5}(?:[\s.\-]?\d{2,6}){1,3}",
    re.IGNORECASE)
LOOSE_PHONE = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6,}")
"""For text that could not be parsed: any run of 7 or more digits, separators allowed."""
_HINT = re.compile(r"[@+(]|%40|tel:", re.IGNORECASE)
_PLUS = re.compile(rb"\+(?!\d\d:\d\d)")
"""A `+` that does not start a UTC offset (`+00:00`: no phone number begins that way,
`PHONE` needs 6 digits or separators after the `+` and `:` is not one)."""
_LAST_TOKEN = re.compile(r"(?<![^\s\"'<>,;])[^\s\"'<>,;]+\Z")


def is_contact_key(key: str) -> bool:
    """Does this key name contact data or message text (`to_email`, `Phone-Number`, ...)?"""
    return _contact(key) if len(key) <= 64 else _contact.__wrapped__(key[:100])


@lru_cache(maxsize=4096)
def _contact(key: str) -> bool:
    name = "".join(ch for ch in key.lower() if ch.isalnum())
    return name in CONTACT_KEYS or name.endswith(CONTACT_SUFFIXES)


def redact(text: str) -> str:
    """`text` with email addresses and (international or parenthesised) phone numbers
    replaced by `[email]` / `[phone]`."""
    if _HINT.search(text) is None:
        return text
    if "@" in text or "%40" in text:
        text = EMAIL.sub(EMAIL_MARK, text)
    return PHONE.sub(PHONE_MARK, text)


def redact_loose(text: str) -> str:
    """`redact`, and also any run of 7 or more digits (for text that is not JSON)."""
    return LOOSE_PHONE.sub(PHONE_MARK, redact(text))


def scrub(value: Any, depth: int = 0) -> Any:
    """A JSON value with contact keys dropped and every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        return {redact(k) if isinstance(k, str) else k: scrub(v, depth + 1)
                for k, v in value.items() if not (isinstance(k, str) and is_contact_key(k))}
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        return [scrub(v, depth + 1) for v in value]
    return value


def sms_summary(body: str, channel: object = "sms") -> dict[str, Any]:
    """What is kept of an SMS text: its segment count and its alphabet."""
    ch: sms.Channel = "mms" if channel == "mms" else "sms"
    encoding = "gsm7" if sms.gsm_septets(body) is not None else "ucs2"
    return {"segments": sms.segments(body, ch), "encoding": encoding}


def _scrub_data(event_type: object, data: Any, keep_sms_body: bool) -> Any:
    if not isinstance(data, dict):
        return scrub(data, 1)
    kept: dict[str, Any] = {}
    if event_type == "account.webhook_configured" and isinstance(data.get("url"), str):
        kept["url"] = data["url"]
    if event_type == "sms.sent" and "body" in data:
        body = data["body"]
        if keep_sms_body:
            kept["body"] = body if isinstance(body, str) else scrub(body, 2)
        elif isinstance(body, str) and data.get("segments") is None:
            kept.update(sms_summary(body, data.get("channel")))
    drop = set(kept) | ({"body"} if event_type == "sms.sent" else set())
    rest = scrub({k: v for k, v in data.items() if k not in drop}, 1)
    return {**rest, **kept}


def scrub_event(doc: dict[str, Any], *, keep_sms_body: bool) -> dict[str, Any]:
    """A parsed CloudEvent (or what claims to be one) without personal data.

    `keep_sms_body`: leave an `sms.sent` body as it is, for its segments to be counted
    (the decision); without it, the body is replaced by its segments and encoding.
    """
    event_type = doc.get("type")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in IDENTITY and isinstance(value, str):
            out[key] = value
        elif key == "data":
            out[key] = _scrub_data(event_type, value, keep_sms_body)
        elif not is_contact_key(key):
            out[redact(key)] = scrub(value, 1)
    return out


def may_hold_personal_data(raw: bytes) -> bool:
    """A superset of where `EMAIL` / `PHONE` can match in the decoded record: `@`, `%40`,
    `(`, `tel:` in any case, a backslash escape (which could hide any of them) or a `+`
    that does not start a UTC offset. Byte searches, cheap enough for every record."""
    return (b"@" in raw or b"(" in raw or b"\\" in raw or b"%40" in raw
            or (b"+" in raw and _PLUS.search(raw) is not None) or b"tel:" in raw.lower())


def scrub_decoded(raw: bytes, doc: dict[str, Any], hinted: bool | None = None
                  ) -> dict[str, Any]:
    """`scrub_event(doc, keep_sms_body=True)` for the decision, skipped (the same `doc`)
    when it could change nothing: no hint of personal data in the record
    (`may_hold_personal_data`; `hinted`: its answer, when the caller has it) and no key
    names contact data. Most events take this path."""
    if hinted is None:
        hinted = may_hold_personal_data(raw)
    if hinted or _has_contact_key(doc):
        return scrub_event(doc, keep_sms_body=True)
    return doc


def _has_contact_key(doc: dict[str, Any]) -> bool:
    """Would `scrub_event` drop a key or cut a structure of `doc`? (Same depths.)"""
    sms_text = doc.get("type") == "sms.sent"
    for key, item in doc.items():
        if key == "data" and isinstance(item, dict):
            for name, field in item.items():
                if sms_text and name == "body" and isinstance(field, str):
                    continue
                if (name not in _FIELDS and is_contact_key(name)) or (
                        isinstance(field, dict | list) and _nested_contact_key(field, 2)):
                    return True
        elif (key not in _ENVELOPE and is_contact_key(key)) or (
                isinstance(item, dict | list) and _nested_contact_key(item, 1)):
            return True
    return False


def _nested_contact_key(value: dict[str, Any] | list[Any], depth: int) -> bool:
    if depth >= MAX_DEPTH:
        return True
    if isinstance(value, dict):
        for key, item in value.items():
            if is_contact_key(key) or (isinstance(item, dict | list)
                                       and _nested_contact_key(item, depth + 1)):
                return True
        return False
    return any(isinstance(item, dict | list) and _nested_contact_key(item, depth + 1)
               for item in value)


_UNPARSED = object()


def _parse(raw: bytes) -> Any:
    if len(raw) > PARSE_LIMIT:
        return _UNPARSED
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # NaN / Infinity literals, integers beyond 64 bits, lone surrogates
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _UNPARSED


def _text_copy(raw: bytes, keep_chars: int) -> str:
    cut = keep_chars * 4 + 4096
    window = raw[:cut].decode("utf-8", errors="replace")
    if len(raw) > cut:  # the last token may be half an address: not a match, but not kept
        window = _LAST_TOKEN.sub("", window)
    return redact_loose(window)[:keep_chars]


def scrub_raw(raw: bytes, keep_chars: int) -> str:
    """The copy of a rejected record that may be stored: at most `keep_chars` characters
    (may contain lone surrogates when the JSON had them; the caller encodes)."""
    doc = _parse(raw)
    if doc is _UNPARSED:
        return _text_copy(raw, keep_chars)
    clean = scrub_event(doc, keep_sms_body=False) if isinstance(doc, dict) else scrub(doc)
    try:
        return json.dumps(clean, ensure_ascii=False)[:keep_chars]
    except (ValueError, RecursionError):  # not expected from parsed JSON; stay safe
        return _text_copy(raw, keep_chars)
