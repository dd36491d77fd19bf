"""End-to-end benchmark on real parts: prints figures and writes bench/results/latest.json.

The load (bench/load.py): every account is on a plan with limits, so the live limits run.
Phase A (throughput, limits on): 1,000,000 events produced as fast as the producer can
while one worker and the sink run; end-to-end rate = events / (last row visible in
ClickHouse - first record produced). In the same run, a bare aiokafka consumer reads the
same topic. Worker and sink resident memory are sampled every second.
Limits cost: the same rate over BENCH_LIMITS_EVENTS events with METERING_LIMITS=false, and
with limits on (phase A itself when it has that many events, else a phase of its own).
Phase B (latency): events produced at 70% of phase A's rate, probe events among them;
event -> counter = usage_log.ingested_at - record timestamp (the insert is visible when it
returns); event -> alert = the probe's alert read from the alerts topic - its send time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.alerts import AlertWatch, latency_figures, now_ms
from bench.load import PROBE_THRESHOLD, Record, usage_events, with_probes
from infra.kafka_broker import KafkaBroker
from producers import MeteringProducer, ProducerSettings
from testkit.pipeline import ROOT, Pipeline

N_EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
N_ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "10000"))
LATENCY_EVENTS = int(os.environ.get("BENCH_LATENCY_EVENTS", "100000"))
LIMITS_EVENTS = int(os.environ.get("BENCH_LIMITS_EVENTS", "300000"))
ALERT_PROBES = int(os.environ.get("BENCH_ALERT_PROBES", "1000"))
SCALE = os.environ.get("BENCH_SCALE", "1") != "0"
"""Run the scale phases (bench.scale) too."""
RESULTS = ROOT / "bench" / "results"
DEDUP_WINDOW = int(os.environ.get("METERING_DEDUP_WINDOW", "500000"))
"""The worker's early-dedup window (its default): its ids fill memory first."""
FLAT_MB_PER_100K = 2.0
"""Worker RSS growth below this, per 100,000 events, counts as flat."""
JOIN_S = 8.0
"""Time for the worker and the sink to join their groups before the clock starts."""

_events = usage_events  # bench.profile_hot_path imports it from here


class MemorySampler(threading.Thread):
    """RSS and CPU seconds of each process every second; with `progress`, also the events
    the worker has processed (its committed offsets) at each sample."""

    def __init__(self, procs: dict[str, Any],
                 progress: Callable[[], int] | None = None) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.progress = progress
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in procs}
        self.events: list[tuple[float, int]] = []
        """(seconds, events processed) at each sample."""
        self.stop = threading.Event()
        self.cpu: dict[str, float] = {}

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(1.0):
            for name, popen in self.procs.items():
                try:
                    proc = psutil.Process(popen.pid)
                    rss = proc.memory_info().rss
                    c = proc.cpu_times()
                except psutil.Error:
                    continue
                self.samples[name].append((time.monotonic() - t0, rss))
                self.cpu[name] = c.user + c.system
            if self.progress is not None:
                with contextlib.suppress(Exception):  # a missed progress sample is harmless
                    self.events.append((time.monotonic() - t0, self.progress()))

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, rows in self.samples.items():
            if not rows:
                continue
            mb = [r / 1e6 for _, r in rows]
            third = max(1, len(mb) // 3)
            out[name] = {"samples": len(mb), "start_mb": round(mb[0], 1),
                         "peak_mb": round(max(mb), 1), "end_mb": round(mb[-1], 1),
                         "first_third_avg_mb": round(sum(mb[:third]) / third, 1),
                         "last_third_avg_mb": round(sum(mb[-third:]) / third, 1),
                         "cpu_s": round(self.cpu.get(name, 0.0), 1)}
        if "worker" in out and self.events:
            out["worker"].update(self.growth(self.samples["worker"]))
        return out

    def growth(self, rows: list[tuple[float, int]]) -> dict[str, Any]:
        """Worker RSS against events processed: after warm-up, and the slope over the
        second half of the events (least squares, MB per 100,000 events)."""
        total = max(e for _, e in self.events)
        points = [(e, rss / 1e6) for (_, e), (_, rss) in _pair(self.events, rows)]
        warm = min(DEDUP_WINDOW, total // 2)
        after = next((mb for e, mb in points if e >= warm), None)
        rising = [pt for i, pt in enumerate(points) if i == 0 or pt[0] > points[i - 1][0]]
        half = [(e, mb) for e, mb in rising if e >= total // 2]  # idle samples left out
        out: dict[str, Any] = {
            "events_processed": total, "dedup_window": DEDUP_WINDOW,
            "after_warmup_events": warm,
            "after_warmup_mb": None if after is None else round(after, 1),
            "second_half_samples": len(half)}
        if len(half) < 3 or half[-1][0] == half[0][0]:
            out.update(slope_mb_per_100k_events=None, flat=None,
                       verdict="too few samples in the second half to tell")
            return out
        n = len(half)
        mx, my = sum(e for e, _ in half) / n, sum(mb for _, mb in half) / n
        slope = sum((e - mx) * (mb - my) for e, mb in half) / \
            sum((e - mx) ** 2 for e, _ in half) * 100_000
        flat = abs(slope) < FLAT_MB_PER_100K
        if flat:
            verdict = (f"flat: {slope:+.1f} MB per 100,000 events over the second half "
                       f"(threshold {FLAT_MB_PER_100K} MB)")
        elif total // 2 < DEDUP_WINDOW:
            verdict = (f"grows {slope:+.1f} MB per 100,000 events: the early-dedup window "
                       f"({DEDUP_WINDOW:,} ids) was still filling during the second half "
                       f"({total:,} events processed); run >= {2 * DEDUP_WINDOW:,} events")
        else:
            verdict = (f"grows {slope:+.1f} MB per 100,000 events after the dedup window "
                       f"filled: not flat")
        out.update(slope_mb_per_100k_events=round(slope, 2), flat=flat, verdict=verdict)
        return out


def _pair(events: list[tuple[float, int]],
          rows: list[tuple[float, int]]) -> list[tuple[tuple[float, int], tuple[float, int]]]:
    """Each progress sample with the RSS sample nearest in time."""
    out = []
    j = 0
    for t, e in events:
        while j + 1 < len(rows) and abs(rows[j + 1][0] - t) <= abs(rows[j][0] - t):
            j += 1
        if rows:
            out.append(((t, e), rows[j]))
    return out


@dataclass
class Produced:
    seconds: float
    sent_ms: dict[int, int] = field(default_factory=dict)
    """Wall-clock send time (= record timestamp) of each stamped record, by index."""


def produce(bootstrap: str, prefix: str, records: list[Record], rate: float | None = None,
            stamp: Collection[int] = frozenset()) -> Produced:
    producer = MeteringProducer(bootstrap, ProducerSettings(topic_prefix=prefix))
    out = Produced(0.0)
    t0 = time.monotonic()
    for i, (key, value) in enumerate(records):
        if i in stamp:
            out.sent_ms[i] = now_ms()
            producer.send_raw(key, value, timestamp_ms=out.sent_ms[i])
        else:
            producer.send_raw(key, value)
        if rate is not None and i % 100 == 0:
            ahead = i / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush()
    producer.close()
    out.seconds = time.monotonic() - t0
    return out


async def _bare_consume(bootstrap: str, topic: str, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    t0 = time.monotonic()
    seen = 0
    try:
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    return seen / (time.monotonic() - t0)


def _started(bootstrap: str, workdir: Path, **env: str) -> tuple[Pipeline, Any]:
    """A pipeline on fresh topics with its sink and one worker running and joined."""
    workdir.mkdir(parents=True, exist_ok=True)
    p = Pipeline(bootstrap, workdir, 4, **env)
    p.start_sink()
    worker = p.start_worker()
    return p, worker


def _sink_figures(p: Pipeline) -> dict[str, Any]:
    """End-to-end rate from the usage log, and what the limits emitted (stops the sink)."""
    client = p.clickhouse()
    db = p.ch.database
    try:
        span, n = client.query(
            f"SELECT dateDiff('millisecond', min(received_at), max(ingested_at)), count() "
            f"FROM {db}.usage_log FINAL").result_rows[0]
        alerts = client.query(f"SELECT count() FROM {db}.alerts FINAL").result_rows[0][0]
        decisions = client.query(f"SELECT count() FROM {db}.decisions FINAL").result_rows[0][0]
    finally:
        client.close()
    return {"end_to_end_events_per_s": round(n / (span / 1000)), "rows": n,
            "alerts": alerts, "decisions": decisions}


def _throughput(bootstrap: str, workdir: Path, records: list[Record], *,
                bare: bool = False, sample: bool = False,
                **env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Produce `records` flat out into a fresh pipeline; its figures and the memory summary
    (empty unless `sample`). `bare`: a bare consumer then reads the same topic."""
    p, worker = _started(bootstrap, workdir, **env)

    def progress() -> int:
        return sum(p.committed(p.processor_id, p.topics.events).values())

    sampler = MemorySampler({"worker": worker, "sink": p.sink}, progress)
    try:
        if sample:
            sampler.start()
        time.sleep(JOIN_S)
        produced = produce(bootstrap, p.prefix, records)
        p.wait_caught_up(timeout=3600)
        bare_rate = asyncio.run(_bare_consume(bootstrap, p.topics.events, len(records))) \
            if bare else None
        sampler.stop.set()
        figures = _sink_figures(p)
    finally:
        p.stop()
    figures["producer_events_per_s"] = round(len(records) / produced.seconds)
    if bare_rate is not None:
        figures["bare_consumer_events_per_s"] = round(bare_rate)
        figures["ratio_to_bare_consumer"] = round(
            figures["end_to_end_events_per_s"] / bare_rate, 3)
    return figures, sampler.summary() if sample else {}


def _limits_cost(bootstrap: str, work: Path, start: datetime,
                 main: dict[str, Any]) -> dict[str, Any]:
    """End-to-end events/s with live limits on and off over the same events."""
    records = usage_events(LIMITS_EVENTS, N_ACCOUNTS, 1, start)
    if LIMITS_EVENTS == N_EVENTS:
        on, on_from = main, "phase A"
    else:
        on, _ = _throughput(bootstrap, work / "limits-on", records)
        on_from = "own phase"
    off, _ = _throughput(bootstrap, work / "limits-off", records, METERING_LIMITS="false")
    on_rate, off_rate = on["end_to_end_events_per_s"], off["end_to_end_events_per_s"]
    return {"events": LIMITS_EVENTS, "on_measured_in": on_from,
            "on_events_per_s": on_rate, "off_events_per_s": off_rate,
            "cost_pct": round(100 * (1 - on_rate / off_rate), 1),
            "on_alerts": on["alerts"], "on_decisions": on["decisions"],
            "off_alerts": off["alerts"], "off_decisions": off["decisions"]}


def _counter_latency(p: Pipeline) -> dict[str, Any]:
    client = p.clickhouse()
    try:
        p50, p99, pmax = client.query(
            f"SELECT quantiles(0.5, 0.99, 1)(dateDiff('millisecond', received_at, "
            f"ingested_at)) FROM {p.ch.database}.usage_log FINAL").result_rows[0][0]
    finally:
        client.close()
    return {"p50": p50, "p99": p99, "max": pmax}


def _latency(bootstrap: str, workdir: Path, start: datetime, rate: float) -> dict[str, Any]:
    """Phase B: the load at `rate` with probes; event -> counter and event -> alert."""
    accounts = min(N_ACCOUNTS, 1000)
    probes = min(ALERT_PROBES, LATENCY_EVENTS // 20)
    records, at = with_probes(usage_events(LATENCY_EVENTS, accounts, 2, start), probes, start,
                              skip=accounts)
    p, _ = _started(bootstrap, workdir)
    watch = AlertWatch(bootstrap, p.topics.alerts, p.partitions, set(at.values()),
                       PROBE_THRESHOLD)
    try:
        watch.start()
        watch.ready.wait(60)
        time.sleep(JOIN_S)
        produced = produce(bootstrap, p.prefix, records, rate=rate, stamp=at)
        p.wait_caught_up(timeout=1800)
        arrived = watch.finish(timeout=30)
        counter = _counter_latency(p)
    finally:
        p.stop()
    sent = {at[i]: ms for i, ms in produced.sent_ms.items()}
    base = {"rate_events_per_s": round(rate), "seconds": round(produced.seconds, 1),
            "achieved_events_per_s": round(len(records) / produced.seconds)}
    return {"counter": {**base, **counter}, "alert": {**base, **latency_figures(sent, arrived)}}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def run() -> dict[str, Any]:
    """Every end-to-end phase on one broker (started here unless KAFKA_BOOTSTRAP_SERVERS)."""
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if not external:
        broker = KafkaBroker(work / "kafka", ROOT / ".cache" / "kafka-libs", log_level="WARN",
                             heap="1g").start()
    bootstrap = external or broker.bootstrap  # type: ignore[union-attr]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    result: dict[str, Any] = {
        "machine": machine(), "events": N_EVENTS, "accounts": N_ACCOUNTS,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        records = usage_events(N_EVENTS, N_ACCOUNTS, 1, start)
        result["throughput"], result["memory"] = _throughput(
            bootstrap, work / "a", records, bare=True, sample=True)
        del records
        result["limits_cost"] = _limits_cost(bootstrap, work, start, result["throughput"])
        rate = max(500.0, 0.7 * result["throughput"]["end_to_end_events_per_s"])
        latency = _latency(bootstrap, work / "b", start, rate)
        result["latency_event_to_counter_ms"] = latency["counter"]
        result["latency_event_to_alert_ms"] = latency["alert"]
        if SCALE:
            from bench import scale  # drains with 1 and 2 workers, producer, memory

            result["scale"] = scale.run(bootstrap, work / "scale", start)
    finally:
        if broker is not None:
            broker.stop()
    return result


def stamp(when: str) -> str:
    """A file-name-safe UTC time from an ISO time."""
    return when.replace(":", "").replace("+0000", "Z")


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = run()
    text = json.dumps(result, indent=2) + "\n"
    (RESULTS / "latest.json").write_text(text)
    (RESULTS / f"run-{stamp(result['when'])}.json").write_text(text)
    for a, b in table_rows(result):
        print(f"{a:<40}  {b}")


def table_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    t, lim = r["throughput"], r["limits_cost"]
    lat, alert = r["latency_event_to_counter_ms"], r["latency_event_to_alert_ms"]
    rows = [
        ("events", f"{r['events']:,} over {r['accounts']:,} accounts (limits on)"),
        ("end-to-end events/s", f"{t['end_to_end_events_per_s']:,}"),
        ("bare consumer events/s", f"{t['bare_consumer_events_per_s']:,}"),
        ("ratio e2e / bare", f"{t['ratio_to_bare_consumer']}"),
        ("producer events/s", f"{t['producer_events_per_s']:,}"),
        ("worker / sink CPU µs per event", " / ".join(
            f"{1e6 * r['memory'].get(k, {}).get('cpu_s', 0) / r['events']:.1f}"
            for k in ("worker", "sink"))),
        ("alerts / decisions emitted", f"{t['alerts']:,} / {t['decisions']:,}"),
        (f"limits on / off events/s ({lim['events']:,} ev)",
         f"{lim['on_events_per_s']:,} / {lim['off_events_per_s']:,} "
         f"(cost {lim['cost_pct']}%; on from {lim['on_measured_in']})"),
        ("event->counter p50/p99 ms", f"{lat['p50']:.0f} / {lat['p99']:.0f} at "
                                      f"{lat['rate_events_per_s']:,}/s"),
        ("event->alert p50/p99 ms", f"{alert['p50']:.0f} / {alert['p99']:.0f} at "
                                    f"{alert['rate_events_per_s']:,}/s "
                                    f"({alert['alerts_seen']}/{alert['probes']} probes)"),
        ("  of which at worker send", f"{alert['worker_send_p50']:.0f} / "
                                      f"{alert['worker_send_p99']:.0f}"),
    ]
    for name, m in r["memory"].items():
        rows.append((f"{name} RSS MB start/peak/end",
                     f"{m['start_mb']} / {m['peak_mb']} / {m['end_mb']} (cpu {m['cpu_s']} s)"))
    worker = r["memory"].get("worker", {})
    if "verdict" in worker:
        rows.append(("worker RSS after warm-up", f"{worker['after_warmup_mb']} MB at "
                                                 f"{worker['after_warmup_events']:,} events"))
        rows.append(("worker RSS, second half", worker["verdict"]))
    if "scale" in r:
        from bench import scale

        rows += scale.table_rows(r["scale"])
    return rows


if __name__ == "__main__":
    main()
