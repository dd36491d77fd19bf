"""The read-only SQL door: one SELECT-like statement, values as bound parameters, limits.

Defence in depth, each layer enough for what it covers:
1. `check_statement` lexes the text like ClickHouse does (comments, nested block comments,
   '...' strings and "..."/`...` identifiers with backslash and doubled-quote escapes) and
   accepts exactly one statement starting with SELECT, WITH, SHOW, DESCRIBE/DESC or
   EXPLAIN. It refuses what the server's readonly lets through: calls of functions that
   read files, the network or processes (`file('/etc/passwd')` as a scalar, DESCRIBE of a
   table function), INTO OUTFILE (chdb writes the file even when read-only), SETTINGS and
   FORMAT clauses, heredocs (`$$`), `#` comments and non-ASCII outside quotes (ClickHouse
   reads U+00A0 as a space).
2. The query runs with `readonly=1` (plus `max_execution_time`, `max_result_rows`,
   `result_overflow_mode=throw`, `max_memory_usage`): the server refuses writes, DDL,
   SET and the table functions that reach files or the network (chdb 26.9 still lets
   SYSTEM STOP MERGES and KILL QUERY through: they do not start with an allowed keyword).
   `open_readonly_client` sets them on the client's session (chdb: SET on a dedicated
   handle, readonly last), so even a multi-statement text slipping past (1) runs read-only
   from its first statement. On any other client they ride with the query. (Never let
   multi-statement text reach a shared chdb client: a refused `SELECT ...; DROP ...` leaves
   the SELECT's rows in the handle, prepended to the next result. Layer 1 stops it.)
3. Values never enter the text: every parameter is a server-side `{name:Type}` placeholder
   (clickhouse-connect sends it as `param_name`; chdb binds it natively). Each given
   parameter must have a placeholder, so clickhouse-connect never falls back to its
   client-side `%(name)s` formatting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import clickhouse_connect
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.settings import ClickHouseSettings

PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FIRST_KEYWORDS = frozenset({"select", "with", "show", "describe", "desc", "explain"})
READONLY_REFUSED = 164
"""ClickHouse error code READONLY: the server refused a write, DDL or setting change."""

IO_FUNCTIONS = frozenset({
    "file", "filecluster", "filesystem", "url", "urlcluster", "s3", "s3cluster", "gcs",
    "cosn", "oss", "hdfs", "hdfscluster", "remote", "remotesecure", "cluster",
    "clusterallreplicas", "mysql", "postgresql", "mongodb", "redis", "sqlite", "jdbc", "odbc",
    "executable", "python", "arrowstream", "input", "bigquery", "ytsaurus", "eval",
    "azureblobstorage", "azureblobstoragecluster", "prometheusquery", "prometheusqueryrange",
    "catboostevaluate",
})
IO_FAMILIES = ("iceberg", "deltalake", "hudi", "paimon", "azure", "hdfs", "s3")
_WHITESPACE = " \t\n\r\f\v"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")


class QueryRejected(ValueError):
    """Refused before reaching ClickHouse; `reason` says why, in words for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReadOnlyViolation(QueryRejected):
    """The text is not exactly one read-only statement."""


class ParameterError(QueryRejected):
    """A parameter name is invalid, unused, or a placeholder has no value."""


class ReadOnlyLimits(BaseSettings):
    """Limits of the door (env METERING_SQL_*); read in the entry point."""

    model_config = SettingsConfigDict(env_prefix="METERING_SQL_", env_file=".env",

                                      extra="ignore", frozen=True)

    max_execution_time: int = Field(30, ge=1, le=86_400, description="Seconds per query.")
    max_result_rows: int = Field(100_000, ge=1, le=100_000_000,
                                 description="Larger results fail; they are never cut.")
    max_memory_usage: int = Field(400_000_000, ge=10_000_000, le=100_000_000_000,
                                  description="Bytes one query may hold (ClickHouse "
                                              "max_memory_usage); over it, it fails.")

    def clickhouse_settings(self) -> dict[str, Any]:
        """readonly last: applied in order as SETs (chdb), it would refuse the others."""
        return {"max_execution_time": self.max_execution_time,
                "max_result_rows": self.max_result_rows,
                "result_overflow_mode": "throw", "max_memory_usage": self.max_memory_usage,
                "readonly": 1}


@dataclass(frozen=True)
class Statement:
    sql: str
    """The statement up to its last token: trailing `;` and comments dropped."""
    kind: str
    placeholders: frozenset[str]


@dataclass(frozen=True)
class ReadOnlyResult:
    column_names: tuple[str, ...]
    column_types: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class _Token:
    kind: str  # word | ident (quoted) | string | param | punct
    text: str
    end: int


def _skip_block_comment(sql: str, i: int) -> int:
    depth, j = 0, i
    while j < len(sql) - 1:
        pair = sql[j:j + 2]
        if pair == "/*":
            depth, j = depth + 1, j + 2
        elif pair == "*/":
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    raise ReadOnlyViolation(f"unterminated /* comment at position {i}")


def _skip_quoted(sql: str, i: int) -> int:
    quote, j = sql[i], i + 1
    while j < len(sql):
        if sql[j] == "\\":
            j += 2
        elif sql[j] == quote:
            if sql[j + 1:j + 2] != quote:
                return j + 1
            j += 2
        else:
            j += 1
    raise ReadOnlyViolation(f"unterminated {quote} quote at position {i}")


def _tokens(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(sql):
        c = sql[i]
        if c in _WHITESPACE:
            i += 1
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = len(sql) if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif c in "'\"`":
            end = _skip_quoted(sql, i)
            tokens.append(_Token("string" if c == "'" else "ident", sql[i + 1:end - 1], end))
            i = end
        elif (param := _PLACEHOLDER.match(sql, i)) is not None:
            tokens.append(_Token("param", param.group(1), param.end()))
            i = param.end()
        elif (word := _WORD.match(sql, i)) is not None:
            tokens.append(_Token("word", word.group(), word.end()))
            i = word.end()
        elif c in "$#" or not " " < c < "\x7f":
            raise ReadOnlyViolation(
                f"character {c!r} at position {i} is only allowed inside quotes "
                "(no heredocs, no # comments, no non-ASCII outside '...' or `...`)")
        else:
            tokens.append(_Token("punct", c, i + 1))
            i += 1
    return tokens


def _is_io_function(name: str) -> bool:
    return name in IO_FUNCTIONS or name.startswith(IO_FAMILIES)


def _check_token(tokens: list[_Token], k: int, kind: str) -> None:
    token = tokens[k]
    after_dot = k > 0 and tokens[k - 1].kind == "punct" and tokens[k - 1].text == "."
    nxt = tokens[k + 1] if k + 1 < len(tokens) else None
    call = nxt is not None and nxt.kind == "punct" and nxt.text == "("
    if token.kind == "ident":
        name = token.text.replace("\\", "").replace('""', '"').replace("``", "`").lower()
    else:
        name = token.text.lower() if token.kind == "word" else ""
    if call and _is_io_function(name):
        raise ReadOnlyViolation(f"{name}() reaches outside the database (files, network or "
                                "processes) and is not allowed")
    if token.kind != "word" or after_dot:
        return
    if name in ("outfile", "infile"):
        raise ReadOnlyViolation("INTO OUTFILE / FROM INFILE touch the file system; use "
                                "--format csv and redirect the output")
    if name == "settings" and kind != "show":
        raise ReadOnlyViolation("a SETTINGS clause is not allowed; the door sets the limits")
    if name == "format" and not call:
        raise ReadOnlyViolation("a FORMAT clause is not allowed; choose the output format "
                                "outside the query (metering sql --format)")


def check_statement(sql: str) -> Statement:
    """Exactly one read-only statement, or ReadOnlyViolation(reason)."""
    tokens = _tokens(sql)
    for k, token in enumerate(tokens):
        if token.kind == "punct" and token.text == ";":
            if any(t.kind != "punct" or t.text != ";" for t in tokens[k + 1:]):
                raise ReadOnlyViolation("only one statement is allowed: nothing may follow ';'")
            tokens = tokens[:k]
            break
    if not tokens:
        raise ReadOnlyViolation("the query is empty")
    first = tokens[0]
    kind = first.text.lower() if first.kind == "word" else ""
    if kind not in FIRST_KEYWORDS:
        raise ReadOnlyViolation("only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN statements are "
                                f"allowed, not {first.text[:40]!r}")
    for k in range(len(tokens)):
        _check_token(tokens, k, kind)
    return Statement(sql[:tokens[-1].end], kind,
                     frozenset(t.text for t in tokens if t.kind == "param"))


def check_parameters(statement: Statement, params: dict[str, str]) -> None:
    """Valid names, string values, and parameters and placeholders matching one to one."""
    for name, value in params.items():
        if not PARAM_NAME.fullmatch(name):
            raise ParameterError(f"parameter name {name[:70]!r} must match "
                                 f"{PARAM_NAME.pattern}")
        if not isinstance(value, str):
            raise ParameterError(f"parameter {name!r} must be a string")
    for name in sorted(set(params) - statement.placeholders):
        raise ParameterError(f"parameter {name!r} is not used: write {{{name}:String}} (or "
                             "another type) where its value goes")
    for name in sorted(statement.placeholders - set(params)):
        raise ParameterError(f"the query uses {{{name}:...}} but gives it no value")


def open_readonly_client(settings: ClickHouseSettings, limits: ReadOnlyLimits) -> Any:
    """A client whose session is read-only with the limits (its own chdb handle)."""
    if settings.embedded:
        return clickhouse_connect.get_client(dsn=settings.dsn,
                                             settings=limits.clickhouse_settings())
    return clickhouse_connect.get_client(
        dsn=settings.dsn, username=settings.username,
        password=settings.password.get_secret_value(), settings=limits.clickhouse_settings())


def run_readonly(client: Any, sql: str, params: dict[str, str], database: str,
                 limits: ReadOnlyLimits | None = None) -> ReadOnlyResult:
    """Check, then run one read-only statement with bound parameters in `database`.

    With a client from `open_readonly_client`, leave `limits` None (the session has them).
    Any other client gets readonly and the limits (default values) with the query; on chdb
    a refused statement can leave that client's session read-only: do not share it.
    """
    statement = check_statement(sql)
    check_parameters(statement, params)
    if not DATABASE_NAME.fullmatch(database):
        raise ParameterError(f"database name {database[:70]!r} is not an identifier")
    client.database = database
    return _execute(client, statement.sql, params, limits)


def _execute(client: Any, sql: str, params: dict[str, str],
             limits: ReadOnlyLimits | None) -> ReadOnlyResult:
    """Layer 2 and 3 only (tests use it to show the server refuses what slips past 1)."""
    settings = _query_settings(client, limits)
    result = client.query(sql, parameters=dict(params) or None, settings=settings or None)
    return ReadOnlyResult(tuple(result.column_names),
                          tuple(t.name for t in result.column_types),
                          [tuple(row) for row in result.result_rows])


def _query_settings(client: Any, limits: ReadOnlyLimits | None) -> dict[str, Any]:
    if str(client.get_client_setting("readonly")) != "1":
        return (limits or ReadOnlyLimits.model_construct()).clickhouse_settings()
    if limits is not None:
        for key, value in limits.clickhouse_settings().items():
            if str(client.get_client_setting(key)) != str(value):
                raise ValueError(f"this read-only client has another {key}; open one with "
                                 "open_readonly_client(settings, limits)")
    return {}
