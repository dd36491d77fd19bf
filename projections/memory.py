"""An in-memory aggregator with exactly the semantics of the ClickHouse cycle views.

It mirrors `projections/ddl.py`:
- **dedup** (`usage_log FINAL`): one event per (account, source, id), the first arrival,
  i.e. the lowest input offset (the sink writes `version = MAX - offset`); a later copy
  is dropped even when its content differs (a conflicting duplicate);
- **cycle_counters**: per (account, cycle, meter) of kind `sum` the sum of quantities, of
  kind `distinct` the number of distinct `dim` values; `events` is the number of events
  carrying the meter; events without meters (account events, excluded orders) add nothing;
- **cycle_peaks**: per (account, meter), every reading in the order
  (event_time, quantity, source, id) across all cycles, so a gauge carries its level
  from earlier cycles. A `delta` reading's level is the running sum, a `set` reading's
  level is its quantity; `before` is the level just before it (for `set`: the previous
  reading, 0 at first). Per (account, cycle, meter): opening = the level at the cycle's
  first instant (the cycle is half-open: after every reading at exactly its start, else
  `before` of its first reading), peak = max(opening, levels of the readings after the
  start), end = level of its last one. A cart deactivated at exactly the start was
  active only before the cycle: it is not in the cycle's peak.
  A cycle of the account (any event of the account falls in it, with or without meters)
  in which a gauge has no reading carries its level in: opening = peak = end = the level
  of the last reading before the cycle's start, `events` = 0, and no row when that level
  is 0 (the view's `carried` part). A cycle without any event of the account has no row.

`cycle_of` regroups events into other cycles (e.g. a product's calendar month) with the
same semantics; by default an event belongs to the cycle the stream assigned it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from projections.aggregate_rows import AggregateRows, CounterRow, PeakRow
from schemas.records import MeteredEvent

CycleOf = Callable[[MeteredEvent], tuple[datetime, datetime]]
ZERO = Decimal(0)


def stream_cycle(event: MeteredEvent) -> tuple[datetime, datetime]:
    return event.cycle_start, event.cycle_end


@dataclass(frozen=True, slots=True)
class _Reading:
    time: datetime
    quantity: Decimal
    source: str
    id: str
    kind: str
    cycle: tuple[datetime, datetime]

    def order(self) -> tuple[datetime, Decimal, str, str]:
        return (self.time, self.quantity, self.source, self.id)


class MemoryAggregator:
    """Accepts metered events in arrival order; answers like the ClickHouse views."""

    def __init__(self) -> None:
        self._kept: dict[str, dict[tuple[str, str], MeteredEvent]] = {}
        """Account -> (source, id) -> the event kept (an index by account: reading one
        account's events never walks the others')."""

    def add(self, event: MeteredEvent) -> bool:
        """Keep `event` unless an earlier arrival (lower offset) has its key. True if kept."""
        kept = self._kept.get(event.account)
        if kept is None:
            kept = self._kept[event.account] = {}
        key = (event.source, event.id)
        current = kept.get(key)
        if current is not None and current.offset <= event.offset:
            return False
        kept[key] = event
        return True

    def add_all(self, events: Iterable[MeteredEvent]) -> None:
        for event in events:
            self.add(event)

    def events(self, account: str | None = None) -> list[MeteredEvent]:
        """The deduplicated log, ordered by (time, offset)."""
        if account is None:
            chosen = [e for kept in self._kept.values() for e in kept.values()]
        else:
            chosen = list(self._kept.get(account, {}).values())
        return sorted(chosen, key=lambda e: (e.time, e.offset, e.source, e.id))

    def accounts(self) -> list[str]:
        return sorted(self._kept)

    def rows(self, account: str | None = None, cycle_of: CycleOf = stream_cycle
             ) -> AggregateRows:
        events = self.events(account)
        return AggregateRows.of(counter_rows(events, cycle_of), peak_rows(events, cycle_of))


def counter_rows(events: Iterable[MeteredEvent], cycle_of: CycleOf = stream_cycle
                 ) -> list[CounterRow]:
    """`cycle_counters` over already deduplicated events."""
    sums: dict[tuple[str, datetime, datetime, str], Decimal] = {}
    dims: dict[tuple[str, datetime, datetime, str], set[str]] = {}
    counts: dict[tuple[str, datetime, datetime, str], int] = {}
    for event in events:
        start, end = cycle_of(event)
        for value in event.meters:
            if value.kind not in ("sum", "distinct"):
                continue
            key = (event.account, start, end, value.meter)
            counts[key] = counts.get(key, 0) + 1
            if value.kind == "distinct":
                dims.setdefault(key, set()).add(event.dim)
            else:
                sums[key] = sums.get(key, ZERO) + value.quantity
    return [
        CounterRow(key[0], key[1], key[2], key[3],
                   Decimal(len(dims[key])) if key in dims else sums[key], n)
        for key, n in counts.items()
    ]


def peak_rows(events: Iterable[MeteredEvent], cycle_of: CycleOf = stream_cycle
              ) -> list[PeakRow]:
    """`cycle_peaks` over already deduplicated events."""
    series: dict[tuple[str, str], list[_Reading]] = {}
    cycles: dict[str, set[tuple[datetime, datetime]]] = {}
    for event in events:
        cycle = cycle_of(event)
        cycles.setdefault(event.account, set()).add(cycle)
        for value in event.meters:
            if value.kind in ("delta", "set"):
                series.setdefault((event.account, value.meter), []).append(
                    _Reading(event.time, value.quantity, event.source, event.id, value.kind,
                             cycle))
    rows: list[PeakRow] = []
    for (account, meter), readings in series.items():
        readings.sort(key=_Reading.order)
        levels = _levels(readings)
        groups: dict[tuple[datetime, datetime], list[tuple[datetime, Decimal, Decimal]]] = {}
        for r, (before, now) in zip(readings, levels, strict=True):
            groups.setdefault(r.cycle, []).append((r.time, before, now))
        for (start, end), items in groups.items():
            at_start = [now for t, _, now in items if t <= start]
            opening = at_start[-1] if at_start else items[0][1]
            peak = max([opening, *(now for t, _, now in items if t > start)])
            rows.append(PeakRow(account, start, end, meter, opening, peak, items[-1][2],
                                len(items)))
        for start, end in cycles[account] - groups.keys():
            earlier = [now for r, (_, now) in zip(readings, levels, strict=True)
                       if r.time < start]
            if earlier and earlier[-1] != ZERO:
                level = earlier[-1]
                rows.append(PeakRow(account, start, end, meter, level, level, level, 0))
    return rows


def _levels(readings: list[_Reading]) -> list[tuple[Decimal, Decimal]]:
    """(level before, level after) of each reading, in order (the view's window)."""
    result = []
    running, previous = ZERO, ZERO
    for r in readings:
        level = running + r.quantity
        if r.kind == "delta":
            result.append((running, level))
        else:
            result.append((previous, r.quantity))
        running, previous = level, r.quantity
    return result
