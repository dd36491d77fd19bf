"""Account state kept in a compacted Kafka topic, owned by this project (no faust table).

Each processor holds every account's latest state in memory. It loads the whole
compacted topic at start and again after every rebalance (before it processes the next
batch), so partitions that move between workers arrive with the state their previous
owner wrote. The previous owner's writes are flushed before its offsets commit; a write
that lands ahead of the committed offset is recognised by the `last_offset` inside the
state record (see accounts.py), so a replay never applies an account event twice.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from core.accounts import AccountState
from infra.topics import read_to_end

log = structlog.get_logger(__name__)


class AccountStore:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._states: dict[str, AccountState] = {}
        self._generation = 1  # bumped by every rebalance
        self._loaded = 0  # generation the last load started in

    @property
    def stale(self) -> bool:
        return self._loaded != self._generation

    def mark_stale(self) -> None:
        """A rebalance happened: reload before the next batch (even if a load is running)."""
        self._generation += 1

    def get(self, account: str) -> AccountState | None:
        return self._states.get(account)

    def put(self, account: str, state: AccountState) -> None:
        self._states[account] = state

    def items(self) -> list[tuple[str, AccountState]]:
        return list(self._states.items())

    def load(self, timeout: float = 120.0) -> int:
        """Read the compacted topic from its beginning to its current end (blocking).

        Per account the state with the highest `last_offset` wins, between what the topic
        holds and what this worker already had: a late write of a previous owner never
        takes an account back."""
        generation = self._generation
        started = time.monotonic()
        states: dict[str, AccountState] = {}

        def one(record: Any) -> None:
            key = record.key.decode()
            if record.value is None:
                states.pop(key, None)
            else:
                _keep_newest(states, key, AccountState.model_validate_json(record.value))

        read_to_end(self._bootstrap, self._topic, one, timeout=timeout)
        for key, state in self._states.items():
            _keep_newest(states, key, state)
        self._states = states
        self._loaded = generation
        log.info("accounts.loaded", accounts=len(states),
                 seconds=round(time.monotonic() - started, 3))
        return len(states)


def _keep_newest(states: dict[str, AccountState], key: str, state: AccountState) -> None:
    current = states.get(key)
    # at an equal offset the later write wins (a clock tick writes without a new offset)
    if current is None or state.last_offset >= current.last_offset:
        states[key] = state
