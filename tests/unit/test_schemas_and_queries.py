"""Committed JSON Schemas are current; query objects render the SQL they are meant to."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from projections import queries
from projections.ddl import statements
from projections.settings import ClickHouseSettings
from projections.sink import batch_token
from schemas.billing import BILLING_SCHEMAS
from schemas.events import EVENT_DATA
from schemas.jsonschema_export import schemas_by_filename
from schemas.metered_wire import MAX_VERSION, usage_row
from tests.unit.helpers import Harness, event

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "json"


def test_committed_json_schemas_are_current() -> None:
    docs = schemas_by_filename()
    assert len(docs) == len(EVENT_DATA) + 1 + len(BILLING_SCHEMAS)
    for name, text in docs.items():
        assert (SCHEMA_DIR / name).read_text() == text, f"{name} is stale: metering schemas export"
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(docs)


def test_event_schema_pins_type_and_data() -> None:
    doc = json.loads(schemas_by_filename()["sms.sent.v1.json"])
    assert doc["properties"]["type"] == {"const": "sms.sent", "type": "string"}
    assert "to_country" in doc["properties"]["data"]["properties"]


def test_counters_query_binds_values() -> None:
    q = queries.counters("metering", "acc'; DROP TABLE x --",
                         datetime(2026, 3, 1, tzinfo=UTC))
    assert q.sql == ("SELECT account, cycle_start, meter, value, events FROM "
                     "metering.cycle_counters WHERE account = {account:String} AND "
                     "cycle_start = {cycle_start:DateTime('UTC')} ORDER BY account, "
                     "cycle_start, meter")
    assert q.parameters["account"] == "acc'; DROP TABLE x --"


def test_ddl_templates_engines_for_a_cluster() -> None:
    plain = dict(statements(ClickHouseSettings(dsn="chdb:///tmp/x")))
    cluster = dict(statements(ClickHouseSettings(dsn="http://h:8123", cluster="main")))
    assert "ENGINE = ReplacingMergeTree(version)" in plain["usage_log"]
    assert "ENGINE = ReplicatedReplacingMergeTree(version)" in cluster["usage_log"]
    assert "ON CLUSTER main" in cluster["cycle_peaks"]


def test_first_arrival_has_the_highest_version() -> None:
    h = Harness(dedup=False)
    h.subscribe(time="2026-03-01T00:00:00Z")
    a = h.feed(event("email.sent", {"count": 1}, eid="v"), offset=5).metered
    b = h.feed(event("email.sent", {"count": 9}, eid="v"), offset=9).metered
    assert a is not None and b is not None
    assert usage_row(a)["version"] == MAX_VERSION - 5 > usage_row(b)["version"]
    assert batch_token("t", 1, 5, 9) == "t:1:5-9"
