"""Tail whole topics from their beginning in a background thread (no consumer group).

Every API process keeps its own copy of small topics (alerts, decisions, invoices,
simulation results): `TopicTail` assigns every partition of the named topics, seeks to
the beginning, and hands each record to `apply(topic, value)` until closed. A broker
that goes away (`KafkaError`) starts the tail over shortly, from the beginning again, so
`apply` must be idempotent (it is: records are kept by id).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

log = structlog.get_logger(__name__)
Apply = Callable[[str, bytes | None], None]


class TopicTail:
    def __init__(self, bootstrap: str, names: Sequence[str], apply: Apply, *, name: str,
                 **consumer_config: Any) -> None:
        self.bootstrap, self.names, self._apply = bootstrap, list(names), apply
        self._config = consumer_config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tail()
            except KafkaError as exc:  # the broker went away: start over shortly
                log.warning("api.tail.retry", thread=self._thread.name, error=repr(exc))
                self._stop.wait(1.0)

    def _tail(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 group_id=None, auto_offset_reset="earliest", **self._config)
        try:
            tps: list[TopicPartition] = []
            while not tps and not self._stop.is_set():
                parts = {n: consumer.partitions_for_topic(n) for n in self.names}
                if all(parts.values()):
                    tps = [TopicPartition(n, p) for n in self.names
                           for p in sorted(parts[n] or ())]
                else:
                    self._stop.wait(0.2)
            if not tps:
                return
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                for tp, records in consumer.poll(timeout_ms=200).items():
                    for record in records:
                        self._apply(tp.topic, record.value)
        finally:
            consumer.close()
