"""FastAPI application: ingest CloudEvents, read an account's usage, limits, alerts,
decisions and invoices, ask before sending. Every route but `/healthz` and the OpenAPI
pages needs an API key (api/auth.py); routes are in api/ingest.py and api/accounts.py.

The API reads Kafka only (account states, alerts, decisions, invoices), never ClickHouse:
in embedded mode chdb belongs to the sink process. One Kafka producer (acks=all,
idempotent) is created at startup and shared; its blocking calls run in threads.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.accounts import accounts_router
from api.auth import NO_KEYS, access
from api.dashboard import dashboard_router
from api.errors import ERROR_RESPONSES, ErrorBody, install_handlers, request_id
from api.feeds import Feeds
from api.ingest import IngestLimits, ingest_router
from api.invoice_documents import invoice_documents_router
from api.keys import ApiKey, KeyStore
from api.ops import CachedOps, OpsReader, kafka_ops, ops_router
from api.ports import EventProducer, StateView
from api.simulations import SimulationQueue, simulations_router
from core.limits import LimitsContext
from infra.clock import Clock

log = structlog.get_logger(__name__)
DESCRIPTION = """Usage metering over HTTP.

* **Ingest**: `POST /v1/events` with one CloudEvent (`application/cloudevents+json`) or a
  batch (`application/cloudevents-batch+json`); validated like the stream validates.
* **Read** an account: usage of the current cycle, limits, can-send, alerts, decisions,
  invoices (and each invoice as HTML or PDF).
* **Simulate** a candidate price book over past cycles: `POST /v1/simulations`, then
  `GET /v1/simulations/{id}` (a key that reads every account).
* **Dashboard** (browser): `/dashboard/accounts/{account}`, `/dashboard/ops`,
  `/dashboard/simulations`.

Authenticate with an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`. A key
may write (ingest for) and read a list of accounts, or `*`. Errors are
`{"error": "...", "reason": "<machine code>", "request_id": "..."}`; every answer has an
`X-Request-Id` header.
"""


class KeyInfo(BaseModel):
    name: str
    write: list[str]
    read: list[str]


def create_api(view: StateView, producer_factory: Callable[[], EventProducer],
               ctx: LimitsContext, clock: Clock, *, keys: KeyStore, feeds: Feeds,
               view_wait_s: float = 10.0, limits: IngestLimits | None = None,
               ops: OpsReader | None = None, ops_ttl_s: float = 5.0,
               simulations: SimulationQueue | None = None) -> FastAPI:
    """`ops` reads lag and rejections for the operator view (default: from the broker the
    feeds read); `simulations` queues price simulations and reads their results (none:
    the simulation routes are not offered)."""
    limits = limits or IngestLimits()
    producer: list[EventProducer] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producer.append(await asyncio.to_thread(producer_factory))
        if not len(keys):
            log.warning("api.no_keys", hint=NO_KEYS)
        log.info("api.started", keys=len(keys), key_names=keys.names)
        try:
            yield
        finally:
            for p in producer:
                try:
                    await asyncio.to_thread(p.close, 10.0)
                except Exception as exc:  # undelivered events were answered 503 already
                    log.warning("api.producer_close", error=repr(exc)[:300])
            producer.clear()

    # no trailing-slash redirects: Starlette builds their Location from the Host header
    api = FastAPI(title="Usage metering API", version="1", description=DESCRIPTION,
                  lifespan=lifespan, redirect_slashes=False)
    install_handlers(api)
    acc = access(keys)
    api.include_router(ingest_router(acc, producer, clock, limits))
    api.include_router(accounts_router(acc, view, producer, ctx, clock, feeds, view_wait_s,
                                       limits.send_timeout_s))
    api.include_router(invoice_documents_router(acc, feeds))
    api.include_router(ops_router(acc, CachedOps(
        ops or kafka_ops(feeds.bootstrap, feeds.topics), clock, ops_ttl_s)))
    if simulations is not None:
        api.include_router(simulations_router(acc, simulations, ctx.books, clock))
    api.include_router(dashboard_router())

    @api.get("/v1/whoami", response_model=KeyInfo, responses=ERROR_RESPONSES, tags=["keys"])
    def whoami(key: Annotated[ApiKey, Depends(acc.key)]) -> KeyInfo:
        """The presented key's name and rights."""
        return KeyInfo(name=key.name, write=key.write, read=key.read)

    @api.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness (no key needed): the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"], responses={503: {"model": ErrorBody}})
    def readyz(request: Request) -> JSONResponse:
        """Readiness (no key needed): events can be sent now. A producer left in a fatal
        state by a refused record is rebuilt here (and before any send); 503 while not."""
        p = producer[0] if producer else None
        if p is not None and callable(getattr(p, "recover", None)):
            p.recover()  # type: ignore[attr-defined]
        if p is not None and getattr(p, "healthy", True):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"error": "the Kafka producer cannot send now",
                             "reason": "producer_not_ready",
                             "request_id": request_id(request)}, status_code=503)

    return api
