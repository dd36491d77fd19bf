"""Price simulations over HTTP: ask for one, read its report and its pictures.

Every route needs a key that reads every account (`read: ["*"]`): a simulation spans all
the accounts of a book. `POST /v1/simulations` validates the candidate book with the
loader every book goes through (every problem listed, 400 `invalid_pricebook`), checks
that it replaces a deployment book (400 `unknown_book`) and the period (400 `bad_period`),
then queues the request on `billing.simulation-requests` and answers 202 with the id and
the book's changes. The process that owns ClickHouse runs it (the sink's simulation agent)
and publishes the result; `GET /v1/simulations/{id}` answers `pending` until then, `done`
with the report, or `failed` with its reason. The pictures of a done report, as SVG or
PNG: `GET /v1/simulations/{id}/charts/{name}.{svg|png}`.

This API process remembers the ids it queued (pending) and reads every result from the
compacted results topic, so a result is found after a restart too; an id queued by a
process that restarted before the result came is unknown (404) until it comes.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

import asyncio
import threading
import uuid
from collections.abc import Mapping
from typing import Annotated, Literal, Protocol

import orjson
import structlog
from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import Access
from api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from api.keys import ANY, ApiKey
from api.topic_tail import TopicTail
from infra.clock import Clock
from pricing.book_diff import BookChange, book_changes
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import PriceBookError, parse_pricebook_text
from pricing.simulation import (
    SimulationError,
    SimulationReport,
    SimulationRequest,
    SimulationResult,
    month_range,
    replaced_book,
)

log = structlog.get_logger(__name__)
MAX_BOOK_BYTES = 262_144


class SimulationQueue(Protocol):
    """Where requests go and results come from (Kafka in the running API)."""

    def submit(self, request: SimulationRequest) -> None:
        """Queue the request, acknowledged (blocking)."""

    def result(self, simulation_id: str) -> SimulationResult | None: ...


class SimulationAsk(BaseModel):
    pricebook: str = Field(min_length=1, max_length=MAX_BOOK_BYTES,
                           description="The candidate price book, as YAML (or JSON) text. "
                                       "It replaces the deployment book of the same name.")
    from_month: str = Field(pattern=r"^\d{4}-\d{2}$", description="First month, YYYY-MM.")
    to_month: str = Field(pattern=r"^\d{4}-\d{2}$", description="Last month, included.")
    accounts: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        [], max_length=10_000, description="Only these accounts (none: every account).")


class SimulationQueued(BaseModel):
    id: str
    status: Literal["pending"] = "pending"
    current: str
    candidate: str
    book_changes: list[BookChange]


class SimulationStatus(BaseModel):
    id: str
    status: Literal["pending", "done", "failed"]
    report: SimulationReport | None = None
    reason: str | None = None
    detail: str | None = None


def _require_all(key: ApiKey) -> None:
    if ANY not in key.read:
        log.info("api.forbidden", key=key.name, right="read *")
        raise ApiError(403, "simulations_not_readable", f"key {key.name!r} may not run or "
                       "read simulations: it needs read rights on every account ('*')")


def checked_candidate(text: str,
                      books: Mapping[str, PriceBook]) -> tuple[PriceBook, PriceBook]:
    """(the book it replaces, the candidate as rated), or a 400 with the reason."""
    try:
        candidate = parse_pricebook_text(text, "the candidate")
    except PriceBookError as exc:
        raise ApiError(400, "invalid_pricebook", str(exc)[:4000], problems=[
            {"path": path, "problem": message} for path, message in exc.problems][:100]
            ) from exc
    try:
        return replaced_book(books, candidate)
    except SimulationError as exc:
        raise ApiError(400, exc.reason, exc.detail) from exc


def simulations_router(access: Access, queue: SimulationQueue,
                       books: Mapping[str, PriceBook], clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/v1/simulations", tags=["simulations"],
                       responses=ERROR_RESPONSES)
    pending: set[str] = set()
    Id = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="The simulation id.")]

    @router.post("", status_code=202, response_model=SimulationQueued,
                 responses={400: {"model": ErrorBody, "description":
                                  "invalid_pricebook, unknown_book, currency_differs, bad_period"},
                            503: {"model": ErrorBody, "description": "queue_unavailable"}})
    async def ask(body: SimulationAsk,
                  key: Annotated[ApiKey, Depends(access.key)]) -> SimulationQueued:
        """Queue a price simulation of a candidate book over the closed cycles of a
        period (needs `read: ["*"]`); poll `GET /v1/simulations/{id}` for the report."""
        _require_all(key)
        current, candidate = checked_candidate(body.pricebook, books)
        try:
            month_range(body.from_month, body.to_month)
        except ValueError as exc:
            raise ApiError(400, "bad_period", str(exc)) from exc
        request = SimulationRequest(
            id=str(uuid.uuid4()), requested_at=clock.now(), requested_by=key.name,
            pricebook=body.pricebook, from_month=body.from_month, to_month=body.to_month,
            accounts=body.accounts)
        try:
            await asyncio.to_thread(queue.submit, request)
        except Exception as exc:
            log.warning("api.simulation.queue_failed", error=repr(exc)[:300])
            raise ApiError(503, "queue_unavailable", "the simulation could not be queued "
                           "(the broker did not acknowledge it): ask again") from exc
        pending.add(request.id)
        log.info("api.simulation.queued", id=request.id, key=key.name,
                 candidate=f"{candidate.name}@{candidate.version}")
        return SimulationQueued(id=request.id, current=f"{current.name}@{current.version}",
                                candidate=f"{candidate.name}@{candidate.version}",
                                book_changes=book_changes(current, candidate))

    def status_of(simulation_id: str) -> SimulationStatus:
        result = queue.result(simulation_id)
        if result is not None:
            return SimulationStatus(id=result.id, status=result.status, report=result.report,
                                    reason=result.reason, detail=result.detail)
        if simulation_id in pending:
            return SimulationStatus(id=simulation_id, status="pending")
        raise ApiError(404, "unknown_simulation", f"no simulation {simulation_id!r}")

    @router.get("/{simulation_id}", response_model=SimulationStatus,
                responses={404: {"model": ErrorBody, "description": "unknown_simulation"}})
    def status(simulation_id: Id,
               key: Annotated[ApiKey, Depends(access.key)]) -> SimulationStatus:
        """The simulation: `pending`, `done` with its report, or `failed` with a reason."""
        _require_all(key)
        return status_of(simulation_id)

    @router.get("/{simulation_id}/charts/{name}.{fmt}",
                responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}},
                           404: {"model": ErrorBody, "description":
                                 "unknown_simulation, not_done"}})
    def chart(simulation_id: Id, name: Literal["revenue_by_month", "change_distribution"],
              fmt: Literal["svg", "png"],
              key: Annotated[ApiKey, Depends(access.key)]) -> Response:
        """A picture of a done simulation (revenue by month, change per account)."""
        _require_all(key)
        found = status_of(simulation_id)
        if found.report is None:
            raise ApiError(404, "not_done", f"simulation {simulation_id!r} is "
                           f"{found.status}: it has no pictures")
        from projections.figures import render
        from projections.simulation_charts import figure

        body = render(figure(found.report, name), fmt)
        return Response(body, media_type="image/svg+xml" if fmt == "svg" else "image/png")

    return router


class KafkaSimulations:
    """The queue on Kafka: requests produced to `requests_topic`; results tailed from the
    compacted `results_topic` from its beginning by a background thread (the newest
    `keep` kept)."""

    def __init__(self, bootstrap: str, requests_topic: str, results_topic: str,
                 keep: int = 200) -> None:
        self.bootstrap, self.requests_topic, self.results_topic = (bootstrap, requests_topic,
                                                                   results_topic)
        self.keep = keep
        self._results: dict[str, SimulationResult] = {}
        self._lock = threading.Lock()
        self._tail = TopicTail(bootstrap, [results_topic], self.apply,
                               name="api-simulations", fetch_max_bytes=128 * 1024 * 1024,
                               max_partition_fetch_bytes=64 * 1024 * 1024)

    def start(self) -> "KafkaSimulations":
        self._tail.start()
        return self

    def close(self) -> None:
        self._tail.close()

    def submit(self, request: SimulationRequest) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            producer.send(self.requests_topic, key=request.id.encode(),
                          value=orjson.dumps(request.model_dump(mode="json"))
                          ).get(timeout=30)
        finally:
            producer.close(5)

    def result(self, simulation_id: str) -> SimulationResult | None:
        with self._lock:
            return self._results.get(simulation_id)

    def apply(self, topic: str, value: bytes | None) -> None:
        if not value:
            return
        try:
            result = SimulationResult.model_validate_json(value)
        except ValueError as exc:
            log.warning("api.simulations.bad_record", error=str(exc)[:300])
            return
        with self._lock:
            self._results.pop(result.id, None)
            self._results[result.id] = result
            while len(self._results) > self.keep:
                self._results.pop(next(iter(self._results)))
