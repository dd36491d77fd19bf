"""A hot topic read in bulk through a consumer group, inside a faust app.

faust's per-message path (per message: `wait_first` tasks, the Conductor's lock and Event,
a `sleep(0)`, per-event acks) costs more than the decision itself, so the worker reads
`metering.events` with aiokafka, the client faust itself uses, in its own consumer group:
`getmany` of up to `max_records` records, one call of `handle` for the whole batch (it
decides, produces the outputs and waits for Kafka's acks), then the batch's offsets are
committed. faust stays the application: this runs as a task of the app and stops with it.

Rebalances, explicitly: a batch and its commit hold `lock`; `on_partitions_revoked` takes
the same lock, so a rebalance waits for the batch in flight to be delivered and committed
and no other member reads a partition past what was committed. `on_assigned` is called
with the new assignment (the worker reloads its account states before the next batch).
A batch fetched while a rebalance began is not processed: its partitions still assigned
are rewound to its first records, the others are read again by their next owner from the
committed offsets. A commit refused because
the group already rebalanced is logged: the next owner reads the batch again (at least
once; outputs are idempotent downstream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from infra.faust_runtime import finish_batch
from infra.health import ClientHealth

log = structlog.get_logger(__name__)

Handle = Callable[[list[Any]], Awaitable[None]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BulkConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.owner.lock:  # the batch in flight is delivered and committed
            self.owner.generation += 1  # a batch fetched before this is not processed
            log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.partitions = {tp.partition for tp in assigned}
        log.info("partitions_assigned", partitions=sorted(self.owner.partitions))
        self.owner.on_assigned(self.owner.partitions)


class BulkConsumer:
    def __init__(self, bootstrap: str, topic: str, group_id: str, handle: Handle, *,
                 max_records: int, within_s: float, session_timeout_s: float,
                 on_assigned: Callable[[set[int]], None],
                 on_lag: Callable[[dict[int, int]], None] | None = None,
                 health: ClientHealth | None = None) -> None:
        """`on_lag`: told, after each batch (and each empty fetch), the records of each
        partition not yet read (high watermark minus the next offset). `health`: told
        after each fetch that answered (a batch, or nothing left to read)."""
        self.bootstrap, self.topic, self.group_id = bootstrap, topic, group_id
        self.handle, self.on_assigned = handle, on_assigned
        self.on_lag, self.health = on_lag, health
        self.max_records, self.within_ms = max_records, max(1, int(within_s * 1000))
        self.session_timeout_ms = int(session_timeout_s * 1000)
        self.lock = asyncio.Lock()
        self.generation = 0
        self.partitions: set[int] = set()
        self.batches = 0

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=self.max_records, fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.session_timeout_ms // 4),
            max_poll_interval_ms=600_000)
        consumer.subscribe([self.topic], listener=_Listener(self))
        await consumer.start()
        try:
            while True:
                generation = self.generation
                fetched = await consumer.getmany(timeout_ms=self.within_ms,
                                                 max_records=self.max_records)
                records = [r for batch in fetched.values() for r in batch]
                if self.health is not None:
                    self.health.progressed()
                if not records:
                    if self.on_lag is not None:  # nothing to read: caught up
                        self.on_lag({tp.partition: 0 for tp in consumer.assignment()})
                    continue
                offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
                async with self.lock:
                    if generation != self.generation:  # a rebalance began meanwhile:
                        self._rewind(consumer, fetched)  # read again by their owner
                        continue
                    await finish_batch("process", partial(self._one, consumer, records,
                                                          offsets))
        finally:
            await consumer.stop()

    @staticmethod
    def _rewind(consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Unprocessed records of a partition still (or again) assigned: fetch them again
        (a new assignment starts from the commit anyway; one that completed during the
        fetch may already have moved the position past them)."""
        assigned = consumer.assignment()
        for tp, batch in fetched.items():
            if batch and tp in assigned:
                consumer.seek(tp, batch[0].offset)

    async def _one(self, consumer: AIOKafkaConsumer, records: list[Any],
                   offsets: dict[TopicPartition, int]) -> None:
        await self.handle(records)
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit_refused", error=repr(exc)[:300], records=len(records))
        self.batches += 1
        if self.on_lag is not None:
            lag = {}
            for tp, next_offset in offsets.items():
                high = consumer.highwater(tp)
                if high is not None:
                    lag[tp.partition] = max(0, high - next_offset)
            self.on_lag(lag)
