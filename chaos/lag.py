"""Where the pipeline stands: committed offsets of its consumer groups against end offsets.

One admin client and one consumer are kept for the whole run (a client per poll costs more
than the poll); any Kafka error (the broker is down, a coordinator moves) drops both and
the next call builds them again, so a probe survives a broker restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

log = structlog.get_logger(__name__)
T = TypeVar("T")

Offsets = dict[tuple[str, int], int]
"""(topic, partition) -> offset."""


@dataclass(frozen=True)
class Stage:
    """One consumer group reading some topics (the processor: events; the sink: the rest)."""

    group: str
    topics: tuple[str, ...]


@dataclass
class LagProbe:
    bootstrap: str
    stages: Sequence[Stage]
    _admin: KafkaAdminClient | None = field(default=None, init=False, repr=False)
    _consumer: KafkaConsumer | None = field(default=None, init=False, repr=False)

    def _clients(self) -> tuple[KafkaAdminClient, KafkaConsumer]:
        if self._admin is None or self._consumer is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                           request_timeout_ms=5000)
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap,
                                           request_timeout_ms=5000)
        return self._admin, self._consumer

    def close(self) -> None:
        for client in (self._admin, self._consumer):
            if client is not None:
                try:
                    client.close()
                except Exception as exc:  # closing a client of a dead broker
                    log.debug("lag.close_failed", error=repr(exc))
        self._admin = self._consumer = None

    def _guard(self, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except (KafkaError, OSError, ValueError, AssertionError) as exc:
            log.debug("lag.kafka_error", error=repr(exc)[:200])
            self.close()
            return None

    def end_offsets(self, topics: Sequence[str]) -> Offsets | None:
        """End offset of every partition of `topics`; None while Kafka does not answer."""
        def fetch() -> Offsets:
            _, consumer = self._clients()
            tps = [TopicPartition(t, p) for t in topics
                   for p in sorted(consumer.partitions_for_topic(t) or ())]
            return {(tp.topic, tp.partition): o for tp, o in consumer.end_offsets(tps).items()}
        return self._guard(fetch)

    def committed(self) -> Offsets | None:
        """Committed offsets of every stage's group on its topics; None on a Kafka error."""
        def fetch() -> Offsets:
            admin, _ = self._clients()
            groups = admin.list_group_offsets([s.group for s in self.stages])
            out: Offsets = {}
            for s in self.stages:
                for tp, meta in groups.get(s.group, {}).items():
                    if tp.topic in s.topics and meta.offset >= 0:
                        out[(tp.topic, tp.partition)] = meta.offset
            return out
        return self._guard(fetch)

    def members(self) -> dict[str, int] | None:
        """Members of each stage's group now (0 for a group that is not stable)."""
        def fetch() -> dict[str, int]:
            admin, _ = self._clients()
            out = {}
            for group, info in admin.describe_groups([s.group for s in self.stages]).items():
                stable = str(info.get("group_state", info.get("state", ""))) == "Stable"
                out[group] = len(info.get("members") or ()) if stable else 0
            return out
        return self._guard(fetch)

    def all_topics(self) -> list[str]:
        return [t for s in self.stages for t in s.topics]

    def lag(self) -> int | None:
        """Records not yet committed by their stage, all stages; None if Kafka is down."""
        end = self.end_offsets(self.all_topics())
        done = self.committed()
        if end is None or done is None:
            return None
        return sum(max(0, o - done.get(k, 0)) for k, o in end.items())

    def reached(self, targets: Offsets) -> bool | None:
        done = self.committed()
        if done is None:
            return None
        return all(done.get(k, 0) >= o for k, o in targets.items() if o > 0)


def wait_caught_up(probe: LagProbe, first: Offsets | None, timeout: float,
                   alive: Callable[[], None] = lambda: None, poll_s: float = 0.25) -> float:
    """Wait until the first stage (the processor) committed `first` (default: the end
    offsets of its topics now), then until every later stage committed the end offsets
    its own topics had when the stage before it got there; seconds waited.

    With `first` = the end offsets at a fault, this is the fault's recovery time: every
    record produced before the fault is processed and written. Raises TimeoutError."""
    start = time.monotonic()
    targets = first
    for n, stage in enumerate(probe.stages):
        while True:
            alive()
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"stage {stage.group} not caught up in {timeout:.0f}s")
            if targets is None:
                targets = probe.end_offsets(stage.topics)
            if targets is not None and probe.reached(targets):
                break
            time.sleep(poll_s)
        targets = None
        log.debug("lag.stage_caught_up", stage=n, group=stage.group,
                  seconds=round(time.monotonic() - start, 2))
    return time.monotonic() - start
