"""The demo's tables (rich) and its JSON summary."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.markup import escape
from rich.table import Table

from demo.outcome import Fact, Outcome
from demo.story import Chapter
from projections.invoice_format import line_view, money, period
from schemas.billing import NumberedInvoice


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _amount(value: object) -> str:
    """A Decimal without its trailing zeros, grouped: 70,000 or 0.5."""
    return f"{value.normalize():,f}" if isinstance(value, Decimal) else str(value)


def _invoice_rows(docs: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """One row per numbered invoice (ClickHouse `invoices.doc` with its number), read
    through the contract (`NumberedInvoice`)."""
    rows = []
    for d in map(NumberedInvoice.model_validate, docs):
        span = period(d.cycle_start, d.cycle_end)
        views = [line_view(ln, d.currency, span) for ln in d.lines]
        lines = "; ".join(v.description + (f" {v.amount}" if len(views) > 1 else "")
                          for v in views)
        used = ", ".join(f"{k} {_amount(Decimal(v))}" for k, v in (d.usage or {}).items()
                         if d.kind == "cycle" and Decimal(v))
        lines += f" · used: {used}" if used else ""
        kind = d.kind + (f" rev {d.revision}" if d.revision else "")
        rows.append((f"{d.number} {kind}", span, money(d.total, d.currency), escape(lines)))
    return rows


def chapter_tables(story: list[Chapter], o: Outcome) -> list[Table]:
    tables = []
    for c in story:
        t = Table(title=f"{c.account}: {c.title} ({c.book})", title_justify="left")
        t.add_column("what")
        t.add_column("")
        t.add_column("when / period")
        t.add_column("amount", justify="right")
        t.add_column("detail")
        for a, kind, threshold, value, limit, at in o.alerts:
            if a == c.account:
                t.add_row("alert", kind if threshold == kind else f"{kind} {threshold}",
                          _when(at), "", f"{_amount(value)} of {_amount(limit)}"
                          if limit is not None else _amount(value))
        for a, kind, reason, plan, target, cost, at in o.decisions:
            if a == c.account:
                t.add_row("decision", kind, _when(at), f"{cost:,}",
                          f"{reason}: {plan}" + (f" -> {target}" if target else ""))
        for a, before, after, effective, reason in o.plan_changes:
            if a == c.account:
                t.add_row("plan change", f"{before} -> {after}", _when(effective), "",
                          str(reason))
        for reason, a, eid in o.rejected:
            if a == c.account:
                t.add_row("rejected", str(reason), "", "", f"event {escape(str(eid))}")
        for number, span, total, detail in _invoice_rows(o.of(c.account)):
            t.add_row("invoice", number, span, total, detail)
        tables.append(t)
    return tables


def totals_table(o: Outcome, background: int) -> Table:
    t = Table(title="everything the pipeline recorded", title_justify="left")
    t.add_column("table")
    t.add_column("rows", justify="right")
    t.add_column("of which")
    kinds = Counter(d["kind"] + (" revision" if int(d.get("revision") or 0) else "")
                    for d in o.invoices)
    t.add_row("usage_log (accepted events)", f"{o.accepted_events:,}",
              f"{background} background accounts" if background else "story accounts only")
    t.add_row("rejected_events", str(len(o.rejected)),
              ", ".join(f"{k} {n}" for k, n in Counter(r[0] for r in o.rejected).items()))
    t.add_row("alerts", str(len(o.alerts)),
              ", ".join(f"{k} {n}" for k, n in Counter(r[1] for r in o.alerts).items()))
    t.add_row("decisions", str(len(o.decisions)),
              ", ".join(f"{k} {n}" for k, n in Counter(r[1] for r in o.decisions).items()))
    t.add_row("invoices", str(len(o.invoices)), ", ".join(f"{k} {n}" for k, n in kinds.items()))
    t.add_row("plan_changes", str(len(o.plan_changes)), "")
    return t


def facts_table(checks: list[Fact]) -> Table:
    t = Table(title="the story, checked", title_justify="left")
    t.add_column("")
    t.add_column("account")
    t.add_column("claim")
    t.add_column("seen")
    for f in checks:
        t.add_row("[green]yes[/green]" if f.holds else "[red]NO[/red]", f.account, f.claim,
                  escape(f.seen))
    return t


def summary(o: Outcome, checks: list[Fact], expected: int, seconds: float) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 1),
        "passed": all(f.holds for f in checks),
        "checks": [f.__dict__ for f in checks],
        "accepted_events": o.accepted_events,
        "rejected": dict(Counter(r[0] for r in o.rejected)),
        "alerts": len(o.alerts),
        "decisions": [list(map(str, r)) for r in o.decisions],
        "plan_changes": [list(map(str, r)) for r in o.plan_changes],
        "invoices_expected_offline": expected,
        "invoices": [{k: d.get(k) for k in ("number", "account", "kind", "revision",
                                            "cycle_start", "total", "previous_total",
                                            "rerated_total")} for d in o.invoices],
    }
