"""Personal data in, none out: on the real broker and chdb, events that carry phone numbers,
email addresses and SMS texts (valid and invalid ones) go through the real processes; then
every String column of every ClickHouse table and view, every record of every topic the
pipeline writes (the rejected topic included) and the processes' logs are searched for
those values. None is there, and the SMS are still rated with the right segment counts."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from kafka import KafkaAdminClient

from infra.topics import read_to_end
from projections import queries
from testkit.pipeline import Pipeline
from testkit.produce import produce
from testkit.records import Record

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # cycles [Mar 1, Apr 1), closed for events Apr 2
ACCOUNT = "priv-acc"
PHONES = ["+1 415 555 0142", "+14155550177", "+44 20 7946 0321", "(212) 555-0188",
          "tel:+33612345678"]
NATIONAL = ["415-555-0199", "6505550123"]  # recognised under contact keys (and in non-JSON)
EMAILS = ["alice.privacy@example.org", "bob+promo@mail.example.com",
          "carol_ops@example.net", "dave.k@example.co.uk", "erin-x@example.io"]
BODIES = [  # the SMS texts: only their segment counts may be kept
    "Kiwi-7731 sale! Reply to +1 415 555 0142 or alice.privacy@example.org " + "." * 100,
    "Mango-5521 🎉 your code, call +44 20 7946 0321",
    "Papaya-9902 late reminder for bob+promo@mail.example.com",
    "Guava-3318 to a ghost account, tel:+33612345678",
]
SECRETS = PHONES + NATIONAL + EMAILS + BODIES + ["Kiwi-7731", "Mango-5521", "Papaya-9902",
                                                 "Guava-3318"]


def _doc(n: int, etype: str, data: dict[str, Any], t: datetime, account: str = ACCOUNT,
         **extensions: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"priv-{n}", "source": "urn:test:privacy",
            "type": etype, "subject": account, "time": t.isoformat().replace("+00:00", "Z"),
            "data": data, **extensions}


def _rec(doc: dict[str, Any] | bytes, expect: str, arrival: datetime,
         key: bytes | None = ACCOUNT.encode()) -> Record:
    value = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
    return Record(key, value, arrival, expect)


def workload() -> list[Record]:
    day = timedelta(days=1)
    t1, t2 = T0 + 5 * day, T0 + 6 * day
    return [
        _rec(_doc(0, "account.subscribed", {"product": "sms", "plan": "sms-1250",
                                            "anchor": "2026-03-01"}, T0), "accept", T0),
        # valid: contact fields in data, nested and in extension attributes; GSM, 2 segments
        _rec(_doc(1, "sms.sent", {"to_country": "US", "body": BODIES[0], "to": PHONES[0],
                                  "from": PHONES[1], "recipient": {"email": EMAILS[0],
                                                                   "phone": NATIONAL[0]}},
                  t1, to_email=EMAILS[1], recipientphone=NATIONAL[1],
                  comment=f"ops: write {EMAILS[2]}"), "accept", t1),
        # valid: UCS-2 text (an emoji), 1 segment, to Canada (rate 3)
        _rec(_doc(2, "sms.sent", {"to_country": "CA", "body": BODIES[1],
                                  "phone": PHONES[2]}, t1, msisdn=PHONES[3]), "accept", t1),
        _rec(_doc(3, "email.sent", {"count": 2, "to_email": EMAILS[3], "cc": [EMAILS[4]]},
                  t1), "accept", t1),
        _rec(_doc(4, "profile.added", {"profile_id": "p-1", "emailable": True}, t1,
                  email=EMAILS[0], note=f"imported from {PHONES[4]}"), "accept", t1),
        # invalid
        _rec(f'{{"to": "{PHONES[0]}", "email": "{EMAILS[0]}", "phone": "{NATIONAL[0]}", '
             .encode(), "malformed_json", t2),
        _rec(f"\xff\xfe{EMAILS[1]} {NATIONAL[1]} {PHONES[1]}".encode("latin-1",
                                                                    errors="replace")
             + f" {EMAILS[1]} {NATIONAL[1]}".encode(), "not_utf8", t2),
        _rec(_doc(5, "contact.synced", {"phone": PHONES[2], "note": f"mail {EMAILS[2]}"},
                  t2), "unknown_type", t2),
        _rec(_doc(6, "sms.sent", {"to_country": "US", "body": BODIES[3], "to": PHONES[4]}, t2,
                  account="ghost"), "unknown_account", t2, b"ghost"),
        _rec(_doc(7, "email.sent", {"count": 1, "extra": EMAILS[3], EMAILS[4]: 1}, t2),
             "invalid_data", t2),
        _rec(_doc(8, "sms.sent", {"to_country": "GB", "body": BODIES[2], "to": PHONES[3]},
                  T0 + 30 * day), "too_late", T0 + 33 * day),
        _rec(_doc(9, "email.sent", {"count": 1, "to": EMAILS[0]}, t2), "key_mismatch", t2,
             b"someone-else"),
    ]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return "\x1f".join(_text(v) for v in value)
    return "" if value is None else str(value)


def found_in(texts: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(where, secret) for where, items in texts.items() for text in items
            for secret in SECRETS if secret in text]


def clickhouse_texts(client: Any, db: str) -> dict[str, list[str]]:
    """Every String-typed column (plain, LowCardinality, Nullable, Array) of every table
    and view of the database."""
    columns: dict[str, list[str]] = {}
    for table, name, _ in client.query(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String} "
            "AND type LIKE '%String%'", parameters={"db": db}).result_rows:
        columns.setdefault(table, []).append(name)
    tables = {r[0] for r in client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}",
        parameters={"db": db}).result_rows}
    assert {"usage_log", "rejected_events", "alerts", "decisions", "invoices"} <= tables
    out: dict[str, list[str]] = {}
    for table, names in columns.items():
        cols = ", ".join(f"`{n}`" for n in names)
        rows = client.query(f"SELECT {cols} FROM `{db}`.`{table}`").result_rows
        out[f"clickhouse {table}"] = [_text(v) for row in rows for v in row]
    return out


def topic_texts(p: Pipeline) -> dict[str, list[str]]:
    """Every record (key, value, headers) of every topic of this test but its input."""
    admin = KafkaAdminClient(bootstrap_servers=p.bootstrap)
    try:
        names = [t for t in admin.list_topics()
                 if t.startswith(p.prefix) or p.processor_id in t or p.sink_id in t]
    finally:
        admin.close()
    assert p.topics.rejected in names and p.topics.metered in names
    out: dict[str, list[str]] = {}
    for topic in names:
        if topic == p.topics.events:
            continue  # the producers' input: the data arrives there by definition
        texts: list[str] = []
        read_to_end(p.bootstrap, topic, lambda r, acc=texts: acc.extend(  # type: ignore[misc]
            [_text(r.key), _text(r.value), *(_text(v) for _, v in r.headers or [])]),
                    timeout=60)
        out[f"topic {topic}"] = texts
    return out


def test_no_phone_number_email_or_sms_text_is_stored_forwarded_or_logged(
        bootstrap: str, tmp_path: Any) -> None:
    p = Pipeline(bootstrap, tmp_path, METERING_LOG_LEVEL="DEBUG")
    records = workload()
    try:
        p.start_sink()
        p.start_worker()
        produce(bootstrap, p.prefix, records)
        p.wait_caught_up(timeout=180)
        client = p.clickhouse()
        db = p.ch.database
        try:
            ch = clickhouse_texts(client, db)
            reasons = Counter(r[0] for r in client.query(
                f"SELECT reason FROM {db}.rejected_events FINAL").result_rows)
            late_raw = client.query(f"SELECT raw FROM {db}.rejected_events FINAL "
                                    "WHERE reason = 'too_late'").result_rows[0][0]
            sms = {json.loads(d)["to_country"]: json.loads(d) for (d,) in client.query(
                f"SELECT data FROM {db}.usage_log FINAL WHERE type = 'sms.sent'").result_rows}
            counters = {m: Decimal(v) for _, _, m, v, _ in queries.counters(
                db, ACCOUNT).rows(client)}
            accepted = client.query(f"SELECT count() FROM {db}.usage_log FINAL").result_rows
        finally:
            client.close()
    finally:
        p.stop()
    topics = topic_texts(p)
    logs = {f"log {f.name}": [f.read_text(errors="replace")] for f in tmp_path.glob("*.log")}

    # nothing personal anywhere the pipeline wrote
    assert sum(len(v) for v in ch.values()) > 20
    assert sum(len(v) for v in topics.values()) >= len(records)
    assert logs and any(text for texts in logs.values() for text in texts), "no log captured"
    assert found_in(ch) == []
    assert found_in(topics) == []
    assert found_in(logs) == []

    # and it did its job: every record decided, the SMS rated from their texts
    expected = Counter(r.expect for r in records if r.expect != "accept")
    assert reasons == expected
    assert accepted[0][0] == sum(r.expect == "accept" for r in records)
    assert sms["US"] == {"to_country": "US", "segments": 2, "encoding": "gsm7",
                         "channel": "sms", "direction": "outbound", "status": "delivered"}
    assert (sms["CA"]["segments"], sms["CA"]["encoding"]) == (1, "ucs2")
    assert counters["sms.segments"] == 3 and counters["sms.credits"] == 2 * 1 + 1 * 3
    late = json.loads(late_raw)  # kept re-ratable: the text became its segment count
    assert late["data"] == {"to_country": "GB", "segments": 1, "encoding": "gsm7"}
