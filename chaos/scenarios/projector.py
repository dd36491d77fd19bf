"""7. The close of cycle under faults: package-plan accounts whose cycles have all closed
(the clock is fixed after them) arrive in waves; the projector runs every second (so
every cycle is proposed again and again: the double run) and the sink, which owns the
projector and the ledger, is killed -9 once each wave's proposals are in flight: at once,
then 0.75, 1.5, 2.25 s later (the ledger part-way through).
The checker compares every recorded invoice with `metering rate`'s for the same log, the
numbering, and a last projector run on the final state, which must propose nothing."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from chaos.flow import Context
from chaos.harness import Fault
from chaos.invoice_check import check_invoices
from chaos.queries import invoice_rows
from chaos.result import Result
from cli.processes import Pipeline
from pricing.pricebook_loader import load_pricebook
from producers import MeteringProducer, ProducerSettings
from projections.expected_invoices import offline_invoices
from projections.projector import project
from projections.rerating import issued_invoices

log = structlog.get_logger(__name__)

TITLE = "projector double run and kill -9 of the sink mid-close"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOOK = "package_plans"


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def account_log(n: int, grows: bool) -> list[dict[str, Any]]:
    """A starter-plan account from April 2025: an overage in April, a little in May; a
    growing one adds 2,501 contacts (upgraded at the close of April)."""
    a, t = f"acct-{n:04d}", datetime(2025, 4, 1, tzinfo=UTC)
    docs = [("account.subscribed", {"product": "package", "plan": "starter",
                                    "pricebook": BOOK}, t),
            ("email.sent", {"count": 900_000 + n}, t + timedelta(days=9)),
            ("email.sent", {"count": 5}, t + timedelta(days=31))]
    if grows:
        docs += [("profile.added", {"profile_id": f"p{i}", "emailable": True},
                  t + timedelta(days=1, seconds=i)) for i in range(2_501)]
    return [{"specversion": "1.0", "id": f"{a}-{i}", "source": "chaos", "type": kind,
             "subject": a, "time": _iso(at), "data": data}
            for i, (kind, data, at) in enumerate(docs)]


def _proposals(p: Pipeline) -> int:
    path = p.workdir / "sink-1.log"
    return path.read_text(errors="replace").count("projector.proposed") if path.exists() \
        else 0


def run(ctx: Context, result: Result) -> Result:
    started = time.monotonic()
    prof = ctx.profile
    waves = [[account_log(w * prof.projector_accounts + n, grows=n == 0)
              for n in range(prof.projector_accounts)] for w in range(prof.projector_kills)]
    docs = [d for wave in waves for acct in wave for d in acct]
    expected = offline_invoices({BOOK: docs}, NOW)
    per_wave = [len(offline_invoices({BOOK: [d for acct in w for d in acct]}, NOW))
                for w in waves]
    result.planned_faults = prof.projector_kills
    result.labels = {"accounts": sum(len(w) for w in waves), "events": len(docs),
                     "expected invoices": len(expected)}
    workdir = ctx.workdir / result.scenario
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    result.workdir = str(workdir)
    p = Pipeline(ctx.broker.bootstrap, workdir, METERING_CLOCK=f"fixed:{_iso(NOW)}",
                 METERING_SINK_PROJECTOR_INTERVAL_S="1", METERING_LOG_LEVEL="INFO")
    producer = MeteringProducer(p.bootstrap, ProducerSettings(topic_prefix=p.prefix,
                                                              linger_ms=5))
    t0 = time.monotonic()
    try:
        p.start_worker()
        sent = due = 0
        for wave_no, (wave, invoices) in enumerate(zip(waves, per_wave, strict=True)):
            due += invoices
            seen = _proposals(p)
            # a wave is in Kafka, in time order, before the sink (and its projector) runs:
            # its records carry their event times (a replay), so the projector's watermark
            # holds only if record times grow per partition and the backlog is visible
            for d in sorted((d for acct in wave for d in acct), key=lambda d: d["time"]):
                at = datetime.fromisoformat(d["time"].replace("Z", "+00:00"))
                producer.send(d, timestamp_ms=int(at.timestamp() * 1000))
                sent += 1
            producer.flush()
            p.start_sink()
            deadline = time.monotonic() + prof.timeout_s
            while _proposals(p) <= seen:  # this wave's candidates are on their way
                if time.monotonic() > deadline:
                    raise TimeoutError("the projector never proposed")
                time.sleep(0.01)
            time.sleep(0.75 * (wave_no % 4))  # the first at once, later ones further in
            assert p.sink is not None
            p.kill_worker(p.sink)
            killed = time.monotonic()
            missing = due - len(issued_invoices(p.bootstrap, p.topics.invoices))
            fault = Fault("sink kill -9 mid-close", round(killed - t0, 2), sent, missing,
                          f"the projector had proposed; {missing} of the {due} invoices due "
                          "not issued yet (lag = those)")
            p.start_sink()
            # recovered: the ledger has issued every invoice of the waves sent so far
            while len(issued_invoices(p.bootstrap, p.topics.invoices)) < due:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            else:
                fault.recovery_s = round(time.monotonic() - killed, 2)
            result.faults.append(fault)
            p.wait_caught_up(timeout=prof.timeout_s)
            p.stop_sink()  # SIGTERM: the next wave goes into Kafka first
        p.start_sink()
        drained = time.monotonic()
        deadline = drained + prof.timeout_s
        while len(issued_invoices(p.bootstrap, p.topics.invoices)) < len(expected):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        p.wait_caught_up(timeout=prof.timeout_s)
        result.drain_s = round(time.monotonic() - drained, 2)
        p.stop()
        client = p.clickhouse()
        try:
            db = p.ch.database
            rows = invoice_rows(db).rows(client)
            book = load_pricebook(BOOK)
            again = project(client, db, {book.name: book}, book.name, NOW)
        finally:
            client.close()
        result.invoices = check_invoices(expected, rows, again)
    except Exception as exc:  # reported as the scenario's failure
        log.exception("chaos.scenario_error", scenario=result.scenario)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        producer.close()
        p.stop()
        result.duration_s = round(time.monotonic() - started, 1)
    if result.passed and not ctx.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result
