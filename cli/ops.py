"""`metering status`, `metering alerts` and `metering usage`: what an operator on call
looks at first.

They read Kafka only (committed offsets, end offsets, the rejected, alerts and invoices
topics), so they work while the pipeline runs on the embedded ClickHouse.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.kafka_status import committed, lag_rows, read_docs, rejected_by_reason
from cli.context import fail, kafka_target
from schemas.topics import Topics

__all__ = ["alerts", "committed", "lag_rows", "live_usage", "register", "status"]


def _context() -> tuple[str, Topics]:
    return kafka_target()


def status() -> None:
    """Lag per partition, the last close of cycle and rejected events by reason."""
    from projections.settings import SinkSettings
    from stream_processors.settings import ProcessorSettings

    bootstrap, topics = _context()
    processor, sink = ProcessorSettings().app_id, SinkSettings().app_id
    try:
        rows = lag_rows(bootstrap, [(processor, topics.events), (sink, topics.metered),
                                    (sink, topics.rejected)])
    except Exception as exc:  # the broker does not answer: one line and what to do
        fail(f"cannot read the broker at {bootstrap}: {exc}",
              "start it with `metering up` or check KAFKA_BOOTSTRAP_SERVERS")
    out = Console()
    out.print(f"lateness: {_lateness_line()}")
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


def _lateness_line() -> str:
    """The deployment's one lateness as every role applies it (an override shown)."""
    from pricing.lateness import LatenessConflict, resolve_lateness
    from pricing.pricebook_loader import load_pricebook, reference_books
    from stream_processors.settings import ProcessorSettings

    settings = ProcessorSettings()
    try:
        books = reference_books(load_pricebook(settings.rate_pricebook))
        return resolve_lateness(books, settings.allowed_lateness_h).describe()
    except (LatenessConflict, OSError, ValueError) as exc:
        return f"[red]{exc}[/red]"


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


def _num(value: object) -> str:
    return f"{value.normalize():,f}" if isinstance(value, Decimal) else "—"


def live_usage(account: str, chart: Path | None = None) -> bool:
    """The account's current cycle from the live state the stream keeps (the accounts
    topic): each limited meter against its allotment, then every sum and gauge peak;
    with `chart`, the usage day by day against the allotment and the forecast, written
    there (SVG for a `.svg` name, PNG otherwise). False when the accounts topic has no
    state for it."""
    import orjson

    from api.usage import current_usage
    from core.accounts import AccountState
    from core.limits import limits_context
    from infra.clock import clock_from
    from infra.topics import read_to_end
    from pricing.pricebook_loader import load_pricebook
    from stream_processors.settings import ProcessorSettings

    bootstrap, topics = _context()
    key = account.encode()
    latest: list[bytes | None] = [None]

    def one(record: Any) -> None:
        if record.key == key:
            latest[0] = record.value

    read_to_end(bootstrap, topics.accounts, one)
    if latest[0] is None:
        return False
    settings = ProcessorSettings()
    state = AccountState.model_validate(orjson.loads(latest[0]))
    ctx, now = limits_context(load_pricebook(settings.rate_pricebook)), clock_from(
        settings.clock).now()
    got = current_usage(state, account, ctx, now)
    out = Console()
    out.print(f"{escape(account)}: cycle {got.cycle_start:%Y-%m-%d} .. "
              f"{got.cycle_end:%Y-%m-%d} (live state at offset {got.as_of_offset})")
    for p in got.products:
        table = Table("meter", "used", "allotment", "used %", "remaining",
                      title=f"{p.product}: plan {p.plan} ({p.pricebook}), policy "
                            f"{p.limit_policy}" + (f", BLOCKED: {p.blocked}" if p.blocked
                                                   else "")
                            + (f", flexed to {p.flexed_to}" if p.flexed_to else ""))
        for m in p.meters:
            table.add_row(m.meter, _num(m.value), _num(m.limit),
                          "—" if m.used_percent is None else f"{m.used_percent}%",
                          _num(m.remaining))
        out.print(table)
    table = Table("meter", "cycle to date / peak", "level now", title="all meters")
    for meter in sorted({*got.sums, *got.peaks, *got.levels}):
        table.add_row(meter, _num(got.sums.get(meter, got.peaks.get(meter))),
                      _num(got.levels.get(meter)))
    out.print(table)
    if chart is not None:
        from api.usage_chart import render_usage
        from api.usage_history import usage_history

        history = usage_history(state, account, ctx, now)
        chart.write_bytes(render_usage(history, "svg" if chart.suffix == ".svg" else "png"))
        for h in history.meters:
            out.print(f"{h.product} {h.meter}: {_num(h.value)} now, forecast "
                      f"{_num(h.forecast)} at the cycle end against {_num(h.limit)}"
                      + (f" (over on {h.over_at:%Y-%m-%d})" if h.over_at else ""))
        Console(stderr=True).print(f"wrote {escape(str(chart))}")
    return True


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("alerts")(alerts)
