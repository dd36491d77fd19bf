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

from pricing.pricebook import PriceBook
from schemas.records import MeteredBatch, MeteredEvent, RejectedEvent, RejectReason
from schemas.topics import Topics
from stream_processors.account_store import AccountStore
from stream_processors.accounts import AccountState
from stream_processors.derive import rules_for
from stream_processors.process import Deduplicator, Outcome, Policy, process_record
from stream_processors.runtime import create_app, deliver_all, finish_batch, retry_forever
from stream_processors.settings import ProcessorSettings
from stream_processors.validate import RecordMeta, reject

log = structlog.get_logger(__name__)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _meta(message: Any) -> RecordMeta:
    return RecordMeta(message.topic, message.partition, message.offset,
                      datetime.fromtimestamp(message.timestamp, UTC))


def build_processor(bootstrap: str, partitions: int, topics: Topics,
                    settings: ProcessorSettings, rate_book: PriceBook) -> faust.App:
    """`rate_book`: the price book whose SMS credit-rate table the stream applies."""
    app = create_app(settings.app_id, bootstrap, partitions)
    events = app.topic(topics.events, partitions=partitions)
    metered = app.topic(topics.metered, partitions=partitions)
    rejected = app.topic(topics.rejected, partitions=partitions)
    accounts_topic = app.topic(topics.accounts, partitions=partitions)
    store = AccountStore(bootstrap, topics.accounts)

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
            return process_record(raw, meta, message.key, store.get, rules, policy, dedup)
        except Exception as exc:  # a bug must not drop the event silently
            log.exception("processing_error", partition=meta.partition, offset=meta.offset)
            return Outcome(rejected=reject(meta, RejectReason.PROCESSING_ERROR, repr(exc), raw))

    @app.agent(events, concurrency=1)
    async def process(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(settings.batch_max, settings.batch_within_s):
            await finish_batch("process", partial(handle, batch))

    async def handle(batch: list[Any]) -> None:
        if store.stale:
            await retry_forever("load_accounts", lambda: asyncio.to_thread(store.load),
                                lambda: app.should_stop)
        groups: dict[int, list[MeteredEvent]] = defaultdict(list)
        bounds: dict[int, list[int]] = {}
        rejections: list[RejectedEvent] = []
        state_writes: dict[str, AccountState] = {}
        for event in batch:
            message = event.message
            outcome = decide(message)
            b = bounds.setdefault(message.partition, [message.offset, message.offset])
            b[0], b[1] = min(b[0], message.offset), max(b[1], message.offset)
            if outcome.metered is not None:
                groups[message.partition].append(outcome.metered)
            if outcome.rejected is not None:
                rejections.append(outcome.rejected)
            if outcome.state_changed and outcome.state is not None:
                account = outcome.state_account
                store.put(account, outcome.state)
                state_writes[account] = outcome.state
        sends: list[tuple[faust.TopicT, bytes | None, bytes]] = []
        for partition, (first, last) in bounds.items():
            sends += [(metered, str(partition).encode(), blob) for blob in split_batch(
                topics.events, partition, first, last, groups.get(partition, []))]
        sends += [(accounts_topic, account.encode(), state.model_dump_json().encode())
                  for account, state in state_writes.items()]
        sends += [(rejected, r.account.encode() or None, r.model_dump_json().encode())
                  for r in rejections]
        await deliver_all("process", sends, lambda: app.should_stop)

    return app


MAX_MESSAGE_BYTES = 900_000
"""Metered messages stay under Kafka's default 1 MB message limit."""


def split_batch(topic: str, partition: int, first: int, last: int,
                events: list[MeteredEvent]) -> list[bytes]:
    """Serialised MeteredBatch messages of at most MAX_MESSAGE_BYTES (a single event larger
    than that travels alone) whose offset ranges tile [first, last]."""
    out: list[bytes] = []
    start = first
    chunk: list[bytes] = []
    size = 0

    def emit(end: int) -> None:
        nonlocal start, chunk, size
        head = MeteredBatch(topic=topic, partition=partition, first_offset=start,
                            last_offset=end, events=[]).model_dump_json().encode()
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
