"""The limit decisions billing prices: the decision core's, replayed from the log.

Billing decides no limit itself. For an account cycle that may hold a decision (its total
on a product's send-limit meter goes above the smallest limit of a plan in force, or it
holds a scheduled send), the account's accepted log is replayed through the core's live
limits (`core.replay.replay_decisions`), with the plan changes the close of earlier cycles
made injected, and the decisions of that cycle are priced: a flex purchase or an upgrade
difference is an immediate invoice, an upgrade switches the billed plan at once. So the
plan the stream enforces is the plan billed, and every charge it decided is invoiced once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import cast

from core.limits import LimitsContext
from core.replay import InjectedChange, replay_decisions
from pricing.cycles import Cycle
from pricing.limits import Action, LimitDecision
from pricing.pricebook import PriceBook
from schemas.records import Decision, MeteredEvent

ACTIONS: dict[str, str] = {"flex.purchased": "flex", "plan.upgraded": "upgrade",
                           "sending.blocked": "block", "downgrade.scheduled": "downgrade"}
"""Decision kinds that billing reads (the others change no money); a
`downgrade.cancelled` removes the scheduled downgrade it follows."""


class OneBook(Mapping[str, PriceBook]):
    """Every price book name -> the one the account is rated under (re-rating under another
    book replays the core under that book)."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def __getitem__(self, name: str) -> PriceBook:
        return self.book

    def get(self, name: str, default: object = None) -> PriceBook:
        return self.book

    def __iter__(self) -> Iterator[str]:
        return iter((self.book.name,))

    def __len__(self) -> int:
        return 1


def limits_for(book: PriceBook) -> LimitsContext:
    return LimitsContext(OneBook(book), book.name)


def limit_decision(d: Decision) -> LimitDecision:
    return LimitDecision(d.product, d.meter, cast(Action, ACTIONS[d.kind]), d.plan,
                         d.target_plan, d.limit, d.capacity, d.unit_price, d.cost, d.reason,
                         d.at)


class AccountDecisions:
    """The core's decisions over one account's log, replayed once per set of injected
    changes (a close that changes a plan adds one)."""

    def __init__(self, limits: LimitsContext, until: datetime) -> None:
        self.limits, self.until = limits, until
        self.injected: list[InjectedChange] = []
        self._cache: tuple[int, list[Decision]] | None = None

    def inject(self, change: InjectedChange) -> None:
        self.injected.append(change)

    def of_cycle(self, log: list[MeteredEvent], cycle: Cycle, product: str,
                 meter: str | None) -> list[LimitDecision]:
        """The product's priced decisions in `cycle`: those on its send-limit `meter`
        (flex, upgrade, block) and its auto-downgrade unless cancelled later."""
        if self._cache is None or self._cache[0] != len(self.injected):
            self._cache = (len(self.injected), replay_decisions(
                log, self.limits, self.injected, self.until))
        out: list[LimitDecision] = []
        for d in self._cache[1]:
            if d.product != product or not cycle.contains(d.at):
                continue
            if d.kind == "downgrade.cancelled":
                out = [x for x in out if x.action != "downgrade"]
            elif d.kind == "downgrade.scheduled" or (d.kind in ACTIONS and d.meter == meter):
                out.append(limit_decision(d))
        return out
