"""The one-call path of `core.validate.decode` decides exactly as the two-step path
(`decode_in_steps`: parse, scrub, envelope, quantities, data) on every record: what the
typed models (`schemas.typed_events`) accept, the steps accept with the same values; what
they refuse, the steps name (issue 14, per-event work at batch level).

The oracle here is the two-step path, which the reason and privacy tests check on their
own; this file checks that the shortcut never changes a verdict, and the two static facts
the shortcut's soundness rests on.
"""

from __future__ import annotations

import functools
import json
import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from annotated_types import Ge, Le
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from core.privacy import is_contact_key, may_hold_personal_data
from core.validate import Decoded, RecordMeta, decode, decode_in_steps
from schemas.events import EVENT_DATA, QUANTITY_FIELDS, QUANTITY_LIMITS, StorageMeasured
from schemas.records import RejectedEvent
from tests.unit.test_contract_strict import TYPES, _documents

META = RecordMeta("metering.events", 0, 7, datetime(2026, 1, 1, tzinfo=UTC))


def _verdict(out: Decoded | RejectedEvent) -> tuple[Any, ...]:
    if isinstance(out, RejectedEvent):
        return ("rejected", out.reason, out.detail, out.raw, out.id, out.source, out.account)
    e = out.event
    return ("decoded", e.specversion, e.id, e.source, e.type, e.subject, e.time,
            e.time.tzinfo, e.datacontenttype, e.dataschema, type(out.data),
            out.data.model_dump())


def _same(raw: bytes) -> None:
    fast, steps = decode(raw, META), decode_in_steps(raw, META)
    assert _verdict(fast) == _verdict(steps), raw
    if isinstance(fast, Decoded):
        assert fast.cloud_event() == steps.cloud_event()  # type: ignore[union-attr]


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


MUTATIONS: list[tuple[str, Any]] = [
    ("count", -1), ("count", 0), ("count", 10**6 + 1), ("count", 2**70), ("bytes", -5),
    ("bytes", 10**16), ("segments", 1001), ("full_time", -1), ("full_time", 10**7),
    ("count", 1.5), ("count", "3"), ("emailable", 1), ("profile_id", ""),
    ("unknown", 1), ("phone", "5550100"), ("to", "x"), ("body", "hello"),
]


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_both_paths_agree_on_generated_and_mutated_records(event_type: str,
                                                           data: st.DataObject) -> None:
    doc = data.draw(_documents(event_type))
    _same(_dumps(doc))
    field, value = data.draw(st.sampled_from(MUTATIONS))
    _same(_dumps({**doc, "data": {**doc.get("data", {}), field: value}}))
    where = data.draw(st.sampled_from(["subject", "id", "type", "time", "specversion",
                                       "traceparent", "email"]))
    _same(_dumps({**doc, where: data.draw(st.sampled_from(["", None, 5, "x.y"]))}))
    _same(_dumps({k: v for k, v in doc.items() if k != where}))


BASE = (b'{"specversion":"1.0","id":"e1","source":"urn:t","type":"email.sent",'
        b'"subject":"a1","time":"2026-01-01T00:00:00Z","data":%s}')


@pytest.mark.parametrize("raw", [
    BASE % b'{"count":3}', BASE % b'{"count":NaN}', BASE % b'{"count":Infinity}',
    BASE % b'{"count":-1}', BASE % b'{"count":1,"count":-1}', BASE % b'{}',
    BASE % b'{"count":1e400}', BASE % b'{"count":123456789012345678901234567890}',
    BASE % b'[]', BASE % b'null', BASE[:-4] + b'}', b'[1]', b'', b'\xff\xfe',
    BASE % b'{"count":1}' + b' ', BASE % b'{"count":1}' + b'x',
    (BASE % b'{"count":1}').replace(b'"subject":"a1",', b''),
    (BASE % b'{"count":1}').replace(b'"email.sent"', b'"email.unknown"'),
    (BASE % b'{"count":1}').replace(b'"data":', b'"datacontenttype":"application/json","data":'),
    (BASE % b'{"count":1}').replace(b'"data":', b'"comexampleext":"v","data":'),
    (BASE % b'{"count":1}').replace(b'Z"', b'+01:00"'),
    (BASE % b'{"count":1}').replace(b'a1', b'jane@example.com'),
    (BASE % b'{"count":1}').replace(b'e1', b'\\u0065\\u0031'),
    (BASE % b'{"count":1}').replace(b'2026', b'2100'),
])
def test_both_paths_agree_on_edge_records(raw: bytes) -> None:
    _same(raw)


def test_the_one_call_path_is_taken_for_a_plain_record() -> None:
    """A plain valid record is decided by the typed model (no `CloudEvent` built)."""
    out = decode(BASE % b'{"count":3}', META)
    assert isinstance(out, Decoded) and type(out.event).__name__ == "Typed_email_sent"
    assert not may_hold_personal_data(BASE % b'{"count":3}')
    for hint in (b"@", b"(", b"\\", b"%40", b"+", b"TeL:"):
        assert may_hold_personal_data(b'{"x":"' + hint + b'"}'), hint


def _fields(model: type[BaseModel]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        out.append((name, info))
        for arg in typing.get_args(info.annotation) or (info.annotation,):
            inner = typing.get_args(arg) or (arg,)
            for t in inner:
                if isinstance(t, type) and issubclass(t, BaseModel):
                    out += _fields(t)
    return out


@pytest.mark.parametrize("event_type", TYPES)
def test_no_field_of_a_typed_model_is_a_contact_key(event_type: str) -> None:
    """The shortcut skips the contact-key scan: sound only because the typed models admit
    known keys only and none of them names contact data (an SMS body is the decision's)."""
    for name, _ in _fields(EVENT_DATA[event_type]):
        assert not is_contact_key(name) or (event_type, name) == ("sms.sent", "body"), name


@functools.cache
def _bounds(model: type[BaseModel], name: str) -> tuple[int | None, int | None]:
    metadata = model.model_fields[name].metadata
    ge = next((m.ge for m in metadata if isinstance(m, Ge)), None)
    le = next((m.le for m in metadata if isinstance(m, Le)), None)
    return ge, le  # type: ignore[return-value]


@pytest.mark.parametrize(("event_type", "name"),
                         [(t, f) for t, fields in QUANTITY_FIELDS.items() for f in fields])
def test_quantity_bounds_of_the_models_cover_the_quantity_checks(event_type: str,
                                                                 name: str) -> None:
    """A record valid for its typed model passes `_quantity_problem`: each quantity field
    is bounded at least as tightly (>= 0, <= its limit) as that check."""
    ge, le = _bounds(EVENT_DATA[event_type], name)
    assert ge is not None and ge >= 0
    assert le is not None and le <= QUANTITY_LIMITS[name]
    objects = typing.get_args(StorageMeasured.model_fields["objects"].annotation)[1]
    meta = typing.get_args(objects)[1].metadata
    assert any(isinstance(m, Ge) and m.ge >= 0 for m in meta)
    assert any(isinstance(m, Le) and m.le <= QUANTITY_LIMITS.get("objects", 10**12)
               for m in meta)
