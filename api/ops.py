"""The operator view's data: consumer lag per partition and rejected events by reason.

`GET /v1/ops/status` needs a key that may read every account (`read: ["*"]`): lag and
rejection reasons span all accounts. The broker reads are blocking (admin client, reading
the rejected topic to its end), so they run in a thread, one at a time, and the answer is
cached for `ttl_s` seconds; a failed read is not cached (503 `broker_unavailable`).
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import Access
from api.errors import ERROR_RESPONSES, ApiError
from api.keys import ANY, ApiKey
from infra.clock import Clock
from schemas.topics import Topics

log = structlog.get_logger(__name__)


class LagRow(BaseModel):
    group: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int


class RejectedCount(BaseModel):
    reason: str
    count: int


class OpsStatus(BaseModel):
    read_at: datetime = Field(description="When the broker was read (the API's clock).")
    lag: list[LagRow]
    rejected: list[RejectedCount] = Field(description="Most frequent reason first.")


OpsReader = Callable[[], tuple[list[LagRow], list[RejectedCount]]]  # blocking


def kafka_ops(bootstrap: str, topics: Topics) -> OpsReader:
    """Reads lag of the processor (events) and sink (metered, rejected) groups, whose ids
    come from their settings, and the rejected topic's reasons."""

    def read() -> tuple[list[LagRow], list[RejectedCount]]:
        from api.kafka_status import lag_rows, rejected_by_reason
        from projections.settings import SinkSettings
        from stream_processors.settings import ProcessorSettings

        processor, sink = ProcessorSettings().app_id, SinkSettings().app_id
        rows = lag_rows(bootstrap, [(processor, topics.events), (sink, topics.metered),
                                    (sink, topics.rejected)])
        lag = [LagRow(group=g, topic=t, partition=p, committed=c, end=e, lag=n)
               for g, t, p, c, e, n in rows]
        return lag, [RejectedCount(reason=r, count=n)
                     for r, n in rejected_by_reason(bootstrap, topics.rejected)]

    return read


class CachedOps:
    def __init__(self, reader: OpsReader, clock: Clock, ttl_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._reader, self._clock, self._ttl, self._monotonic = reader, clock, ttl_s, monotonic
        self._cached: tuple[float, OpsStatus] | None = None
        self._lock = asyncio.Lock()

    async def status(self) -> OpsStatus:
        async with self._lock:  # one broker read at a time; the others get its answer
            if self._cached is not None and self._monotonic() - self._cached[0] < self._ttl:
                return self._cached[1]
            try:
                lag, rejected = await asyncio.to_thread(self._reader)
            except Exception as exc:
                log.warning("api.ops.unavailable", error=repr(exc)[:300])
                raise ApiError(503, "broker_unavailable",
                               f"cannot read the broker: {exc!r}"[:500]) from exc
            answer = OpsStatus(read_at=self._clock.now(), lag=lag, rejected=rejected)
            self._cached = (self._monotonic(), answer)
            return answer


def ops_router(access: Access, ops: CachedOps) -> APIRouter:
    router = APIRouter(prefix="/v1/ops", tags=["ops"], responses=ERROR_RESPONSES)

    @router.get("/status", response_model=OpsStatus)
    async def status(key: Annotated[ApiKey, Depends(access.key)]) -> OpsStatus:
        """Consumer lag per partition and rejected events by reason (needs `read: ["*"]`;
        cached a few seconds)."""
        if ANY not in key.read:
            log.info("api.forbidden", key=key.name, right="read *")
            raise ApiError(403, "ops_not_readable", f"key {key.name!r} may not read the "
                           "operator view: it needs read rights on every account ('*')")
        return await ops.status()

    return router
