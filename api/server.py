"""The API's HTTP server: uvicorn with the doors a public endpoint needs closed.

uvicorn (0.54) times out only idle keep-alive connections: a client that sends its
headers or its body one byte at a time holds a connection forever (1,200 of them were all
held). `GuardedH11Protocol` is uvicorn's h11 protocol with:

- a **header timeout**: the request line and headers must be complete within
  `header_timeout_s` of the connection (or of the previous response); else `408
  header_timeout` and the connection is closed;
- a **body timeout**: the body must be complete within `body_timeout_s` of the headers;
  else `408 body_timeout` and close;
- a **bound per client address**: at most `max_connections_per_client` open connections
  from one address; one more is answered `429 too_many_connections` and closed.

uvicorn's own `limit_concurrency` (503 above it, over all clients) and
`timeout_keep_alive` are set too. Every refusal is a JSON body with a `reason`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections_per_client: int = 64
    max_connections: int = 2048
    keep_alive_s: float = 5.0


def _answer(status: int, phrase: str, reason: str, error: str) -> bytes:
    body = json.dumps({"error": error, "reason": reason}).encode()
    head = (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    return head + body


class GuardedH11Protocol(H11Protocol):
    limits: ClassVar[ServerLimits] = ServerLimits()
    per_client: ClassVar[Counter[str]] = Counter()
    """Open connections per client address, in this process (one server per process)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._host = self.client[0] if self.client else ""
        self._counted = False
        if self.per_client[self._host] >= self.limits.max_connections_per_client:
            log.warning("api.too_many_connections", client=self._host,
                        limit=self.limits.max_connections_per_client)
            self._refuse(429, "Too Many Requests", "too_many_connections",
                         f"at most {self.limits.max_connections_per_client} open "
                         "connections per client address")
            return
        self.per_client[self._host] += 1
        self._counted = True
        self._arm(self.limits.header_timeout_s, "header_timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if getattr(self, "_counted", False):
            self._counted = False
            self.per_client[self._host] -= 1
            if self.per_client[self._host] <= 0:
                del self.per_client[self._host]
        super().connection_lost(exc)

    def handle_events(self) -> None:
        before = self.conn.their_state
        super().handle_events()
        after = self.conn.their_state
        if after is before:
            return
        if after is h11.SEND_BODY:  # headers complete: the body has its own time
            self._arm(self.limits.body_timeout_s, "body_timeout")
        elif after is h11.DONE:  # the whole request is in: the application has it
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            # waiting for the next request's headers (idle: uvicorn's keep-alive closes it)
            self._arm(self.limits.header_timeout_s + self.limits.keep_alive_s,
                      "header_timeout")

    # -- timers ------------------------------------------------------------------------
    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, reason)

    def _disarm(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
            self._timer = None

    def _expired(self, reason: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        log.info("api.request_timeout", client=self._host, reason=reason)
        what = "headers" if reason == "header_timeout" else "body"
        self._refuse(408, "Request Timeout", reason, f"the request's {what} did not arrive "
                     "in time")

    def _refuse(self, status: int, phrase: str, reason: str, error: str) -> None:
        if self.cycle is not None and not self.cycle.response_started:
            self.cycle.disconnected = True  # the application's answer goes nowhere
        self.transport.write(_answer(status, phrase, reason, error))
        self.transport.close()


def server(app: Any, host: str, port: int, limits: ServerLimits) -> uvicorn.Server:
    """A uvicorn server for `app` with the guarded protocol and these limits."""
    protocol = type("ConfiguredH11Protocol", (GuardedH11Protocol,),
                    {"limits": limits, "per_client": Counter()})
    return uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level="warning", http=protocol,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=max(1, round(limits.keep_alive_s))))


def serve(app: Any, host: str, port: int, limits: ServerLimits) -> None:
    """Run the API until interrupted."""
    server(app, host, port, limits).run()
