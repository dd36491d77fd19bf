"""Per-account routes: each needs a key that may read (or, to send, write) the account.

Answers come from Kafka only: the account state tailed from the compacted accounts topic
(`AccountView`: usage, limits, can-send) and the alerts, decisions and invoices topics
(`Feeds`). "Now" is the injected clock.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError

from api.auth import Access, require_read
from api.errors import ERROR_RESPONSES, ApiError, ErrorBody, not_found
from api.feeds import Feeds
from api.ingest import produce
from api.keys import ApiKey
from api.ports import EventProducer, StateView
from api.usage import UsageAnswer, current_usage
from api.usage_history import UsageHistory, usage_history
from core.accounts import AccountState
from core.can_send import CanSendAnswer, can_send
from core.limits import LimitsContext
from infra.clock import Clock
from schemas.billing import InvoiceDocument
from schemas.errors import describe
from schemas.events import Product
from schemas.records import Alert, Decision

RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "unknown_account"}}
Limit = Annotated[int, Query(ge=1, le=10_000, description="Newest first; at most this many.")]


class ScheduledSend(BaseModel):
    product: Product
    count: int = Field(ge=1, le=100_000_000)
    id: str | None = Field(None, max_length=256, description="Idempotency key of the send.")


class ScheduledSendAccepted(BaseModel):
    event_id: str
    partition: int | None = Field(None, description="Only for a key that reads every account.")
    offset: int | None = Field(None, description="Only for a key that reads every account.")
    answer: CanSendAnswer | None = None


class AlertList(BaseModel):
    account: str
    alerts: list[Alert]


class DecisionList(BaseModel):
    account: str
    decisions: list[Decision]


class InvalidInvoice(BaseModel):
    """A document on `billing.invoices` that is not the contract (`schemas.billing`)."""

    invoice_id: str | None = None
    number: str | None = None
    reason: str = "invalid_invoice_document"
    error: str = Field(description="The first field at fault and why.")


class InvoiceList(BaseModel):
    account: str
    invoices: list[InvoiceDocument] = Field(description="`invoice.issued` / `invoice.revised` "
                                                        "documents, oldest first.")
    invalid: list[InvalidInvoice] = Field(
        default_factory=list, description="Documents of the account that are not the "
        "contract: listed with the reason instead of failing the answer.")


def accounts_router(access: Access, view: StateView, producer: list[EventProducer],
                    ctx: LimitsContext, clock: Clock, feeds: Feeds,
                    view_wait_s: float, send_timeout_s: float) -> APIRouter:
    router = APIRouter(prefix="/v1/accounts/{account}", tags=["accounts"], responses=RESPONSES)
    Readable = Annotated[str, Depends(access.readable)]
    Writable = Annotated[str, Depends(access.writable)]

    def state_of(account: str) -> AccountState:
        state = view.get(account)
        if state is None:
            raise not_found(account)
        return state

    @router.get("/can-send", response_model=CanSendAnswer)
    def can_send_now(account: Readable, product: Product,
                     count: Annotated[int, Query(ge=1, le=100_000_000)] = 1) -> CanSendAnswer:
        """May the account send `count` more now, and what would happen."""
        return can_send(state_of(account), account, product, count, ctx, clock.now())

    @router.post("/scheduled-sends", status_code=202, response_model=ScheduledSendAccepted)
    async def schedule(account: Writable, key: Annotated[ApiKey, Depends(access.key)],
                       body: ScheduledSend, wait: bool = False) -> ScheduledSendAccepted:
        """Record a `send.scheduled` event (answered after Kafka acknowledged it); with
        `wait`, the can-send answer once the stream processed it (the key must also be
        allowed to read the account)."""
        if wait:
            require_read(key, account)
        state_of(account)
        p = producer[0]
        event = p.build("send.scheduled", account, {"product": body.product,
                                                    "count": body.count},
                        id=body.id, time=clock.now())
        stamp = int(event.time.timestamp() * 1000)  # the record time is the API's clock too
        [sent] = await asyncio.to_thread(produce, p, [event], stamp, send_timeout_s)
        if sent.partition is None or sent.offset is None:
            raise ApiError(503, "not_acknowledged", f"Kafka did not acknowledge the event: "
                           f"{sent.error}; send it again with the same id")
        accepted = ScheduledSendAccepted(event_id=event.id)
        if key.ops:
            accepted.partition, accepted.offset = sent.partition, sent.offset
        if wait:
            state = await asyncio.to_thread(view.wait_for, account, sent.offset, view_wait_s)
            accepted.answer = can_send(state, account, body.product, 1, ctx, clock.now())
        return accepted

    @router.get("/usage", response_model=UsageAnswer)
    def usage(account: Readable, key: Annotated[ApiKey, Depends(access.key)]
              ) -> UsageAnswer:
        """The current cycle: every meter of the plan against its allotment
        (`as_of_offset` only for a key that reads every account)."""
        answer = current_usage(state_of(account), account, ctx, clock.now())
        return answer if key.ops else answer.model_copy(update={"as_of_offset": None})

    @router.get("/usage/history", response_model=UsageHistory)
    def usage_over_time(account: Readable) -> UsageHistory:
        """The current cycle day by day: each limited meter's value at the end of every
        day so far against its allotment, and the forecast to the cycle's end."""
        return usage_history(state_of(account), account, ctx, clock.now())

    @router.get("/limits")
    def limits(account: Readable, key: Annotated[ApiKey, Depends(access.key)]
               ) -> dict[str, Any]:
        """Plans, policies, gauge levels and the live cycle as the stream stored them
        (`as_of_offset` only for a key that reads every account)."""
        state = state_of(account)
        return {"account": account, "as_of_offset": state.last_offset if key.ops else None,
                "products": {k: v.model_dump(mode="json") for k, v in state.products.items()},
                "levels": {k: str(v) for k, v in state.levels.items()},
                "live": None if state.live is None else state.live.model_dump(mode="json")}

    @router.get("/alerts", response_model=AlertList)
    def alerts(account: Readable, limit: Limit = 100) -> AlertList:
        """The newest alerts (thresholds and forecasts) raised for the account."""
        return AlertList(account=account, alerts=feeds.alerts(account, limit))

    @router.get("/decisions", response_model=DecisionList)
    def decisions(account: Readable, limit: Limit = 100) -> DecisionList:
        """The newest limit decisions (blocked, upgraded, flex, downgrades)."""
        return DecisionList(account=account, decisions=feeds.decisions(account, limit))

    # the documents as they were published: fields a document does not carry stay out
    @router.get("/invoices", response_model=InvoiceList, response_model_exclude_unset=True)
    def invoices(account: Readable) -> InvoiceList:
        """Issued invoices and revisions of the account."""
        typed, invalid = [], []
        for doc in feeds.invoices(account):
            try:
                typed.append(InvoiceDocument.model_validate(doc))
            except ValidationError as exc:
                invalid.append(InvalidInvoice(  # every field set: the answer excludes unset
                    invoice_id=_text(doc.get("invoice_id")), number=_text(doc.get("number")),
                    reason="invalid_invoice_document", error=describe(exc, limit=1)))
        return InvoiceList(account=account, invoices=typed, invalid=invalid)

    return router


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
