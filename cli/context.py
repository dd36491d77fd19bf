"""What every command shares: the Kafka settings read at the command, the consoles, and
the one way a command fails (a message, a hint, exit code 2). Imported by `main.py` and
the command modules alike, so none of them imports another."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from infra.kafka_settings import KafkaSettings
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


def kafka_target() -> tuple[str, Topics]:
    """The bootstrap servers and the topic names of the configured prefix."""
    return bootstrap(), Topics(kafka().topic_prefix)
