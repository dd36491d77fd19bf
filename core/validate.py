"""Decode one raw Kafka record into a CloudEvent and its typed data, or a rejection.

Pure: the caller passes the record's metadata (topic, partition, offset, timestamp).
Personal data is scrubbed (`privacy.py`) from the parsed event before it is read, and from
every rejection's detail and copy of the input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from core.privacy import may_hold_personal_data, redact, scrub_decoded, scrub_raw
from schemas.envelope import CloudEvent, Envelope
from schemas.errors import describe
from schemas.events import EVENT_DATA, QUANTITY_FIELDS, QUANTITY_LIMITS
from schemas.records import RejectedEvent, RejectReason
from schemas.typed_events import TYPED_EVENT

MAX_EVENT_BYTES = 1_000_000
RAW_KEEP_CHARS = 4096


@dataclass(frozen=True, slots=True)
class RecordMeta:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    """Kafka record timestamp: lateness and future checks are relative to it, so a replay of
    the log makes the same decisions it made live."""
    exported: bool = False
    """A line of an exported log: no Kafka timestamp came with it, so a valid event is
    received at its own `time` (nothing is late or ahead); `timestamp` is then only the
    receipt time of a record rejected before its time is known."""


@dataclass(frozen=True, slots=True)
class Decoded:
    event: Envelope
    """A `CloudEvent` (the two-step path) or a `TypedEvent` (the one-call path)."""
    data: BaseModel

    def cloud_event(self) -> CloudEvent:
        """The event as a `CloudEvent`, its data as sent (`api.ingest` forwards it)."""
        if isinstance(self.event, CloudEvent):
            return self.event
        head = self.event.model_dump(exclude={"data"}, exclude_unset=True)
        return CloudEvent.model_validate(
            {**head, "data": self.data.model_dump(mode="json", exclude_unset=True)})


def _clean(text: str, limit: int) -> str:
    """Cut, and make encodable whatever a parser let through (lone surrogates)."""
    return text[:limit].encode("utf-8", errors="replace").decode("utf-8")


def reject(meta: RecordMeta, reason: RejectReason, detail: str, raw: bytes,
           event: Envelope | dict[str, Any] | None = None) -> RejectedEvent:
    fields: dict[str, str] = {}
    if isinstance(event, Envelope):
        fields = {"source": event.source, "id": event.id, "account": event.subject,
                  "type": event.type}
    elif isinstance(event, dict):
        for name, key in (("source", "source"), ("id", "id"), ("account", "subject"),
                          ("type", "type")):
            value = event.get(key)
            if isinstance(value, str):
                fields[name] = value
    if "type" in fields:
        fields["type"] = redact(fields["type"])
    fields = {name: _clean(value, 512) for name, value in fields.items()}
    return RejectedEvent(
        reason=reason, detail=_clean(redact(detail), 1000), topic=meta.topic,
        partition=meta.partition, offset=meta.offset, received_at=meta.timestamp,
        raw=_clean(scrub_raw(raw, RAW_KEEP_CHARS), RAW_KEEP_CHARS), raw_size=len(raw),
        **fields,
    )


def _reject_constant(token: str) -> float:
    return float(token)  # NaN, Infinity, -Infinity: kept, then rejected with a reason


def _quantity_problem(event_type: str, data: dict[str, Any]) -> tuple[RejectReason, str] | None:
    fields = list(QUANTITY_FIELDS.get(event_type, ()))
    values: list[tuple[str, Any]] = [(f, data[f]) for f in fields if f in data]
    if event_type == "storage.measured" and isinstance(data.get("objects"), dict):
        values += [(f"objects.{k}", v) for k, v in data["objects"].items()]
    for name, value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # left to the model's type check
        if isinstance(value, float) and not math.isfinite(value):
            return RejectReason.NON_FINITE_QUANTITY, f"{name} is {value}"
        if value < 0:
            return RejectReason.NEGATIVE_QUANTITY, f"{name} is negative"
        limit = QUANTITY_LIMITS.get(name.split(".")[0], 10**12)
        if value > limit:
            return RejectReason.QUANTITY_TOO_LARGE, f"{name} exceeds {limit}"
    return None


def decode(raw: bytes, meta: RecordMeta) -> Decoded | RejectedEvent:
    """Parse and validate one record; every failure becomes a reasoned rejection.

    Most records take one validator call (`schemas.typed_events`): those in which nothing
    could be personal data (`may_hold_personal_data`; then no key names contact data
    either, as the typed models admit known keys only) and that are valid as sent. The
    others take the two-step path, which scrubs and names the reason of a failure."""
    if len(raw) > MAX_EVENT_BYTES:
        return reject(meta, RejectReason.TOO_LARGE, f"{len(raw)} bytes > {MAX_EVENT_BYTES}", raw)
    hinted = may_hold_personal_data(raw)
    if not hinted:
        try:
            typed = TYPED_EVENT.validate_json(raw)
        except ValidationError:
            pass
        else:
            return Decoded(typed, typed.data)
    return decode_in_steps(raw, meta, hinted)


def decode_in_steps(raw: bytes, meta: RecordMeta, hinted: bool | None = None
                    ) -> Decoded | RejectedEvent:
    """`decode`'s two-step path: parse, scrub, the envelope, the quantities, the data
    (`hinted`: `may_hold_personal_data(raw)`, when the caller asked it already)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return reject(meta, RejectReason.NOT_UTF8, str(exc), raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # The fast parser refuses NaN/Infinity; the standard one keeps them, so that a
        # non-finite quantity gets its own reason instead of "malformed".
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
            orjson.dumps(doc)  # what the standard parser alone lets through: lone surrogates
        except (ValueError, RecursionError, TypeError) as exc:  # ValueError: also integers
            return reject(meta, RejectReason.MALFORMED_JSON, str(exc), raw)  # > 4300 digits
    if not isinstance(doc, dict):
        return reject(meta, RejectReason.MALFORMED_JSON, "top level is not an object", raw)
    doc = scrub_decoded(raw, doc, hinted)  # personal data out; an SMS body stays for derive
    subject = doc.get("subject")
    if subject is None or subject == "":
        return reject(meta, RejectReason.MISSING_ACCOUNT, "subject (account id) missing", raw,
                      doc)
    event_type = doc.get("type")
    if isinstance(event_type, str) and event_type not in EVENT_DATA:
        return reject(meta, RejectReason.UNKNOWN_TYPE, f"unknown type {event_type[:128]!r}",
                      raw, doc)
    try:
        event = CloudEvent.model_validate(doc)
    except ValidationError as exc:
        return reject(meta, RejectReason.INVALID_ENVELOPE, describe(exc), raw, doc)
    problem = _quantity_problem(event.type, event.data)
    if problem is not None:
        return reject(meta, problem[0], problem[1], raw, event)
    try:
        data = EVENT_DATA[event.type].model_validate(event.data)
    except ValidationError as exc:
        return reject(meta, RejectReason.INVALID_DATA, describe(exc), raw, event)
    return Decoded(event, data)

