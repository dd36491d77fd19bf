"""The stream-processor role: a faust app whose hot topic is read in bulk.

faust runs the worker (lifecycle, the clock timer); the events topic is read by an aiokafka
consumer in the group `METERING_APP_ID` (`infra.bulk_consumer`). Per fetched batch the
loop is short: call the decision core once (`core.batch.Core.decide_batch`), emit metered
batches (one message per input partition range), rejections, account states, alerts and
decisions (`infra.bulk_producer`, all acknowledged), then the offsets are committed.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from core.batch import BatchOutcome, Core, RawRecord
from core.derive import rules_for
from core.limits import limits_context, tick
from core.process import Deduplicator, Policy
from infra.bulk_consumer import BulkConsumer
from infra.bulk_producer import BulkProducer, Output
from infra.clock import Clock
from infra.faust_runtime import create_app, finish_batch, retry_forever
from infra.health import REGISTRY
from infra.metrics import (
    ALERTS,
    BATCH_SECONDS,
    BATCH_SIZE,
    CONSUMER_LAG,
    DECISIONS,
    EVENTS_ACCEPTED,
    EVENTS_CONSUMED,
    EVENTS_DUPLICATE,
    count_rejections,
)
from pricing.lateness import Lateness
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import reference_books
from schemas.metered_wire import MeteredBatchHeader, encode_batch, encode_row
from schemas.records import Alert, Decision, MeteredEvent, RejectReason
from schemas.topics import Topics
from stream_processors.account_store import AccountStore
from stream_processors.dedup_warmup import warm_dedup
from stream_processors.partitioning import partition_of
from stream_processors.settings import ProcessorSettings

log = structlog.get_logger(__name__)


def build_processor(bootstrap: str, partitions: int, topics: Topics,
                    settings: ProcessorSettings, rate_book: PriceBook,
                    clock: Clock, lateness: Lateness) -> faust.App:
    """`rate_book`: the price book whose SMS credit-rate table the stream applies;
    `lateness`: the deployment's (`pricing.lateness`), the same the close of cycle uses."""
    # the faust app (lifecycle, timers, outputs) has a group of its own: the events topic is
    # read by the bulk consumer in the group `settings.app_id` (aiokafka's assignor)
    app = create_app(f"{settings.app_id}-app", bootstrap, partitions)
    metered, rejected, accounts_topic = topics.metered, topics.rejected, topics.accounts
    alerts, decisions = topics.alerts, topics.decisions
    producer = BulkProducer(bootstrap, health=REGISTRY.client("worker.producer"))
    store = AccountStore(bootstrap, topics.accounts, partitions)
    limits = limits_context(rate_book) if settings.limits else None
    dedup = Deduplicator(settings.dedup_window) if settings.dedup_window else None
    rules = rules_for(rate_book, reference_books(rate_book))  # accounts name their books
    core = Core(store, rules, Policy(lateness.delta, settings.max_future), dedup, limits)

    def reload() -> None:
        store.load()
        if dedup is not None:  # a window of about dedup_window events (500 per message)
            warm_dedup(bootstrap, topics.metered, dedup,
                       max(1, settings.dedup_window // 500 // partitions))

    async def fresh_states() -> None:
        """Before a batch or a tick: the account states, reloaded after a rebalance."""
        if store.stale:
            await retry_forever("load_accounts", lambda: asyncio.to_thread(reload),
                                lambda: app.should_stop)

    async def handle_records(records: list[Any]) -> None:  # under bulk.lock
        await fresh_states()
        await handle(records)

    bulk = BulkConsumer(bootstrap, topics.events, settings.app_id, handle_records,
                        max_records=settings.batch_max, within_s=settings.batch_within_s,
                        session_timeout_s=10.0, on_assigned=store.mark_stale,
                        on_lag=record_lag, health=REGISTRY.client("worker.consumer"))

    @app.task  # type: ignore[untyped-decorator]
    async def consume_events() -> None:
        await producer.start()
        try:
            await bulk.run()
        finally:
            await producer.stop()

    def outputs(alert_list: list[Alert], decision_list: list[Decision]) -> list[Send]:
        out: list[Send] = [(alerts, a.account.encode(), a.model_dump_json().encode())
                           for a in alert_list]
        return out + [(decisions, d.account.encode(), d.model_dump_json().encode())
                      for d in decision_list]

    async def handle(batch: list[Any]) -> None:
        started = time.perf_counter()
        out = core.decide_batch(
            RawRecord(m.topic, m.partition, m.offset, (m.timestamp or 0) / 1000, m.key,
                      m.value if isinstance(m.value, bytes) else b"")
            for m in batch)  # aiokafka records: timestamps in milliseconds
        for meta, error in out.limits_errors:
            log.error("limits_error", partition=meta.partition, offset=meta.offset,
                      error=error)
        for r in out.rejected:
            if r.reason is RejectReason.PROCESSING_ERROR:
                log.error("processing_error", partition=r.partition, offset=r.offset,
                          detail=r.detail)
        sends: list[Send] = []
        for partition, span in out.partitions.items():
            sends += [(metered, str(partition).encode(), blob) for blob in split_batch(
                topics.events, partition, span.first, span.last, span.metered,
                _stamp(span.max_timestamp))]
        sends += [(accounts_topic, account.encode(), state.model_dump_json().encode())
                  for account, state in out.states.items()]
        sends += [(rejected, r.account.encode() or None, r.model_dump_json().encode())
                  for r in out.rejected]
        sends += outputs(out.alerts, out.decisions)
        await producer.deliver_all("process", sends, lambda: app.should_stop)
        count_batch(len(batch), out, time.perf_counter() - started)

    if limits is not None:
        ctx = limits

        @app.timer(settings.tick_s)  # type: ignore[untyped-decorator]
        async def clock_tick() -> None:
            """Time passing: cycle roll-over and auto-downgrades of this worker's accounts."""
            async with bulk.lock:
                await finish_batch("clock_tick", on_tick)

        async def on_tick() -> None:
            await fresh_states()
            mine = set(bulk.partitions)
            now = clock.now()
            log.debug("clock.tick", now=now.isoformat(), partitions=sorted(mine))
            sends: list[Send] = []
            for account, state in store.items():
                if partition_of(account, partitions) not in mine:
                    continue
                out = tick(state, account, ctx, now)
                if out.changed:
                    store.put(account, out.state)
                    sends.append((accounts_topic, account.encode(),
                                  out.state.model_dump_json().encode()))
                    sends += outputs(out.alerts, out.decisions)
            if sends:
                await producer.deliver_all("clock_tick", sends, lambda: app.should_stop)

    return app


Send = Output


def count_batch(records: int, out: BatchOutcome, seconds: float) -> None:
    """The metrics of one batch whose outputs were delivered."""
    EVENTS_CONSUMED.inc(records)
    EVENTS_ACCEPTED.inc(sum(len(span.metered) for span in out.partitions.values()))
    EVENTS_DUPLICATE.inc(out.duplicates)
    count_rejections(r.reason.value for r in out.rejected)
    for alert in out.alerts:
        ALERTS.labels(kind=alert.kind).inc()
    for decision in out.decisions:
        DECISIONS.labels(kind=decision.kind).inc()
    BATCH_SIZE.observe(records)
    BATCH_SECONDS.observe(seconds)


def record_lag(lag: dict[int, int]) -> None:
    for partition, records in lag.items():
        CONSUMER_LAG.labels(partition=str(partition)).set(records)


def _stamp(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


MAX_MESSAGE_BYTES = 900_000
"""Metered messages stay under Kafka's default 1 MB message limit."""


def split_batch(topic: str, partition: int, first: int, last: int,
                events: list[MeteredEvent], max_timestamp: datetime | None = None
                ) -> list[bytes]:
    """Metered messages (`schemas.metered_wire`) of at most MAX_MESSAGE_BYTES (a single
    event larger than that travels alone) whose offset ranges tile [first, last]."""
    out: list[bytes] = []
    start = first
    chunk: list[bytes] = []
    size = 0

    def emit(end: int) -> None:
        nonlocal start, chunk, size
        out.append(encode_batch(MeteredBatchHeader(
            topic=topic, partition=partition, first_offset=start, last_offset=end,
            max_timestamp=max_timestamp), chunk))
        start, chunk, size = end + 1, [], 0

    for i, event in enumerate(events):
        row = encode_row(event)
        if chunk and size + len(row) > MAX_MESSAGE_BYTES:
            emit(events[i - 1].offset)
        chunk.append(row)
        size += len(row) + 1
    emit(last)
    return out
