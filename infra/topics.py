"""Create the pipeline's topics with the wanted partition count (idempotent)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.topics import Topics


def replication_of(brokers: int) -> tuple[int, dict[str, str]]:
    """Replication factor and topic settings for a cluster of `brokers`: 3 copies with 2
    in sync for every acknowledged write from three brokers on (one may fail), else 1."""
    if brokers >= 3:
        return 3, {"min.insync.replicas": "2"}
    return 1, {}


def cluster_size(admin: KafkaAdminClient) -> int:
    return len(admin.describe_cluster().get("brokers", [])) or 1


def replication_for(bootstrap: str) -> int:
    """The replication factor of topics created on this cluster (faust's own too)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return replication_of(cluster_size(admin))[0]
    finally:
        admin.close()


BIG_RECORD_BYTES = 64 * 1024 * 1024
"""A simulation report lists every account: its topic takes records up to this size."""


def topic_configs(topics: Topics, topic: str) -> dict[str, str]:
    """The configs a topic needs beyond the cluster's (compaction, large records)."""
    configs: dict[str, str] = {}
    if topic in topics.compacted():
        configs["cleanup.policy"] = "compact"
    if topic == topics.simulations:
        configs["max.message.bytes"] = str(BIG_RECORD_BYTES)
    return configs


def ensure_topics(bootstrap: str, topics: Topics, partitions: int) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in topics.all() if t not in existing]
        if wanted:
            factor, configs = replication_of(cluster_size(admin))
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                admin.create_topics([
                    NewTopic(t, 1 if t in topics.single_partition() else partitions, factor,
                             topic_configs={**configs, **topic_configs(topics, t)})
                    for t in wanted])
        return wanted
    finally:
        admin.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Next offset of every partition of `topic` (what a caught-up consumer would reach)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def read_to_end(bootstrap: str, topic: str, on_record: Callable[[Any], None], *,
                last: int | None = None, timeout: float = 300.0,
                only: Collection[int] | None = None) -> int:
    """Call `on_record` for every record of `topic` up to the end offsets it has now (only
    the `last` records of each partition when given; only the partitions `only` when
    given), partition order kept; the number read. Raises TimeoutError rather than return
    part of the topic."""
    from kafka import KafkaConsumer, TopicPartition

    deadline = time.monotonic() + timeout
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             group_id=None, auto_offset_reset="earliest",
                             fetch_max_bytes=64 * 1024 * 1024)
    n = 0
    try:
        parts = None
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts or ())
               if only is None or p in only]
        if not tps:
            return 0
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, 0 if last is None else max(0, end[tp] - last))
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end in {timeout}s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    on_record(record)
                    n += 1
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()
    return n
