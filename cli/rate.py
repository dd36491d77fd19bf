"""`metering rate`: re-rate an exported event log offline, without a broker or ClickHouse.

The log is indexed by account, then each account's lines go through the pipeline's own
per-record decision and an in-memory aggregator with the ClickHouse views' semantics, and
every account cycle ending at or before `--until` is rated with the price book, account
after account (in several processes for a large log: `projections/offline_file.py`).
One JSON object per line: invoices (`"record": "invoice"`), plan changes
(`"record": "plan_change"`) and limit decisions (`"record": "limit_decision"`). See
docs/metering-rate.md.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from pricing.lateness import LatenessConflict, resolve_lateness, with_lateness
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import PriceBookError, load_pricebook
from projections.offline_file import FileRating, LineIndex, WorkerFailed, index_file, rate_file
from stream_processors.settings import ProcessorSettings

SMALL_LOG = 32 * 2**20
"""Bytes: a log this large or larger is indexed and rated by one process per core."""
MAX_WORKERS = 8


def _until(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an RFC 3339 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter("--until needs a timezone (Z or an offset)")
    return parsed.astimezone(UTC)


def rate(
    pricebook: Annotated[str, typer.Option(help="Reference price book name or YAML path.")],
    events: Annotated[Path, typer.Option(help="CloudEvents, one JSON object per line.",
                                         exists=True, dir_okay=False, readable=True)],
    until: Annotated[str, typer.Option(help="RFC 3339: rate cycles ending at or before it.")],
    out: Annotated[Path | None, typer.Option(help="Write JSON lines here (default: stdout).")
                   ] = None,
    rejected: Annotated[Path | None, typer.Option(
        help="Write every rejected line here (JSON lines: line, id, account, reason, "
             "detail).")] = None,
    allow_rejections: Annotated[bool, typer.Option(
        help="Exit 0 even when events were rejected or accounts could not be rated.")
                                ] = False,
    workers: Annotated[int, typer.Option(
        min=0, help="Processes indexing, deciding and rating (0: one per core, up to "
                    f"{MAX_WORKERS}, for a log of {SMALL_LOG >> 20} MB or more).")] = 0,
) -> None:
    """Rate an exported event log: invoices, plan changes and limit decisions as JSON lines.

    Exit 1 when any line was rejected or any account could not be rated (the records of
    the others are still written), unless --allow-rejections; 2 on bad arguments; 3 when
    a worker process died (nothing rated)."""
    err = Console(stderr=True)
    limit = _until(until)
    try:
        book = load_pricebook(pricebook)
        # the pipeline's one lateness: the book's, or the override every role applies
        lateness = resolve_lateness({book.name: book}, ProcessorSettings().allowed_lateness_h)
    except (PriceBookError, FileNotFoundError, OSError, LatenessConflict) as exc:
        err.print(f"[red]error:[/red] cannot load price book {escape(repr(pricebook))}: "
                  f"{escape(str(exc))}")
        raise typer.Exit(2) from exc
    book = with_lateness({book.name: book}, lateness)[book.name]
    if lateness.source == "override":
        err.print(f"lateness: {lateness.describe()}")
    try:
        result, index, chosen, seconds = _rate_all(err, events, book, limit, out, workers)
    except WorkerFailed as exc:  # a forked process died (killed, out of memory)
        err.print(f"[red]error:[/red] {escape(str(exc))}; nothing was rated")
        raise typer.Exit(3) from exc
    summary, problems = result.summary, result.problems
    err.print(f"{summary.lines} events: {summary.accepted} accepted, "
              f"{summary.duplicates} duplicates, {sum(summary.rejected.values())} rejected; "
              f"{result.records} records ({len(index.groups)} accounts indexed in "
              f"{seconds[0]:.1f} s, decided and rated in {seconds[1]:.1f} s by {chosen} "
              "process(es))")
    for reason, count in sorted(summary.rejected.items()):
        err.print(f"rejected {escape(str(reason))}: {count}")
    early = sorted(summary.before_subscription(), key=lambda r: r.line)
    if early:
        named = ", ".join(str(r.line) for r in early[:10])
        err.print(f"[yellow]warning:[/yellow] {len(early)} line(s) precede their account's "
                  f"subscription (lines {escape(named)}{', ...' if len(early) > 10 else ''}): "
                  "put each account's account.subscribed line first")
    for problem in problems:
        err.print(f"[yellow]not rated:[/yellow] {escape(problem)}")
    if rejected is not None:
        with rejected.open("w", encoding="utf-8") as fh_rej:
            for r in sorted(summary.rejections, key=lambda r: r.line):
                fh_rej.write(json.dumps({"line": r.line, "id": r.id, "account": r.account,
                                         "reason": r.reason, "detail": r.detail},
                                        separators=(",", ":")) + "\n")
    if (summary.rejections or problems) and not allow_rejections:
        err.print("[red]not every event was rated[/red] (see above; --rejected FILE lists "
                  "each line, --allow-rejections accepts it)")
        raise typer.Exit(1)


def _rate_all(err: Console, events: Path, book: PriceBook, limit: datetime,
              out: Path | None, workers: int
              ) -> tuple[FileRating, LineIndex, int, tuple[float, float]]:
    """Index, then decide and rate, with a progress bar on stderr."""
    size = events.stat().st_size
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(f"indexing {events.name}", total=size)
        started = time.perf_counter()
        chosen = workers or default_workers(size)
        index = index_file(events, on_bytes=lambda n: progress.update(task, completed=n),
                           workers=chosen)
        indexed = time.perf_counter()
        lines = sum(index.lines(key) for key in index.groups)
        rating = progress.add_task(f"rating {len(index.groups)} accounts", total=lines)

        def advance(n: int) -> None:
            progress.advance(rating, n)

        if out is None:
            stdout = typer.get_binary_stream("stdout")
            result = rate_file(index, book, limit, limit, stdout, chosen, advance)
        else:
            with out.open("wb") as fh_out:
                result = rate_file(index, book, limit, limit, fh_out, chosen, advance)
    return result, index, chosen, (indexed - started, time.perf_counter() - indexed)


def default_workers(size: int) -> int:
    """One process per core for a large log; one for a small one (a fork costs more)."""
    return 1 if size < SMALL_LOG else max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def register(app: typer.Typer) -> None:
    """Add the `rate` command to the `metering` app."""
    app.command("rate")(rate)
