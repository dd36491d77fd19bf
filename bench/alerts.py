"""Event -> alert latency: watch the alerts topic for the probe accounts' alerts.

The probe's send time is the wall clock when the bench hands the event to the producer
(also written as the record timestamp). The alert's arrival is the wall clock when this
consumer (kafka-python, in the bench process, reading every partition from the start)
gets it; the alert record's own timestamp (set by the worker's producer) is kept too, so
the consumer's share of the figure can be told apart.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

from kafka import KafkaConsumer, TopicPartition


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class AlertWatch(threading.Thread):
    """Notes, per watched account, when its first alert at `threshold` arrived."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, accounts: set[str],
                 threshold: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.accounts, self.threshold = accounts, threshold
        self.arrived: dict[str, tuple[int, int]] = {}
        """account -> (arrival wall clock ms, alert record timestamp ms)"""
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._done = threading.Event()

    def run(self) -> None:
        try:
            self._consume()
        except BaseException as exc:  # reported by finish()
            self.error = exc
            self.ready.set()

    def _consume(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                 enable_auto_commit=False, fetch_max_wait_ms=100)
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            for tp in tps:
                consumer.position(tp)
            self.ready.set()
            while not self._done.is_set() and len(self.arrived) < len(self.accounts):
                for records in consumer.poll(timeout_ms=100).values():
                    self._note(records)
        finally:
            consumer.close()

    def _note(self, records: list[object]) -> None:
        at = now_ms()
        for record in records:
            doc = json.loads(record.value)  # type: ignore[attr-defined]
            account = doc["account"]
            if account in self.accounts and doc["threshold"] == self.threshold and \
                    account not in self.arrived:
                self.arrived[account] = (at, record.timestamp)  # type: ignore[attr-defined]

    def finish(self, timeout: float) -> dict[str, tuple[int, int]]:
        """Wait up to `timeout` s for the remaining alerts; what arrived."""
        self.join(timeout)
        self._done.set()
        self.join()
        if self.error is not None:
            raise self.error
        return self.arrived


def _quantiles(values: list[int]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = float(values[0]) if values else float("nan")
        return v, v, v
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49], 1), round(cuts[98], 1), float(max(values))


def latency_figures(sent: dict[str, int], arrived: dict[str, tuple[int, int]]) -> dict[str,
                                                                                     float]:
    """p50/p99/max of arrival - send, and of the alert record's timestamp - send (ms)."""
    seen = [a for a in sent if a in arrived]
    p50, p99, pmax = _quantiles([arrived[a][0] - sent[a] for a in seen])
    w50, w99, _ = _quantiles([arrived[a][1] - sent[a] for a in seen])
    return {"probes": len(sent), "alerts_seen": len(seen), "p50": p50, "p99": p99,
            "max": pmax, "worker_send_p50": w50, "worker_send_p99": w99}
