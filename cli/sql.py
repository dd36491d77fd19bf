"""`metering sql`: the read-only SQL door for finance (projections/readonly_sql.py).

One SELECT / WITH / SHOW / DESCRIBE / EXPLAIN statement, values only as
`{name:Type}` placeholders filled by `--param name=value`, printed as a table, CSV or JSON
lines. Exit 2: the query was refused (by the door's checks or the server's readonly);
exit 1: ClickHouse could not run it or could not be opened.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn
from urllib.parse import urlparse

import typer
from clickhouse_connect.driver.exceptions import ClickHouseError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from projections.readonly_sql import (
    READONLY_REFUSED,
    QueryRejected,
    ReadOnlyLimits,
    ReadOnlyResult,
    ReadOnlyViolation,
    check_parameters,
    check_statement,
    open_readonly_client,
    run_readonly,
)
from projections.settings import ClickHouseSettings

LOCKED_HINT = "stop the pipeline or point METERING_CH_DSN at a ClickHouse server"
_HINTS = {
    62: "fix the SQL syntax",
    46: "check the function name",
    47: "check the column names: metering sql \"DESCRIBE <table>\"",
    60: "check the table name: metering sql \"SHOW TABLES\"",
    81: "check the database: metering sql \"SHOW DATABASES\", or --database",
    159: "narrow the query, or raise --timeout",
    396: "add a LIMIT or aggregate, or raise --max-rows",
    241: "the query needs more memory than allowed: narrow or aggregate it, or raise "
         "--max-memory",
    456: "give every {name:Type} a value with --param name=value",
    457: "pass a value the placeholder's type can parse",
    READONLY_REFUSED: "this door only reads; writes go through the pipeline",
}
_NUMERIC = re.compile(r"(Nullable\()?(U?Int|Float|Decimal)")


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _fail(message: str, hint: str, code: int) -> NoReturn:
    text = " ".join(re.sub(r"\(version [^)]*\)", "", message).split())
    if len(text) > 400:
        text = text[:400] + "..."
    Console(stderr=True, soft_wrap=True).print(
        f"[red]error:[/red] {escape(text)}\n  -> {escape(hint)}")
    raise typer.Exit(code)


def _refusal_hint(exc: QueryRejected) -> str:
    if isinstance(exc, ReadOnlyViolation):
        return "send one SELECT/WITH/SHOW/DESCRIBE/EXPLAIN statement, nothing else"
    return "give each {name:Type} placeholder its value with --param name=value"


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise QueryRejected(f"--param {pair[:40]!r} is not name=value")
        if name in params:
            raise QueryRejected(f"--param {name!r} is given twice")
        params[name] = value
    return params


def _embedded_path(dsn: str) -> Path | None:
    parsed = urlparse(dsn)
    return None if parsed.netloc else Path(parsed.path)


@contextmanager
def _stderr_fd_into(sink: IO[bytes]) -> Iterator[None]:
    """chdb reports a locked path on fd 2 only; keep it for the diagnosis, off the screen."""
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open(settings: ClickHouseSettings, limits: ReadOnlyLimits) -> Any:
    return open_clickhouse(settings, lambda: open_readonly_client(settings, limits))


def open_clickhouse(settings: ClickHouseSettings, opener: Callable[[], Any]) -> Any:
    """`opener()`, or one clear line and exit 1: a server that does not answer, a missing
    embedded database, or one another process (the running pipeline) holds."""
    if not settings.embedded:
        driver_log = logging.getLogger("clickhouse_connect")
        level = driver_log.level
        driver_log.setLevel(logging.CRITICAL)  # the exception says it once, in our line
        try:
            return opener()
        except Exception as exc:
            _fail(f"cannot reach ClickHouse at {settings.dsn.split('@')[-1]}: {exc}",
                  "check METERING_CH_DSN and that the server is up", 1)
        finally:
            driver_log.setLevel(level)
    path = _embedded_path(settings.dsn)
    if path is not None and not path.is_dir():
        _fail(f"no embedded ClickHouse at {path}",
              "check METERING_CH_DSN, or create it with `metering migrate`", 1)
    with tempfile.TemporaryFile() as captured:
        try:
            with _stderr_fd_into(captured):
                return opener()
        except Exception as exc:
            captured.seek(0)
            noise = captured.read().decode(errors="replace")
            if "Cannot lock file" in noise or "Another server instance" in noise:
                _fail(f"the embedded ClickHouse at {path} is in use by another process "
                      "(is the pipeline running?)", LOCKED_HINT, 1)
            _fail(f"cannot open the embedded ClickHouse at {path}: {exc}",
                  f"if the pipeline is running, {LOCKED_HINT}", 1)


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT/WITH/SHOW/DESCRIBE/EXPLAIN "
                                              "statement; - reads it from stdin.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="name=value for a {name:Type} placeholder (repeatable).")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    database: Annotated[str | None, typer.Option(
        help="Default database (default: METERING_CH_DATABASE).")] = None,
    timeout: Annotated[int | None, typer.Option(
        min=1, help="Seconds (default: METERING_SQL_MAX_EXECUTION_TIME or 30).")] = None,
    max_rows: Annotated[int | None, typer.Option(
        min=1, help="Fail above this many rows (default: METERING_SQL_MAX_RESULT_ROWS "
                    "or 100000).")] = None,
    max_memory: Annotated[int | None, typer.Option(
        min=10_000_000, help="Bytes the query may hold (default: "
                             "METERING_SQL_MAX_MEMORY_USAGE or 400000000).")] = None,
) -> None:
    """Run one read-only query against ClickHouse (values only as bound parameters)."""
    text = typer.get_text_stream("stdin").read() if query == "-" else query
    try:
        params = _params(param or [])
        check_parameters(check_statement(text), params)
    except QueryRejected as exc:
        _fail(f"query refused: {exc.reason}", _refusal_hint(exc), 2)
    env = ReadOnlyLimits()
    limits = ReadOnlyLimits(max_execution_time=timeout or env.max_execution_time,
                            max_result_rows=max_rows or env.max_result_rows,
                            max_memory_usage=max_memory or env.max_memory_usage)
    settings = ClickHouseSettings()
    client = _open(settings, limits)
    try:
        result = run_readonly(client, text, params, database or settings.database)
    except QueryRejected as exc:
        _fail(f"query refused: {exc.reason}", _refusal_hint(exc), 2)
    except ClickHouseError as exc:
        code = getattr(exc, "code", None)
        hint = _HINTS.get(code or 0, "the ClickHouse error above says what failed")
        _fail(str(exc), hint, 2 if code == READONLY_REFUSED else 1)
    finally:
        client.close()
    _print(result, output)


def _print(result: ReadOnlyResult, output: OutputFormat) -> None:
    stream = typer.get_text_stream("stdout")
    if output is OutputFormat.csv:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(result.column_names)
        writer.writerows([_text(v) for v in row] for row in result.rows)
    elif output is OutputFormat.json:
        names = _unique(result.column_names)
        for row in result.rows:
            stream.write(json.dumps({n: _json(v) for n, v in zip(names, row, strict=True)},
                                    ensure_ascii=False, separators=(",", ":")) + "\n")
    else:
        table = Table(caption=f"{len(result.rows)} rows")
        for name, ctype in zip(result.column_names, result.column_types, strict=True):
            table.add_column(Text(name), justify="right" if _NUMERIC.match(ctype) else "left")
        for row in result.rows:
            table.add_row(*(Text("NULL", style="dim") if v is None else Text(_text(v))
                            for v in row))
        Console(file=stream).print(table)
    stream.flush()


def _text(value: Any) -> str:
    """CSV/table cell: exact decimals, ISO instants, NULL as an empty field."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Any:
    """JSON value: decimals as strings (exact money), instants ISO, containers recursed."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(_json(k)): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return _text(value)


def _unique(names: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def register(app: typer.Typer) -> None:
    """Add the `sql` command to the `metering` app."""
    app.command("sql")(sql)
