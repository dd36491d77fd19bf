"""One refused record must not stop every later one (issue 16, finding 1), on the real
broker: Kafka 4 refuses a record whose time is more than an hour ahead of its clock
(`message.timestamp.after.max.ms`), and kafka-python's idempotent producer then aborts
every later batch, for every account, until it is rebuilt."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka.errors import KafkaError

from api.app import create_api
from api.feeds import Feeds
from api.ingest import BATCH
from api.keys import ApiKey, KeyStore
from core.accounts import AccountState
from core.limits import limits_context
from infra.bulk_producer import BulkProducer
from infra.health import Health
from infra.topics import ensure_topics, read_to_end
from pricing.pricebook_loader import load_pricebook
from producers.producer import DeliveryError, MeteringProducer, ProducerSettings
from schemas.topics import Topics

pytestmark = pytest.mark.integration
AHEAD = timedelta(hours=2)


def _doc(n: int, account: str = "acme") -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"r-{n}", "source": "urn:test:recovery",
            "type": "email.sent", "subject": account, "time": "2026-03-10T11:00:00Z",
            "data": {"count": 1}}


@pytest.fixture
def prefix() -> str:
    return f"rec-{uuid.uuid4().hex[:8]}."


def _landed(bootstrap: str, topic: str) -> list[str]:
    ids: list[str] = []
    read_to_end(bootstrap, topic, lambda r: ids.append(json.loads(r.value)["id"]), timeout=60)
    return ids


def test_the_producer_rebuilds_itself_after_a_refused_record(bootstrap: str,
                                                            prefix: str) -> None:
    p = MeteringProducer(bootstrap, ProducerSettings(topic_prefix=prefix, linger_ms=0))
    try:
        assert p.send(_doc(1)).get(timeout=60).offset == 0
        ahead = int((datetime.now(UTC) + AHEAD).timestamp() * 1000)
        with pytest.raises(KafkaError) as refused:
            p.send(_doc(2), timestamp_ms=ahead).get(timeout=60)
        assert "Timestamp" in type(refused.value).__name__
        assert not p.healthy  # the client is in its fatal state ...
        for n in (3, 4):  # ... and the next sends succeed on a rebuilt one
            p.send(_doc(n, account=f"other-{n}")).get(timeout=60)
        assert p.healthy and p.rebuilds == 1
    finally:
        with pytest.raises(DeliveryError) as reported:  # the refused one, reported at close
            p.close(10)
    assert [f[1] for f in reported.value.failures] == ["r-2"]
    assert sorted(_landed(bootstrap, Topics(prefix).events)) == ["r-1", "r-3", "r-4"]


class MovableClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class NoStates:
    def get(self, account: str) -> AccountState | None:
        return None

    def wait_for(self, account: str, offset: int, timeout: float = 10.0) -> AccountState | None:
        return None


@contextmanager
def _api(bootstrap: str, prefix: str, clock: MovableClock) -> Iterator[TestClient]:
    book = load_pricebook("marketing_tiers")
    keys = KeyStore([ApiKey(name="w", sha256=hashlib.sha256(b"k").hexdigest(),
                            write=["*"], read=[])])
    app = create_api(NoStates(), lambda: MeteringProducer(
        bootstrap, ProducerSettings(topic_prefix=prefix, linger_ms=0)),
        limits_context(book), clock, keys=keys, feeds=Feeds(bootstrap, Topics(prefix), keep=2))
    with TestClient(app) as client:
        yield client


def test_the_api_answers_503_for_the_refused_batch_then_accepts_the_next(
        bootstrap: str, prefix: str) -> None:
    clock = MovableClock()
    with _api(bootstrap, prefix, clock) as client:
        def post(*docs: dict[str, Any]) -> Any:
            return client.post("/v1/events", content=json.dumps(list(docs)).encode(),
                               headers={"Content-Type": BATCH, "Authorization": "Bearer k"})

        assert post(_doc(1)).status_code == 202
        clock.offset = AHEAD  # the API's clock runs ahead of the broker's window
        refused = post(_doc(2))
        assert refused.status_code == 503, refused.text
        assert refused.json()["events"][0]["status"] == "failed"
        clock.offset = timedelta(0)  # the clock is right again
        assert client.get("/readyz").json() == {"status": "ready"}
        for n in (3, 4):  # every tenant's next batch goes through on the same API
            ok = post(_doc(n, account=f"tenant-{n}"))
            assert ok.status_code == 202, ok.text
        assert client.get("/healthz").status_code == 200
    assert sorted(_landed(bootstrap, Topics(prefix).events)) == ["r-1", "r-3", "r-4"]


def test_a_role_producer_is_rebuilt_and_the_next_records_flow(bootstrap: str,
                                                              prefix: str) -> None:
    """The worker's, sink's and webhook deliverer's outputs (`BulkProducer`): the broker
    refuses one record (its time two hours ahead), after which aiokafka's idempotent
    producer refuses the later records of that partition (OutOfOrderSequenceNumber); the
    role is not ready, the failure is counted, the producer is rebuilt, the refused records
    are delivered on the next attempt and every later batch, for every partition, flows."""
    topics = Topics(prefix)
    ensure_topics(bootstrap, topics, 4)
    health = Health(stall_after_s=300)
    client = health.client("test.producer")
    ahead = [int((datetime.now(UTC) + AHEAD).timestamp() * 1000)]

    def record_time() -> int | None:  # the first record is out of the window, no other
        stamp, ahead[0] = ahead[0], 0
        return stamp or None

    async def run() -> tuple[list[bool], int]:
        producer = BulkProducer(bootstrap, linger_ms=0, health=client,
                                record_time_ms=record_time)
        ready: list[bool] = []

        def stopping() -> bool:  # asked after each failed attempt
            ready.append(health.readiness()[0])
            return False

        try:
            await producer.deliver_all("test", [
                (topics.metered, f"acct-{n}".encode(), _out(n)) for n in range(8)], stopping)
            for batch in range(3):
                await producer.deliver_all("test", [
                    (topics.metered, f"acct-{n}".encode(), _out(n))
                    for n in range(10 + 10 * batch, 20 + 10 * batch)], stopping)
            return ready, producer.rebuilds
        finally:
            await producer.stop()

    ready, rebuilds = asyncio.run(run())
    assert ready == [False] and rebuilds == 1  # one failed attempt, not ready meanwhile
    report = health.readiness()
    assert report[0], report  # delivered since: ready again, the failure counted
    assert report[1]["clients"]["test.producer"]["failures"] == 1
    assert "Timestamp" in (report[1]["clients"]["test.producer"]["last_error"] or "")
    landed = _landed(bootstrap, topics.metered)
    assert sorted(landed) == sorted(f"o-{n}" for n in [*range(8), *range(10, 40)])


def _out(n: int) -> bytes:
    return json.dumps({"id": f"o-{n}"}).encode()
