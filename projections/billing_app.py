"""Billing in the sink process (the one that owns ClickHouse): the projector and the ledger.

- The projector runs on a leader-only faust timer every `projector_interval_s`, reads the
  usage log, rates with `pricing` and proposes candidates (projector.py) on the
  single-partition `billing.invoice-candidates` topic.
- The ledger agent consumes that topic: numbers new invoice ids (ledger.py), writes
  invoices, invoice lines and plan changes to ClickHouse, then publishes
  `invoice.issued` / `invoice.revised` / `plan.changed` (id = the invoice or change id) to
  `billing.invoices`; a plan change also goes to the events topic as an account event
  (`account.plan_change_requested`, effective `now` at its effective time, source
  `metering/projector`, id = the change id), so the stream's live state and limits follow
  the plan the close of cycle chose; rating ignores that source (the projector derives the
  change itself). The candidate's offset commits after all of them.
- The simulation agent runs price simulations asked for over HTTP (`POST /v1/simulations`,
  queued on `billing.simulation-requests`) in the ClickHouse thread, one at a time, and
  publishes each result (a report, or a failure with its reason) to the compacted
  `billing.simulations` topic, which the API tails.
Two leaders, a projector killed mid-run, a run repeated: the same ids are proposed again
and the ledger ignores ids it numbered, so there is one invoice per (account, cycle,
revision).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
import orjson
import structlog
from pydantic import ValidationError

from infra.bulk_producer import BulkProducer, Output
from infra.clock import Clock
from infra.faust_runtime import finish_batch, retry_forever
from infra.metrics import (
    CANDIDATES_INVALID,
    INVOICES_ISSUED,
    PROJECTOR_LAST_RUN,
    PROJECTOR_RUNS,
)
from infra.topics import end_offsets
from pricing.pricebook import PriceBook
from pricing.simulation import SimulationResult
from projections.client import INSERT_SETTINGS
from projections.executor import ClickHouseThread
from projections.invoicing import Record, plan_change_event
from projections.ledger import Ledger, invoice_rows, plan_row, record_batch
from projections.projector import closing_time, log_fingerprint, project
from projections.settings import SinkSettings
from projections.simulation import publish_result, run_request
from projections.sink import batch_token
from schemas.billing import CANDIDATE
from schemas.errors import describe
from schemas.topics import Topics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Billing:
    books: Mapping[str, PriceBook]
    default_book: str
    clock: Clock


def add_billing(app: faust.App, bootstrap: str, topics: Topics, partitions: int,
                settings: SinkSettings, clickhouse: ClickHouseThread, billing: Billing,
                write: Any, producer: BulkProducer) -> None:
    """`producer`: the sink's (its outputs: candidates, invoices, plan-change events)."""
    db = clickhouse.settings.database
    candidates = app.topic(topics.invoice_candidates, partitions=1)
    ledger = Ledger()
    last_run: list[object] = [None]

    @app.timer(settings.projector_interval_s, on_leader=True)  # type: ignore[untyped-decorator]
    async def projector() -> None:
        await finish_batch("projector", run_projector)

    async def run_projector() -> None:
        ends = await asyncio.to_thread(end_offsets, bootstrap, topics.events)
        now = billing.clock.now()

        def run(client: Any) -> list[Record]:
            until = closing_time(client, db, settings.app_id, topics.events, ends, now)
            mark = (log_fingerprint(client, db), until.replace(minute=0, second=0,
                                                               microsecond=0))
            if mark == last_run[0]:  # nothing ingested and no new hour since: same result
                return []
            found = project(client, db, billing.books, billing.default_book, until)
            last_run[0] = mark
            return found

        found: list[Record] = await clickhouse.call(run)
        PROJECTOR_RUNS.inc()
        PROJECTOR_LAST_RUN.set(time.time())
        if found:
            log.info("projector.proposed", candidates=len(found), now=now.isoformat())
            await producer.deliver_all("projector", [
                (topics.invoice_candidates, c["account"].encode(), orjson.dumps(c))
                for c in found], lambda: app.should_stop)

    async def record(batch: list[Any]) -> None:
        if not ledger.loaded:
            await write("ledger_load", lambda client: ledger.load(client, db))
        docs = [doc for e in batch if (doc := _candidate(e.message)) is not None]
        first, last = batch[0].message.offset, batch[-1].message.offset
        invoices, plans, events = [], [], []
        feedback: list[Output] = []
        numbered: list[str] = []
        for doc in docs:
            if "invoice_id" in doc:
                number, new = ledger.assign(doc)
                doc = {**doc, "number": number}
                if new:
                    invoices.append(invoice_rows(doc, number))
                    numbered.append("revision" if int(doc.get("revision", 0)) else
                                    str(doc.get("kind", "cycle")))
                kind = "invoice.issued" if int(doc.get("revision", 0)) == 0 else \
                    "invoice.revised"
                events.append((doc["invoice_id"], {"type": kind, **doc}))
            else:
                plans.append(plan_row(doc))
                events.append((doc["id"], {"type": "plan.changed", **doc}))
                feedback.append((topics.events, doc["account"].encode(),
                                 orjson.dumps(plan_change_event(doc))))
        token = batch_token(topics.invoice_candidates, 0, first, last)
        await write("ledger_record", lambda client: record_batch(
            client, db, token, invoices, plans, INSERT_SETTINGS))
        await producer.deliver_all("ledger_publish", [
            (topics.invoices, eid.encode(), orjson.dumps(doc)) for eid, doc in events
        ] + feedback, lambda: app.should_stop)
        for kind in numbered:
            INVOICES_ISSUED.labels(kind=kind).inc()

    @app.agent(candidates, concurrency=1)
    async def ledger_agent(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(500, 0.2):
            await finish_batch("ledger", partial(record, batch))

    simulation_requests = app.topic(topics.simulation_requests, partitions=1)

    async def simulate_batch(batch: list[Any]) -> None:
        for event in batch:
            raw = event.message.value or b""

            def run(client: Any, raw: bytes = raw) -> SimulationResult | None:
                return run_request(client, db, billing.books, billing.default_book, raw,
                                   billing.clock)

            result = await clickhouse.call(run)
            if result is not None:
                await retry_forever("simulation_publish", partial(
                    asyncio.to_thread, publish_result, bootstrap, topics.simulations, result),
                    lambda: app.should_stop)

    @app.agent(simulation_requests, concurrency=1)
    async def simulation_agent(stream: Any) -> None:  # a faust Stream of raw bytes
        async for batch in stream.take_events(10, 0.5):
            await finish_batch("simulation", partial(simulate_batch, batch))


def _candidate(message: Any) -> dict[str, Any] | None:
    """A candidate as the contract says (`schemas.billing.CANDIDATE`), or None: a record
    that is not one is logged with its reason and counted, and never numbered (the
    projector proposes its cycles again on its next run); the other candidates of the
    batch are numbered as usual, whatever one account's record holds."""
    try:
        doc = orjson.loads(message.value)
        CANDIDATE.validate_python(doc)
    except (orjson.JSONDecodeError, ValidationError) as exc:
        CANDIDATES_INVALID.inc()
        error = describe(exc, limit=1) if isinstance(exc, ValidationError) else str(exc)
        log.error("ledger.candidate_invalid", offset=message.offset, error=error[:1000])
        return None
    out: dict[str, Any] = doc
    return out
