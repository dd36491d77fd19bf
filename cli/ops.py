"""`metering status` and `metering alerts`: what an operator on call looks at first.

Both read Kafka only (committed offsets, end offsets, the rejected, alerts and invoices
topics), so they work while the pipeline runs on the embedded ClickHouse.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from schemas.topics import Topics


def _context() -> tuple[str, Topics]:
    from cli.main import _bootstrap, _kafka

    return _bootstrap(), Topics(_kafka().topic_prefix)


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (none yet: absent)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    except KafkaError:
        return {}
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0}


def lag_rows(bootstrap: str, groups: list[tuple[str, str]]) -> list[tuple[str, str, int,
                                                                            int, int, int]]:
    """(group, topic, partition, committed, end, lag) for each (group, topic)."""
    from infra.topics import end_offsets

    rows = []
    for group, topic in groups:
        done = committed(bootstrap, group, topic)
        for partition, end in sorted(end_offsets(bootstrap, topic).items()):
            at = done.get(partition, 0)
            rows.append((group, topic, partition, at, end, max(0, end - at)))
    return rows


def _read(bootstrap: str, topic: str, last: int | None = None) -> list[dict[str, Any]]:
    from infra.topics import read_to_end

    docs: list[dict[str, Any]] = []

    def one(record: Any) -> None:
        try:
            doc = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            return
        if isinstance(doc, dict):
            docs.append(doc)
    read_to_end(bootstrap, topic, one, last=last)
    return docs


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
    invoices = [d for d in _read(bootstrap, topics.invoices, last=200)
                if d.get("type") in ("invoice.issued", "invoice.revised")]
    if invoices:
        latest = max(invoices, key=lambda d: str(d.get("issued_at") or d["cycle_end"]))
        out.print(f"last close: {latest.get('number', '?')} for {latest['account']}, "
                  f"issued {latest.get('issued_at') or latest['cycle_end']}")
    else:
        out.print("last close: no invoice issued yet")
    reasons = Counter(str(d.get("reason")) for d in _read(bootstrap, topics.rejected))
    table = Table("reason", "rejected", title="rejected events")
    for reason, n in reasons.most_common():
        table.add_row(reason, str(n))
    out.print(table if reasons else "rejected events: none")


def alerts(account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
           last: Annotated[int, typer.Option(help="At most this many, newest last.")] = 50
           ) -> None:
    """Alerts raised by the live limits (approaching or reaching a limit, forecasts)."""
    bootstrap, topics = _context()
    found = [d for d in _read(bootstrap, topics.alerts)
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
