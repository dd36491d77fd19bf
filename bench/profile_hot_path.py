"""Profile the processor's per-record path and the sink's row building, offline.

Prints events/s of each stage and the top functions by cumulative time (cProfile), then
`limits_timing`: `process_record` without a profiler over the benchmark's load (10,000
accounts on `email-7k`) in batches of 2,000 as the worker takes them, live limits off and
on, with the account states each batch writes serialised as the worker sends them.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console

from bench.e2e import _events
from core.accounts import AccountState
from core.derive import rules_for
from core.limits import limits_context
from core.process import Deduplicator, Policy, process_record
from core.validate import RecordMeta
from pricing.pricebook_loader import load_pricebook
from schemas.metered_wire import decode_batch
from stream_processors.app import split_batch

N = 100_000
BATCH = 2000
console = Console()


def dedup_footprint(n: int = 200_000) -> dict[str, float]:
    """Bytes per remembered id of the early-dedup window (tracemalloc), ids shaped as the
    bench load's: the window (`METERING_DEDUP_WINDOW` ids) costs at most that many times
    this, whatever the run's length."""
    import tracemalloc

    dedup = Deduplicator(n)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        dedup.remember(f"b{i % 10_000:05d}", "urn:bench", f"1-{i}", i)
    used = tracemalloc.get_traced_memory()[0] - before
    for i in range(n, 2 * n):  # full: each new id evicts the oldest
        dedup.remember(f"b{i % 10_000:05d}", "urn:bench", f"1-{i}", i)
    full = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"ids": n, "bytes_per_id": round(used / n, 1),
            "bytes_per_id_after_as_many_evictions": round(full / n, 1)}


def limits_timing(n: int, accounts: int = 10_000) -> dict[str, dict[str, float]]:
    """events/s of `process_record` (plus state serialisation) with live limits off / on,
    and the account-state writes per 1,000 events."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    records = _events(n, accounts, 1, start)
    book = load_pricebook("marketing_tiers")
    rules = rules_for(book)
    received = datetime.now(UTC)
    out = {}
    for name, limits in (("off", None), ("on", limits_context(book))):
        states: dict[str, AccountState] = {}
        dedup = Deduplicator()
        writes = alerts = 0
        t0 = time.perf_counter()
        for first in range(0, len(records), BATCH):
            batch: dict[str, AccountState] = {}
            for offset in range(first, min(first + BATCH, len(records))):
                key, value = records[offset]
                o = process_record(value, RecordMeta("e", 0, offset, received), key,
                                   states.get, rules, Policy(), dedup, limits)
                if o.state_changed and o.state is not None:
                    states[o.state_account] = batch[o.state_account] = o.state
                alerts += len(o.alerts)
            writes += len([s.model_dump_json().encode() for s in batch.values()])
        took = time.perf_counter() - t0
        out[name] = {"events_per_s": round(n / took), "us_per_event": round(1e6 * took / n, 1),
                     "state_writes_per_1000_events": round(1000 * writes / n),
                     "alerts": alerts}
    return out


def main() -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    records = _events(N, 1000, 3, start)
    book = load_pricebook("marketing_tiers")
    rules = rules_for(book)
    states: dict[str, AccountState] = {}
    dedup = Deduplicator()
    received = datetime.now(UTC)
    metered = []

    def run() -> None:
        for offset, (key, value) in enumerate(records):
            out = process_record(value, RecordMeta("e", 0, offset, received), key, states.get,
                                 rules, Policy(), dedup)
            if out.state_changed and out.state is not None:
                states[out.state_account] = out.state
            if out.metered is not None:
                metered.append(out.metered)

    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.runcall(run)
    took = time.perf_counter() - t0
    print(f"process_record: {N / took:,.0f} events/s (under cProfile)")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
    t0 = time.perf_counter()
    blobs = split_batch("e", 0, 0, len(metered) - 1, metered)
    t1 = time.perf_counter()
    rows = b"\n".join(decode_batch(b)[1] for b in blobs)
    t2 = time.perf_counter()
    print(f"encode rows (worker): {len(metered) / (t1 - t0):,.0f} events/s; "
          f"blocks for the insert (sink): {len(metered) / (t2 - t1):,.0f} events/s, "
          f"{len(rows):,} bytes")
    for name, figures in limits_timing(N).items():
        print(f"process_record, limits {name}: {figures['events_per_s']:,} events/s, "
              f"{figures['state_writes_per_1000_events']} state writes per 1,000 events")


if __name__ == "__main__":
    main()
