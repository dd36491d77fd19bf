"""Seasonal seat windows in the stream: a reading that assigns more seasonal users to a
window than its seats raises one alert per window (`pricing.seats.seasonal_over_limit`
decides). Seasonal seats never count as full-time seats (no storage allowance)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.accounts import AccountState
from core.limits import LimitsContext, alert_id
from pricing.seats import seasonal_over_limit, seasonal_window
from schemas.events import SeatsChanged
from schemas.records import Alert

METER = "seats.seasonal"
THRESHOLD = "100%"
REMEMBERED = 200
"""Windows whose alert was raised, kept per account (the oldest forgotten first)."""


def seasonal_alerts(state: AccountState, data: SeatsChanged, account: str, at: datetime,
                    offset: int, ctx: LimitsContext) -> tuple[list[Alert], AccountState]:
    """Alerts for the windows of `data` over their seats, not raised before; the state
    remembering them."""
    seat_plans = []
    for pid, pp in state.products.items():
        book = ctx.book_for(pp)
        if book is None or pid not in {p.id for p in book.products}:
            continue
        product = book.product(pid)
        if pp.plan in {p.id for p in product.plans} and product.plan(pp.plan).seat_price:
            seat_plans.append((pid, pp.plan, book, product.plan(pp.plan)))
    if not seat_plans:
        return [], state
    pid, plan_id, book, plan = seat_plans[0]
    alerts: list[Alert] = []
    raised = list(state.seasonal_alerted)
    for w in data.seasonal:
        window = seasonal_window(w.first_day, w.last_day)
        key = f"{window.start.date()}|{window.end.date()}"
        if w.assigned is None or key in raised or \
                not seasonal_over_limit(window, w.seats, w.assigned, at):
            continue
        raised.append(key)
        over = Decimal(w.assigned - w.seats)
        price = plan.seasonal_seat_price or Decimal(0)
        alerts.append(Alert(
            id=alert_id(account, window.start.isoformat(), pid, METER, THRESHOLD),
            account=account, product=pid, plan=plan_id, meter=METER, kind="threshold",
            threshold=THRESHOLD, level=Decimal(w.seats), value=Decimal(w.assigned),
            limit=Decimal(w.seats), crossed_at=at, cycle_start=window.start,
            cycle_end=window.end, projected=Decimal(w.assigned),
            projected_overage_cost=over * price, currency=book.currency, offset=offset))
    if not alerts:
        return [], state
    return alerts, state.model_copy(update={"seasonal_alerted": raised[-REMEMBERED:]})
