"""`metering rate` over a file of any size: memory bounded by one account, not the log.

Two passes over the file:
1. **Index** (`index_file`): each non-blank line's byte position and line number are
   appended to its account's index (`subject_key`: the record key the producer would
   give it), 16 bytes a line; lines without a subject go to a group of their own.
2. **Decide and rate, account by account** (`rate_accounts`): an account's lines are read
   back (from a memory map) in file order, decided by the core (`offline_log.LineDecider`;
   the state, the accepted-ids window and the aggregator are the account's only, dropped
   once it is rated) and rated (`offline_rating.rate_account`). The decision of a line
   depends only on its own account's earlier lines, so the verdicts are those of one pass
   over the whole log in order (`read_log`; `tests/pricing_cli/test_rate_file.py` holds
   both to it).

With `workers` > 1 the accounts, in sorted order, are cut into that many contiguous runs of
about as many lines each, and each run is decided and rated in a forked process (the index
is shared copy-on-write); each writes its records to a file of its own, and the runs'
files are joined in order, so the output is the same whatever the number of workers.
"""

from __future__ import annotations

import json
import mmap
import multiprocessing
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pricing.pricebook import PriceBook
from projections.memory import MemoryAggregator
from projections.offline_log import LineDecider, LogSummary, line_body, offline_core, subject_key
from projections.offline_rating import MemorySource, rate_account

RELEASE_EVERY = 100_000
"""Lines read back between two releases of the file's mapped pages (`MADV_DONTNEED`: they
stay in the page cache, out of the process's resident set)."""
NO_KEY = b""
"""The group of lines that name no subject (each is rejected with its reason)."""


@dataclass
class LineIndex:
    path: Path
    groups: dict[bytes, tuple[array[int], array[int]]] = field(default_factory=dict)
    """Record key -> (byte positions, line numbers) of its lines, in file order."""

    def lines(self, key: bytes) -> int:
        return len(self.groups[key][0])


def index_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> LineIndex:
    """Pass 1: every non-blank line's position, grouped by record key."""
    index = LineIndex(path)
    groups = index.groups
    position = 0
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            size = len(line)
            raw = line_body(line, number)
            if raw.strip():
                key = subject_key(raw)
                if key is None:
                    key = NO_KEY
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (array("q"), array("q"))
                group[0].append(position)
                group[1].append(number)
            position += size
            if on_bytes is not None and number % 65536 == 0:
                on_bytes(position)
    if on_bytes is not None:
        on_bytes(position)
    return index


def runs(index: LineIndex, workers: int) -> list[list[bytes]]:
    """The keys in sorted order, cut into at most `workers` contiguous runs of about as
    many lines each."""
    keys = sorted(index.groups)
    total = sum(index.lines(k) for k in keys)
    out: list[list[bytes]] = [[]]
    done = 0
    for key in keys:
        if out[-1] and done >= total * len(out) / workers and len(out) < workers:
            out.append([])
        out[-1].append(key)
        done += index.lines(key)
    return out


def _lines(mm: mmap.mmap, group: tuple[array[int], array[int]]) -> Iterator[tuple[int, bytes]]:
    for position, number in zip(group[0], group[1], strict=True):
        end = mm.find(b"\n", position)
        yield number, line_body(mm[position:end if end >= 0 else len(mm)], number)


@dataclass
class RunResult:
    summary: LogSummary
    problems: list[str]
    records: int


def rate_run(index: LineIndex, keys: list[bytes], book: PriceBook, until: datetime,
             fallback: datetime, out: IO[bytes],
             progress: Callable[[int], None] | None = None) -> RunResult:
    """Decide and rate the accounts of `keys`, one after the other; the records go to
    `out` as JSON lines."""
    summary, problems, written, since = LogSummary(), [], 0, 0
    with index.path.open("rb") as fh, \
            mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for key in keys:
            decider = LineDecider(offline_core(book), fallback)
            aggregator = MemoryAggregator()
            for number, raw in _lines(mm, index.groups[key]):
                metered = decider.decide(number, raw, key or None)
                if metered is not None:
                    aggregator.add(metered)
            summary.merge(decider.summary)
            source = MemorySource(aggregator)
            for account in source.accounts():
                records, trouble = rate_account(book, source, account, until)
                out.write("".join(json.dumps(r, separators=(",", ":")) + "\n"
                                  for r in records).encode())
                written += len(records)
                problems += trouble
            if progress is not None:
                progress(index.lines(key))
            since += index.lines(key)
            if since >= RELEASE_EVERY:  # the pages read so far out of this process's RSS
                mm.madvise(mmap.MADV_DONTNEED)
                since = 0
    return RunResult(summary, problems, written)


def _child(index: LineIndex, keys: list[bytes], book: PriceBook, until: datetime,
           fallback: datetime, records: Path, result: Path, done: Any) -> None:
    def progress(n: int) -> None:
        with done.get_lock():
            done.value += n

    with records.open("wb") as out:
        outcome = rate_run(index, keys, book, until, fallback, out, progress)
    result.write_bytes(pickle.dumps(outcome))


@dataclass
class FileRating:
    summary: LogSummary
    problems: list[str]
    records: int


def rate_file(index: LineIndex, book: PriceBook, until: datetime, fallback: datetime,
              out: IO[bytes], workers: int = 1,
              progress: Callable[[int], None] | None = None) -> FileRating:
    """Pass 2 over an indexed file: every account decided and rated, records to `out` in
    account order (sorted), with `workers` processes (1: in this one)."""
    parts = [run for run in runs(index, max(1, workers)) if run]
    if len(parts) <= 1:
        alone = rate_run(index, parts[0] if parts else [], book, until, fallback, out,
                         progress)
        return FileRating(alone.summary, alone.problems, alone.records)
    context = multiprocessing.get_context("fork")
    done = context.Value("q", 0)
    with tempfile.TemporaryDirectory(prefix="metering-rate-") as tmp:
        paths = [(Path(tmp) / f"records-{i}.jsonl", Path(tmp) / f"result-{i}.pickle")
                 for i in range(len(parts))]
        children = [context.Process(target=_child, args=(index, keys, book, until, fallback,
                                                         rec, res, done), daemon=True)
                    for keys, (rec, res) in zip(parts, paths, strict=True)]
        for child in children:
            child.start()
        reported = 0
        while any(child.is_alive() for child in children):
            for child in children:
                child.join(timeout=0.2)
            if progress is not None and done.value > reported:
                progress(done.value - reported)
                reported = done.value
        failed = [child.exitcode for child in children if child.exitcode != 0]
        if failed:
            raise RuntimeError(f"a rating process failed (exit codes {failed})")
        summary, problems, written = LogSummary(), [], 0
        for rec, res in paths:
            with rec.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    out.write(chunk)
            result: RunResult = pickle.loads(res.read_bytes())
            summary.merge(result.summary)
            problems += result.problems
            written += result.records
    return FileRating(summary, problems, written)
