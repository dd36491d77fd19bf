"""The stream-processor role: a faust app with one agent over the events topic.

The agent is short: take a batch, call the pure `process_record` per record, emit metered
batches (one message per input partition range) and rejections, store account state.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
import structlog

from core.accounts import AccountState
from core.derive import rules_for
from core.limits import limits_context, tick
from core.process import Deduplicator, Outcome, Policy, process_record
from core.validate import RecordMeta, reject
from infra.clock import Clock
from infra.faust_runtime import create_app, deliver_all, finish_batch, retry_forever
from pricing.pricebook import PriceBook
from schemas.records import Alert, Decision, MeteredBatch, MeteredEvent, RejectedEvent, RejectReason
from schemas.topics import Topics
from stream_processors.account_store import AccountStore
from stream_processors.dedup_warmup import warm_dedup
from stream_processors.partitioning import partition_of
from stream_processors.settings import ProcessorSettings

log = structlog.get_logger(__name__)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _meta(message: Any) -> RecordMeta:
    return RecordMeta(message.topic, message.partition, message.offset,
                      datetime.fromtimestamp(message.timestamp, UTC))


def build_processor(bootstrap: str, partitions: int, topics: Topics,
                    settings: ProcessorSettings, rate_book: PriceBook,
                    clock: Clock) -> faust.App:
    """`rate_book`: the price book whose SMS credit-rate table the stream applies."""
    app = create_app(settings.app_id, bootstrap, partitions)
    events = app.topic(topics.events, partitions=partitions)
    metered = app.topic(topics.metered, partitions=partitions)
    rejected = app.topic(topics.rejected, partitions=partitions)
    accounts_topic = app.topic(topics.accounts, partitions=partitions)
    alerts = app.topic(topics.alerts, partitions=partitions)
    decisions = app.topic(topics.decisions, partitions=partitions)
    store = AccountStore(bootstrap, topics.accounts)
    limits = limits_context(rate_book) if settings.limits else None
    lock = asyncio.Lock()  # batches and clock ticks take turns with the account states

    @app.on_partitions_assigned.connect
    async def _reload_on_rebalance(*_: Any, **__: Any) -> None:
        store.mark_stale()

    rules = rules_for(rate_book)
    policy = Policy(settings.allowed_lateness, settings.max_future)
    dedup = Deduplicator(settings.dedup_window) if settings.dedup_window else None

    def decide(message: Any) -> Outcome:
        raw = message.value if isinstance(message.value, bytes) else b""
        try:
            meta = _meta(message)
        except (ValueError, OverflowError, OSError) as exc:  # e.g. a timestamp of year -1e8
            meta = RecordMeta(message.topic, message.partition, message.offset, EPOCH)
            return Outcome(rejected=reject(meta, RejectReason.INVALID_RECORD_TIMESTAMP,
                                           f"record timestamp {message.timestamp!r}: {exc}",
                                           raw))
        try:
            return process_record(raw, meta, message.key, store.get, rules, policy, dedup,
                                  limits)
        except Exception as exc:  # a bug must not drop the event silently
            log.exception("processing_error", partition=meta.partition, offset=meta.offset)
            return Outcome(rejected=reject(meta, RejectReason.PROCESSING_ERROR, repr(exc), raw))

    @app.agent(events, concurrency=1)
    async def process(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(settings.batch_max, settings.batch_within_s):
            await finish_batch("process", partial(locked, handle, batch))

    def reload() -> None:
        store.load()
        if dedup is not None:  # a window of about dedup_window events (500 per message)
            warm_dedup(bootstrap, topics.metered, dedup,
                       max(1, settings.dedup_window // 500 // partitions))

    async def locked(fn: Any, *args: Any) -> None:
        async with lock:
            if store.stale:
                await retry_forever("load_accounts", lambda: asyncio.to_thread(reload),
                                    lambda: app.should_stop)
            await fn(*args)

    def outputs(alert_list: list[Alert], decision_list: list[Decision]) -> list[Send]:
        out: list[Send] = [(alerts, a.account.encode(), a.model_dump_json().encode())
                           for a in alert_list]
        return out + [(decisions, d.account.encode(), d.model_dump_json().encode())
                      for d in decision_list]

    async def handle(batch: list[Any]) -> None:
        groups: dict[int, list[MeteredEvent]] = defaultdict(list)
        bounds: dict[int, list[int]] = {}
        stamps: dict[int, float] = {}
        rejections: list[RejectedEvent] = []
        state_writes: dict[str, AccountState] = {}
        alert_list: list[Alert] = []
        decision_list: list[Decision] = []
        for event in batch:
            message = event.message
            outcome = decide(message)
            b = bounds.setdefault(message.partition, [message.offset, message.offset])
            b[0], b[1] = min(b[0], message.offset), max(b[1], message.offset)
            stamps[message.partition] = max(stamps.get(message.partition, 0.0),
                                            message.timestamp or 0.0)
            if outcome.metered is not None:
                groups[message.partition].append(outcome.metered)
            if outcome.rejected is not None:
                rejections.append(outcome.rejected)
            if outcome.state_changed and outcome.state is not None:
                account = outcome.state_account
                store.put(account, outcome.state)
                state_writes[account] = outcome.state
            alert_list += outcome.alerts
            decision_list += outcome.decisions
        sends: list[Send] = []
        for partition, (first, last) in bounds.items():
            sends += [(metered, str(partition).encode(), blob) for blob in split_batch(
                topics.events, partition, first, last, groups.get(partition, []),
                _stamp(stamps[partition]))]
        sends += [(accounts_topic, account.encode(), state.model_dump_json().encode())
                  for account, state in state_writes.items()]
        sends += [(rejected, r.account.encode() or None, r.model_dump_json().encode())
                  for r in rejections]
        sends += outputs(alert_list, decision_list)
        await deliver_all("process", sends, lambda: app.should_stop)

    if limits is not None:
        ctx = limits

        @app.timer(settings.tick_s)  # type: ignore[untyped-decorator]
        async def clock_tick() -> None:
            """Time passing: cycle roll-over and auto-downgrades of this worker's accounts."""
            await finish_batch("clock_tick", partial(locked, on_tick))

        async def on_tick() -> None:
            mine = {tp.partition for tp in app.consumer.assignment()
                    if tp.topic == topics.events}
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
                await deliver_all("clock_tick", sends, lambda: app.should_stop)

    return app


Send = tuple[faust.TopicT, bytes | None, bytes]


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
    """Serialised MeteredBatch messages of at most MAX_MESSAGE_BYTES (a single event larger
    than that travels alone) whose offset ranges tile [first, last]."""
    out: list[bytes] = []
    start = first
    chunk: list[bytes] = []
    size = 0

    def emit(end: int) -> None:
        nonlocal start, chunk, size
        head = MeteredBatch(topic=topic, partition=partition, first_offset=start,
                            last_offset=end, max_timestamp=max_timestamp,
                            events=[]).model_dump_json().encode()
        out.append(head[:-3] + b"[" + b",".join(chunk) + b"]}")
        start, chunk, size = end + 1, [], 0

    for i, event in enumerate(events):
        blob = event.model_dump_json().encode()
        if chunk and size + len(blob) > MAX_MESSAGE_BYTES:
            emit(events[i - 1].offset)
        chunk.append(blob)
        size += len(blob) + 1
    emit(last)
    return out
