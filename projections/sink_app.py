"""The sink role: the process that owns ClickHouse writes metered and rejected records.

Each batch is written with a deduplication token, then ingest progress is recorded; the
batch is acked only after both succeeded (retry_forever never lets an error escape).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import faust
import orjson
import structlog

from infra.bulk_producer import owned_by
from infra.faust_runtime import create_app, finish_batch, retry_forever
from infra.health import REGISTRY
from projections.billing_app import Billing, add_billing
from projections.executor import ClickHouseThread
from projections.settings import SinkSettings
from projections.sink import ClickHouseSink
from schemas.metered_wire import decode_batch
from schemas.records import RejectedEvent
from schemas.topics import Topics

log = structlog.get_logger(__name__)
T = TypeVar("T")


def build_sink(bootstrap: str, partitions: int, topics: Topics, settings: SinkSettings,
               clickhouse: ClickHouseThread, billing: Billing | None = None) -> faust.App:
    app = create_app(settings.app_id, bootstrap, partitions)
    metered = app.topic(topics.metered, partitions=partitions)
    rejected = app.topic(topics.rejected, partitions=partitions)
    db = clickhouse.settings.database
    producer = owned_by(app, bootstrap, "sink", REGISTRY)
    stored = REGISTRY.client("sink.clickhouse")
    stored.progressed()  # the migrations ran before the app was built

    async def write(what: str, fn: Any) -> None:
        await retry_forever(what, lambda: clickhouse.call(fn), lambda: app.should_stop,
                            health=stored)

    def by_partition(batch: Any) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = defaultdict(list)
        for event in batch:
            out[event.message.partition].append(event.message)
        return out

    @app.agent(metered, concurrency=1)
    async def sink_metered(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(settings.batch_max, settings.batch_within_s):
            await finish_batch("sink_metered", partial(write_metered, batch))

    async def write_metered(batch: list[Any]) -> None:
        # An internal record that does not decode is a bug or corruption, never user input:
        # finish_batch then stops the process unacked, leaving the record for an operator.
        for partition, messages in by_partition(batch).items():
            blocks: list[bytes] = []
            progress: dict[tuple[str, int], int] = {}
            marks: dict[tuple[str, int], datetime] = {}
            for message in messages:
                head, block = decode_batch(message.value)  # our own metered message
                if block:
                    blocks.append(block)
                key = (head.topic, head.partition)
                progress[key] = max(progress.get(key, 0), head.last_offset + 1)
                if head.max_timestamp is not None:
                    mark = head.max_timestamp
                    marks[key] = max(marks.get(key, mark), mark)
            first, last = messages[0].offset, messages[-1].offset
            rows = b"\n".join(blocks)

            def write_batch(client: Any, rows: bytes = rows,
                            progress: dict[tuple[str, int], int] = progress,
                            marks: dict[tuple[str, int], datetime] = marks,
                            partition: int = partition, first: int = first,
                            last: int = last) -> None:
                sink = ClickHouseSink(client, db, settings.app_id)
                sink.write_rows(topics.metered, partition, first, last, rows)
                sink.write_progress(progress, marks)

            await write("write_metered", write_batch)

    @app.agent(rejected, concurrency=1)
    async def sink_rejected(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(settings.batch_max * 20, settings.batch_within_s):
            await finish_batch("sink_rejected", partial(write_rejected, batch))

    async def write_rejected(batch: list[Any]) -> None:
        for partition, messages in by_partition(batch).items():
            records = [RejectedEvent.model_validate_json(m.value) for m in messages]
            first, last = messages[0].offset, messages[-1].offset

            def write_batch(client: Any, records: list[RejectedEvent] = records,
                            partition: int = partition, first: int = first,
                            last: int = last) -> None:
                sink = ClickHouseSink(client, db, settings.app_id)
                sink.write_rejected(topics.rejected, partition, first, last, records)
                sink.write_progress({(topics.rejected, partition): last + 1})

            await write("write_rejected", write_batch)

    for table, topic_name in (("alerts", topics.alerts), ("decisions", topics.decisions)):
        _document_agent(app, table, app.topic(topic_name, partitions=partitions), settings,
                        write, db, by_partition)
    if billing is not None and settings.projector:
        add_billing(app, bootstrap, topics, partitions, settings, clickhouse, billing, write,
                    producer)
    return app


def _document_agent(app: faust.App, table: str, topic: faust.TopicT, settings: SinkSettings,
                    write: Any, db: str, by_partition: Any) -> None:
    """Alerts and decisions: JSON documents to their table, idempotent by id."""

    name = topic.get_topic_name()

    async def write_batch(batch: list[Any]) -> None:
        for partition, messages in by_partition(batch).items():
            docs = [orjson.loads(m.value) for m in messages]
            first, last = messages[0].offset, messages[-1].offset

            def insert(client: Any, docs: list[dict[str, Any]] = docs,
                       partition: int = partition, first: int = first,
                       last: int = last) -> None:
                sink = ClickHouseSink(client, db, settings.app_id)
                sink.write_docs(table, name, partition, first, last, docs)
                sink.write_progress({(name, partition): last + 1})

            await write(f"write_{table}", insert)

    async def agent(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(settings.batch_max * 20, settings.batch_within_s):
            await finish_batch(f"sink_{table}", partial(write_batch, batch))

    agent.__name__ = f"sink_{table}"
    app.agent(topic, name=f"sink_{table}", concurrency=1)(agent)
