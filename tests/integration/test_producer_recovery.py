"""One refused record must not stop every later one (issue 16, finding 1), on the real
broker: Kafka 4 refuses a record whose time is more than an hour ahead of its clock
(`message.timestamp.after.max.ms`), and kafka-python's idempotent producer then aborts
every later batch, for every account, until it is rebuilt."""

from __future__ import annotations

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
from infra.topics import read_to_end
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
