"""`metering rate` on a large exported log: seconds, CPU and peak memory of the command.

The log (`BENCH_RATE_EVENTS`, 10,000,000 lines, over `BENCH_RATE_ACCOUNTS`, 10,000
accounts) is written first, in the shape of the end-to-end load (`bench/load.py`): every
account subscribes to `email` on `email-7k` (marketing_tiers: 70,000 emails a cycle), then
60% e-mails (1-5, and campaigns of 30,000, as many per account as in the load's 100 events
an account: the few accounts with three or more cross the limit and are replayed through
the live limits), 15% SMS, 15% bandwidth, 10% carts; a thousand
events a second of event time, all inside one cycle. `--until` is the day after that
cycle's end, so each account's cycle is rated once.

`metering rate` then runs as its own process (`python -m cli.main rate`, default workers:
one per core); the figures are its wall seconds, events per second, the CPU seconds of its
processes (user + system, children included), and its peak memory, sampled every 0.2 s
over the command and its forked processes: `peak_pss_mb_sum`, the largest sum of their
proportional set sizes (a page shared by n processes counts 1/n in each: the memory the
command holds; the goal's figure), `peak_rss_mb_sum` (shared pages counted in each
process: an upper bound) and each process's own peak RSS. The output is
checked against the generator's own count: accepted = lines, one cycle invoice per
account, and the e-mails the invoices show sum to the e-mails written.
Results go to bench/results/rate-latest.json.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.load import CAMPAIGN, CAMPAIGN_SHARE

EVENTS = int(os.environ.get("BENCH_RATE_EVENTS", "10000000"))
ACCOUNTS = int(os.environ.get("BENCH_RATE_ACCOUNTS", "10000"))
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 10, tzinfo=UTC)
ANCHOR = START - timedelta(days=10)  # the cycle [02-28, 03-28)
UNTIL = datetime(2026, 3, 29, tzinfo=UTC)
TARGET_S, TARGET_MB = 120, 1024

SUB = (b'{"specversion":"1.0","id":"sub-%s","source":"urn:bench","type":"account.subscribed",'
       b'"subject":"%s","time":"2026-03-10T00:00:00+00:00","data":{"product":"email",'
       b'"plan":"email-7k","anchor":"' + ANCHOR.date().isoformat().encode() + b'"}}\n')
USAGE = (b'{"specversion":"1.0","id":"7-%d","source":"urn:bench","type":"%s",'
         b'"subject":"%s","time":"%s","data":%s}\n')


def _time(i: int) -> bytes:
    """The i-th usage event's time: a thousand a second, from one second after START."""
    ms = 1000 + i
    s, ms = divmod(ms, 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    d, h = divmod(h, 24)
    return b"2026-03-%02dT%02d:%02d:%02d.%03d+00:00" % (10 + d, h, m, s, ms)


def write_log(path: Path, events: int, accounts: int, seed: int = 7) -> int:
    """The log; returns the e-mails it holds."""
    rng = random.Random(seed)
    emails = 0
    share = min(CAMPAIGN_SHARE, CAMPAIGN_SHARE * 100 * accounts / max(events, 1))
    """As many campaigns per account as the load's 100 events an account give."""
    names = [b"b%05d" % a for a in range(accounts)]
    with path.open("wb", buffering=1 << 20) as fh:
        fh.writelines(SUB % (name, name) for name in names)
        for i in range(events - accounts):
            roll = rng.random()
            if roll < 0.6:
                count = CAMPAIGN if rng.random() < share else rng.randint(1, 5)
                emails += count
                etype, data = b"email.sent", b'{"count":%d}' % count
            elif roll < 0.75:
                etype, data = b"sms.sent", b'{"to_country":"US","segments":1}'
            elif roll < 0.9:
                etype, data = b"bandwidth.used", (b'{"bytes":%d,"kind":"hosting"}'
                                                  % rng.randrange(10**6))
            else:
                etype = rng.choice([b"cart.activated", b"cart.deactivated"])
                data = b'{"cart_id":"c%d","category":"standard"}' % rng.randrange(50)
            fh.write(USAGE % (i, etype, names[rng.randrange(accounts)], _time(i), data))
    return emails


def _tree_memory(proc: psutil.Process) -> tuple[int, int, dict[int, int]]:
    """(sum of PSS, sum of RSS, pid -> RSS) over the command and its processes."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0, {}
    pss, sizes = 0, {}
    for p in procs:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss += info.pss
        sizes[p.pid] = info.rss
    return pss, sum(sizes.values()), sizes


def run_rate(log: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "cli.main", "rate", "--pricebook", "marketing_tiers",
           "--events", str(log), "--until", UNTIL.isoformat(), "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak_pss, peak_sum, peaks = 0, 0, {}
    while proc.poll() is None:
        pss, total, sizes = _tree_memory(watched)
        peak_pss, peak_sum = max(peak_pss, pss), max(peak_sum, total)
        for pid, rss in sizes.items():
            peaks[pid] = max(peaks.get(pid, 0), rss)
        time.sleep(0.2)  # a sampling period, not a synchronisation
    seconds = time.perf_counter() - started
    _, err = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"exit_code": proc.returncode, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1), "peak_pss_mb_sum": round(peak_pss / 2**20),
            "peak_rss_mb_sum": round(peak_sum / 2**20),
            "peak_rss_mb_per_process": sorted((round(v / 2**20) for v in peaks.values()),
                                              reverse=True),
            "processes": len(peaks), "stderr_tail": err.strip().splitlines()[-6:]}


def check(out: Path, emails: int, accounts: int) -> dict[str, Any]:
    cycle_invoices, shown, decisions = 0, 0, 0
    with out.open("rb") as fh:
        for line in fh:
            record = json.loads(line)
            if record["record"] == "invoice" and record["kind"] == "cycle":
                cycle_invoices += 1
                shown += int(record["usage"].get("email.sent", "0"))
            elif record["record"] == "limit_decision":
                decisions += 1
    assert cycle_invoices == accounts, (cycle_invoices, accounts)
    assert shown == emails, (shown, emails)
    return {"cycle_invoices": cycle_invoices, "emails": emails, "limit_decisions": decisions}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp:
        log, out = Path(tmp) / "log.jsonl", Path(tmp) / "out.jsonl"
        t = time.perf_counter()
        emails = write_log(log, EVENTS, ACCOUNTS)
        written_s = time.perf_counter() - t
        size_mb = log.stat().st_size / 2**20
        run = run_rate(log, out)
        assert run["exit_code"] == 0, run
        checked = check(out, emails, ACCOUNTS)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
        "events": EVENTS, "accounts": ACCOUNTS, "log_mb": round(size_mb),
        "log_written_s": round(written_s, 1), **run,
        "events_per_s": round(EVENTS / run["seconds"]),
        "cpu_us_per_event": round(run["cpu_seconds"] / EVENTS * 1e6, 1),
        "target": {"seconds": TARGET_S, "peak_pss_mb": TARGET_MB,
                   "met": run["seconds"] < TARGET_S and run["peak_pss_mb_sum"] < TARGET_MB},
        **checked,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rate-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
