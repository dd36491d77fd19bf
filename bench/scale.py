"""The benchmark's scale phases: backlog drains with 1 and 2 workers, the producer's rate
under several settings, and worker memory over a long run.

- Drain: the whole load is produced first (no consumer running), then the sink and 1 or 2
  workers start; rate = rows / (last row ingested - first row ingested) in the usage log.
  Worker and sink CPU per event are their CPU seconds over the run divided by the events
  (process start-up included: a few seconds of imports and the group join).
- Producer: the producer library (kafka-python, idempotent, acks=all) sending the same
  records into a fresh topic with each setting of `PRODUCER_VARIANTS`; events/s and bytes
  on the broker's log per event.
- Memory: `BENCH_MEMORY_EVENTS` (5,000,000) produced while one worker and the sink run;
  worker RSS against events processed, the slope after warm-up (bench.e2e.MemorySampler).
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench.e2e import N_ACCOUNTS, MemorySampler, produce
from bench.load import Record, usage_events
from infra.topics import end_offsets
from producers import MeteringProducer, ProducerSettings
from testkit.pipeline import Pipeline

DRAIN_EVENTS = int(os.environ.get("BENCH_DRAIN_EVENTS", "1000000"))
PRODUCER_EVENTS = int(os.environ.get("BENCH_PRODUCER_EVENTS", "200000"))
MEMORY_EVENTS = int(os.environ.get("BENCH_MEMORY_EVENTS", "5000000"))
PRODUCER_VARIANTS: list[dict[str, Any]] = [
    {"compression_type": None, "linger_ms": 5, "batch_size": 64 * 1024},
    {"compression_type": None, "linger_ms": 20, "batch_size": 256 * 1024},
    {"compression_type": "gzip", "linger_ms": 20, "batch_size": 256 * 1024},  # the default
    {"compression_type": "lz4", "linger_ms": 20, "batch_size": 256 * 1024},
    {"compression_type": "zstd", "linger_ms": 20, "batch_size": 256 * 1024},
    {"compression_type": "lz4", "linger_ms": 50, "batch_size": 1024 * 1024},
]


def _usage_log_span(p: Pipeline) -> tuple[int, int]:
    """(rows, milliseconds from the first row ingested to the last), after the sink stops."""
    client = p.clickhouse()
    try:
        span, n = client.query(
            f"SELECT dateDiff('millisecond', min(ingested_at), max(ingested_at)), count() "
            f"FROM {p.ch.database}.usage_log FINAL").result_rows[0]
    finally:
        client.close()
    return int(n), int(span)


def drain(bootstrap: str, workdir: Path, records: list[Record], workers: int) -> dict[str, Any]:
    """A produced backlog drained by `workers` workers and the sink."""
    workdir.mkdir(parents=True, exist_ok=True)
    p = Pipeline(bootstrap, workdir, 4)
    produced = produce(bootstrap, p.prefix, records)
    p.start_sink()
    procs = {f"worker{i}": p.start_worker() for i in range(workers)}
    sampler = MemorySampler({**procs, "sink": p.sink})
    try:
        sampler.start()
        took = p.wait_caught_up(timeout=3600)
        sampler.stop.set()
        sampler.join()
        cpu = dict(sampler.cpu)
    finally:
        p.stop()
    rows, span_ms = _usage_log_span(p)
    worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    return {
        "workers": workers, "events": len(records), "rows": rows,
        "drain_events_per_s": round(rows / max(span_ms / 1000, 1e-3)),
        "caught_up_after_s": round(took, 1),
        "producer_events_per_s": round(len(records) / produced.seconds),
        "worker_cpu_us_per_event": round(1e6 * worker_cpu / len(records), 1),
        "sink_cpu_us_per_event": round(1e6 * cpu.get("sink", 0.0) / len(records), 1),
        "worker_cpu_s": {k: round(v, 1) for k, v in cpu.items() if k.startswith("worker")},
    }


def producer_rates(bootstrap: str, records: list[Record]) -> list[dict[str, Any]]:
    """The producer library's rate with each of PRODUCER_VARIANTS, one fresh topic each."""
    out: list[dict[str, Any]] = []
    for i, variant in enumerate(PRODUCER_VARIANTS):
        prefix = f"prod{i}-{int(time.time())}."
        settings = ProducerSettings(topic_prefix=prefix, **variant)
        row: dict[str, Any] = {**variant, "events": len(records)}
        try:
            producer = MeteringProducer(bootstrap, settings)
        except Exception as exc:  # e.g. a codec whose library is missing
            out.append({**row, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        cpu0 = psutil.Process().cpu_times()
        t0 = time.monotonic()
        for key, value in records:
            producer.send_raw(key, value)
        producer.flush()
        took = time.monotonic() - t0
        cpu1 = psutil.Process().cpu_times()
        producer.close()
        landed = sum(end_offsets(bootstrap, producer.topics.events).values())
        cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        out.append({**row, "events_per_s": round(len(records) / took),
                    "producer_cpu_us_per_event": round(1e6 * cpu / len(records), 1),
                    "landed": landed})
    return out


def memory(bootstrap: str, workdir: Path, start: datetime) -> dict[str, Any]:
    """Worker RSS over MEMORY_EVENTS events produced while the worker runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    records = usage_events(MEMORY_EVENTS, N_ACCOUNTS, 3, start)
    p = Pipeline(bootstrap, workdir, 4)
    p.start_sink()
    worker = p.start_worker()

    def progress() -> int:
        return sum(p.committed(p.processor_id, p.topics.events).values())

    sampler = MemorySampler({"worker": worker, "sink": p.sink}, progress)
    try:
        sampler.start()
        produced = produce(bootstrap, p.prefix, records)
        p.wait_caught_up(timeout=7200)
        sampler.stop.set()
        sampler.join()
    finally:
        p.stop()
    summary = sampler.summary()
    return {"events": MEMORY_EVENTS,
            "producer_events_per_s": round(MEMORY_EVENTS / produced.seconds), **summary}


def run(bootstrap: str, work: Path, start: datetime) -> dict[str, Any]:
    records = usage_events(DRAIN_EVENTS, N_ACCOUNTS, 4, start)
    result: dict[str, Any] = {
        "drain_1_worker": drain(bootstrap, work / "drain1", records, 1),
        "drain_2_workers": drain(bootstrap, work / "drain2", records, 2),
        "producer": producer_rates(bootstrap, records[:PRODUCER_EVENTS]),
    }
    del records
    if MEMORY_EVENTS:
        result["memory_long_run"] = memory(bootstrap, work / "memory", start)
    return result


def table_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name in ("drain_1_worker", "drain_2_workers"):
        d = r[name]
        rows.append((f"backlog drain, {d['workers']} worker(s) ({d['events']:,} ev)",
                     f"{d['drain_events_per_s']:,} events/s; worker "
                     f"{d['worker_cpu_us_per_event']} µs, sink {d['sink_cpu_us_per_event']} µs "
                     f"CPU / event"))
    for v in r["producer"]:
        label = (f"producer {v['compression_type'] or 'none'}, linger {v['linger_ms']} ms, "
                 f"batch {v['batch_size'] // 1024} KiB")
        rows.append((label, v.get("error") or f"{v['events_per_s']:,} events/s, "
                                               f"{v['producer_cpu_us_per_event']} µs CPU"))
    m = r.get("memory_long_run")
    if m and "worker" in m:
        w = m["worker"]
        rows.append((f"worker RSS over {m['events']:,} events",
                     f"{w['start_mb']} -> {w['end_mb']} MB (peak {w['peak_mb']}); "
                     f"{w.get('verdict')}"))
    return rows
