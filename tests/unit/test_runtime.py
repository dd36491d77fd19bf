"""The batch guarantees: a batch ends before faust may ack it, whatever happens."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from core.accounts import AccountState
from core.validate import decode
from infra import faust_runtime as runtime
from schemas.metered_wire import decode_batch, row_keys
from schemas.records import RejectedEvent, RejectReason
from stream_processors.account_store import AccountStore, _keep_newest
from stream_processors.app import MAX_MESSAGE_BYTES, split_batch
from tests.unit.helpers import Harness, event, meta


class Exited(Exception):
    pass


@pytest.fixture
def no_exit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def fake_exit(what: str) -> None:
        calls.append(what)
        raise Exited(what)

    monkeypatch.setattr(runtime, "exit_unacked", fake_exit)
    return calls


def test_cancelling_the_agent_waits_for_the_batch_then_cancels() -> None:
    done: list[str] = []

    async def body() -> None:
        await asyncio.sleep(0.2)
        done.append("batch written")

    async def agent() -> None:
        await runtime.finish_batch("t", body)

    async def main() -> None:
        task = asyncio.ensure_future(agent())
        await asyncio.sleep(0.05)
        task.cancel()  # what faust does on stop
        with pytest.raises(asyncio.CancelledError):
            await task
        assert done == ["batch written"]  # the batch ended before the cancel went through

    asyncio.run(main())


def test_an_error_in_the_batch_exits_unacked(no_exit: list[str]) -> None:
    async def body() -> None:
        raise KeyError("schema drift")

    with pytest.raises(Exited):
        asyncio.run(runtime.finish_batch("sink", body))
    assert no_exit == ["sink"]


def test_lone_surrogate_is_malformed_and_rejection_serialises() -> None:
    raw = event("email.sent", {"count": 1}).replace(b'"id": "e1"', b'"id": "x\\ud800"')
    out = decode(raw, meta())
    assert isinstance(out, RejectedEvent) and out.reason == RejectReason.MALFORMED_JSON
    assert json.loads(out.model_dump_json())["reason"] == "malformed_json"


def test_metered_messages_stay_under_the_size_limit_and_tile_the_range() -> None:
    h = Harness(dedup=False)
    h.subscribe(time="2026-03-01T00:00:00Z")
    metered = []
    for i in range(1500):
        out = h.feed(event("profile.added", {"profile_id": "p" * 240 + str(i),
                                             "emailable": True}, eid=f"m{i}" + "x" * 240))
        assert out.metered is not None
        metered.append(out.metered)
    blobs = split_batch("events", 0, 0, 1999, metered)
    assert len(blobs) > 1
    decoded = [decode_batch(b) for b in blobs]
    docs = [head for head, _ in decoded]
    assert all(len(b) <= MAX_MESSAGE_BYTES + 1000 for b in blobs)
    assert docs[0].first_offset == 0 and docs[-1].last_offset == 1999
    assert all(a.last_offset + 1 == b.first_offset for a, b in pairwise(docs))
    keys = [k for _, rows in decoded for k in row_keys(rows)]
    assert sum(d.rows for d in docs) == len(keys) == 1500
    assert keys == [(m.account, m.source, m.id, m.offset) for m in metered]


def _state(last_offset: int) -> AccountState:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    return AccountState(anchor=t.date(), subscribed_offset=0, subscribed_at=t,
                        last_offset=last_offset)


def test_account_store_reload_keeps_the_newest_state_and_a_later_rebalance_stays_stale() -> None:
    states = {"a": _state(9)}
    _keep_newest(states, "a", _state(4))  # a late write of a previous owner
    assert states["a"].last_offset == 9
    _keep_newest(states, "a", _state(12))
    assert states["a"].last_offset == 12
    store = AccountStore("127.0.0.1:1", "accounts", 4, topic_partitions=lambda: 4)
    assert store.stale
    store._loaded = store._generation  # as if a load finished
    assert not store.stale
    store.mark_stale({1})
    assert store.stale
