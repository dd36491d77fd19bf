"""The one allowed lateness of a deployment: how long after a cycle's end its events are
still accepted (stream) and its invoices wait (close of cycle, `metering rate`).

It is the price books' `lateness_hours`; every book a deployment knows must give the same
value, or an operator override (`METERING_ALLOWED_LATENESS_H`) decides it for every role.
Pure: the caller reads the setting and the books.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pricing.pricebook import PriceBook


class LatenessConflict(ValueError):
    """The price books disagree and no override says which lateness holds."""


@dataclass(frozen=True)
class Lateness:
    hours: float
    source: Literal["pricebook", "override"]

    @property
    def delta(self) -> timedelta:
        return timedelta(hours=self.hours)

    def describe(self) -> str:
        where = ("the price books' lateness_hours" if self.source == "pricebook"
                 else "override METERING_ALLOWED_LATENESS_H")
        return f"{self.hours:g} h ({where})"


def resolve_lateness(books: Mapping[str, PriceBook], override_hours: float | None = None
                     ) -> Lateness:
    """The lateness every role applies: the override when set, else the books' value."""
    if override_hours is not None:
        if override_hours < 0:
            raise LatenessConflict(f"METERING_ALLOWED_LATENESS_H={override_hours} is negative")
        return Lateness(float(override_hours), "override")
    values = {name: float(book.lateness_hours) for name, book in books.items()}
    distinct = set(values.values())
    if len(distinct) > 1:
        listed = ", ".join(f"{name}: {v:g} h" for name, v in sorted(values.items()))
        raise LatenessConflict(
            f"the price books disagree on lateness_hours ({listed}); give them one value "
            "or set METERING_ALLOWED_LATENESS_H for every role")
    return Lateness(distinct.pop() if distinct else 24.0, "pricebook")


def with_lateness(books: Mapping[str, PriceBook], lateness: Lateness) -> dict[str, PriceBook]:
    """The books as every role rates them: each with the deployment's lateness."""
    return {name: book if float(book.lateness_hours) == lateness.hours
            else book.model_copy(update={"lateness_hours": lateness.hours})
            for name, book in books.items()}
