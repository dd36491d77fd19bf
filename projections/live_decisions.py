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
from typing import cast

from core.limits import LimitsContext
from core.replay import InjectedChange, replay_decisions
from pricing.cycles import Cycle
from pricing.limits import Action, LimitDecision
from pricing.pricebook import PriceBook
from schemas.records import Decision, MeteredEvent

ACTIONS: dict[str, str] = {"flex.purchased": "flex", "plan.upgraded": "upgrade",
                           "sending.blocked": "block"}
"""Decision kinds that billing reads (the others change no money)."""


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

    def __init__(self, limits: LimitsContext) -> None:
        self.limits = limits
        self.injected: list[InjectedChange] = []
        self._cache: tuple[int, list[Decision]] | None = None

    def inject(self, change: InjectedChange) -> None:
        self.injected.append(change)

    def of_cycle(self, log: list[MeteredEvent], cycle: Cycle, product: str,
                 meter: str) -> list[LimitDecision]:
        if self._cache is None or self._cache[0] != len(self.injected):
            self._cache = (len(self.injected),
                           replay_decisions(log, self.limits, self.injected))
        return [limit_decision(d) for d in self._cache[1]
                if d.kind in ACTIONS and d.product == product and d.meter == meter and
                cycle.contains(d.at)]
