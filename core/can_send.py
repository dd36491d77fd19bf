"""May an account send N more messages now? Pure, over the live state the stream stored.

The answer reflects the records the stream has processed (the state's `last_offset`):
- `allow`: within the effective limit (the plan's, or a flexed tier's);
- `block`: sending is blocked (limit reached under policy none, a free plan over its
  profile limit, top of the ladder, flex not offered), or the product is not subscribed;
- `upgrade` / `flex`: the send would cross the limit and the account's policy would move
  it to `target_plan` / buy that tier's capacity, at `cost`.
A state whose live cycle is older than `at` is rolled forward first (blocks and flex end
with their cycle; pending plan changes apply), without emitting anything.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, cast

from pydantic import BaseModel

from core.accounts import AccountState
from core.limits import ZERO, LimitsContext, LiveRun, watched_products
from pricing.limits import decide_at_limit
from pricing.pricebook import LimitPolicy

SendAction = Literal["allow", "block", "upgrade", "flex"]

class CanSendAnswer(BaseModel):
    account: str
    product: str
    count: int
    action: SendAction
    allowed: bool
    """True when the send goes through (allow, or the policy upgrades / buys capacity)."""
    reason: str = ""
    plan: str | None = None
    target_plan: str | None = None
    limit: Decimal | None = None
    used: Decimal = ZERO
    remaining: Decimal | None = None
    cost: Decimal = ZERO
    currency: str = "USD"
    cycle_end: datetime | None = None
    as_of_offset: int = -1


def can_send(state: AccountState | None, account: str, product: str, count: int,
             ctx: LimitsContext, at: datetime) -> CanSendAnswer:
    def answer(action: SendAction, reason: str,
               **more: object) -> CanSendAnswer:
        return CanSendAnswer(account=account, product=product, count=count, action=action,
                             allowed=action != "block", reason=reason,
                             as_of_offset=-1 if state is None else state.last_offset,
                             **more)

    if state is None:
        return answer("block", "unknown_account")
    run = LiveRun(state, account, ctx, at, state.last_offset)
    run.roll(state.cycle_for(at))
    for pid, pp, book, spec, plan in watched_products(run.state, ctx):
        if pid != product:
            continue
        meter = spec.send_limit_meter
        limit = None if meter is None else run.limit(spec, plan, meter)
        used = ZERO if meter is None else run.value(meter)
        common = {"plan": plan.id, "limit": limit, "used": used, "currency": book.currency,
                  "cycle_end": run.live.end,
                  "remaining": None if limit is None else max(limit - used, ZERO)}
        blocked = run.live.blocked.get(pid)
        if blocked is not None:
            return answer("block", blocked, **common)
        if meter is None or limit is None or used + count <= limit:
            return answer("allow", "within_limit", **common)
        d = decide_at_limit(book, pid, plan.id, cast(LimitPolicy, pp.limit_policy), used,
                            used + count, earlier=run.flexed(pid), at=at)
        action = cast(SendAction, d.action)  # decide_at_limit never answers "downgrade"
        return answer(action, d.reason, target_plan=d.target_plan, cost=d.cost, **common)
    return answer("block", "not_subscribed")
