"""The validator accepts what the exported JSON Schemas accept and rejects, with a reason,
what they reject (issue 15, strict contract).

Documents are generated from the committed `schemas/json/*.v1.json` files (not from the
models: the files are what producers in other languages read; another test checks they
are current), then decoded by the stream's validator (`core.validate.decode`). Rules the
JSON Schema language cannot say are the only ones kept out, and listed here: `time`
is drawn within [1970-02-01, 2100-01-01) (its description says so), and a seasonal
window's last day is not before its first.
"""

from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from core.validate import Decoded, RecordMeta, decode
from schemas.envelope import EARLIEST, LATEST
from schemas.events import EVENT_DATA
from schemas.records import RejectedEvent, RejectReason

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"
META = RecordMeta("metering.events", 0, 7, datetime(2026, 1, 1, tzinfo=UTC))
TYPES = sorted(EVENT_DATA)


def _schema(event_type: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMAS / f"{event_type}.v1.json").read_text())
    gen = copy.deepcopy(doc)
    gen["additionalProperties"] = False  # extension attributes are tested elsewhere
    gen["properties"]["time"].pop("pattern", None)  # drawn by TIMES below
    return gen


OFFSETS = st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"])
TIMES = st.builds(lambda t, z: t.isoformat() + z,
                  st.datetimes(EARLIEST.replace(tzinfo=None) + timedelta(days=1),
                               LATEST.replace(tzinfo=None) - timedelta(days=1)), OFFSETS)
"""`time` inside the documented range (a schema-valid time outside it is rejected)."""


@functools.cache
def _documents(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Built once per type: resolving a schema into a strategy is the slow part."""
    return st.builds(lambda doc, t: {**doc, "time": t}, from_schema(_schema(event_type)),
                     TIMES)


def _in_rules_beyond_schema(doc: dict[str, Any]) -> bool:
    for window in doc.get("data", {}).get("seasonal", []):
        if date.fromisoformat(window["last_day"]) < date.fromisoformat(window["first_day"]):
            return False
    return True


def _type_of(prop: dict[str, Any]) -> str | None:
    if "type" in prop:
        return str(prop["type"])
    if "enum" in prop or "const" in prop:
        return "string"
    for option in prop.get("anyOf", []):
        if option.get("type") not in (None, "null"):
            return str(option["type"])
    return None


WRONG: dict[str, list[Any]] = {
    "integer": ["5", True, 5.0, None],
    "boolean": [1, 0, "true", None],
    "string": [5, True, ["x"]],
    "array": ["x", 5],
    "object": ["x", [1]],
}


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_schema_valid_documents_are_accepted(event_type: str, data: st.DataObject) -> None:
    doc = data.draw(_documents(event_type))
    assume(_in_rules_beyond_schema(doc))
    out = decode(orjson.dumps(doc), META)
    assert isinstance(out, Decoded), (doc, out)
    assert out.event.type == event_type


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_mistyped_fields_are_rejected_with_a_reason(event_type: str,
                                                    data: st.DataObject) -> None:
    schema = _schema(event_type)
    doc = data.draw(_documents(event_type))
    assume(_in_rules_beyond_schema(doc))
    props = schema["properties"]["data"]["properties"]
    typed = [(name, t) for name, p in props.items() if (t := _type_of(p)) in WRONG]
    envelope = [("id", "string"), ("source", "string"), ("subject", "string"),
                ("time", "string"), ("specversion", "string")]
    where, (name, kind) = data.draw(st.sampled_from(
        [("data", f) for f in typed] + [("envelope", f) for f in envelope]))
    wrong = data.draw(st.sampled_from(WRONG[kind]))
    nullable = any(o.get("type") == "null" for o in props.get(name, {}).get("anyOf", []))
    assume(not (wrong is None and nullable))  # null is a valid value of a nullable field
    target = doc.setdefault("data", {}) if where == "data" else doc
    target[name] = wrong
    out = decode(orjson.dumps(doc), META)
    assert isinstance(out, RejectedEvent), (doc, out)
    expected = RejectReason.INVALID_DATA if where == "data" else RejectReason.INVALID_ENVELOPE
    if where == "envelope" and name == "subject" and wrong is None:
        expected = RejectReason.MISSING_ACCOUNT
    assert out.reason is expected, (doc, out)
    assert name in out.detail, out.detail


@pytest.mark.parametrize(("event_type", "data", "field"), [
    ("email.sent", {"count": "5"}, "count"),
    ("email.sent", {"count": True}, "count"),
    ("email.sent", {"count": 5.0}, "count"),
    ("profile.added", {"profile_id": "p", "emailable": 1}, "emailable"),
    ("profile.added", {"profile_id": 7, "emailable": True}, "profile_id"),
    ("storage.measured", {"objects": {"company": "3"}}, "objects.company"),
    ("seats.changed", {"full_time": 2, "seasonal": [
        {"first_day": 20000, "last_day": "2026-01-31", "seats": 1}]}, "seasonal.0.first_day"),
    ("account.subscribed", {"product": "email", "plan": "p", "anchor": 19000}, "anchor"),
])
def test_the_issue_examples_are_rejected(event_type: str, data: dict[str, Any],
                                         field: str) -> None:
    """`count` as "5", true or 5.0 (accepted before), and the same looseness elsewhere."""
    doc = {"specversion": "1.0", "id": "e1", "source": "urn:t", "type": event_type,
           "subject": "acct-1", "time": "2026-01-01T00:00:00Z", "data": data}
    out = decode(orjson.dumps(doc), META)
    assert isinstance(out, RejectedEvent)
    assert out.reason is RejectReason.INVALID_DATA
    assert out.detail.startswith(field), out.detail


def test_a_numeric_time_is_rejected() -> None:
    doc = {"specversion": "1.0", "id": "e1", "source": "urn:t", "type": "email.sent",
           "subject": "acct-1", "time": 1767225600, "data": {"count": 1}}
    out = decode(orjson.dumps(doc), META)
    assert isinstance(out, RejectedEvent)
    assert out.reason is RejectReason.INVALID_ENVELOPE
    assert out.detail.startswith("time"), out.detail
