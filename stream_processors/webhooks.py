"""Webhook delivery of alerts and limit decisions: signed POSTs, retried, never blocking.

Signature scheme (like Stripe's). Each account has its own key, derived from one master
secret: `account_secret(master, account) = HMAC-SHA256(master, account)`; operators hand
`account_secret(...).hex()` to the customer, whose receiver uses `bytes.fromhex` of it. Each
attempt is a POST of the record's JSON with the headers
    Content-Type: application/json
    X-Metering-Event: <kind>              (e.g. alert, decision)
    Idempotency-Key: <record id>          (the same on every attempt: receivers dedup on it)
    X-Metering-Attempt: <n>               (1-based)
    X-Metering-Signature: t=<unix seconds>,v1=<hex>
where v1 = HMAC-SHA256(account key, f"{t}." + body), signed afresh per attempt. Receivers
check it with `verify` (constant-time, and t within a tolerance, against replays).

Delivery is at least once while the process lives: 2xx is success; 4xx other than 408/429
is permanent (given up at once); anything else, timeouts and connection errors are retried
with exponential backoff and full jitter up to `max_attempts`, then `on_give_up` is called.
Pending deliveries live in memory: a crash loses them unless the source topic is replayed
(the idempotency key makes a re-delivery harmless).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import pydantic_core
import structlog
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.metrics import WEBHOOK_DELIVERIES

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Metering-Signature"
EVENT_HEADER = "X-Metering-Event"
ATTEMPT_HEADER = "X-Metering-Attempt"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_4XX = frozenset({408, 429})
_RNG = random.Random()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of f"{timestamp}." + body under `secret`."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: bytes, header: str, body: bytes, now: float,
           tolerance_s: float = 300) -> bool:
    """True when `header` (t=<unix>,v1=<hex>[,v1=...]) signs `body` under `secret` and t is
    within `tolerance_s` of `now`. Malformed headers are simply False."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).encode()
    ok = False
    for candidate in candidates:  # no early exit: every candidate is compared
        ok |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return ok


def account_secret(master: bytes, account: str) -> bytes:
    """The account's signing key: HMAC-SHA256(master, account). One master secret serves
    every account; a leaked account key reveals nothing about the others."""
    return hmac.new(master, account.encode(), hashlib.sha256).digest()


def backoff(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay after failed attempt `attempt` (1-based): uniform in [0, min(cap, base * 2**(n-1))]
    (exponential backoff with full jitter)."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return (rng or _RNG).random() * ceiling


def classify_status(status: int) -> Literal["ok", "permanent", "retry"]:
    """2xx: ok; 4xx other than 408/429: permanent; anything else (5xx, 3xx: redirects are not
    followed, 408, 429): retry."""
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return "permanent"
    return "retry"


class WebhookSettings(BaseSettings):
    """Webhook delivery (env prefix METERING_WEBHOOK_), read in the entry point."""

    model_config = SettingsConfigDict(env_prefix="METERING_WEBHOOK_", env_file=".env",

                                      extra="ignore")

    master_secret: SecretStr
    timeout_s: float = Field(5.0, gt=0)
    max_attempts: int = Field(8, ge=1, le=100)
    base_backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(60.0, ge=0)
    concurrency: int = Field(32, ge=1, le=10_000)
    max_pending: int = Field(10_000, ge=1)
    """Deliveries accepted but not finished (retries included) before `submit` waits."""


@dataclass(slots=True)
class Delivery:
    kind: str
    account: str
    record_id: str
    url: str
    body: bytes
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class _Result:
    verdict: Literal["ok", "permanent", "retry"]
    error: str = ""
    status: int | None = None
    retry_after_s: float | None = None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class WebhookDeliverer:
    """Delivers records to their account's webhook in background tasks.

    `submit` returns as soon as the delivery is scheduled; it waits only when
    `settings.max_pending` deliveries are unfinished (back-pressure that bounds memory: a
    dead endpoint slows the caller down rather than dropping records). At most
    `settings.concurrency` HTTP requests run at once; a delivery waiting out its backoff
    holds no request slot. Call `drain` before `close` to let in-flight deliveries finish.
    """

    def __init__(self, settings: WebhookSettings, url_for: Callable[[str], str | None],
                 on_give_up: Callable[[Delivery, str], Awaitable[None]], *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._master = settings.master_secret.get_secret_value().encode()
        self._url_for = url_for
        self._on_give_up = on_give_up
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._pending = asyncio.Semaphore(settings.max_pending)
        self._inflight = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def submit(self, kind: str, record: Mapping[str, Any]) -> None:
        """Schedule delivery of `record` (a JSON object with `id` and `account`) when its
        account has a webhook. Raises ValueError for a record without them."""
        if self._closed:
            raise RuntimeError("WebhookDeliverer is closed")
        try:
            record_id, account = str(record["id"]), str(record["account"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"webhook record needs 'id' and 'account': {exc!r}") from exc
        url = self._url_for(account)
        if url is None:
            return
        try:
            body = pydantic_core.to_json(record)
        except pydantic_core.PydanticSerializationError as exc:
            raise ValueError(f"webhook record is not JSON: {exc}") from exc
        if self._pending.locked():
            log.warning("webhook_backpressure", pending=len(self._tasks))
        await self._pending.acquire()
        if self._closed:  # closed while this submit waited for room
            self._pending.release()
            raise RuntimeError("WebhookDeliverer is closed")
        task = asyncio.create_task(self._deliver(Delivery(kind, account, record_id, url, body)))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._pending.release()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every delivery (retries included) ended; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def close(self) -> None:
        """Stop: unfinished deliveries are abandoned (logged), the HTTP session closed."""
        self._closed = True
        if self._tasks:
            log.warning("webhook_abandoned", pending=len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(self, delivery: Delivery) -> None:
        s = self._settings
        secret = account_secret(self._master, delivery.account)
        ctx = {"kind": delivery.kind, "account": delivery.account, "id": delivery.record_id}
        result = _Result("retry")
        for attempt in range(1, s.max_attempts + 1):
            delivery.attempts = attempt
            result = await self._attempt(delivery, secret)
            if result.verdict == "ok":
                log.info("webhook_delivered", **ctx, attempt=attempt, status=result.status)
                WEBHOOK_DELIVERIES.labels(outcome="delivered").inc()
                return
            WEBHOOK_DELIVERIES.labels(outcome="failed_attempt").inc()
            if result.verdict == "permanent" or attempt == s.max_attempts:
                break
            delay = backoff(attempt, s.base_backoff_s, s.max_backoff_s, self._rng)
            if result.retry_after_s is not None:
                delay = max(delay, min(result.retry_after_s, s.max_backoff_s))
            log.info("webhook_retry", **ctx, attempt=attempt, error=result.error,
                     delay_s=round(delay, 3))
            await self._sleep(delay)
        log.warning("webhook_gave_up", **ctx, attempts=delivery.attempts, error=result.error,
                    permanent=result.verdict == "permanent")
        WEBHOOK_DELIVERIES.labels(outcome="gave_up").inc()
        try:
            await self._on_give_up(delivery, result.error)
        except Exception:  # the callback's failure must not escape a background task
            log.exception("webhook_give_up_callback_failed", **ctx)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._settings.concurrency)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def _attempt(self, delivery: Delivery, secret: bytes) -> _Result:
        async with self._inflight:
            timestamp = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                EVENT_HEADER: delivery.kind,
                IDEMPOTENCY_HEADER: delivery.record_id,
                ATTEMPT_HEADER: str(delivery.attempts),
                SIGNATURE_HEADER: signature_header(secret, timestamp, delivery.body),
            }
            timeout_s = self._settings.timeout_s
            try:
                async with asyncio.timeout(timeout_s):
                    async with self._client().post(delivery.url, data=delivery.body,
                                                   headers=headers,
                                                   allow_redirects=False) as response:
                        verdict = classify_status(response.status)
                        if verdict == "ok":
                            return _Result("ok", status=response.status)
                        snippet = await response.content.read(200)
                        retry_after = (_retry_after(response.headers.get("Retry-After"))
                                       if response.status in (429, 503) else None)
                        error = f"HTTP {response.status}: {snippet.decode('utf-8', 'replace')}"
                        return _Result(verdict, error, response.status, retry_after)
            except TimeoutError:
                return _Result("retry", f"timeout after {timeout_s}s")
            except aiohttp.InvalidURL as exc:
                return _Result("permanent", f"invalid url: {exc}")
            except (aiohttp.ClientError, OSError) as exc:
                return _Result("retry", f"connection error: {type(exc).__name__}: {exc}")
            except Exception as exc:  # unexpected: retried, and visible in the log
                log.exception("webhook_attempt_error", id=delivery.record_id)
                return _Result("retry", f"error: {exc!r}")
