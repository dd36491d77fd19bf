"""The decision core's shortcuts on the way out give what the validated models give.

- `schemas.records.trusted_metered` (no second validation of the core's values) is the
  model `MeteredEvent(...)` builds from the same values: equal, the same dump and JSON,
  the same fields set, and copied with an update like any model;
- `core.derive.stored_data` (the fields as they are, for the plain data models) is
  `model_dump(mode="json")` on documents drawn from every exported event schema.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.derive import stored_data
from core.validate import Decoded, RecordMeta, decode
from pricing.pricebook_loader import load_pricebook
from projections.offline_log import read_log
from schemas.records import MeteredEvent
from testkit.billing_workload import billing_workload
from tests.unit.test_contract_strict import TYPES, _documents, _in_rules_beyond_schema

META = RecordMeta("metering.events", 0, 7, datetime(2026, 1, 1, tzinfo=UTC))


def test_trusted_metered_events_are_the_validated_models() -> None:
    seen: set[str] = set()
    for name, docs in billing_workload(5, per_book=2).items():
        lines = [json.dumps(d).encode() for d in docs]
        until = max(datetime.fromisoformat(d["time"]) for d in docs) + timedelta(days=1)
        aggregator, summary = read_log(lines, load_pricebook(name), fallback=until)
        assert summary.accepted
        for event in aggregator.events():
            validated = MeteredEvent(**{f: getattr(event, f) for f in MeteredEvent.model_fields})
            assert event == validated
            assert event.model_dump() == validated.model_dump()
            assert event.model_dump_json() == validated.model_dump_json()
            assert event.model_fields_set == validated.model_fields_set
            copied = event.model_copy(update={"dim": "x"})
            assert copied.dim == "x" and event.dim == validated.dim
            seen.add(event.type)
    assert {"email.sent", "cart.activated", "seats.changed", "account.subscribed"} <= seen


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(TYPES).flatmap(_documents))
def test_stored_data_is_the_json_dump(doc: dict[str, Any]) -> None:
    if not _in_rules_beyond_schema(doc):
        return
    decoded = decode(json.dumps(doc).encode(), META)
    if isinstance(decoded, Decoded):
        assert stored_data(decoded.data) == decoded.data.model_dump(mode="json")
