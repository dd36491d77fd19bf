"""`metering rate`'s file path (index by account, then decide and rate account by account,
in one or several processes) against one pass over the whole log in order (`read_log` +
`rate_log`): the same records, the same counts, the same rejected lines.

The logs are the seeded billing workloads of the four reference books, with duplicates sent
again at the end, late lines out of order, and poison (malformed, no subject, a subject
only inside `data`, an escaped key)."""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli.rate
from pricing.pricebook_loader import load_pricebook
from projections.offline_file import WorkerFailed, _in_processes, index_file, rate_file, runs
from projections.offline_log import LogSummary, read_log, subject_key
from projections.offline_rating import rate_log
from testkit.billing_workload import billing_workload

POISON = [
    b"{not json",
    b'{"specversion":"1.0","id":"p1","source":"s","type":"email.sent",'
    b'"time":"2025-01-05T00:00:00Z","data":{"subject":"acct-x","count":1}}',
    b'{"specversion":"1.0","id":"p2","source":"s","type":"email.sent","\\u0073ubject":"a",'
    b'"time":"2025-01-05T00:00:00Z","data":{"count":1}}',
    b'{"specversion":"1.0","id":"p3","source":"s","type":"email.sent","subject":7,'
    b'"time":"2025-01-05T00:00:00Z","data":{"count":1}}',
    b"[1, 2]",
    b"   ",
    b'{"specversion":"1.0","id":"p5","source":"s","type":"email.sent","subject":"acct-y",'
    b'"time":"2025-01-05T00:00:00Z","data":{"count":1},"note":"' + b"n" * 5000 + b'"}',
]
"""(A line much longer than what is read at a line's position comes back whole.)"""


def _log(seed: int, docs: list[dict[str, Any]]) -> list[bytes]:
    lines = [json.dumps(d).encode() for d in docs]
    lines += lines[::7]  # duplicates, at other offsets
    lines.insert(len(lines) // 2, lines.pop(len(lines) // 3))  # a line later than it was
    return [*lines[:5], *POISON, *lines[5:]]


def _until(docs: list[dict[str, Any]]) -> datetime:
    return max(datetime.fromisoformat(d["time"]) for d in docs) + timedelta(days=45)


def _key(summary: LogSummary) -> tuple[Any, ...]:
    return (summary.lines, summary.accepted, summary.duplicates, dict(summary.rejected),
            sorted(summary.rejections, key=lambda r: r.line),
            sorted(summary.before_subscription(), key=lambda r: r.line))


@pytest.mark.parametrize("seed", [3, 12])
def test_the_file_path_gives_what_one_pass_in_order_gives(tmp_path: Path, seed: int) -> None:
    for name, docs in billing_workload(seed, per_book=4).items():
        book = load_pricebook(name)
        lines, until = _log(seed, docs), _until(docs)
        aggregator, summary = read_log(lines, book, fallback=until)
        records, problems = rate_log(book, aggregator, until)
        assert summary.accepted and summary.duplicates and summary.rejections, name
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"\n".join(lines) + (b"\n" if seed % 2 else b""))  # or none at the end
        index = index_file(path)
        for parts in (2, 3, 64):  # byte ranges indexed side by side, joined in order
            assert index_file(path, workers=parts).groups == index.groups
        for workers in (1, 2, 3):
            out = io.BytesIO()
            result = rate_file(index, book, until, until, out, workers)
            got = [json.loads(line) for line in out.getvalue().splitlines()]
            assert got == records, (name, workers)
            assert result.records == len(records)
            assert result.problems == problems
            assert _key(result.summary) == _key(summary), (name, workers)


def test_runs_cut_sorted_accounts_into_balanced_contiguous_parts(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(b'{"subject":"a%02d"}\n' % (i % 10) for i in range(1000)))
    index = index_file(path)
    parts = runs(index, 2)
    assert [k for part in parts for k in part] == sorted(index.groups)
    assert [sum(index.lines(k) for k in part) for part in parts] == [500, 500]
    assert len(runs(index, 64)) == 10  # never an empty part


def test_subject_key_of_lines_without_a_readable_subject() -> None:
    assert [subject_key(line) for line in POISON] == [None, b"acct-x", b"a", None, None,
                                                      None, b"acct-y"]


text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(subject=text, other=text, nested=st.booleans(), decoy=st.booleans(),
       ascii_only=st.booleans(), spaced=st.booleans())
def test_subject_key_reads_the_subject_the_parser_reads(subject: str, other: str,
                                                        nested: bool, decoy: bool,
                                                        ascii_only: bool, spaced: bool
                                                        ) -> None:
    doc: dict[str, Any] = {"id": other, "type": "subject" if decoy else "email.sent",
                           "subject": subject,
                           "data": {"subject": other} if nested else {"note": other}}
    raw = json.dumps(doc, ensure_ascii=ascii_only,
                     separators=(", ", " : ") if spaced else (",", ":")).encode()
    assert subject_key(raw) == orjson.loads(raw)["subject"].encode()


def test_a_worker_that_dies_is_an_error_not_a_partial_result(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    with pytest.raises(WorkerFailed, match="exit codes \\[9\\]"):
        _in_processes([lambda: 1, lambda: os._exit(9)], None)
    assert _in_processes([lambda: 1, lambda: 2], None) == [1, 2]

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise WorkerFailed("a metering rate process failed (exit codes [-9])")

    monkeypatch.setattr(cli.rate, "rate_file", dies)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"subject":"a"}\n')
    app = typer.Typer()
    app.callback()(lambda: None)
    cli.rate.register(app)
    result = CliRunner().invoke(app, ["rate", "--pricebook", "marketing_tiers", "--events",
                                      str(path), "--until", "2025-01-01T00:00:00Z"])
    assert result.exit_code == 3 and "nothing was rated" in result.stderr
