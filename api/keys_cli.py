"""`metering api-key new`: a fresh API key, shown once, and its entry for the keys file."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from api.keys import ApiKey, hash_key, new_key

keys_app = typer.Typer(help="API keys of the HTTP API (api/README.md).", no_args_is_help=True)


@keys_app.command("new")
def new(
    name: Annotated[str, typer.Option(help="Who holds the key (a service, a reader).")],
    write: Annotated[list[str] | None, typer.Option(
        help="Account it may ingest for; repeat; '*' for any.")] = None,
    read: Annotated[list[str] | None, typer.Option(
        help="Account it may read; repeat; '*' for any.")] = None,
) -> None:
    """Print a new key (on stderr, once: hand it to its holder) and the YAML entry to add
    under `keys:` in METERING_API_KEYS_FILE (on stdout: only the digest is stored)."""
    key = new_key()
    entry = ApiKey(name=name, sha256=hash_key(key), write=write or [], read=read or [])
    typer.echo(f"API key for {name!r} (shown once): {key}", err=True)
    typer.echo(yaml.safe_dump([entry.model_dump()], sort_keys=False), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="api-key")
