"""`python -m chaos [--short|--full] [--scenario NAME ...] [--seed N] [--keep]`.

Runs the fault scenarios against the real broker and chdb, checks each against its
seeded ground truth, prints a table, writes bench/results/chaos-<time>.json and
chaos-latest.json; exit 1 if any scenario lost, duplicated or invented an event (or
failed otherwise)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from chaos import report
from chaos.broker import shared_broker
from chaos.flow import Context
from chaos.profile import FULL, SHORT
from chaos.result import Placeholder, Result
from chaos.scenarios import BY_NAME, SCENARIOS
from cli import logs


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[2])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--full", dest="profile", action="store_const", const=FULL,
                      help="the full run (default): ~200,000 events per scenario")
    size.add_argument("--short", dest="profile", action="store_const", const=SHORT,
                      help="the short run of CI: a few thousand events per scenario")
    ap.add_argument("--scenario", action="append", choices=sorted(BY_NAME),
                    help="run only this scenario (repeatable)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true",
                    help="keep every scenario's directory, not only failed ones")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the scenarios' brokers, chdb and logs go (default: a "
                         "temporary directory)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results")
    ap.set_defaults(profile=FULL)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logs.configure(os.environ.get("METERING_LOG_LEVEL", "INFO"))
    # kafka-python logs every refused connection while a broker is down on purpose
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    chosen = [BY_NAME[n] for n in args.scenario] if args.scenario else SCENARIOS
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    started, t0 = datetime.now(UTC), time.monotonic()
    results: list[Result | Placeholder] = []
    with shared_broker(workdir / "kafka") as broker:
        ctx = Context(args.profile, args.seed, workdir, broker, keep=args.keep)
        for scenario in chosen:
            results.append(scenario.execute(ctx))
    doc = report.document(results, args.profile.name, args.seed, started,
                          time.monotonic() - t0)
    print(report.table(results))
    print()
    print(report.details(results))
    if not args.no_write:
        print(f"\nwritten: {report.write(doc)}")
    ran = [r for r in results if isinstance(r, Result)]
    return 0 if all(r.passed for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
