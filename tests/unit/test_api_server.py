"""The API's server doors (issue 16, finding 4) on a real uvicorn server on loopback: a
client that never finishes its headers or its body is answered 408 and cut off, one
address holds a bounded number of connections (429 beyond), and well-behaved clients are
served meanwhile. Sockets wait for the server's answer (recv), never for a sleep."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from api.app import create_api
from api.feeds import Feeds
from api.keys import ApiKey, KeyStore
from api.server import ServerLimits, server
from infra.clock import FixedClock
from tests.unit.test_api_http import CTX, NOW, TOPICS, DictView, FakeProducer

LIMITS = ServerLimits(header_timeout_s=0.5, body_timeout_s=0.5, max_connections_per_client=3,
                      max_connections=100, keep_alive_s=5.0)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    keys = KeyStore([ApiKey(name="w", sha256=hashlib.sha256(b"k").hexdigest(),
                            write=["*"], read=["*"])])
    app = create_api(DictView({}), FakeProducer, CTX, FixedClock(NOW), keys=keys,
                     feeds=Feeds("unused:9092", TOPICS, keep=2))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    srv = server(app, "127.0.0.1", free, LIMITS)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield free
    srv.should_exit = True
    thread.join(timeout=10)


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    return s


def _answer(s: socket.socket) -> tuple[int, dict[str, object], bytes]:
    """Read one whole answer (the server closes after a refusal)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, json.loads(body) if body.startswith(b"{") else {}, data


def _closed(s: socket.socket) -> bool:
    return s.recv(1) == b""


def test_headers_that_never_finish_get_408_and_the_connection_is_closed(port: int) -> None:
    with _connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: never done
        status, body, _ = _answer(s)
        assert (status, body["reason"]) == (408, "header_timeout")
        assert _closed(s)


def test_a_body_that_never_finishes_gets_408(port: int) -> None:
    with _connect(port) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                  b"Content-Type: application/cloudevents-batch+json\r\n"
                  b"Content-Length: 1000\r\n\r\n[{\"id\": ")
        status, body, _ = _answer(s)
        assert (status, body["reason"]) == (408, "body_timeout")
        assert _closed(s)


def test_a_slow_second_request_on_a_kept_alive_connection_gets_408(port: int) -> None:
    with _connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body, _ = _answer(s)
        assert (status, body) == (200, {"status": "ok"})
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next one trickles
        status, body, _ = _answer(s)
        assert (status, body["reason"]) == (408, "header_timeout")


def test_one_address_holds_a_bounded_number_of_connections(port: int) -> None:
    held = [_connect(port) for _ in range(LIMITS.max_connections_per_client)]
    try:
        for s in held:  # each is accepted and served (the server counted it)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _answer(s)[0] == 200
        with _connect(port) as extra:
            status, body, _ = _answer(extra)
            assert (status, body["reason"]) == (429, "too_many_connections")
    finally:
        for s in held:
            s.close()
    for _ in range(100):  # the server sees the closes; then a new connection is served
        with _connect(port) as again:
            again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = _answer(again)
        if status == 200:
            break
    assert status == 200
