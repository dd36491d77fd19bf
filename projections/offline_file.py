"""`metering rate` over a file of any size: memory bounded by one account, not the log.

Two passes over the file:
1. **Index** (`index_file`): each non-blank line's byte position and line number are
   appended to its account's index (`subject_key`: the record key the producer would
   give it), 16 bytes a line; lines without a subject go to a group of their own.
2. **Decide and rate, account by account** (`rate_run`): an account's lines are read
   back (`pread`) in file order, decided by the core (`offline_log.LineDecider`;
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

import functools
import itertools
import json
import multiprocessing
import os
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TypeVar

from pricing.pricebook import PriceBook
from projections.memory import MemoryAggregator
from projections.offline_log import LineDecider, LogSummary, line_body, offline_core, subject_key
from projections.offline_rating import MemorySource, rate_account

READ_AHEAD = 512
"""Bytes read at a line's position (more for a longer line)."""
NO_KEY = b""
"""The group of lines that name no subject (each is rejected with its reason)."""


Groups = dict[bytes, tuple["array[int]", "array[int]"]]
"""Record key -> (byte positions, line numbers) of its lines, in file order."""


@dataclass
class LineIndex:
    path: Path
    groups: Groups = field(default_factory=dict)

    def lines(self, key: bytes) -> int:
        return len(self.groups[key][0])


def _index_range(path: Path, start: int, end: int) -> tuple[Groups, int]:
    """The non-blank lines starting in [start, end), grouped by record key, numbered from
    1 in the range; and how many lines start there."""
    groups: Groups = {}
    position, number = start, 0
    with path.open("rb") as fh:
        fh.seek(start)
        for line in fh:
            if position >= end:
                break
            number += 1
            raw = line_body(line, 1) if position == 0 else line
            if raw and not raw.isspace():
                key = subject_key(raw)
                if key is None:
                    key = NO_KEY
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (array("q"), array("q"))
                group[0].append(position)
                group[1].append(number)
            position += len(line)
    return groups, number


def _cuts(path: Path, parts: int) -> list[int]:
    """`parts` + 1 byte positions, each the start of a line (or the end of the file)."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as fh:
        for i in range(1, parts):
            fh.seek(max(cuts[-1], size * i // parts))
            if fh.tell() > 0:
                fh.seek(fh.tell() - 1)
                fh.readline()  # to the start of the next line
            cuts.append(min(fh.tell(), size))
    return [*cuts, size]


def index_file(path: Path, on_bytes: Callable[[int], None] | None = None,
               workers: int = 1) -> LineIndex:
    """Pass 1: every non-blank line's position and number, grouped by record key; the file
    cut into `workers` byte ranges indexed side by side (forked), then joined in order."""
    cuts = _cuts(path, max(1, workers))
    ranges = [(a, b) for a, b in itertools.pairwise(cuts) if b > a] or [(0, 0)]
    results = _in_processes([functools.partial(_index_range, path, a, b) for a, b in ranges],
                            None)
    index = LineIndex(path)
    base = 0
    for (groups, lines), (_, end) in zip(results, ranges, strict=True):
        for key, (positions, numbers) in groups.items():
            if base:
                numbers = array("q", [n + base for n in numbers])
            mine = index.groups.get(key)
            if mine is None:
                index.groups[key] = (positions, numbers)
            else:
                mine[0].extend(positions)
                mine[1].extend(numbers)
        base += lines
        if on_bytes is not None:
            on_bytes(end)
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


def _lines(fd: int, group: tuple[array[int], array[int]]) -> Iterator[tuple[int, bytes]]:
    """The group's lines, read back one by one (`pread`: nothing of the file is mapped
    into the process, whose resident set stays its own)."""
    for position, number in zip(group[0], group[1], strict=True):
        chunk = os.pread(fd, READ_AHEAD, position)
        end = chunk.find(b"\n")
        while end < 0 and len(chunk) % READ_AHEAD == 0 and chunk:  # a longer line
            more = os.pread(fd, len(chunk), position + len(chunk))
            if not more:
                break
            chunk += more
            end = chunk.find(b"\n")
        yield number, line_body(chunk[:end] if end >= 0 else chunk, number)


@dataclass
class FileRating:
    """What deciding and rating some accounts gave: the counts, the problems, and how many
    records were written."""

    summary: LogSummary
    problems: list[str]
    records: int


def rate_run(index: LineIndex, keys: list[bytes], book: PriceBook, until: datetime,
             fallback: datetime, out: IO[bytes],
             progress: Callable[[int], None] | None = None) -> FileRating:
    """Decide and rate the accounts of `keys`, one after the other; the records go to
    `out` as JSON lines."""
    summary, problems, written = LogSummary(), [], 0
    with index.path.open("rb") as fh:
        for key in keys:
            decider = LineDecider(offline_core(book), fallback)
            aggregator = MemoryAggregator()
            for number, raw in _lines(fh.fileno(), index.groups[key]):
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
    return FileRating(summary, problems, written)


T = TypeVar("T")


class WorkerFailed(RuntimeError):
    """A forked process of `metering rate` ended without its result."""


def _in_processes(tasks: list[Callable[[], T]], done: _Progress | None) -> list[T]:
    """Each task's result, the tasks run side by side in forked processes (one task: in
    this one). `done`: a shared counter the tasks may add to (progress)."""
    if len(tasks) <= 1:
        return [task() for task in tasks]
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="metering-rate-") as tmp:
        paths = [Path(tmp) / f"result-{i}.pickle" for i in range(len(tasks))]

        def child(task: Callable[[], T], path: Path) -> None:
            path.write_bytes(pickle.dumps(task()))

        children = [context.Process(target=child, args=(task, path), daemon=True)
                    for task, path in zip(tasks, paths, strict=True)]
        for process in children:
            process.start()
        while any(process.is_alive() for process in children):
            for process in children:
                process.join(timeout=0.2)
            if done is not None:
                done.report()
        failed = [process.exitcode for process in children if process.exitcode != 0]
        if failed:
            raise WorkerFailed(f"a metering rate process failed (exit codes {failed})")
        return [pickle.loads(path.read_bytes()) for path in paths]


class _Progress:
    """Lines done by the forked processes, reported to `progress` by the parent."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.progress, self.reported = progress, 0
        self.value = multiprocessing.get_context("fork").Value("q", 0)

    def add(self, n: int) -> None:
        with self.value.get_lock():
            self.value.value += n

    def report(self) -> None:
        now = self.value.value
        if self.progress is not None and now > self.reported:
            self.progress(now - self.reported)
            self.reported = now


def _run_to_file(index: LineIndex, keys: list[bytes], book: PriceBook, until: datetime,
                 fallback: datetime, records: Path, done: _Progress) -> FileRating:
    with records.open("wb") as out:
        return rate_run(index, keys, book, until, fallback, out, done.add)


def rate_file(index: LineIndex, book: PriceBook, until: datetime, fallback: datetime,
              out: IO[bytes], workers: int = 1,
              progress: Callable[[int], None] | None = None) -> FileRating:
    """Pass 2 over an indexed file: every account decided and rated, records to `out` in
    account order (sorted), with `workers` processes (1: in this one)."""
    parts = [run for run in runs(index, max(1, workers)) if run]
    if len(parts) <= 1:
        return rate_run(index, parts[0] if parts else [], book, until, fallback, out,
                        progress)
    done = _Progress(progress)
    with tempfile.TemporaryDirectory(prefix="metering-rate-") as tmp:
        paths = [Path(tmp) / f"records-{i}.jsonl" for i in range(len(parts))]
        results = _in_processes(
            [functools.partial(_run_to_file, index, keys, book, until, fallback, path, done)
             for keys, path in zip(parts, paths, strict=True)], done)
        summary, problems, written = LogSummary(), [], 0
        for path, result in zip(paths, results, strict=True):
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    out.write(chunk)
            summary.merge(result.summary)
            problems += result.problems
            written += result.records
    return FileRating(summary, problems, written)
