"""`metering rerate`, `metering invoices` and `metering invoice show|pdf`.

`invoices` and `invoice` read Kafka only (`billing.invoices`), so they work while the
pipeline runs. `rerate` reads the usage log in ClickHouse (with the embedded default: stop
the pipeline first, the embedded database belongs to one process) and issued invoices from
Kafka; its revisions go to the ledger like every invoice (the pipeline's sink numbers them
when it runs again).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from cli.context import kafka_target

if TYPE_CHECKING:
    from projections.invoice_document import Printable

invoice_app = typer.Typer(help="Issued invoices: show one, or write its PDF.",
                          no_args_is_help=True)


def _context() -> tuple[str, Any]:
    return kafka_target()


def _issued() -> dict[str, dict[str, Any]]:
    from projections.rerating import issued_invoices

    bootstrap, topics = _context()
    return issued_invoices(bootstrap, topics.invoices)


def _find(number: str) -> dict[str, Any]:
    for doc in _issued().values():
        if number in (doc.get("number"), doc.get("invoice_id")):
            return doc
    Console(stderr=True).print(f"[red]error:[/red] no invoice {escape(repr(number))} "
                               "-> list them with `metering invoices`")
    raise typer.Exit(2)


def _printable(number: str, doc: dict[str, Any]) -> Printable:
    """The document, or exit 2 naming the field that is off the contract."""
    from projections.invoice_document import document_of

    try:
        return document_of(doc)
    except ValidationError as exc:
        from schemas.errors import describe

        Console(stderr=True).print(f"[red]error:[/red] invoice {escape(repr(number))} is not "
                                   f"a valid invoice document: {escape(describe(exc, limit=1))}")
        raise typer.Exit(2) from exc


def rerate(
    cycle_start: Annotated[str | None, typer.Option(help="Only cycles starting on this "
                                                         "date (YYYY-MM-DD).")] = None,
    account: Annotated[list[str] | None, typer.Option(help="Only these accounts.")] = None,
    pricebook: Annotated[str | None, typer.Option(help="Rate under this price book "
                                                       "(name or YAML path).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the differences, issue nothing.")
                       ] = False,
) -> None:
    """Re-rate closed cycles from the event log; issue revisions where the result differs."""
    from cli.context import deployment_books
    from cli.sql import open_clickhouse
    from infra.clock import clock_from
    from pricing.lateness import with_lateness
    from pricing.pricebook_loader import PriceBookError, load_pricebook
    from projections.client import open_client
    from projections.rerating import issued_invoices, publish_revisions, rerating_source
    from projections.rerating import rerate as do_rerate
    from projections.settings import ClickHouseSettings
    from stream_processors.settings import ProcessorSettings

    err = Console(stderr=True)
    processor = ProcessorSettings()
    try:
        default, books, lateness = deployment_books(processor.rate_pricebook,
                                                    processor.allowed_lateness_h)
        override = load_pricebook(pricebook) if pricebook else None
        if override is not None:  # the deployment's one lateness, whatever the book says
            override = with_lateness({override.name: override}, lateness)[override.name]
    except (PriceBookError, OSError) as exc:
        err.print(f"[red]error:[/red] cannot load price book: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    start = None
    if cycle_start:
        try:
            start = datetime.combine(date.fromisoformat(cycle_start), datetime.min.time(), UTC)
        except ValueError as exc:
            err.print(f"[red]error:[/red] --cycle-start {escape(repr(cycle_start))} "
                      "is not YYYY-MM-DD")
            raise typer.Exit(2) from exc
    bootstrap, topics = _context()
    clickhouse = ClickHouseSettings()
    client = open_clickhouse(clickhouse, lambda: open_client(clickhouse))
    selected = set(account) if account else None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), console=err, transient=True) as progress:
        task = progress.add_task("reading the usage log", total=None)
        source = rerating_source(client, clickhouse.database, default, override)
        progress.update(task, description="reading issued invoices")
        issued = issued_invoices(bootstrap, topics.invoices)
        progress.update(task, description="rating", total=len(
            [a for a in source.accounts() if selected is None or a in selected]))
        result = do_rerate(source, issued, books, default.name,
                           clock_from(processor.clock).now(), start, selected, override,
                           on_account=lambda: progress.advance(task))
    client.close()
    for doc in result.revisions:
        err.print(f"{doc['account']} {doc['cycle_start'][:10]}: revision {doc['revision']}, "
                  f"{doc['previous_total']} -> {doc['rerated_total']} ({doc['total']})")
        for line in doc["lines"]:
            err.print(f"    {escape(str(line['description']))}: {line['amount']}")
    err.print(f"{result.compared} invoices compared, {len(result.revisions)} differ"
              + (" (dry run: nothing issued)" if dry_run else ""))
    if dry_run or not result.revisions:
        return
    publish_revisions(bootstrap, topics.invoice_candidates, result.revisions)
    err.print(f"{len(result.revisions)} revisions proposed; the sink's ledger numbers them")


def invoices(account: Annotated[str | None, typer.Option(help="Only this account.")] = None
             ) -> None:
    """Issued invoices and revisions, oldest first."""
    table = Table("number", "account", "kind", "rev", "period", "credit used", "credit left",
                  "total")
    for doc in sorted(_issued().values(), key=lambda d: d.get("number", "")):
        if account is None or doc["account"] == account:
            used = -sum((Decimal(ln["amount"]) for ln in doc["lines"]
                         if ln["kind"] == "credit" and ln["product"] == "account"), Decimal(0))
            left = doc.get("credit_balance")
            table.add_row(doc.get("number", ""), doc["account"], doc["kind"],
                          str(doc.get("revision", 0)),
                          f"{doc['cycle_start'][:10]} – {doc['cycle_end'][:10]}",
                          f"{used:.2f}" if used else "",
                          "" if left is None else str(left),
                          f"{doc['currency']} {doc['total']}")
    Console().print(table)


@invoice_app.command("show")
def show(number: str, html: Annotated[bool, typer.Option(help="Print the HTML page.")] = False
         ) -> None:
    """One invoice as JSON (or its HTML document)."""
    from projections.invoice_document import render_html

    doc = _find(number)
    typer.echo(render_html(_printable(number, doc)) if html else json.dumps(doc, indent=2))


@invoice_app.command("pdf")
def pdf(number: str, out: Annotated[Path, typer.Option("-o", "--out")]) -> None:
    """Write one invoice as a PDF document."""
    from projections.invoice_document import render_pdf

    out.write_bytes(render_pdf(_printable(number, _find(number))))
    Console(stderr=True).print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("rerate")(rerate)
    app.command("invoices")(invoices)
    app.add_typer(invoice_app, name="invoice")
