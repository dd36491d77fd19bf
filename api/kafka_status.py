"""Blocking reads of the broker for operators: consumer lag per partition and documents of a
topic (the rejected events' reasons). Shared by `metering status` (cli/ops.py) and the
API's operator view (api/ops.py), which runs them in a thread."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (none yet: absent)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    except KafkaError:
        return {}
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0}


def lag_rows(bootstrap: str, groups: list[tuple[str, str]]) -> list[tuple[str, str, int,
                                                                            int, int, int]]:
    """(group, topic, partition, committed, end, lag) for each (group, topic)."""
    from infra.topics import end_offsets

    rows = []
    for group, topic in groups:
        done = committed(bootstrap, group, topic)
        for partition, end in sorted(end_offsets(bootstrap, topic).items()):
            at = done.get(partition, 0)
            rows.append((group, topic, partition, at, end, max(0, end - at)))
    return rows


def read_docs(bootstrap: str, topic: str, last: int | None = None) -> list[dict[str, Any]]:
    """The JSON objects of `topic` up to its end now (the `last` of each partition when
    given); records that are not JSON objects are skipped."""
    from infra.topics import read_to_end

    docs: list[dict[str, Any]] = []

    def one(record: Any) -> None:
        try:
            doc = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            return
        if isinstance(doc, dict):
            docs.append(doc)
    read_to_end(bootstrap, topic, one, last=last)
    return docs


def rejected_by_reason(bootstrap: str, topic: str) -> list[tuple[str, int]]:
    """(reason, count) of the rejected-events topic, most frequent first."""
    return Counter(str(d.get("reason")) for d in read_docs(bootstrap, topic)).most_common()
