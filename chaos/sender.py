"""Produce a scenario's records at a steady rate from a background thread, and remember
what Kafka said about each: acknowledged at (partition, offset), or failed.

A failed send is retried by the generator itself (a new send of the same bytes, the way
a product service retries): `max_attempts` sends at most. If an attempt failed but Kafka
had written it, the retry puts a second copy in the log, which the pipeline must count
once. A record that no attempt got acknowledged is "unacknowledged": the checker does not
count it as lost if it is absent, and still requires it once if it is present.

A watchdog replaces the producer when it holds sends but hears nothing back for
`stuck_after_s` (kafka-python's idempotent producer can stop delivering for good after a
kill -9 and restart of the broker): its pending sends count as failed attempts and are
retried on a new producer; an acknowledgement that still comes from the old one is kept.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from kafka.errors import KafkaTimeoutError

from producers import DeliveryError, MeteringProducer, ProducerSettings
from testkit.records import Record

log = structlog.get_logger(__name__)

MAX_REQUEST_BYTES = 4_000_000
"""Room for the poison scenario's records of more than 1 MB."""


@dataclass
class Delivery:
    """What happened to one record's sends."""

    attempts: int = 0
    positions: list[tuple[int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return bool(self.positions)


@dataclass(frozen=True)
class SendPolicy:
    rate: float
    """Records per second (first attempts)."""
    max_attempts: int = 1
    retry_backoff_s: float = 1.0
    delivery_timeout_ms: int = 120_000
    """The producer's own retry budget per send; a short one makes sends fail during a
    broker outage, so that the generator's retries (new copies) happen."""
    stuck_after_s: float = 150.0
    """Silence (nothing acknowledged nor failed while sends are pending) after which the
    producer is replaced."""


def through_broker_faults(rate: float) -> SendPolicy:
    """The policy of the scenarios that stop brokers: a send gives up after 8 s and the
    generator sends it again (5 attempts at most); a producer silent for 15 s is replaced."""
    return SendPolicy(rate=rate, max_attempts=5, retry_backoff_s=1.0,
                      delivery_timeout_ms=8_000, stuck_after_s=15.0)


class Sender(threading.Thread):
    def __init__(self, bootstrap: str, prefix: str, records: Sequence[Record],
                 policy: SendPolicy) -> None:
        super().__init__(name="chaos-sender", daemon=True)
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.records = records
        self.policy = policy
        self.deliveries = [Delivery() for _ in records]
        self.submitted = 0
        """First attempts handed to the producer so far (the progress faults wait for)."""
        self.acknowledged = 0
        """Records with at least one acknowledged attempt so far."""
        self.producer_resets = 0
        self.done = threading.Event()
        self.abort = threading.Event()
        self.error: BaseException | None = None
        self._retries: queue.Queue[int] = queue.Queue()
        self._pending: dict[int, int] = {}
        """Attempt token -> record index, for every send not answered yet."""
        self._tokens = itertools.count()
        self._heard = time.monotonic()
        self._lock = threading.Lock()
        self._producer = self._new_producer()

    def _new_producer(self) -> MeteringProducer:
        timeout = self.policy.delivery_timeout_ms
        return MeteringProducer(
            self.bootstrap, ProducerSettings(topic_prefix=self.prefix, linger_ms=5),
            max_request_size=MAX_REQUEST_BYTES, delivery_timeout_ms=timeout,
            request_timeout_ms=min(30_000, max(1_000, timeout - 1_000)),
            max_block_ms=max(timeout, 10_000))

    def run(self) -> None:
        try:
            self._send_all()
            self._drain()
        except BaseException as exc:  # surfaced by the scenario through `error`
            log.exception("sender.failed")
            self.error = exc
        finally:
            self._close(self._producer, 30.0)
            self.done.set()

    def _send_all(self) -> None:
        t0 = time.monotonic()
        for i in range(len(self.records)):
            if self.abort.is_set():
                return
            self._send(i)
            self.submitted = i + 1
            self._resend_failed()
            self._watchdog()
            ahead = (i + 1) / self.policy.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def _drain(self) -> None:
        """Flush, and retry what failed until nothing is pending."""
        while not self.abort.is_set():
            with suppress(DeliveryError, KafkaTimeoutError):  # failures are in `deliveries`
                self._producer.flush(timeout=2.0)
            self._resend_failed(wait=True)
            self._watchdog()
            with self._lock:
                if not self._pending and self._retries.empty():
                    return

    def _resend_failed(self, wait: bool = False) -> None:
        """Send again what failed; with `wait`, wait a little for failures first and back
        off once before resending them all."""
        again: list[int] = []
        with suppress(queue.Empty):
            again.append(self._retries.get(timeout=0.5 if wait else 0))
            while True:
                again.append(self._retries.get_nowait())
        if again and wait:
            time.sleep(self.policy.retry_backoff_s)
        for i in again:
            self._send(i)

    def _send(self, i: int) -> None:
        r, d = self.records[i], self.deliveries[i]
        token = next(self._tokens)
        with self._lock:
            d.attempts += 1
            self._pending[token] = i
        try:
            future = self._producer.send_raw(r.key, r.value, timestamp_ms=r.ts_ms)
        except Exception as exc:  # e.g. metadata not available within max_block_ms
            self._failed(token, i, exc)
            return
        future.add_callback(self._acked, token, i)
        future.add_errback(self._errback, token, i)

    def _acked(self, token: int, i: int, meta: Any) -> None:
        with self._lock:
            d = self.deliveries[i]
            if not d.positions:
                self.acknowledged += 1
            d.positions.append((meta.partition, meta.offset))
            self._pending.pop(token, None)
            self._heard = time.monotonic()

    def _errback(self, token: int, i: int, exc: BaseException) -> None:
        self._failed(token, i, exc)

    def _failed(self, token: int, i: int, exc: BaseException | str) -> None:
        d = self.deliveries[i]
        with self._lock:
            if self._pending.pop(token, None) is None:
                return  # an attempt already given up by the watchdog
            self._heard = time.monotonic()
            d.errors.append(exc if isinstance(exc, str) else type(exc).__name__)
            if d.attempts < self.policy.max_attempts and not d.acked:
                self._retries.put(i)
        log.debug("sender.send_failed", record=i, attempt=d.attempts, error=repr(exc)[:200])

    def _watchdog(self) -> None:
        with self._lock:
            stuck = bool(self._pending) and (
                time.monotonic() - self._heard > self.policy.stuck_after_s)
            given_up = list(self._pending.items()) if stuck else []
        if not stuck:
            return
        old, self._producer = self._producer, self._new_producer()
        self.producer_resets += 1
        log.warning("sender.producer_stuck", pending=len(given_up),
                    silent_s=round(time.monotonic() - self._heard, 1))
        for token, i in given_up:
            self._failed(token, i, "ProducerStuck")
        threading.Thread(target=self._close, args=(old, 0.0), daemon=True).start()

    @staticmethod
    def _close(producer: MeteringProducer, timeout: float) -> None:
        with suppress(Exception):  # a stuck or failed producer: its sends are accounted for
            producer.close(timeout=timeout)
