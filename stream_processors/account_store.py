"""Account state kept in a compacted Kafka topic, owned by this project (no faust table).

Each processor holds the latest state of the accounts of the events partitions assigned
to it, and only those: memory is bounded by the worker's share. The accounts topic is
keyed by account id like the events topic, so with the same partition count an account's
state lives in the partition of the same number; after every rebalance (before the next
batch) the worker drops the accounts it no longer owns and reads the assigned partitions
of the accounts topic (all of them, filtered by account, when the counts differ), so
partitions that move between workers arrive with the state their previous owner wrote.
The previous owner's writes are flushed before its offsets commit; a write that lands
ahead of the committed offset is recognised by the `last_offset` inside the state record
(see accounts.py), so a replay never applies an account event twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from core.accounts import AccountState
from infra.topics import end_offsets, read_to_end
from stream_processors.partitioning import partition_of

log = structlog.get_logger(__name__)


class AccountStore:
    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 topic_partitions: Callable[[], int] | None = None) -> None:
        """`partitions`: the events topic's partition count; `topic_partitions`: how many
        partitions the accounts topic has (asked at each load; default: from the broker)."""
        self._bootstrap = bootstrap
        self._topic = topic
        self._partitions = partitions
        self._topic_partitions = topic_partitions or (
            lambda: len(end_offsets(bootstrap, topic)))
        self._states: dict[str, AccountState] = {}
        self._assigned: frozenset[int] = frozenset()
        self._generation = 1  # bumped by every rebalance
        self._loaded = 0  # generation the last load started in

    @property
    def stale(self) -> bool:
        return self._loaded != self._generation

    def mark_stale(self, assigned: set[int]) -> None:
        """A rebalance gave this worker the events partitions `assigned`: reload before the
        next batch (even if a load is running)."""
        self._assigned = frozenset(assigned)
        self._generation += 1

    def owns(self, account: str) -> bool:
        return partition_of(account, self._partitions) in self._assigned

    def get(self, account: str) -> AccountState | None:
        return self._states.get(account)

    def put(self, account: str, state: AccountState) -> None:
        self._states[account] = state

    def items(self) -> list[tuple[str, AccountState]]:
        return list(self._states.items())

    def __len__(self) -> int:
        return len(self._states)

    def load(self, timeout: float = 120.0) -> int:
        """Read the assigned accounts from the compacted topic to its current end (blocking).

        Per account the state with the highest `last_offset` wins, between what the topic
        holds and what this worker already had: a late write of a previous owner never
        takes an account back. Accounts of partitions no longer assigned are dropped."""
        generation, assigned = self._generation, self._assigned
        started = time.monotonic()
        states: dict[str, AccountState] = {}

        def one(record: Any) -> None:
            key = record.key.decode()
            if not self.owns(key):
                return
            if record.value is None:
                states.pop(key, None)
            else:
                _keep_newest(states, key, AccountState.model_validate_json(record.value))

        if assigned:
            same = self._topic_partitions() == self._partitions
            read_to_end(self._bootstrap, self._topic, one, timeout=timeout,
                        only=assigned if same else None)
        for key, state in self._states.items():
            if self.owns(key):
                _keep_newest(states, key, state)
        self._states = states
        self._loaded = generation
        log.info("accounts.loaded", accounts=len(states), partitions=sorted(assigned),
                 seconds=round(time.monotonic() - started, 3))
        return len(states)


def _keep_newest(states: dict[str, AccountState], key: str, state: AccountState) -> None:
    current = states.get(key)
    # at an equal offset the later write wins (a clock tick writes without a new offset)
    if current is None or state.last_offset >= current.last_offset:
        states[key] = state
