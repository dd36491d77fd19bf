"""`make demo` / `python -m demo [--short] [--json FILE] [--workdir DIR]`: the whole story
on the real broker and embedded ClickHouse; exits 1 if the pipeline did not do what the
story says."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from cli import logs
from demo.outcome import facts
from demo.report import chapter_tables, facts_table, summary, totals_table
from demo.run import Demo, broker, fresh_workdir, offline_invoices
from demo.story import NOW, background, chapters

out = Console(width=None if sys.stdout.isatty() else 150)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--short", action="store_true",
                        help="the story's accounts only (no background accounts): for CI")
    parser.add_argument("--accounts", type=int, default=40,
                        help="background accounts in the full run (default 40)")
    parser.add_argument("--json", type=Path, help="write the outcome and checks here")
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"),
                        help="logs, broker data and ClickHouse (emptied first)")
    args = parser.parse_args(argv)
    logs.configure("WARNING")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # kafka-python's consumer chatter
    started = time.monotonic()
    story = chapters()
    crowd = [] if args.short else background(args.accounts)
    everything = story + crowd
    events = sorted((d for c in everything for d in c.events), key=lambda d: d["time"])
    workdir = fresh_workdir(args.workdir.resolve())
    out.rule("[bold]metering demo")
    out.print(f"{len(story)} story accounts and {len(crowd)} background accounts on the four "
              f"reference price books, {len(events):,} events from March to May 2025; "
              f"the pipeline's clock is {NOW:%Y-%m-%d} (cycles to May closed). "
              f"Logs and data: {workdir}")
    expected = offline_invoices(everything)
    with broker(workdir) as bootstrap:
        demo = Demo(bootstrap, workdir)
        try:
            demo.start_worker()
            with Progress(console=out, transient=True) as progress:
                task = progress.add_task("producing the story to Kafka", total=len(events))
                demo.produce(events, lambda: progress.advance(task))
            demo.start_sink()
            out.print(f"1. produced {len(events):,} events to {demo.p.topics.events}; "
                      "waiting for the worker, the sink and the close of every cycle")
            demo.p.wait_caught_up(timeout=300)
            issued = demo.wait_invoices(len(expected))
            out.print(f"   {issued} invoices issued by the ledger ({len(expected)} expected)")
            out.print("2. a batch of 100,000 April emails for late-mailer arrives on "
                      f"{NOW:%Y-%m-%d}, after April's lateness: the stream rejects it")
            demo.send_late()
            out.print("3. billing operations re-rate: `metering rerate` (sink stopped)")
            done = demo.rerate()
            for line in (done.stdout + done.stderr).strip().splitlines()[-6:]:
                out.print(f"   [dim]{escape(line)}[/dim]")
            if done.returncode != 0:
                out.print(f"[red]metering rerate failed ({done.returncode}); logs in "
                          f"{workdir}[/red]")
            demo.wait_invoices(len(expected) + 1, timeout=120)
            demo.p.wait_caught_up(timeout=120)
            outcome = demo.read()
        finally:
            demo.close()
    checks = facts(outcome, expected)
    for table in chapter_tables(story, outcome):
        out.print(table)
    out.print(totals_table(outcome, len(crowd)))
    out.print(facts_table(checks))
    failed = [f for f in checks if not f.holds]
    seconds = time.monotonic() - started
    out.print(f"{len(checks) - len(failed)}/{len(checks)} checks hold; {seconds:.0f} s "
              + ("[green]the story happened as told[/green]" if not failed else
                 f"[red]{len(failed)} did not: logs in {workdir}[/red]"))
    if args.json:
        args.json.write_text(json.dumps(summary(outcome, checks, len(expected), seconds),
                                        indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
