"""`POST /v1/events`: CloudEvents over HTTP, validated like the stream validates them.

- `application/cloudevents+json`: one event; `application/cloudevents-batch+json`: a JSON
  array of events (CloudEvents HTTP binding, structured and batched modes).
- Every event goes through `core.validate.decode`, the stream's own decoder,
  so a rejection here carries the reason the stream would give (`invalid_data`,
  `unknown_type`, `negative_quantity`, ...).
- All or nothing: one invalid event (400) or one event for an account the key may not
  write (403) and nothing of the batch is sent. 403 is checked first.
- Valid events go to the events topic keyed by their subject (the account), acks=all;
  the answer (202) comes after Kafka acknowledged every one; partition and offset only to
  a key that may read every account (an offset counts the events of every tenant on the
  partition).
  If Kafka does not acknowledge them all in time: 503 with the per-event status; sending
  the same batch again is safe (the stream deduplicates on (source, id)).
- Checks that need the stream's state (unknown account, duplicates, lateness, future
  time) happen in the stream; such events land in the rejected topic with their reason.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependencies
# in the routes' annotations (closures) when the routes are defined.

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from api.auth import Access
from api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from api.keys import ApiKey
from api.ports import EventProducer
from core.validate import MAX_EVENT_BYTES, Decoded, RecordMeta, decode
from infra.clock import Clock
from schemas.envelope import CloudEvent
from schemas.events import EVENT_DATA
from schemas.jsonschema_export import event_schema_inline
from schemas.records import RejectedEvent

log = structlog.get_logger(__name__)
OFF_LOOP_BYTES = 64 * 1024
"""Bodies larger than this are parsed and validated in a worker thread."""
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class IngestLimits:
    max_event_bytes: int = MAX_EVENT_BYTES
    max_batch_events: int = 1000
    max_batch_bytes: int = 10_000_000
    send_timeout_s: float = 30.0


class EventResult(BaseModel):
    index: int
    id: str
    source: str
    subject: str
    type: str
    status: Literal["accepted", "failed"]
    partition: int | None = None
    offset: int | None = None
    error: str | None = None


class IngestAccepted(BaseModel):
    accepted: int
    events: list[EventResult]


async def read_body(request: Request, limit: int, reason: str) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    too_big = ApiError(413, reason, f"the body exceeds {limit} bytes", limit=limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
    except ClientDisconnect as exc:  # gone, or cut by the server's body timeout
        raise ApiError(400, "client_disconnected", "the body did not arrive whole") from exc
    return b"".join(chunks)


def split_batch(raw: bytes) -> list[bytes]:
    """Each event of a batch as its own JSON bytes (NaN / Infinity kept, so that they get
    the stream's reason, non_finite_quantity)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "not_utf8", f"the batch is not UTF-8: {exc}") from exc
    try:
        docs, exact = orjson.loads(raw), True
    except orjson.JSONDecodeError:
        try:
            docs, exact = json.loads(text, parse_constant=float), False
        except (ValueError, RecursionError) as exc:  # ValueError: also integers > 4300 digits
            raise ApiError(400, "malformed_json", f"the batch is not JSON: {exc}") from exc
    if not isinstance(docs, list):
        raise ApiError(400, "malformed_json", "a batch is a JSON array of events")
    if not docs:
        raise ApiError(400, "empty_batch", "the batch holds no event")
    return [_event_json(d, exact) for d in docs]


def _event_json(doc: Any, exact: bool) -> bytes:
    """One event of a batch as JSON again. orjson writes at most 254 levels of nesting (it
    reads 1024): deeper events are written by the standard encoder."""
    if exact:
        try:
            return orjson.dumps(doc)
        except TypeError:  # orjson.JSONEncodeError: nested too deeply
            pass
    try:
        return json.dumps(doc, allow_nan=True).encode()
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", f"an event of the batch cannot be read: "
                       f"{exc}") from exc


def _described(index: int, event: RejectedEvent) -> dict[str, Any]:
    return {"index": index, "reason": str(event.reason), "detail": event.detail,
            "id": event.id, "source": event.source, "subject": event.account,
            "type": event.type}


def check(items: list[bytes], key: ApiKey, received: RecordMeta) -> list[CloudEvent]:
    """The decoded events, or ApiError 403 / 400 listing every event at fault."""
    decoded = [decode(raw, RecordMeta(received.topic, received.partition, index,
                                      received.timestamp)) for index, raw in enumerate(items)]
    forbidden, invalid = [], []
    for index, d in enumerate(decoded):
        subject = d.event.subject if isinstance(d, Decoded) else d.account
        if subject and not key.can_write(subject):
            forbidden.append({"index": index, "subject": subject})
        if isinstance(d, RejectedEvent):
            invalid.append(_described(index, d))
    # what is forwarded is the scrubbed copy, which can be larger than what came in
    # ("a@b.c" -> "[email]"): the stream's limit applies to it, so nothing accepted here
    # is rejected as too large downstream
    grown = [{"index": i, "bytes": size} for i, d in enumerate(decoded)
             if isinstance(d, Decoded)
             and (size := len(forwarded(d.cloud_event()))) > MAX_EVENT_BYTES]
    n = len(items)
    if forbidden:
        log.info("api.ingest.forbidden", key=key.name, events=n, forbidden=len(forbidden))
        raise ApiError(403, "account_not_writable",
                       f"key {key.name!r} may not send events for {len(forbidden)} of {n} "
                       "event(s); nothing was sent", events=forbidden)
    if invalid:
        log.info("api.ingest.invalid", key=key.name, events=n, invalid=len(invalid))
        raise ApiError(400, "invalid_events", f"{len(invalid)} of {n} event(s) invalid; "
                       "nothing was sent", events=invalid)
    if grown:
        raise ApiError(413, "event_too_large", f"{len(grown)} event(s) exceed "
                       f"{MAX_EVENT_BYTES} bytes once personal data is redacted; nothing "
                       "was sent", limit=MAX_EVENT_BYTES, events=grown)
    return [d.cloud_event() for d in decoded if isinstance(d, Decoded)]


def forwarded(event: CloudEvent) -> bytes:
    """The bytes the producer sends for a validated event (`MeteringProducer.send`)."""
    return event.model_dump_json(exclude_none=True).encode()


def produce(producer: EventProducer, events: list[CloudEvent], stamp_ms: int,
            timeout: float) -> list[EventResult]:
    """Send every event, then wait for Kafka's acknowledgements (blocking: run it in a
    thread)."""
    futures: list[Any] = []
    for event in events:
        try:
            futures.append(producer.send(event, stamp_ms))
        except Exception as exc:  # a full buffer, a closed producer: that event failed
            futures.append(exc)
    deadline = time.monotonic() + timeout
    results = []
    for index, (event, future) in enumerate(zip(events, futures, strict=True)):
        head = {"index": index, "id": event.id, "source": event.source,
                "subject": event.subject, "type": event.type}
        try:
            if isinstance(future, Exception):
                raise future
            meta = future.get(timeout=max(deadline - time.monotonic(), 0.001))
            results.append(EventResult(**head, status="accepted", partition=meta.partition,
                                       offset=meta.offset))
        except Exception as exc:  # the text stays in the log: the answer names the kind
            log.warning("api.ingest.send_failed", event_id=event.id, error=repr(exc)[:300])
            results.append(EventResult(**head, status="failed", error=_send_error(exc)))
    return results


def _send_error(exc: BaseException) -> str:
    """A stable word for why Kafka did not acknowledge an event (no exception text)."""
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout"
    if "TooLarge" in name:
        return "too_large"
    return "not_acknowledged"


ANY_EVENT = {"oneOf": [event_schema_inline(t) for t in sorted(EVENT_DATA)]}
"""One event of any type, each with its own data schema (`type` is one of the known
types: another is `400 unknown_type`), exactly the exported `schemas/json` documents."""
REQUEST_BODY = {"required": True, "content": {
    SINGLE: {"schema": ANY_EVENT},
    BATCH: {"schema": {"type": "array", "minItems": 1, "items": ANY_EVENT}}}}


def ingest_router(access: Access, producer: list[EventProducer], clock: Clock,
                  limits: IngestLimits) -> APIRouter:
    """`producer`: a one-element list filled at startup (the shared producer)."""
    router = APIRouter(tags=["ingest"])
    errors: dict[int | str, dict[str, Any]] = {
        **ERROR_RESPONSES,
        400: {"model": ErrorBody, "description": "Invalid events (`events`: index, reason, "
                                                 "detail of each); nothing was sent."},
        413: {"model": ErrorBody, "description": "event_too_large, batch_too_large or "
                                                 "too_many_events."},
        415: {"model": ErrorBody, "description": "Not a CloudEvents JSON content type."},
        503: {"model": ErrorBody, "description": "Kafka did not acknowledge every event "
                                                 "(`events`: per-event status); retry."}}

    @router.post("/v1/events", status_code=202, response_model=IngestAccepted,
                 responses=errors, openapi_extra={"requestBody": REQUEST_BODY},
                 summary="Ingest one CloudEvent or a batch")
    async def ingest(request: Request,
                     key: Annotated[ApiKey, Depends(access.key)]) -> IngestAccepted:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == SINGLE:
            items = [await read_body(request, limits.max_event_bytes, "event_too_large")]
        elif media == BATCH:
            body = await read_body(request, limits.max_batch_bytes, "batch_too_large")
            # a large batch is parsed off the event loop: other requests keep their answers
            items = (await asyncio.to_thread(split_batch, body) if len(body) > OFF_LOOP_BYTES
                     else split_batch(body))
            if len(items) > limits.max_batch_events:
                raise ApiError(413, "too_many_events", f"{len(items)} events in the batch; "
                               f"at most {limits.max_batch_events}",
                               limit=limits.max_batch_events)
            big = [i for i, raw in enumerate(items) if len(raw) > limits.max_event_bytes]
            if big:
                raise ApiError(413, "event_too_large", f"{len(big)} event(s) exceed "
                               f"{limits.max_event_bytes} bytes", limit=limits.max_event_bytes,
                               events=[{"index": i} for i in big])
        else:
            raise ApiError(415, "unsupported_media_type",
                           f"content type must be {SINGLE} or {BATCH}, not {media or 'none'}")
        now = clock.now()
        meta = RecordMeta("http", -1, 0, now)
        events = (await asyncio.to_thread(check, items, key, meta)
                  if sum(map(len, items)) > OFF_LOOP_BYTES else check(items, key, meta))
        stamp = int(now.timestamp() * 1000)  # the record time is the API's clock
        results = await asyncio.to_thread(produce, producer[0], events, stamp,
                                          limits.send_timeout_s)
        if not key.ops:  # an offset counts every tenant's events on its partition
            results = [r.model_copy(update={"partition": None, "offset": None})
                       for r in results]
        accepted = sum(r.status == "accepted" for r in results)
        log.info("api.ingest", key=key.name, events=len(results), accepted=accepted)
        if accepted < len(results):
            raise ApiError(503, "not_acknowledged", f"Kafka acknowledged {accepted} of "
                           f"{len(results)} event(s); send the batch again (duplicates "
                           "count once)", events=[r.model_dump() for r in results])
        return IngestAccepted(accepted=accepted, events=results)

    return router
