"""`metering simulate`: what a candidate price book would have billed over past cycles.

Reads the usage log in ClickHouse (with the embedded default, stop the pipeline first, as
for `metering rerate`; from a running pipeline use `POST /v1/simulations`), issues
nothing. Prints the book's changes, then revenue by month and plan, the accounts that gain
and lose most, and writes to `--out` the report as JSON (`simulation.json`), CSV
(`months.csv`, `plans.csv`, `accounts.csv`, `changes.csv`) and the pictures
(`revenue_by_month` and `change_distribution`, PNG and SVG). Exit 2 on a bad argument or
a candidate that does not load (every problem listed).
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from pricing.simulation import AccountDifference, SimulationReport, Totals

out = Console()
err = Console(stderr=True)


def _money(value: object) -> str:
    return f"{value:,}" if value is not None else "-"


def _pct(t: Totals) -> str:
    return "-" if t.difference_pct is None else f"{t.difference_pct:+}%"


def _table(title: str, first: list[str], rows: list[tuple[list[str], Totals]]) -> Table:
    table = Table(title=title)
    for name in first:
        table.add_column(name)
    for name in ("now", "candidate", "difference", "%"):
        table.add_column(name, justify="right")
    for keys, t in rows:
        style = "green" if t.difference > 0 else "red" if t.difference < 0 else None
        table.add_row(*keys, _money(t.before), _money(t.after), _money(t.difference),
                      _pct(t), style=style)
    return table


def print_report(report: SimulationReport, console: Console) -> None:
    console.print(_table(f"Revenue by month ({report.currency})", ["month"],
                         [([m.month], m) for m in report.months]
                         + [(["total"], report.total)]))
    console.print(_table("By month and plan", ["month", "product", "plan"],
                         [([p.month, p.product, p.plan], p) for p in report.plans]))
    for title, rows in (("Gain most", report.top_gain), ("Lose most", report.top_loss)):
        if rows:
            console.print(_table(title, ["account", "changes"], [
                ([r.account, "; ".join(f"{c.status}: {c.description}" for c in r.changes)
                  or "-"], r) for r in rows]))
    changed = [a for a in report.accounts if a.difference != 0 or a.changes]
    console.print(f"{len(report.accounts)} accounts rated, {len(changed)} differ; "
                  f"{report.seconds} s")


def _account_row(a: AccountDifference) -> list[object]:
    return [a.account, a.before, a.after, a.difference, a.difference_pct, len(a.changes)]


def write_files(report: SimulationReport, directory: Path) -> list[Path]:
    from projections.simulation_charts import save

    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "simulation.json"]
    written[0].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tables: dict[str, tuple[list[str], list[list[object]]]] = {
        "months": (["month", "before", "after", "difference", "difference_pct"],
                   [[m.month, m.before, m.after, m.difference, m.difference_pct]
                    for m in report.months]),
        "plans": (["month", "product", "plan", "before", "after", "difference",
                   "difference_pct"],
                  [[p.month, p.product, p.plan, p.before, p.after, p.difference,
                    p.difference_pct] for p in report.plans]),
        "accounts": (["account", "before", "after", "difference", "difference_pct",
                      "changes"],
                     [_account_row(a) for a in report.accounts]),
        "changes": (["account", "status", "kind", "at", "description"],
                    [[a.account, c.status, c.kind, c.at.isoformat(), c.description]
                     for a in report.accounts for c in a.changes]),
    }
    for name, (header, rows) in tables.items():
        path = directory / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(["" if v is None else v for v in row] for row in rows)
        written.append(path)
    return written + save(report, directory)


def simulate(
    pricebook: Annotated[str, typer.Option(help="The candidate: a YAML path or a reference "
                                                "book name. It replaces the deployment book "
                                                "of the same name.")],
    from_month: Annotated[str, typer.Option("--from", help="First month (YYYY-MM).")],
    to_month: Annotated[str, typer.Option("--to", help="Last month (YYYY-MM), included.")],
    account: Annotated[list[str] | None, typer.Option(help="Only these accounts.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write JSON, CSV, PNG and "
                                                               "SVG files here.")] = None,
) -> None:
    """Rate the closed cycles of a period under the current book and a candidate; compare."""
    from cli.context import deployment_books
    from cli.sql import open_clickhouse
    from infra.clock import clock_from
    from pricing.book_diff import book_changes
    from pricing.pricebook_loader import PriceBookError, load_pricebook
    from pricing.simulation import SimulationError, replaced_book
    from projections.client import open_client
    from projections.settings import ClickHouseSettings
    from projections.simulation import Period
    from projections.simulation import simulate as run
    from stream_processors.settings import ProcessorSettings

    processor = ProcessorSettings()
    default, books, _ = deployment_books(processor.rate_pricebook,
                                         processor.allowed_lateness_h)
    try:
        candidate = load_pricebook(pricebook)
    except (PriceBookError, OSError) as exc:
        err.print(f"[red]error:[/red] the candidate does not load: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    try:
        period = Period.of(from_month, to_month)
        current, candidate = replaced_book(books, candidate)
    except SimulationError as exc:
        err.print(f"[red]error:[/red] {escape(exc.detail)} ({exc.reason})")
        raise typer.Exit(2) from exc
    changes = book_changes(current, candidate)
    out.print(f"[bold]{current.name}@{current.version} -> {candidate.version}[/bold]: "
              f"{len(changes)} change(s)")
    for change in changes:
        out.print(f"  {escape(change.describe())}")
    clickhouse = ClickHouseSettings()
    client = open_clickhouse(clickhouse, lambda: open_client(clickhouse))
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), console=err, transient=True) as progress:
            task = progress.add_task("rating (now, then the candidate)", total=None)
            report = run(client, clickhouse.database, books, default.name, candidate,
                         clock_from(processor.clock).now(), period, str(uuid.uuid4()),
                         set(account) if account else None,
                         on_account=lambda: progress.advance(task))
    except SimulationError as exc:
        err.print(f"[red]error:[/red] {escape(exc.detail)} ({exc.reason})")
        raise typer.Exit(2) from exc
    finally:
        client.close()
    print_report(report, out)
    if out_dir is not None:
        for path in write_files(report, out_dir):
            err.print(f"wrote {escape(str(path))}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
