"""End-to-end benchmark on real parts: prints figures and writes bench/results/latest.json.

Phase A (throughput): 1,000,000 events produced as fast as the producer can while one
worker and the sink run; end-to-end rate = events / (last row visible in ClickHouse -
first record produced). In the same run, a bare aiokafka consumer reads the same topic.
Phase B (latency): events produced at a fixed rate below phase A's; the per-event
latency is usage_log.ingested_at - record timestamp (the insert is visible when it returns).
Worker and sink resident memory are sampled every second throughout.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from infra.kafka_broker import KafkaBroker
from producers import MeteringProducer, ProducerSettings
from tests.support.pipeline import ROOT, Pipeline

N_EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
N_ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "10000"))
LATENCY_EVENTS = int(os.environ.get("BENCH_LATENCY_EVENTS", "100000"))
RESULTS = ROOT / "bench" / "results"


def _events(n: int, accounts: int, seed: int, start: datetime) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for a in range(accounts):
        acc = f"b{a:05d}"
        doc = {"specversion": "1.0", "id": f"sub-{acc}", "source": "urn:bench", "type":
               "account.subscribed", "subject": acc, "time": start.isoformat(),
               "data": {"product": "email", "plan": "p"}}
        out.append((acc.encode(), json.dumps(doc).encode()))
    for i in range(n - accounts):
        acc = f"b{rng.randrange(accounts):05d}"
        t = (start + timedelta(seconds=1 + i / 1000)).isoformat()
        roll = rng.random()
        if roll < 0.6:
            etype, data = "email.sent", {"count": rng.randint(1, 5)}
        elif roll < 0.75:
            etype, data = "sms.sent", {"to_country": "US", "segments": 1}
        elif roll < 0.9:
            etype, data = "bandwidth.used", {"bytes": rng.randrange(10**6), "kind": "hosting"}
        else:
            etype = rng.choice(["cart.activated", "cart.deactivated"])
            data = {"cart_id": f"c{rng.randrange(50)}", "category": "standard"}
        doc = {"specversion": "1.0", "id": f"{seed}-{i}", "source": "urn:bench", "type": etype,
               "subject": acc, "time": t, "data": data}
        out.append((acc.encode(), json.dumps(doc).encode()))
    return out


class MemorySampler(threading.Thread):
    def __init__(self, procs: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in procs}
        self.stop = threading.Event()
        self.cpu: dict[str, float] = {}

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(1.0):
            for name, popen in self.procs.items():
                try:
                    rss = psutil.Process(popen.pid).memory_info().rss
                except psutil.Error:
                    continue
                self.samples[name].append((time.monotonic() - t0, rss))
                try:
                    c = psutil.Process(popen.pid).cpu_times()
                    self.cpu[name] = c.user + c.system
                except psutil.Error:
                    pass

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, rows in self.samples.items():
            if not rows:
                continue
            mb = [r / 1e6 for _, r in rows]
            third = max(1, len(mb) // 3)
            out[name] = {"start_mb": round(mb[0], 1), "peak_mb": round(max(mb), 1),
                         "end_mb": round(mb[-1], 1),
                         "first_third_avg_mb": round(sum(mb[:third]) / third, 1),
                         "last_third_avg_mb": round(sum(mb[-third:]) / third, 1),
                         "cpu_s": round(self.cpu.get(name, 0.0), 1)}
        return out


def produce(bootstrap: str, prefix: str, records: list[tuple[bytes, bytes]],
            rate: float | None = None) -> float:
    producer = MeteringProducer(bootstrap, ProducerSettings(topic_prefix=prefix))
    t0 = time.monotonic()
    for i, (key, value) in enumerate(records):
        producer.send_raw(key, value)
        if rate is not None and i % 100 == 0:
            ahead = i / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush()
    producer.close()
    return time.monotonic() - t0


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


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if not external:
        broker = KafkaBroker(work / "kafka", ROOT / ".cache" / "kafka-libs", log_level="WARN",
                             heap="1g").start()
    bootstrap = external or broker.bootstrap  # type: ignore[union-attr]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "memory_gb": round(psutil.virtual_memory().total / 1e9, 1)},
        "events": N_EVENTS, "accounts": N_ACCOUNTS,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        # ---- phase A: throughput --------------------------------------------------------
        p = Pipeline(bootstrap, work / "a")
        (work / "a").mkdir(parents=True, exist_ok=True)
        records = _events(N_EVENTS, N_ACCOUNTS, 1, start)
        p.start_sink()
        worker = p.start_worker()
        sampler = MemorySampler({"worker": worker, "sink": p.sink})
        sampler.start()
        time.sleep(8)  # let both join their groups before the clock starts
        produce_s = produce(bootstrap, p.prefix, records)
        p.wait_caught_up(timeout=3600)
        bare = asyncio.run(_bare_consume(bootstrap, p.topics.events, N_EVENTS))
        # ---- phase B: latency at a steady rate -------------------------------------------
        sampler.stop.set()
        client = p.clickhouse()
        db = p.ch.database
        span, n = client.query(
            f"SELECT dateDiff('millisecond', min(received_at), max(ingested_at)), count() "
            f"FROM {db}.usage_log FINAL").result_rows[0]
        client.close()
        e2e = n / (span / 1000)
        result["throughput"] = {
            "end_to_end_events_per_s": round(e2e), "rows": n,
            "producer_events_per_s": round(N_EVENTS / produce_s),
            "bare_consumer_events_per_s": round(bare),
            "ratio_to_bare_consumer": round(e2e / bare, 3)}
        result["memory"] = sampler.summary()
        p.stop()

        rate = max(500.0, 0.7 * e2e)
        q = Pipeline(bootstrap, work / "b")
        (work / "b").mkdir(parents=True, exist_ok=True)
        q.start_sink()
        q.start_worker()
        time.sleep(8)
        produce(bootstrap, q.prefix, _events(LATENCY_EVENTS, min(N_ACCOUNTS, 1000), 2, start),
                rate=rate)
        q.wait_caught_up(timeout=1800)
        client = q.clickhouse()
        p50, p99, pmax = client.query(
            f"SELECT quantiles(0.5, 0.99, 1)(dateDiff('millisecond', received_at, "
            f"ingested_at)) FROM {q.ch.database}.usage_log FINAL").result_rows[0][0]
        client.close()
        q.stop()
        result["latency_event_to_counter_ms"] = {"rate_events_per_s": round(rate),
                                                 "p50": p50, "p99": p99, "max": pmax}
    finally:
        if broker is not None:
            broker.stop()
    text = json.dumps(result, indent=2) + "\n"
    (RESULTS / "latest.json").write_text(text)
    stamp = result["when"].replace(":", "").replace("+0000", "Z")
    (RESULTS / f"run-{stamp}.json").write_text(text)
    _table(result)


def _table(r: dict[str, Any]) -> None:
    t, lat = r["throughput"], r["latency_event_to_counter_ms"]
    rows = [
        ("events", f"{r['events']:,} over {r['accounts']:,} accounts"),
        ("end-to-end events/s", f"{t['end_to_end_events_per_s']:,}"),
        ("bare consumer events/s", f"{t['bare_consumer_events_per_s']:,}"),
        ("ratio e2e / bare", f"{t['ratio_to_bare_consumer']}"),
        ("producer events/s", f"{t['producer_events_per_s']:,}"),
        ("event->counter p50/p99 ms", f"{lat['p50']:.0f} / {lat['p99']:.0f} at "
                                      f"{lat['rate_events_per_s']:,}/s"),
    ]
    for name, m in r["memory"].items():
        rows.append((f"{name} RSS MB start/peak/end",
                     f"{m['start_mb']} / {m['peak_mb']} / {m['end_mb']} (cpu {m['cpu_s']} s)"))
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")


if __name__ == "__main__":
    main()
