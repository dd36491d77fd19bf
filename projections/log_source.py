"""What the rater reads, from ClickHouse: the cycle views first, events only where needed.

`LogSource` answers `offline_rating.RatingSource` for every account of the usage log:
- control events (account events and seat readings) are read once, for all accounts;
- a cycle's rows come from the `cycle_counters` / `cycle_peaks` views when the cycle is a
  stream cycle of the account (the views group by it; regrouping the events into the same
  bounds gives the same rows) or when no stream cycle of the account overlaps it (no event
  inside: gauges carry the level of the latest earlier row, as `meter_values` reads it);
- otherwise (a product's own cycle: calendar-month storage, an annual seat term), and for
  the usage events of a cycle that may have reached a limit, the account's events are
  read (`WHERE account = ...`) into an in-memory aggregator, whose rows have the views'
  semantics (the contract tests hold both to it).
For re-rating: `extra` adds events that are not in the usage log (late events), and
`transform` recomputes an event's meters (another price book's SMS rates); the accounts in
`from_events` (and every account with extras) are rated from their events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from pricing.cycles import Cycle
from projections.aggregate_rows import AggregateRows, utc
from projections.aggregates_ch import read_aggregates
from projections.memory import MemoryAggregator
from projections.offline_rating import MemorySource
from schemas.records import MeteredEvent, MeterValue

LOG_COLUMNS = ("account, source, id, type, event_time, cycle_start, cycle_end, meters, kinds, "
               "quantities, dim, data, src_partition, src_offset, received_at")
CONTROL = "type LIKE 'account.%' OR type IN ('send.scheduled', 'seats.changed')"
Rederive = Callable[[MeteredEvent], MeteredEvent]


def load_events(client: Any, db: str, where: str = "",
                parameters: Mapping[str, Any] | None = None) -> dict[str, list[MeteredEvent]]:
    """Every accepted event (matching `where`, SQL with bound `parameters`), once, per
    account in (time, offset) order."""
    rows = client.query(f"SELECT {LOG_COLUMNS} FROM {db}.usage_log FINAL "  # noqa: S608
                        f"{'WHERE ' + where if where else ''} "
                        "ORDER BY account, event_time, src_partition, src_offset",
                        parameters=dict(parameters or {})).result_rows
    out: dict[str, list[MeteredEvent]] = defaultdict(list)
    for (account, source, eid, etype, t, cs, ce, meters, kinds, qs, dim, data, part, off,
         received) in rows:
        out[account].append(MeteredEvent.model_construct(
            account=account, source=source, id=eid, type=etype, time=utc(t),
            cycle_start=utc(cs), cycle_end=utc(ce),
            meters=[MeterValue.model_construct(meter=m, kind=k, quantity=Decimal(q))
                    for m, k, q in zip(meters, kinds, qs, strict=True)],
            dim=dim, data=orjson.loads(data), partition=part, offset=off,
            received_at=utc(received)))
    return out


class LogSource:
    def __init__(self, client: Any, db: str,
                 extra: Mapping[str, list[MeteredEvent]] | None = None,
                 transform: Rederive | None = None, from_events: set[str] | None = None
                 ) -> None:
        self.client, self.db = client, db
        self.extra, self.transform = dict(extra or {}), transform
        self.from_events = set(from_events or ()) | set(self.extra)
        self.control = load_events(client, db, CONTROL)
        views = read_aggregates(client, db)
        self.rows: dict[str, AggregateRows] = {}
        counters, peaks = defaultdict(list), defaultdict(list)
        for c in views.counters:
            counters[c.account].append(c)
        for p in views.peaks:
            peaks[p.account].append(p)
        self.cycles: dict[str, set[tuple[datetime, datetime]]] = defaultdict(set)
        for account, start, end in client.query(
                f"SELECT DISTINCT account, cycle_start, cycle_end "  # noqa: S608
                f"FROM {db}.usage_log").result_rows:
            self.cycles[account].add((utc(start), utc(end)))
        for account in self.cycles:
            self.rows[account] = AggregateRows(tuple(counters[account]), tuple(peaks[account]))
        self._full: dict[str, MemorySource] = {}
        self.event_reads = 0

    def accounts(self) -> list[str]:
        return sorted(set(self.cycles) | set(self.extra))

    def _events_of(self, account: str) -> MemorySource:
        """The account's whole log (plus extras, re-derived), in memory."""
        if account not in self._full:
            self.event_reads += 1
            aggregator = MemoryAggregator()
            events = load_events(self.client, self.db, "account = {account:String}",
                                 {"account": account}).get(account, [])
            for e in [*events, *self.extra.get(account, [])]:
                aggregator.add(self.transform(e) if self.transform else e)
            self._full[account] = MemorySource(aggregator)
        return self._full[account]

    def _from_events(self, account: str) -> bool:
        return account in self.from_events

    def control_events(self, account: str) -> list[MeteredEvent]:
        if self._from_events(account):
            return self._events_of(account).control_events(account)
        return self.control.get(account, [])

    def cycle_rows(self, account: str, cycle: Cycle) -> AggregateRows:
        if self._from_events(account):
            return self._events_of(account).cycle_rows(account, cycle)
        cycles = self.cycles.get(account, set())
        if (cycle.start, cycle.end) in cycles or \
                not any(start < cycle.end and cycle.start < end for start, end in cycles):
            return self.rows.get(account, AggregateRows((), ()))
        return self._events_of(account).cycle_rows(account, cycle)

    def cycle_events(self, account: str, cycle: Cycle) -> list[MeteredEvent]:
        return self._events_of(account).cycle_events(account, cycle)

    def account_log(self, account: str) -> list[MeteredEvent]:
        return self._events_of(account).account_log(account)
