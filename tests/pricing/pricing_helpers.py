"""Shared builders for the pricing tests (imported by module name, no package needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from pricing.aggregates import CycleAggregates, IntervalUsage
from pricing.cycles import Cycle
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import load_pricebook
from pricing.timeline import PlanInterval, PlanTimeline


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def d(value: str | int) -> Decimal:
    return Decimal(value)


@cache
def book(name: str) -> PriceBook:
    return load_pricebook(name)


def timeline(anchor: date, *intervals: PlanInterval, account: str = "acct-1") -> PlanTimeline:
    return PlanTimeline(account, anchor, tuple(intervals))


def aggregates(
    cycle: Cycle,
    values: dict[str, dict[str, int | str | Decimal]],
    splits: dict[str, list[IntervalUsage]] | None = None,
    account: str = "acct-1",
) -> CycleAggregates:
    converted = {p: {m: Decimal(v) for m, v in mv.items()} for p, mv in values.items()}
    return CycleAggregates(account, cycle, converted, splits or {})
