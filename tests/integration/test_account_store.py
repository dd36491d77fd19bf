"""A worker holds the account states of its own partitions only (real broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from core.accounts import AccountState
from stream_processors.account_store import AccountStore
from stream_processors.partitioning import partition_of

PARTITIONS = 4


def _state(last_offset: int) -> AccountState:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    return AccountState(anchor=t.date(), subscribed_offset=0, subscribed_at=t,
                        last_offset=last_offset)


def test_a_worker_loads_and_keeps_only_the_accounts_of_its_partitions(bootstrap: str) -> None:
    topic = f"accounts-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    accounts = [f"acct-{i}" for i in range(200)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i, account in enumerate(accounts):  # the default partitioner, as the worker's
        producer.send(topic, key=account.encode(), value=_state(i).model_dump_json().encode())
    producer.flush()
    producer.close()
    by_partition = {p: {a for a in accounts if partition_of(a, PARTITIONS) == p}
                    for p in range(PARTITIONS)}
    assert all(by_partition.values())  # every partition holds some accounts

    store = AccountStore(bootstrap, topic, PARTITIONS)
    assert store.load() == 0  # nothing assigned yet: nothing held
    store.mark_stale({0, 2})
    assert store.load() == len(by_partition[0] | by_partition[2])
    assert {a for a, _ in store.items()} == by_partition[0] | by_partition[2]
    mine = sorted(by_partition[0])[0]
    store.put(mine, _state(10_000))  # written by this worker, newer than the topic

    store.mark_stale({0, 3})  # partition 2 moved away, 3 arrived
    store.load()
    assert {a for a, _ in store.items()} == by_partition[0] | by_partition[3]
    kept = store.get(mine)
    assert kept is not None and kept.last_offset == 10_000
