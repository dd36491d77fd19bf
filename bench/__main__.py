"""`make bench`: every benchmark in one run, one JSON, one short table.

The end-to-end phases (`bench.e2e`: throughput and the bare consumer, limits on / off,
latency; worker memory sampled through the throughput phase), then close of cycle and
re-rating (`bench.billing`, chdb, no broker), then the offline timing of the per-record
path with limits off / on (`bench.profile_hot_path.limits_timing`), then `metering rate`
on a log of 10,000,000 events (`bench.rate`; `BENCH_RATE=0` skips it), one after the
other, so the figures come from the same machine state. Writes
`bench/results/bench-latest.json` and `bench/results/bench-<UTC time>.json`.
`BENCH_OFFLINE_EVENTS` (100,000; 0 skips it) sizes the offline timing; see bench/README.md
for the others.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from bench import billing, e2e, rate
from bench.profile_hot_path import dedup_footprint, limits_timing

OFFLINE_EVENTS = int(os.environ.get("BENCH_OFFLINE_EVENTS", "100000"))
RATE = os.environ.get("BENCH_RATE", "1") != "0"


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, flat."""
    t, lim = r["e2e"]["throughput"], r["e2e"]["limits_cost"]
    counter = r["e2e"]["latency_event_to_counter_ms"]
    alert = r["e2e"]["latency_event_to_alert_ms"]
    worker = r["e2e"]["memory"].get("worker", {})
    b = r["billing"]
    return {
        "events": r["e2e"]["events"], "accounts": r["e2e"]["accounts"],
        "end_to_end_events_per_s": t["end_to_end_events_per_s"],
        "bare_consumer_events_per_s": t["bare_consumer_events_per_s"],
        "ratio_to_bare_consumer": t["ratio_to_bare_consumer"],
        "limits_on_events_per_s": lim["on_events_per_s"],
        "limits_off_events_per_s": lim["off_events_per_s"],
        "limits_cost_pct": lim["cost_pct"],
        "event_to_counter_p50_ms": counter["p50"], "event_to_counter_p99_ms": counter["p99"],
        "event_to_alert_p50_ms": alert["p50"], "event_to_alert_p99_ms": alert["p99"],
        "latency_rate_events_per_s": counter["achieved_events_per_s"],
        "rerate_events": b["events"], "rerate_accounts": b["accounts"],
        "rerate_events_per_s": b["rerate_unchanged"]["events_per_s"],
        "rerate_seconds": b["rerate_unchanged"]["seconds"],
        "simulate_seconds": b["simulate_fee_change"]["seconds"],
        "close_of_cycle_accounts": b["accounts"],
        "close_of_cycle_seconds": b["close_of_cycle"]["seconds"],
        "worker_rss_mb": {k: worker.get(k) for k in
                          ("start_mb", "after_warmup_mb", "peak_mb", "end_mb")},
        "worker_rss_slope_mb_per_100k_events": worker.get("slope_mb_per_100k_events"),
        "worker_rss_flat": worker.get("flat"),
        "worker_rss_verdict": worker.get("verdict"),
        **({"metering_rate_events": r["rate"]["events"],
            "metering_rate_seconds": r["rate"]["seconds"],
            "metering_rate_peak_pss_mb": r["rate"]["peak_pss_mb_sum"],
            "metering_rate_target_met": r["rate"]["target"]["met"]} if "rate" in r else {}),
    }


def table(r: dict[str, Any]) -> list[tuple[str, str]]:
    s, m = r["summary"], r["machine"]
    rows = [("machine", f"{m['cpus']} cpus, {m['memory_gb']} GB, {m['platform']}, "
                        f"Python {m['python']} (load avg at start {m['load_avg_at_start']})"),
            ("run", f"{r['when']}, {r['seconds'] / 60:.1f} min")]
    rows += e2e.table_rows(r["e2e"])
    rows += [
        (f"re-rating ({s['rerate_events']:,} ev, {s['rerate_accounts']:,} acc)",
         f"{s['rerate_events_per_s']:,} events/s ({s['rerate_seconds']} s)"),
        (f"price simulation ({s['rerate_events']:,} ev, {s['rerate_accounts']:,} acc)",
         f"{s['simulate_seconds']} s (both books)"),
        (f"close of cycle, {s['close_of_cycle_accounts']:,} accounts",
         f"{s['close_of_cycle_seconds']} s"),
    ]
    if "rate" in r:
        x = r["rate"]
        rows.append((f"metering rate ({x['events']:,} ev, {x['accounts']:,} acc)",
                     f"{x['seconds']} s, {x['events_per_s']:,} events/s, "
                     f"{x['cpu_us_per_event']} µs CPU per event, peak memory "
                     f"{x['peak_pss_mb_sum']} MB PSS (goal < {x['target']['seconds']} s, "
                     f"< {x['target']['peak_pss_mb']} MB: "
                     f"{'met' if x['target']['met'] else 'not met'})"))
    if "dedup_window" in r:
        d = r["dedup_window"]
        rows.append(("early-dedup window, bytes per id",
                     f"{d['bytes_per_id']} ({d['ids']:,} ids; "
                     f"{d['bytes_per_id_after_as_many_evictions']} after as many evictions)"))
    for name, f in r.get("offline_process_record", {}).items():
        rows.append((f"offline process_record, limits {name}",
                     f"{f['events_per_s']:,} events/s, {f['state_writes_per_1000_events']} "
                     f"state writes / 1,000 events"))
    return rows


def main() -> None:
    started = time.monotonic()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    result: dict[str, Any] = {"when": when, "machine": e2e.machine()}
    result["e2e"] = e2e.run()
    result["billing"] = billing.run()
    if OFFLINE_EVENTS:
        result["offline_process_record"] = limits_timing(
            OFFLINE_EVENTS, min(e2e.N_ACCOUNTS, max(1, OFFLINE_EVENTS // 10)))
    result["dedup_window"] = dedup_footprint()
    if RATE:
        result["rate"] = rate.main()
    result["seconds"] = round(time.monotonic() - started)
    result["summary"] = summary(result)
    text = json.dumps(result, indent=2) + "\n"
    e2e.RESULTS.mkdir(parents=True, exist_ok=True)
    (e2e.RESULTS / "bench-latest.json").write_text(text)
    (e2e.RESULTS / f"bench-{e2e.stamp(when)}.json").write_text(text)
    rows = table(result)
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    print(f"written: {e2e.RESULTS / 'bench-latest.json'}")


if __name__ == "__main__":
    main()
