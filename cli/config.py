"""`metering config [--check]`: every role's effective settings, where each value comes
from (default, environment, the `.env` file of the working directory), secrets masked;
`--check` validates them all, and what they must agree on, and lists every problem."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from dotenv import dotenv_values
from pydantic import AliasChoices, BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings
from rich.markup import escape
from rich.table import Table

from cli.context import err, out

MASK = "********"
SECRET_WORDS = ("secret", "password", "token")
OPTIONAL_ROLES = {"webhooks"}
"""Roles that are off until their required settings are given: not a problem."""


def _classes() -> list[tuple[str, type[BaseSettings]]]:
    from api.settings import ApiSettings
    from infra.kafka_settings import KafkaSettings
    from infra.metrics import MetricsSettings
    from producers import ProducerSettings
    from projections.readonly_sql import ReadOnlyLimits
    from projections.settings import ClickHouseSettings, SinkSettings
    from stream_processors.settings import ProcessorSettings
    from stream_processors.webhooks import WebhookSettings

    return [("kafka", KafkaSettings), ("worker", ProcessorSettings), ("sink", SinkSettings),
            ("clickhouse", ClickHouseSettings), ("api", ApiSettings),
            ("webhooks", WebhookSettings), ("producer", ProducerSettings),
            ("metrics", MetricsSettings), ("sql", ReadOnlyLimits)]


@dataclass(frozen=True)
class Setting:
    role: str
    name: str
    env: str
    value: str
    source: str


def env_names(cls: type[BaseSettings], name: str) -> list[str]:
    """The variables a field is read from (its aliases, else prefix + name)."""
    alias = cls.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{cls.model_config.get('env_prefix', '')}{name}".upper()]


def _shown(name: str, value: Any) -> str:
    if isinstance(value, SecretStr) or any(w in name for w in SECRET_WORDS):
        return MASK if value not in (None, "") else ""
    if name == "keys" and isinstance(value, list):  # API keys: digests, names shown
        return ", ".join(str(getattr(k, "name", "?")) for k in value) or "[]"
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return "" if value is None else str(value)


def _lookup(names: list[str], env: dict[str, str], dotenv: dict[str, str]
            ) -> tuple[str, str, str] | None:
    for n in names:
        if n in env:
            return n, env[n], "environment"
    for n in names:
        if n in dotenv:
            return n, dotenv[n], "file .env"
    return None


def effective(env: dict[str, str] | None = None, dotenv_path: Path = Path(".env")
              ) -> tuple[list[Setting], list[str]]:
    """Every setting of every role, and the problems of reading them."""
    env = {k.upper(): v for k, v in (os.environ if env is None else env).items()}
    dotenv = {k.upper(): v or "" for k, v in dotenv_values(dotenv_path).items()} \
        if dotenv_path.exists() else {}
    settings: list[Setting] = []
    problems: list[str] = []
    for role, cls in _classes():
        try:
            instance: BaseSettings | None = cls()
        except ValidationError as exc:
            instance = None
            for e in exc.errors(include_url=False, include_input=False):
                if role in OPTIONAL_ROLES and e["type"] == "missing":
                    continue  # a role that runs only when configured (webhooks)
                where = ".".join(str(p) for p in e["loc"]) or "<root>"
                problems.append(f"{role}: {where}: {e['msg']}")
        for name, field in cls.model_fields.items():
            names = env_names(cls, name)
            found = _lookup(names, env, dotenv)
            if instance is not None:
                value = _shown(name, getattr(instance, name))
            elif found is not None:
                value = _shown(name, found[1])
            else:
                value = "(required)" if field.is_required() else _shown(name, field.default)
            settings.append(Setting(role, name, found[0] if found else names[0], value,
                                    found[2] if found else "default"))
    return settings, problems


def _agreement(settings: list[Setting]) -> Iterator[str]:
    """What the roles must agree on, beyond each class's own validation."""
    by = {(s.role, s.name): s.value for s in settings}
    ports: dict[str, str] = {}
    taken = [("api", by.get(("api", "port"), "")),
             ("broker", by.get(("kafka", "broker_port"), "")),
             ("controller", by.get(("kafka", "controller_port"), ""))]
    taken += [(f"metrics {r}", by.get(("metrics", f"{r}_port"), ""))
              for r in ("worker", "sink", "api", "webhooks")]
    for what, port in taken:
        if port in ("", "0"):
            continue
        if port in ports:
            yield f"ports: {what} and {ports[port]} both use {port}"
        ports[port] = what


def _extra_checks() -> Iterator[str]:
    from api.keys import KeyConfigError, load_keys
    from api.settings import ApiSettings
    from pricing.lateness import LatenessConflict, resolve_lateness
    from pricing.pricebook_loader import load_pricebook, reference_books
    from stream_processors.settings import ProcessorSettings

    checks: list[tuple[str, Callable[[], object]]] = []
    try:
        processor = ProcessorSettings()
        checks.append(("worker: rate_pricebook", lambda: resolve_lateness(
            reference_books(load_pricebook(processor.rate_pricebook)),
            processor.allowed_lateness_h)))
    except ValidationError:
        pass  # reported with the class
    try:
        api = ApiSettings()
        checks.append(("api: keys", lambda: load_keys(api.keys_file, api.keys)))
    except ValidationError:
        pass
    for what, check in checks:
        try:
            check()
        except (LatenessConflict, KeyConfigError, OSError, ValueError) as exc:
            yield f"{what}: {exc}"


def register(app: typer.Typer) -> None:
    @app.command()
    def config(
        check: Annotated[bool, typer.Option("--check", help="validate every setting and "
                                            "exit 1 listing every problem")] = False,
        role: Annotated[str | None, typer.Option(help="only this role's settings")] = None,
    ) -> None:
        """Every role's effective settings, with the source of each value (default,
        environment, .env); secrets masked."""
        settings, problems = effective()
        if check:
            problems += [*_agreement(settings), *_extra_checks()]
            for p in problems:
                err.print(f"[red]problem:[/red] {escape(p)}")
            if problems:
                err.print(f"{len(problems)} problem(s)")
                raise typer.Exit(1)
            out.print(f"settings OK ({len(settings)} values of "
                      f"{len({s.role for s in settings})} roles)")
            return
        table = Table("role", "setting", "variable", "value", "source")
        for s in settings:
            if role is None or s.role == role:
                table.add_row(s.role, s.name, s.env, escape(s.value), s.source)
        out.print(table)
        for p in problems:
            err.print(f"[yellow]invalid:[/yellow] {escape(p)} (metering config --check)")
