"""Read queries as objects: SQL text with bound parameters, unit-tested for what they render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Query:
    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def rows(self, client: Any) -> list[tuple[Any, ...]]:
        return list(client.query(self.sql, parameters=self.parameters).result_rows)


def latest_cycle(db: str, account: str) -> Query:
    return Query(
        f"SELECT cycle_start, cycle_end FROM {db}.usage_log "
        "WHERE account = {account:String} AND length(meters) > 0 "
        "ORDER BY cycle_start DESC LIMIT 1",
        {"account": account},
    )


def counters(db: str, account: str | None = None,
             cycle_start: datetime | None = None) -> Query:
    where, params = _filters(account, cycle_start)
    return Query(
        f"SELECT account, cycle_start, meter, value, events FROM {db}.cycle_counters{where} "
        "ORDER BY account, cycle_start, meter", params)


def peaks(db: str, account: str | None = None, cycle_start: datetime | None = None) -> Query:
    where, params = _filters(account, cycle_start)
    return Query(
        f"SELECT account, cycle_start, meter, opening, peak, end_value "
        f"FROM {db}.cycle_peaks{where} ORDER BY account, cycle_start, meter", params)


def accepted_keys(db: str) -> Query:
    return Query(f"SELECT account, source, id FROM {db}.usage_log FINAL")


def rejections(db: str) -> Query:
    """Rejected records that are not copies of an accepted event, by input position."""
    return Query(f"SELECT src_partition, src_offset, reason FROM {db}.rejections "
                 "ORDER BY src_partition, src_offset")


def alerts(db: str) -> Query:
    return Query(f"SELECT account, kind, threshold, value, limit_value, crossed_at "
                 f"FROM {db}.alerts FINAL ORDER BY account, crossed_at, level")


def decisions(db: str) -> Query:
    return Query(f"SELECT account, kind, reason, plan, target_plan, cost, at "
                 f"FROM {db}.decisions FINAL ORDER BY account, at, kind")


def invoice_documents(db: str) -> Query:
    """(number, doc JSON) of every recorded invoice."""
    return Query(f"SELECT number, doc FROM {db}.invoices FINAL "
                 "ORDER BY account, cycle_start, number")


def plan_changes(db: str) -> Query:
    return Query(f"SELECT account, from_plan, to_plan, effective, reason "
                 f"FROM {db}.plan_changes FINAL ORDER BY account, effective")


def rejected_events(db: str) -> Query:
    """(reason, account, id) of every rejected record, in the order received."""
    return Query(f"SELECT reason, account, id FROM {db}.rejected_events ORDER BY received_at")


def accepted_count(db: str) -> Query:
    return Query(f"SELECT count() FROM {db}.usage_log FINAL")


def _filters(account: str | None, cycle_start: datetime | None) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if account is not None:
        clauses.append("account = {account:String}")
        params["account"] = account
    if cycle_start is not None:
        clauses.append("cycle_start = {cycle_start:DateTime('UTC')}")
        params["cycle_start"] = cycle_start
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


@dataclass(frozen=True)
class MeterReading:
    meter: str
    value: Decimal | None = None
    opening: Decimal | None = None
    peak: Decimal | None = None
    end_value: Decimal | None = None


def current_usage(client: Any, db: str, account: str) -> tuple[datetime, datetime,
                                                                 list[MeterReading]] | None:
    """The account's latest cycle with usage: every meter, its value or peak."""
    cycle = latest_cycle(db, account).rows(client)
    if not cycle:
        return None
    start, end = cycle[0]
    readings: dict[str, MeterReading] = {}
    for _, _, meter, value, _ in counters(db, account, start).rows(client):
        readings[meter] = MeterReading(meter, value=Decimal(value))
    for _, _, meter, opening, peak, end_value in peaks(db, account, start).rows(client):
        readings[meter] = MeterReading(meter, opening=Decimal(opening), peak=Decimal(peak),
                                       end_value=Decimal(end_value))
    return start, end, [readings[k] for k in sorted(readings)]
