"""A read-only, continuously updated view of every account's state (can-send, webhooks).

A background thread tails the compacted accounts topic the processors write after every
batch, keeping per account the newest state (highest `last_offset`). Answers therefore
reflect the records the stream has processed, a few milliseconds after their batch.
"""

from __future__ import annotations

import threading
import time

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from core.accounts import AccountState

log = structlog.get_logger(__name__)


class AccountView:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self._states: dict[str, AccountState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="account-view", daemon=True)

    def start(self) -> AccountView:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def get(self, account: str) -> AccountState | None:
        with self._lock:
            return self._states.get(account)

    def wait_for(self, account: str, offset: int, timeout: float = 10.0) -> AccountState | None:
        """The account's state once it includes the record at `offset` (or the newest)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.get(account)
            if (state is not None and state.last_offset >= offset) or \
                    time.monotonic() > deadline:
                return state
            time.sleep(0.02)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tail()
            except KafkaError as exc:  # the broker went away: start over shortly
                log.warning("account_view.retry", error=repr(exc))
                self._stop.wait(1.0)

    def _tail(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                 group_id=None, auto_offset_reset="earliest")
        try:
            parts = None
            while not parts and not self._stop.is_set():
                parts = consumer.partitions_for_topic(self._topic)
                if not parts:
                    self._stop.wait(0.2)
            tps = [TopicPartition(self._topic, p) for p in sorted(parts or ())]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    for record in records:
                        self._apply(record.key.decode(), record.value)
        finally:
            consumer.close()

    def _apply(self, account: str, value: bytes | None) -> None:
        with self._lock:
            if value is None:
                self._states.pop(account, None)
                return
            state = AccountState.model_validate_json(value)
            current = self._states.get(account)
            if current is None or state.last_offset >= current.last_offset:
                self._states[account] = state
