"""Bad input at the `metering` command line: parameters that take user text and fail before
any service is needed (a broker, ClickHouse) fail fast, with a clear error and exit 2;
`metering rate` decides every line of any file and reports each.

What the fuzzing found and was fixed: user text interpolated into rich markup (`[/x]`
raised MarkupError; now escaped), `metering produce --retime` reading JSON without
catching ValueError / RecursionError, `metering rate` taking a time before year 1 or after
9999 in UTC as a receipt time (now the fallback receipt time).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from cli.main import app
from pricing.pricebook_loader import available_pricebooks
from tests.unit.test_fuzz_process import NASTY_TEXT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "pricing" / "examples" / "sms_200_credits.jsonl"
ENV = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "METERING_CH_DSN": "chdb:///nonexistent/chdb"}
CLI = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

weird = st.one_of(st.sampled_from([t for t in NASTY_TEXT if t and "\ud800" not in t]),
                  st.text(st.characters(codec="utf-8"), min_size=1,
                          max_size=120))
no_markup = weird  # rich markup (`[/x]`, `[bold]`) included: user text is escaped


@contextmanager
def _structlog_kept() -> Iterator[None]:
    """The CLI configures structlog to print to the runner's (then closed) stderr; give the
    later tests their configuration back."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


@contextmanager
def log_file(content: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        path.write_bytes(content)
        yield path


def invoke(*args: str) -> Result:
    with _structlog_kept():
        return CliRunner().invoke(app, list(args), env=ENV)


def failed_fast(result: Result, message: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.exception, result.output)
    assert isinstance(result.exception, SystemExit)
    assert message in " ".join(result.output.split())


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, a NUL
        return False


def _aware(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


@CLI
@given(weird)
def test_rate_refuses_an_until_that_is_not_an_aware_time(until: str) -> None:
    assume(not _aware(until))
    result = invoke("rate", "--pricebook=marketing_tiers", f"--events={EXAMPLE}",
                    f"--until={until}")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert re.search(r"not an RFC 3339 time|needs a timezone", result.output)


@CLI
@given(no_markup)
def test_rate_refuses_an_unknown_price_book(book: str) -> None:
    assume(book.strip() not in available_pricebooks() and not _is_file(book))
    failed_fast(invoke("rate", f"--pricebook={book}", f"--events={EXAMPLE}",
                       "--until=2025-05-01T00:00:00Z"), "cannot load price book")


def _a_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@CLI
@given(no_markup)
def test_rerate_refuses_a_cycle_start_that_is_not_a_date(start: str) -> None:
    assume(not _a_date(start))  # a date would go on to ClickHouse
    failed_fast(invoke("rerate", f"--cycle-start={start}"), "is not YYYY-MM-DD")


@CLI
@given(no_markup)
def test_rerate_refuses_an_unknown_price_book(book: str) -> None:
    assume(book.strip() not in available_pricebooks() and not _is_file(book))
    failed_fast(invoke("rerate", f"--pricebook={book}"), "cannot load price book")


lines = st.one_of(
    st.binary(max_size=60), weird.map(str.encode),
    st.sampled_from([b"1" * 5000, b"[" * 5000, b'{"time": "2026-01-01T00:00:00Z", "x": NaN}',
                     b'{"subject": "a", "time": "0001-01-01T00:00:00"}']),
    st.sampled_from(EXAMPLE.read_bytes().splitlines()))


def _leaves_the_calendar(line: bytes) -> bool:
    """A line whose `time` cannot be converted to UTC (before year 1 / after 9999)."""
    for part in line.split(b"\n"):
        try:
            doc = json.loads(part)
            datetime.fromisoformat(doc["time"]).astimezone(UTC)
        except OverflowError:
            return True
        except Exception:  # anything else is not this case
            continue
    return False


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, min_size=1, max_size=12))
def test_rate_decides_every_line_of_any_file(content: list[bytes]) -> None:
    with log_file(b"\n".join(content) + b"\n") as path:
        result = invoke("rate", "--pricebook=marketing_tiers", f"--events={path}",
                        "--until=2025-05-01T00:00:00Z")
    rejected = " 0 rejected;" not in result.output
    assert result.exit_code == (1 if rejected else 0), (result.exception, result.output)
    text = b"\n".join(content).removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is no line
    decided = [line for line in text.split(b"\n") if line.strip()]
    assert f"{len(decided)} events:" in result.output


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(EXAMPLE.read_bytes().splitlines()), max_size=3),
       st.one_of(st.sampled_from([b"[]", b"1", b"null", b'"x"', b"{", b"\xff"]),
                 no_markup.map(str.encode)))
def test_produce_retime_refuses_a_log_with_lines_that_are_not_objects(
        good: list[bytes], bad: bytes) -> None:
    assume((bad.strip() and not bad.strip().startswith(b"{")) or bad == b"{")
    with log_file(b"\n".join([*good, bad]) + b"\n") as path:
        failed_fast(invoke("produce", "--retime", str(path)),
                    "--retime needs every line to be a JSON object")


KNOWN: list[Any] = [
    pytest.param(["rate", "--pricebook=[/x]", f"--events={EXAMPLE}",
                  "--until=2025-05-01T00:00:00Z"], "cannot load price book",
                 id="rate-pricebook-markup"),
    pytest.param(["rerate", "--cycle-start=[/x]"], "is not YYYY-MM-DD",
                 id="rerate-cycle-start-markup"),
    pytest.param(["rerate", "--pricebook=[/x]"], "cannot load price book",
                 id="rerate-pricebook-markup"),
]


@pytest.mark.parametrize(("args", "message"), KNOWN)
def test_text_that_looks_like_markup_is_refused_clearly(args: list[str],
                                                        message: str) -> None:
    failed_fast(invoke(*args), message)


@pytest.mark.parametrize("line", [b"1" * 5000, b"[" * 100_000], ids=["huge-int", "deep"])
def test_produce_retime_refuses_a_line_it_cannot_parse(line: bytes, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(line + b"\n")
    failed_fast(invoke("produce", "--retime", str(path)),
                "--retime needs every line to be a JSON object")


@pytest.mark.parametrize("line", [
    b'{"subject": "a", "time": "0001-01-01T00:00:00+01:00"}',
    b'{"subject": "a", "time": "9999-12-31T23:59:59-01:00"}'], ids=["year-0", "year-10000"])
def test_rate_decides_a_line_whose_time_leaves_the_calendar_in_utc(line: bytes,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(line + b"\n")
    result = invoke("rate", "--pricebook=marketing_tiers", f"--events={path}",
                    "--until=2025-05-01T00:00:00Z")
    assert result.exit_code == 1, result.exception  # decided (rejected), not crashed
    assert "rejected invalid_envelope: 1" in result.output
