"""Webhook delivery against a real local HTTP server (aiohttp.web on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from stream_processors.webhooks import (
    Delivery,
    WebhookDeliverer,
    WebhookSettings,
    account_secret,
    backoff,
    classify_status,
    sign,
    signature_header,
    verify,
)

MASTER = b"master-secret-for-tests"
NOW = 1_700_000_000


class MaxRandom(random.Random):
    """random() at the top of its range: backoff returns its ceiling."""

    def random(self) -> float:
        return 1.0


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def ids(self) -> list[str]:
        return [s.headers["Idempotency-Key"] for s in self.seen]


Handler = Callable[[Server, web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(behaviour: Handler) -> AsyncIterator[Server]:
    server = Server(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        server.seen.append(Seen(dict(request.headers), await request.read()))
        return await behaviour(server, request)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}/hook"
    try:
        yield server
    finally:
        server.release.set()  # let hanging handlers end before the server stops
        await runner.cleanup()


async def ok(server: Server, request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


def settings(**overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {"master_secret": SecretStr(MASTER.decode()), "timeout_s": 2.0,
                              "max_attempts": 4, "base_backoff_s": 0.5, "max_backoff_s": 60.0}
    values.update(overrides)
    return WebhookSettings(**values)


class Recorder:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.given_up: list[tuple[Delivery, str]] = []

    async def sleep(self, delay: float) -> None:  # records the backoff, waits for nothing
        self.delays.append(delay)
        await asyncio.sleep(0)

    async def give_up(self, delivery: Delivery, error: str) -> None:
        self.given_up.append((delivery, error))


def deliverer(s: WebhookSettings, urls: dict[str, str], rec: Recorder,
              rng: random.Random | None = None) -> WebhookDeliverer:
    return WebhookDeliverer(s, urls.get, rec.give_up, sleep=rec.sleep,
                            rng=rng or random.Random(7), clock=lambda: NOW)


def alert(n: int = 1, account: str = "acct-1") -> dict[str, Any]:
    return {"id": f"alert-{account}-{n}", "account": account, "meter": "emails",
            "threshold": 0.8, "used": 80_000}


# --- pure pieces ---------------------------------------------------------------------------

def test_sign_and_verify() -> None:
    key = account_secret(MASTER, "acct-1")
    body = b'{"id":"a1"}'
    header = signature_header(key, NOW, body)
    assert header == f"t={NOW},v1={sign(key, NOW, body)}"
    assert verify(key, header, body, now=NOW + 299)
    assert not verify(key, header, body, now=NOW + 301)  # too old: a replay
    assert not verify(key, header, body + b" ", now=NOW)
    assert not verify(account_secret(MASTER, "acct-2"), header, body, now=NOW)
    assert verify(key, f"t={NOW},v1={'0' * 64},v1={sign(key, NOW, body)}", body, now=NOW)
    for bad in ("", "t=x,v1=ab", f"v1={sign(key, NOW, body)}", f"t={NOW}", "garbage"):
        assert not verify(key, bad, body, now=NOW)


def test_account_secrets_are_derived_per_account() -> None:
    assert account_secret(MASTER, "a") == account_secret(MASTER, "a")
    assert account_secret(MASTER, "a") != account_secret(MASTER, "b")
    assert account_secret(MASTER, "a") != account_secret(b"other master", "a")
    assert len(account_secret(MASTER, "a")) == 32


def test_backoff_grows_is_capped_and_jittered() -> None:
    ceilings = [backoff(n, 0.5, 6.0, MaxRandom()) for n in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 6.0, 6.0, 6.0]
    assert backoff(10_000, 0.5, 60.0, MaxRandom()) == 60.0  # no overflow
    rng = random.Random(1)
    for n in range(1, 30):
        assert 0.0 <= backoff(n, 0.5, 6.0, rng) <= min(6.0, 0.5 * 2 ** (n - 1))


@pytest.mark.parametrize(("status", "verdict"), [
    (200, "ok"), (204, "ok"), (400, "permanent"), (401, "permanent"), (404, "permanent"),
    (408, "retry"), (429, "retry"), (500, "retry"), (503, "retry"), (302, "retry")])
def test_classify_status(status: int, verdict: str) -> None:
    assert classify_status(status) == verdict


# --- real HTTP -----------------------------------------------------------------------------

def test_signed_delivery_with_idempotency_key() -> None:
    rec = Recorder()

    async def main() -> None:
        async with serve(ok) as server:
            d = deliverer(settings(), {"acct-1": server.url}, rec)
            await d.submit("alert", alert())
            assert await d.drain(5)
            await d.close()
            [seen] = server.seen
            header = seen.headers["X-Metering-Signature"]
            assert verify(account_secret(MASTER, "acct-1"), header, seen.body, now=NOW)
            assert not verify(account_secret(MASTER, "acct-2"), header, seen.body, now=NOW)
            assert not verify(MASTER, header, seen.body, now=NOW)
            assert seen.headers["Idempotency-Key"] == "alert-acct-1-1"
            assert seen.headers["X-Metering-Event"] == "alert"
            assert seen.headers["Content-Type"] == "application/json"
            assert seen.headers["X-Metering-Attempt"] == "1"
            assert json.loads(seen.body) == alert()

    asyncio.run(main())
    assert rec.given_up == [] and rec.delays == []


def test_503_twice_then_delivered_on_attempt_3() -> None:
    rec = Recorder()

    async def flaky(server: Server, request: web.Request) -> web.StreamResponse:
        return web.Response(status=503 if len(server.seen) <= 2 else 200)

    async def main() -> None:
        async with serve(flaky) as server:
            d = deliverer(settings(), {"acct-1": server.url}, rec)
            await d.submit("decision", alert())
            assert await d.drain(5)
            await d.close()
            assert len(server.seen) == 3
            assert server.ids() == ["alert-acct-1-1"] * 3  # one key for every attempt
            assert [s.headers["X-Metering-Attempt"] for s in server.seen] == ["1", "2", "3"]

    asyncio.run(main())
    assert len(rec.delays) == 2 and rec.given_up == []


def test_400_gives_up_at_once() -> None:
    rec = Recorder()

    async def bad_request(server: Server, request: web.Request) -> web.StreamResponse:
        return web.Response(status=400, text="unknown field")

    async def main() -> None:
        async with serve(bad_request) as server:
            d = deliverer(settings(), {"acct-1": server.url}, rec)
            await d.submit("alert", alert())
            assert await d.drain(5)
            await d.close()
            assert len(server.seen) == 1

    asyncio.run(main())
    [(delivery, error)] = rec.given_up
    assert delivery.record_id == "alert-acct-1-1" and delivery.attempts == 1
    assert delivery.account == "acct-1" and delivery.kind == "alert"
    assert "400" in error and "unknown field" in error
    assert rec.delays == []


def test_backoff_delays_grow_and_are_capped_then_give_up() -> None:
    rec = Recorder()

    async def down(server: Server, request: web.Request) -> web.StreamResponse:
        return web.Response(status=500)

    async def main() -> None:
        async with serve(down) as server:
            s = settings(max_attempts=6, base_backoff_s=0.5, max_backoff_s=3.0)
            d = deliverer(s, {"acct-1": server.url}, rec, rng=MaxRandom())
            await d.submit("alert", alert())
            assert await d.drain(5)
            await d.close()
            assert len(server.seen) == 6

    asyncio.run(main())
    assert rec.delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    [(delivery, error)] = rec.given_up
    assert delivery.attempts == 6 and "500" in error


def test_429_retry_after_is_honoured_up_to_the_cap() -> None:
    rec = Recorder()

    async def limited(server: Server, request: web.Request) -> web.StreamResponse:
        if len(server.seen) == 1:
            return web.Response(status=429, headers={"Retry-After": "30"})
        if len(server.seen) == 2:
            return web.Response(status=429, headers={"Retry-After": "3600"})
        return web.Response(status=200)

    async def main() -> None:
        async with serve(limited) as server:
            d = deliverer(settings(max_backoff_s=60.0), {"acct-1": server.url}, rec)
            await d.submit("alert", alert())
            assert await d.drain(5)
            await d.close()

    asyncio.run(main())
    assert rec.delays == [30.0, 60.0] and rec.given_up == []


def test_hanging_server_retries_then_gives_up_and_submit_never_waits() -> None:
    rec = Recorder()
    timeout_s = 2.0  # room for 100 connections to reach the server on a loaded machine

    async def hang(server: Server, request: web.Request) -> web.StreamResponse:
        await server.release.wait()  # set when the test's server stops
        return web.Response(status=200)

    async def main() -> None:
        async with serve(hang) as server:
            s = settings(timeout_s=timeout_s, max_attempts=2, concurrency=100)
            d = deliverer(s, {"acct-1": server.url}, rec)
            start = time.monotonic()
            for n in range(100):
                await d.submit("alert", alert(n))
            elapsed = time.monotonic() - start
            assert elapsed < timeout_s / 2, elapsed  # submit does not wait for HTTP
            assert d.pending == 100 and rec.given_up == []
            assert await d.drain(10)
            await d.close()
            assert sorted(server.ids()) == sorted([f"alert-acct-1-{n}" for n in range(100)] * 2)

    asyncio.run(main())
    assert len(rec.given_up) == 100 and len(rec.delays) == 100
    assert all("timeout" in error and d.attempts == 2 for d, error in rec.given_up)


def test_connection_refused_is_retried_then_given_up() -> None:
    rec = Recorder()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        d = deliverer(settings(max_attempts=3), {"acct-1": f"http://127.0.0.1:{port}/"}, rec)
        await d.submit("alert", alert())
        assert await d.drain(5)
        await d.close()

    asyncio.run(main())
    [(delivery, error)] = rec.given_up
    assert delivery.attempts == 3 and "connection error" in error and len(rec.delays) == 2


def test_accounts_without_a_url_get_nothing() -> None:
    rec = Recorder()

    async def main() -> None:
        async with serve(ok) as server:
            d = deliverer(settings(), {"acct-1": server.url}, rec)
            await d.submit("alert", alert(1, "acct-1"))
            await d.submit("alert", alert(1, "acct-none"))
            await d.submit("alert", alert(2, "acct-none"))
            assert await d.drain(5)
            await d.close()
            assert server.ids() == ["alert-acct-1-1"]

    asyncio.run(main())
    assert rec.given_up == []


def test_submit_waits_when_too_many_are_pending() -> None:
    rec = Recorder()

    async def hang(server: Server, request: web.Request) -> web.StreamResponse:
        await server.release.wait()
        return web.Response(status=200)

    async def main() -> None:
        async with serve(hang) as server:
            d = deliverer(settings(max_pending=2), {"acct-1": server.url}, rec)
            await d.submit("alert", alert(1))
            await d.submit("alert", alert(2))
            third = asyncio.create_task(d.submit("alert", alert(3)))
            await asyncio.sleep(0.2)
            assert not third.done()  # back-pressure: two are pending
            server.release.set()
            await asyncio.wait_for(third, 5)
            assert await d.drain(5)
            await d.close()
            assert sorted(server.ids()) == [f"alert-acct-1-{n}" for n in (1, 2, 3)]

    asyncio.run(main())
    assert rec.given_up == []


def test_bad_records_and_a_failing_give_up_callback() -> None:
    rec = Recorder()

    async def failing_give_up(delivery: Delivery, error: str) -> None:
        raise RuntimeError("dead-letter store down")

    async def main() -> None:
        async with serve(ok) as server:
            urls = {"acct-1": server.url}
            d = deliverer(settings(), urls, rec)
            with pytest.raises(ValueError, match="id"):
                await d.submit("alert", {"account": "acct-1"})
            with pytest.raises(ValueError, match="JSON"):
                await d.submit("alert", {"id": "x", "account": "acct-1", "v": object()})
            await d.close()
            with pytest.raises(RuntimeError, match="closed"):
                await d.submit("alert", alert())
        d2 = WebhookDeliverer(settings(max_attempts=1), {"acct-1": "http://127.0.0.1:1/"}.get,
                              failing_give_up, sleep=rec.sleep)
        await d2.submit("alert", alert())
        assert await d2.drain(5)  # the callback's error stays inside the task
        await d2.close()

    asyncio.run(main())
