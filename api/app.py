"""FastAPI application: ask before sending, and announce scheduled sends.

- `GET /v1/accounts/{account}/can-send?product=email&count=N`: may the account send N
  more now, and what would happen (allow / block / upgrade / flex, with the cost); the
  answer reflects the records the stream has processed (`as_of_offset`).
- `POST /v1/accounts/{account}/scheduled-sends` `{"product", "count"}`: records a
  `send.scheduled` event (answered only after Kafka acknowledged it); under auto_upgrade a
  send that would cross the limit upgrades the plan in the stream at once. With
  `?wait=true` the answer is the can-send answer once the stream has processed it.
- `GET /v1/accounts/{account}/limits`: plans, policies, blocks and cycle-to-date values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import BaseModel, Field

from infra.clock import Clock
from producers import MeteringProducer
from schemas.events import Product
from stream_processors.account_view import AccountView
from stream_processors.can_send import CanSendAnswer, can_send
from stream_processors.limits import LimitsContext

AccountId = Annotated[str, Path(min_length=1, max_length=256)]


class ScheduledSend(BaseModel):
    product: Product
    count: int = Field(ge=1, le=100_000_000)
    id: str | None = Field(None, max_length=256, description="Idempotency key of the send.")


class ScheduledSendAccepted(BaseModel):
    event_id: str
    partition: int
    offset: int
    answer: CanSendAnswer | None = None


def create_api(view: AccountView, producer_factory: Callable[[], MeteringProducer],
               ctx: LimitsContext, clock: Clock, view_wait_s: float = 10.0) -> FastAPI:
    api = FastAPI(title="Usage metering API", version="1",
                  description="Ask before sending; schedule sends. Answers reflect the "
                              "events the stream has processed.")
    producer: list[MeteringProducer] = []

    def get_producer() -> MeteringProducer:
        if not producer:
            producer.append(producer_factory())
        return producer[0]

    @api.on_event("shutdown")
    def _close() -> None:
        for p in producer:
            p.close()

    @api.get("/v1/accounts/{account}/can-send", response_model=CanSendAnswer)
    def can_send_now(account: AccountId, product: Product,
                     count: Annotated[int, Query(ge=1, le=100_000_000)] = 1) -> CanSendAnswer:
        state = view.get(account)
        if state is None:
            raise HTTPException(404, detail={"reason": "unknown_account"})
        return can_send(state, account, product, count, ctx, clock.now())

    @api.post("/v1/accounts/{account}/scheduled-sends", status_code=202,
              response_model=ScheduledSendAccepted)
    async def schedule(account: AccountId, body: ScheduledSend,
                       wait: bool = False) -> ScheduledSendAccepted:
        if view.get(account) is None:
            raise HTTPException(404, detail={"reason": "unknown_account"})
        p = get_producer()
        event = p.build("send.scheduled", account, {"product": body.product,
                                                    "count": body.count},
                        id=body.id, time=clock.now())
        stamp = int(event.time.timestamp() * 1000)  # the record time is the API's clock too
        meta = await asyncio.to_thread(lambda: p.send(event, stamp).get(timeout=30))
        accepted = ScheduledSendAccepted(event_id=event.id, partition=meta.partition,
                                         offset=meta.offset)
        if wait:
            state = await asyncio.to_thread(view.wait_for, account, meta.offset, view_wait_s)
            accepted.answer = can_send(state, account, body.product, 1, ctx, clock.now())
        return accepted

    @api.get("/v1/accounts/{account}/limits")
    def limits(account: AccountId) -> dict[str, Any]:
        state = view.get(account)
        if state is None:
            raise HTTPException(404, detail={"reason": "unknown_account"})
        return {"account": account, "as_of_offset": state.last_offset,
                "products": {k: v.model_dump(mode="json") for k, v in state.products.items()},
                "levels": {k: str(v) for k, v in state.levels.items()},
                "live": None if state.live is None else state.live.model_dump(mode="json")}

    return api
