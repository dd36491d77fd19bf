"""What every command shares: the Kafka settings read at the command, the consoles, and
the one way a command fails (a message, a hint, exit code 2). Imported by `main.py` and
the command modules alike, so none of them imports another."""

from __future__ import annotations

import socket
from typing import NoReturn

import structlog
import typer
from rich.console import Console
from rich.markup import escape

from infra.kafka_settings import KafkaSettings
from pricing.lateness import Lateness, LatenessConflict, resolve_lateness, with_lateness
from pricing.pricebook import PriceBook
from pricing.pricebook_loader import load_pricebook, reference_books
from schemas.topics import Topics

out = Console()
err = Console(stderr=True)


def fail(message: str, hint: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}\n  -> {escape(hint)}")
    raise typer.Exit(2)


def kafka() -> KafkaSettings:
    return KafkaSettings()


def bootstrap() -> str:
    k = kafka()
    return k.bootstrap_servers or f"127.0.0.1:{k.broker_port}"


def broker_answers(servers: str, timeout: float = 2.0) -> bool:
    """Does any of the bootstrap servers accept a TCP connection within `timeout`?"""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                     timeout=timeout).close()
            return True
        except (OSError, ValueError):
            continue
    return False


def kafka_target() -> tuple[str, Topics]:
    """The bootstrap servers and the topic names of the configured prefix, for a command
    that reads Kafka: when no broker answers there, it fails at once in one line (instead
    of the client's endless reconnection messages)."""
    servers = bootstrap()
    if not broker_answers(servers):
        fail(f"no Kafka broker answers at {servers}",
             "start one with `metering up` (or `make run`), or set KAFKA_BOOTSTRAP_SERVERS "
             "to your cluster")
    return servers, Topics(kafka().topic_prefix)


def deployment_books(rate_pricebook: str, override_hours: float | None
                     ) -> tuple[PriceBook, dict[str, PriceBook], Lateness]:
    """The rate price book, every reference book, and the one lateness every role applies
    (`pricing.lateness`), the books carrying it. Logged at start; an override is printed."""
    rate_book = load_pricebook(rate_pricebook)
    books = reference_books(rate_book)
    try:
        lateness = resolve_lateness(books, override_hours)
    except LatenessConflict as exc:
        fail(str(exc), "align lateness_hours in the price books or set "
                       "METERING_ALLOWED_LATENESS_H")
    structlog.get_logger(__name__).info("lateness", hours=lateness.hours,
                                        source=lateness.source)
    if lateness.source == "override":
        err.print(f"lateness: {lateness.describe()}")
    books = with_lateness(books, lateness)
    return books[rate_book.name], books, lateness
