"""The read-only SQL door on a real chdb: each layer refuses on its own, values round-trip.

One engine per module (chdb: one path per process); the door's client is read-only at the
session level, the admin client sets up the schema and checks nothing was touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from clickhouse_connect.driver.exceptions import DatabaseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.sql import register
from projections.client import INSERT_SETTINGS, open_client
from projections.ddl import migrate
from projections.readonly_sql import (
    PARAM_NAME,
    READONLY_REFUSED,
    ParameterError,
    ReadOnlyLimits,
    ReadOnlyViolation,
    _execute,
    check_statement,
    open_readonly_client,
    run_readonly,
)
from projections.settings import ClickHouseSettings

ROOT = Path(__file__).resolve().parents[2]
LIMITS = ReadOnlyLimits(max_execution_time=10, max_result_rows=1000)
ROWS = [("acme", "urn:s", "e1", "email.sent", 1), ("acme", "urn:s", "e2", "email.sent", 1),
        ("beta", "urn:s", "e3", "sms.sent", 1)]
COUNTS = {"acme": 2, "beta": 1}
FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Engine:
    settings: ClickHouseSettings
    admin: Any
    door: Any
    tables: list[str]

    @property
    def db(self) -> str:
        return self.settings.database

    def run(self, sql: str, **params: str) -> list[tuple[Any, ...]]:
        return run_readonly(self.door, sql, params, self.db).rows

    def assert_intact(self) -> None:
        assert self._tables() == self.tables
        rows = self.admin.query(f"SELECT account, source, id, type, version FROM "
                                f"{self.db}.usage_log ORDER BY id").result_rows
        assert [tuple(r) for r in rows] == ROWS

    def _tables(self) -> list[str]:
        rows = self.admin.query(f"SHOW TABLES FROM {self.db}").result_rows
        return sorted(r[0] for r in rows)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("readonly_sql") / "ch"
    ch = ClickHouseSettings(dsn=f"chdb://{path}")
    admin = open_client(ch)
    door = None
    try:
        migrate(admin, ch)
        admin.insert(f"{ch.database}.usage_log", [list(r) for r in ROWS],
                     column_names=["account", "source", "id", "type", "version"],
                     settings=INSERT_SETTINGS)
        door = open_readonly_client(ch, LIMITS)
        e = Engine(ch, admin, door, [])
        e.tables = e._tables()
        assert "usage_log" in e.tables
        yield e
    finally:
        if door is not None:
            door.close()
        admin.close()


class NoClient:
    """Proves a refusal is lexical: any use of the client fails the test."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AssertionError(f"the client was used ({name})")

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the client was used ({name})")


# --- what works ------------------------------------------------------------------------

def test_select_with_parameters(engine: Engine) -> None:
    result = run_readonly(engine.door, "SELECT account, count() AS n FROM usage_log "
                          "WHERE account = {account:String} GROUP BY account",
                          {"account": "acme"}, engine.db)
    assert result.column_names == ("account", "n")
    assert result.column_types == ("String", "UInt64")
    assert result.rows == [("acme", 2)]


ACCEPTED = {
    "WITH 2 AS x SELECT x": [(2,)],
    "SELECT 'a; DROP TABLE usage_log' AS s": [("a; DROP TABLE usage_log",)],
    "SELECT 'a\\' ; DROP TABLE usage_log; --' AS s": [("a' ; DROP TABLE usage_log; --",)],
    "SELECT 'a'' ; DROP TABLE usage_log; --' AS s": [("a' ; DROP TABLE usage_log; --",)],
    "SELECT 1 AS `x; DROP TABLE usage_log`": [(1,)],
    'SELECT 1 AS "x"";DROP"': [(1,)],
    "SELECT 1 /* ; DROP TABLE usage_log */": [(1,)],
    "SELECT 1 /* /* */ ; DROP TABLE usage_log */": [(1,)],
    "SELECT 1 -- ; DROP TABLE usage_log": [(1,)],
    "  -- a comment first\n/* and a block */ SELECT 1;": [(1,)],
    "SELECT 1; -- done\n;;": [(1,)],
    "SELECT format('{}-{}', 'a', 'b')": [("a-b",)],
    "SELECT value FROM system.settings WHERE name = 'readonly'": [("1",)],
    "SELECT 'Zürich €'": [("Zürich €",)],
}


@pytest.mark.parametrize("sql", list(ACCEPTED))
def test_strings_and_comments_may_hold_anything(engine: Engine, sql: str) -> None:
    assert engine.run(sql) == ACCEPTED[sql]


@pytest.mark.parametrize("sql", ["SHOW TABLES", "DESCRIBE usage_log", "DESC usage_log",
                                 "EXPLAIN SELECT 1", "SHOW SETTINGS LIKE 'readonly'"])
def test_show_describe_explain(engine: Engine, sql: str) -> None:
    assert engine.run(sql)


HOSTILE_VALUES = ["') OR 1=1 --", "'; DROP TABLE usage_log; --", "acme' OR '1'='1", "\\",
                  "\\'", "'", '"', "`", "\x00", "a\x00b", "\\N", "{v:String}", "%(v)s", "%s",
                  "$$", "\n\t\r", "🧾 Zürich", "acme", " acme", "x" * 10_000]


@FUZZ
@given(value=st.one_of(st.sampled_from(HOSTILE_VALUES), st.text()))
def test_parameter_values_round_trip_and_never_inject(engine: Engine, value: str) -> None:
    rows = engine.run("SELECT {v:String} AS v, count() AS n FROM usage_log "
                      "WHERE account = {v:String}", v=value)
    assert rows == [(value, COUNTS.get(value, 0))]


@FUZZ
@given(name=st.from_regex(PARAM_NAME, fullmatch=True))
def test_any_valid_parameter_name_binds(engine: Engine, name: str) -> None:
    assert engine.run(f"SELECT {{{name}:String}}", **{name: "v"}) == [("v",)]


@FUZZ
@given(text=st.lists(st.sampled_from([*"ab;'\"`\\-/*# \n{}$", "DROP "])).map("".join))
def test_the_lexer_ends_strings_where_clickhouse_does(engine: Engine, text: str) -> None:
    backslashed = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    doubled = "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    assert engine.run(f"SELECT {backslashed} AS a, {doubled} AS b") == [(text, text)]


# --- parameters ------------------------------------------------------------------------

@pytest.mark.parametrize(("sql", "params"), [
    ("SELECT {a:String}", {"a": "x", "b": "y"}),  # b unused: would not be bound
    ("SELECT {a:String}, {b:String}", {"a": "x"}),  # b has no value
    ("SELECT '%(a)s'", {"a": "x"}),  # client-side formatting is never used
    ("SELECT {1a:String}", {"1a": "x"}),
    ("SELECT 1", {"a-b": "x"}),
    ("SELECT 1", {"x" * 65: "x"}),
])
def test_parameter_mistakes_are_refused(sql: str, params: dict[str, str]) -> None:
    with pytest.raises(ParameterError):
        run_readonly(NoClient(), sql, params, "metering")


@FUZZ
@given(name=st.text().filter(lambda n: not PARAM_NAME.fullmatch(n)))
def test_invalid_parameter_names_are_refused(name: str) -> None:
    with pytest.raises(ParameterError):
        run_readonly(NoClient(), "SELECT 1", {name: "x"}, "metering")


# --- layer 1: the lexical check --------------------------------------------------------

HOSTILE = [
    "INSERT INTO usage_log (account) VALUES ('evil')",
    "INSERT INTO usage_log (account) SELECT 'evil'",
    "ALTER TABLE usage_log DELETE WHERE 1", "DROP TABLE usage_log",
    "CREATE TABLE evil (a Int8) ENGINE = Memory", "TRUNCATE TABLE usage_log",
    "OPTIMIZE TABLE usage_log FINAL", "SYSTEM STOP MERGES", "SET readonly = 0",
    "KILL QUERY WHERE 1", "GRANT ALL ON *.* TO default", "USE system", "DELETE FROM usage_log",
    "SELECT 1; DROP TABLE usage_log", "SELECT 1;DROP TABLE usage_log;",
    "/* */ DROP TABLE usage_log", "SELECT 1 -- \n; DROP TABLE usage_log",
    "SELECT 1 /* /* */ */ ; DROP TABLE usage_log",
    "SELECT 1 /* /* */ ; DROP TABLE usage_log", "SELECT 'a\\'; DROP TABLE usage_log",
    "SELECT * FROM file('/etc/passwd')", "SELECT * FROM url('http://127.0.0.1:1/')",
    "SELECT * FROM s3('http://127.0.0.1:1/x')", "SELECT * FROM hdfs('hdfs://h/x')",
    "SELECT * FROM remote('127.0.0.1:1', system.one)", "SELECT * FROM mysql('h', 'd', 't')",
    "SELECT * FROM postgresql('h', 'd', 't')", "SELECT * FROM executable('id', 'TSV', 'a String')",
    "SELECT * FROM icebergS3('http://h/x')", "SELECT * FROM python('df')",
    "SELECT file('/etc/passwd')", "SELECT `file`('/etc/passwd')",
    "SELECT \"FILE\" /* */ ('/etc/passwd')", "DESCRIBE file('/etc/passwd')",
    "WITH x AS (SELECT * FROM url('http://127.0.0.1:1/')) SELECT * FROM x",
    "SELECT 1 INTO OUTFILE '/tmp/metering-pwned'", "SELECT 1 FORMAT CSV",
    "SELECT 1 SETTINGS readonly = 0", "SELECT * FROM (SELECT 1 SETTINGS max_result_rows = 0)",
    "SELECT $$;$$; DROP TABLE usage_log", "SELECT 1 # ; DROP TABLE usage_log",
    "SELECT\u00a0file('/etc/passwd')", "SELECT 1\u00a0;\u00a0DROP TABLE usage_log",
    "SELECT 'unterminated", "SELECT 1 /* unterminated", "(SELECT 1)", "", " -- only\n",
]


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_text_is_refused_before_the_server(sql: str) -> None:
    with pytest.raises(ReadOnlyViolation) as refused:
        run_readonly(NoClient(), sql, {}, "metering")
    assert refused.value.reason


def test_the_statement_sent_drops_trailing_semicolons_and_comments() -> None:
    statement = check_statement("/* c */ SELECT {a:String} ; -- bye\n")
    assert statement.sql == "/* c */ SELECT {a:String}"
    assert (statement.kind, statement.placeholders) == ("select", frozenset({"a"}))


# --- layer 2: the server's readonly, for text that would slip past layer 1 -------------

SLIPS = [
    "INSERT INTO {db}.usage_log (account) VALUES ('evil')",
    "INSERT INTO {db}.usage_log (account) SELECT 'evil'",
    "SELECT * FROM system.one; INSERT INTO {db}.usage_log (account) VALUES ('evil')",
    "SELECT * FROM system.one; INSERT INTO {db}.usage_log (account) SELECT 'evil'",
    "SELECT 1; DROP TABLE {db}.usage_log", "DROP TABLE {db}.usage_log; SELECT 1",
    "ALTER TABLE {db}.usage_log DELETE WHERE 1", "TRUNCATE TABLE {db}.usage_log",
    "CREATE TABLE {db}.evil (a Int8) ENGINE = Memory", "OPTIMIZE TABLE {db}.usage_log FINAL",
    "DELETE FROM {db}.usage_log WHERE 1", "RENAME TABLE {db}.usage_log TO {db}.gone",
    "DETACH TABLE {db}.usage_log", "SET readonly = 0", "SET max_result_rows = 0",
    "SYSTEM FLUSH LOGS",
    "INSERT INTO FUNCTION file('metering-pwned.csv', 'CSV', 'a String') SELECT 'x'",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString', 'a String')",
    "SELECT * FROM s3('http://127.0.0.1:1/x.csv', 'CSV', 'a String')",
    "SELECT * FROM remote('127.0.0.1:1', system.one)",
    "SELECT * FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')",
    "SELECT * FROM postgresql('127.0.0.1:1', 'd', 't', 'u', 'p')",
    "SELECT * FROM executable('id', 'TSV', 'a String')",
    "SELECT * FROM filesystem('/etc')",
]


@pytest.mark.parametrize("sql", SLIPS)
def test_the_server_refuses_what_slips_past(engine: Engine, sql: str) -> None:
    # A refused multi-statement text leaves its first SELECT's rows in the chdb handle, to
    # be prepended to the next result on that client: those get a client of their own.
    door = open_readonly_client(engine.settings, LIMITS) if ";" in sql else engine.door
    try:
        with pytest.raises(DatabaseError) as refused:
            _execute(door, sql.format(db=engine.db), {}, None)
        assert refused.value.code == READONLY_REFUSED, refused.value
    finally:
        if door is not engine.door:
            door.close()


def test_grant_is_refused_by_the_server(engine: Engine) -> None:
    with pytest.raises(DatabaseError):
        _execute(engine.door, "GRANT ALL ON *.* TO default", {}, None)


def test_readonly_rides_with_the_query_on_any_other_client(engine: Engine) -> None:
    plain = open_client(engine.settings)
    try:
        for sql in (f"INSERT INTO {engine.db}.usage_log (account) SELECT 'evil'",
                    f"DROP TABLE {engine.db}.usage_log; SELECT 1"):
            with pytest.raises(DatabaseError) as refused:
                _execute(plain, sql, {}, LIMITS)
            assert refused.value.code == READONLY_REFUSED, refused.value
    finally:
        plain.close()


def test_limits_hold_and_cannot_be_lifted(engine: Engine) -> None:
    assert engine.run("SELECT getSetting('readonly'), getSetting('max_result_rows')") == [
        (1, 1000)]
    with pytest.raises(DatabaseError) as too_many:
        engine.run("SELECT number FROM numbers(5000)")
    assert too_many.value.code == 396
    with pytest.raises(ValueError, match="max_result_rows"):
        run_readonly(engine.door, "SELECT 1", {}, engine.db,
                     ReadOnlyLimits(max_execution_time=10, max_result_rows=10**6))


def test_timeout(engine: Engine) -> None:
    quick = open_readonly_client(engine.settings,
                                 ReadOnlyLimits(max_execution_time=1, max_result_rows=10))
    try:
        with pytest.raises(DatabaseError) as slow:
            run_readonly(quick, "SELECT count() FROM system.numbers", {}, engine.db)
        assert slow.value.code == 159
    finally:
        quick.close()


def test_a_query_over_the_memory_limit_fails_with_a_clear_error(engine: Engine) -> None:
    assert engine.run("SELECT getSetting('max_memory_usage')") == [(400_000_000,)]
    small = open_readonly_client(engine.settings, ReadOnlyLimits(
        max_execution_time=30, max_result_rows=10, max_memory_usage=20_000_000))
    try:
        with pytest.raises(DatabaseError) as over:  # ~80 MB of UInt64 in one array
            run_readonly(small, "SELECT length(groupArray(number)) FROM numbers(10000000)",
                         {}, engine.db)
        assert over.value.code == 241, over.value
        assert "memory limit" in str(over.value).lower()
    finally:
        small.close()


def test_cli_says_a_query_is_over_the_memory_limit(engine: Engine) -> None:
    done = _sql(engine, "--max-memory", "20000000",
                "SELECT length(groupArray(number)) FROM numbers(10000000)")
    assert done.exit_code == 1
    assert "more memory than allowed" in done.output and "--max-memory" in done.output


def test_nothing_was_touched(engine: Engine) -> None:
    """Runs after the attempts above (file order): tables and rows as created."""
    engine.assert_intact()


# --- the command -----------------------------------------------------------------------

def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def _sql(engine: Engine, *args: str, stdin: str | None = None) -> Any:
    runner = CliRunner(env={"METERING_CH_DSN": engine.settings.dsn,
                            "METERING_CH_DATABASE": engine.db})
    return runner.invoke(_app(), ["sql", *args], input=stdin)


def test_cli_json_csv_and_table(engine: Engine) -> None:
    query = ("SELECT account, count() AS n, toDecimal64(1.5, 9) AS d FROM usage_log "
             "WHERE account = {a:String} GROUP BY account")
    as_json = _sql(engine, query, "--param", "a=acme", "--format", "json")
    assert as_json.exit_code == 0, as_json.stderr
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [
        {"account": "acme", "n": 2, "d": "1.500000000"}]
    as_csv = _sql(engine, "SELECT account, count() AS n FROM usage_log GROUP BY account "
                  "ORDER BY account", "-f", "csv")
    assert as_csv.stdout == "account,n\nacme,2\nbeta,1\n"
    as_table = _sql(engine, "-", stdin="SELECT '[red]x[/red]' AS markup;")
    assert as_table.exit_code == 0
    assert "[red]x[/red]" in as_table.stdout and "1 rows" in as_table.stdout


@pytest.mark.parametrize(("args", "code", "words"), [
    (["DROP TABLE usage_log"], 2, "only SELECT"),
    (["SELECT {a:String}"], 2, "no value"),
    (["SELECT 1", "--param", "novalue"], 2, "name=value"),
    (["SELECT * FROM nope"], 1, "UNKNOWN_TABLE"),
    (["SELECT number FROM numbers(100)", "--max-rows", "10"], 1, "max rows"),
])
def test_cli_errors_are_one_line_and_what_to_do(engine: Engine, args: list[str], code: int,
                                                words: str) -> None:
    result = _sql(engine, *args)
    assert result.exit_code == code
    error, hint = result.stderr.splitlines()
    assert error.startswith("error: ") and words in error
    assert hint.startswith("  -> ")
    assert result.stdout == ""
    engine.assert_intact()


def test_cli_does_not_create_a_missing_embedded_path(tmp_path: Path) -> None:
    result = CliRunner(env={"METERING_CH_DSN": f"chdb://{tmp_path / 'none'}"}).invoke(
        _app(), ["sql", "SELECT 1"])
    assert result.exit_code == 1
    assert "no embedded ClickHouse" in result.stderr
    assert not (tmp_path / "none").exists()


def test_cli_says_what_to_do_when_the_pipeline_holds_the_path(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'held'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, clickhouse_connect as c; "
         "client = c.get_client(dsn=sys.argv[1]); print('held', flush=True); "
         "sys.stdin.read(); client.close()", dsn],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        cli = subprocess.run(
            [sys.executable, "-c", "import typer; from cli.sql import register; "
             "app = typer.Typer(); app.callback()(lambda: None); register(app); app()",
             "sql", "SELECT 1"],
            cwd=ROOT, env={**os.environ, "METERING_CH_DSN": dsn}, capture_output=True,
            text=True, timeout=60)
    finally:
        holder.communicate("", timeout=30)
    assert cli.returncode == 1
    error, hint = cli.stderr.splitlines()
    assert "in use by another process" in error
    assert hint == "  -> stop the pipeline or point METERING_CH_DSN at a ClickHouse server"
