"""The demo's run: a broker (its own unless KAFKA_BOOTSTRAP_SERVERS is set), the real sink
and worker processes on a fresh embedded ClickHouse, the story produced through Kafka,
a late event, `metering rerate` as billing operations run it, and the tables read back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from cli.processes import ROOT, Pipeline
from demo.outcome import Outcome
from demo.story import CLOCK, NOW, Chapter, Event, by_book, late_event
from infra.kafka_broker import KafkaBroker
from producers import MeteringProducer, ProducerSettings
from projections import queries
from projections.expected_invoices import comparable
from projections.expected_invoices import offline_invoices as expected
from projections.rerating import issued_invoices

log = structlog.get_logger(__name__)


@contextmanager
def broker(workdir: Path) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    libs = Path(os.environ.get("METERING_KAFKA_LIBS", ROOT / ".cache" / "kafka-libs"))
    b = KafkaBroker(data_dir=workdir / "kafka", lib_dir=libs, log_level="WARN")
    b.start()
    try:
        yield b.bootstrap
    finally:
        b.stop()


def offline_invoices(story: list[Chapter]) -> list[tuple[Any, ...]]:
    """What `metering rate` bills for the same log, closed at the demo's clock."""
    return sorted(comparable(d) for d in expected(by_book(story), NOW))


def _stamp(doc: Event) -> int:
    return int(datetime.fromisoformat(doc["time"].replace("Z", "+00:00")).timestamp() * 1000)


class Demo:
    def __init__(self, bootstrap: str, workdir: Path) -> None:
        self.p = Pipeline(bootstrap, workdir, METERING_CLOCK=CLOCK,
                          METERING_SINK_PROJECTOR_INTERVAL_S="1")
        self.producer = MeteringProducer(bootstrap, ProducerSettings(
            topic_prefix=self.p.prefix, source="demo", linger_ms=5))

    def start_worker(self) -> None:
        self.p.start_worker()

    def start_sink(self) -> None:
        """After the story is in Kafka: its records carry their event times (a log
        replayed as it happened), and the projector's watermark holds only for a backlog
        it can see (ClickHouse behind the end offsets); a sink running while an old log is
        still being produced could close a cycle before the log's last events came in."""
        self.p.start_sink()

    def produce(self, docs: list[Event], advance: Callable[[], None],
                received: datetime | None = None) -> None:
        """Each event with its own time as the record time (a log replayed as it
        happened), or `received` (the late event arrives on the demo's 'now')."""
        for doc in docs:
            at = int(received.timestamp() * 1000) if received else _stamp(doc)
            self.producer.send(doc, timestamp_ms=at)
            advance()
        self.producer.flush()

    def wait_invoices(self, n: int, timeout: float = 240) -> int:
        """Wait until the ledger has issued `n` invoices (read from the invoices topic)."""
        deadline = time.monotonic() + timeout
        while True:
            issued = len(issued_invoices(self.p.bootstrap, self.p.topics.invoices))
            if issued >= n or time.monotonic() > deadline:
                return issued
            time.sleep(1)

    def send_late(self) -> None:
        self.produce([late_event()], lambda: None, received=NOW)
        self.p.wait_caught_up(timeout=120)

    def rerate(self) -> subprocess.CompletedProcess[str]:
        """`metering rerate` on the stopped sink's ClickHouse, then the sink again (its
        ledger numbers and records the revision)."""
        self.p.stop_sink()
        done = subprocess.run([sys.executable, "-m", "cli.main", "rerate"], cwd=ROOT,
                              env=self.p.env, capture_output=True, text=True, timeout=600,
                              check=False)
        self.p.start_sink()
        return done

    def read(self) -> Outcome:
        """Every table the story touched, read after the pipeline stopped (one process
        owns an embedded ClickHouse at a time)."""
        self.p.stop()
        client = self.p.clickhouse()
        db = self.p.ch.database
        try:
            o = Outcome(
                alerts=queries.alerts(db).rows(client),
                decisions=queries.decisions(db).rows(client),
                invoices=[{**json.loads(doc), "number": number}
                          for number, doc in queries.invoice_documents(db).rows(client)],
                plan_changes=queries.plan_changes(db).rows(client),
                rejected=queries.rejected_events(db).rows(client),
                accepted_events=queries.accepted_count(db).rows(client)[0][0],
            )
        finally:
            client.close()
        return o

    def close(self) -> None:
        self.producer.close()
        self.p.stop()


def fresh_workdir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
