"""`metering status` and `metering alerts`: what an operator on call looks at first.

Both read Kafka only (committed offsets, end offsets, the rejected, alerts and invoices
topics), so they work while the pipeline runs on the embedded ClickHouse.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.kafka_status import committed, lag_rows, read_docs, rejected_by_reason
from schemas.topics import Topics

__all__ = ["alerts", "committed", "lag_rows", "register", "status"]


def _context() -> tuple[str, Topics]:
    from cli.main import _bootstrap, _kafka

    return _bootstrap(), Topics(_kafka().topic_prefix)


def status() -> None:
    """Lag per partition, the last close of cycle and rejected events by reason."""
    from cli.main import _fail
    from stream_processors.settings import ProcessorSettings, SinkSettings

    bootstrap, topics = _context()
    processor, sink = ProcessorSettings().app_id, SinkSettings().app_id
    try:
        rows = lag_rows(bootstrap, [(processor, topics.events), (sink, topics.metered),
                                    (sink, topics.rejected)])
    except Exception as exc:  # the broker does not answer: one line and what to do
        _fail(f"cannot read the broker at {bootstrap}: {exc}",
              "start it with `metering up` or check KAFKA_BOOTSTRAP_SERVERS")
    out = Console()
    table = Table("group", "topic", "partition", "committed", "end", "lag",
                  title="consumer lag")
    for group, topic, partition, at, end, lag in rows:
        table.add_row(group, topic, str(partition), str(at), str(end),
                      f"[red]{lag}[/red]" if lag else "0")
    out.print(table)
    invoices = [d for d in read_docs(bootstrap, topics.invoices, last=200)
                if d.get("type") in ("invoice.issued", "invoice.revised")]
    if invoices:
        latest = max(invoices, key=lambda d: str(d.get("issued_at") or d["cycle_end"]))
        out.print(f"last close: {latest.get('number', '?')} for {latest['account']}, "
                  f"issued {latest.get('issued_at') or latest['cycle_end']}")
    else:
        out.print("last close: no invoice issued yet")
    reasons = rejected_by_reason(bootstrap, topics.rejected)
    table = Table("reason", "rejected", title="rejected events")
    for reason, n in reasons:
        table.add_row(reason, str(n))
    out.print(table if reasons else "rejected events: none")


def alerts(account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
           last: Annotated[int, typer.Option(help="At most this many, newest last.")] = 50
           ) -> None:
    """Alerts raised by the live limits (approaching or reaching a limit, forecasts)."""
    bootstrap, topics = _context()
    found = [d for d in read_docs(bootstrap, topics.alerts)
             if account is None or d.get("account") == account]
    found.sort(key=lambda d: str(d.get("crossed_at")))
    table = Table("crossed at", "account", "meter", "threshold", "value", "limit", "projected")
    for d in found[-last:]:
        table.add_row(str(d.get("crossed_at")), str(d.get("account")), str(d.get("meter")),
                      str(d.get("threshold")), str(d.get("value")), str(d.get("limit")),
                      str(d.get("projected")))
    Console().print(table if found else "no alerts" + (f" for {account}" if account else ""))


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("alerts")(alerts)
