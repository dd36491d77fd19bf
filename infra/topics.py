"""Create the pipeline's topics with the wanted partition count (idempotent)."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.topics import Topics


def ensure_topics(bootstrap: str, topics: Topics, partitions: int) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in topics.all() if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                admin.create_topics([
                    NewTopic(t, 1 if t in topics.single_partition() else partitions, 1,
                             topic_configs={"cleanup.policy": "compact"}
                             if t in topics.compacted() else {})
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
