"""A pipeline under fault injection: the real sink and workers (testkit/pipeline.py),
a supervisor that restarts a role which died on its own (as a process manager would, and
counted), faults with their recovery time, and the final drain."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from chaos.broker import Broker
from chaos.lag import LagProbe, Offsets, Stage, wait_caught_up
from testkit.pipeline import Pipeline

log = structlog.get_logger(__name__)

Proc = subprocess.Popen[bytes]


@dataclass
class Fault:
    kind: str
    at_s: float
    """Seconds since the scenario started producing."""
    submitted: int
    """Records handed to the producer when the fault hit."""
    lag: int | None
    """Records not yet processed and written when the fault hit."""
    detail: str = ""
    recovery_s: float | None = None
    """Fault -> every record produced before it processed and written (lag of that
    backlog 0); None when the pipeline did not recover in time."""


@dataclass
class Exit:
    role: str
    code: int | None
    at_s: float


@dataclass
class ChaosPipeline:
    broker: Broker
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    partitions: int = 4
    recovery_timeout_s: float = 300.0
    faults: list[Fault] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pipeline = Pipeline(self.broker.bootstrap, self.workdir, self.partitions,
                                 **self.env)
        t = self.pipeline.topics
        self.probe = LagProbe(self.broker.bootstrap, [
            Stage(self.pipeline.processor_id, (t.events,)),
            Stage(self.pipeline.sink_id, (t.metered, t.rejected, t.alerts, t.decisions))])
        self.worker: Proc | None = None
        self.extra: list[Proc] = []
        self.max_stall_s = 0.0
        self._progress: dict[tuple[str, int], tuple[int, float]] = {}
        self._sampled = 0.0

    @property
    def prefix(self) -> str:
        return self.pipeline.prefix

    def start(self) -> None:
        self.pipeline.start_sink()
        self.worker = self.pipeline.start_worker()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def wait_joined(self, timeout: float) -> None:
        """Until the processor and the sink groups are stable (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            members = self.probe.members()
            if members and all(n > 0 for n in members.values()):
                return
            time.sleep(0.25)
        log.warning("chaos.join_slow", timeout=timeout)

    # ---- the supervisor ----------------------------------------------------------------

    def supervise(self) -> None:
        """Restart the sink or the main worker if it exited without being told to."""
        p = self.pipeline
        if p.sink is not None and p.sink.poll() is not None:
            self.exits.append(Exit("sink", p.sink.returncode, self.elapsed()))
            log.warning("chaos.unplanned_exit", role="sink", code=p.sink.returncode)
            p.start_sink()
        if self.worker is not None and self.worker.poll() is not None:
            self.exits.append(Exit("worker", self.worker.returncode, self.elapsed()))
            log.warning("chaos.unplanned_exit", role="worker", code=self.worker.returncode)
            self.worker = p.start_worker()
        for extra in list(self.extra):
            if extra.poll() is not None:
                self.exits.append(Exit("extra worker", extra.returncode, self.elapsed()))
                self.extra.remove(extra)
        if time.monotonic() - self._sampled >= 1.0:
            self._sample_stalls()

    def _sample_stalls(self) -> None:
        """The longest time a partition of the events topic had records waiting while the
        processor's committed offset on it did not move (counted once it committed there:
        joining the group at the start is not a stall)."""
        self._sampled = now = time.monotonic()
        end = self.probe.end_offsets([self.pipeline.topics.events])
        done = self.probe.committed()
        if end is None or done is None:
            return
        for key, last in end.items():
            committed = done.get(key)
            if committed is None:
                continue
            seen = self._progress.get(key)
            if seen is None or committed != seen[0] or committed >= last:
                self._progress[key] = (committed, now)
            else:
                self.max_stall_s = max(self.max_stall_s, now - seen[1])

    # ---- faults ------------------------------------------------------------------------

    def fault(self, kind: str, submitted: int, inject: Callable[[], str]) -> Fault:
        """Inject a fault (`inject` returns a detail, once the fault has happened: a kill,
        a restarted broker, a worker in the group or out of it) and wait for the recovery:
        from the start of the fault until everything in the events topic when `inject`
        returned is processed and written."""
        t = self.pipeline.topics
        lag = self.probe.lag()
        at = self.elapsed()
        detail = inject()
        fault = Fault(kind, round(at, 2), submitted, lag, detail)
        self.faults.append(fault)
        log.info("chaos.fault", **asdict(fault))
        deadline = time.monotonic() + self.recovery_timeout_s
        after: Offsets | None = None
        while after is None and time.monotonic() < deadline:
            after = self.probe.end_offsets([t.events])
            if after is None:
                time.sleep(0.25)
        try:
            if after is None:
                raise TimeoutError("no end offsets")
            fault.recovery_s = round(self._recover(after, at), 2)
        except TimeoutError:
            log.error("chaos.not_recovered", kind=kind, timeout=self.recovery_timeout_s)
        return fault

    def _recover(self, before: Offsets, at: float) -> float:
        wait_caught_up(self.probe, before, self.recovery_timeout_s, self.supervise)
        return self.elapsed() - at

    def wait_writing(self, timeout: float = 10.0) -> bool:
        """Wait until the worker is writing a batch (its output topic grows), to kill it
        in the middle of one; False if it did not within `timeout`."""
        topic = self.pipeline.topics.metered
        deadline = time.monotonic() + timeout
        last = self.probe.end_offsets([topic])
        while time.monotonic() < deadline:
            now = self.probe.end_offsets([topic])
            if now is not None and last is not None and now != last:
                return True
            last = now if now is not None else last
            time.sleep(0.005)
        return False

    def kill_worker(self, mid_batch: bool) -> str:
        """kill -9 of the main worker, then start it again at once."""
        assert self.worker is not None
        writing = self.wait_writing() if mid_batch else False
        self.pipeline.kill_worker(self.worker)
        self.worker = self.pipeline.start_worker()
        return "mid-batch (output topic growing)" if writing else "random moment"

    def add_worker(self, timeout: float = 60.0) -> float:
        """Start a second worker and wait until the processor group has it; seconds."""
        t0 = time.monotonic()
        proc = self.pipeline.start_worker()
        self.extra.append(proc)
        while time.monotonic() - t0 < timeout:
            self.supervise()
            members = self.probe.members() or {}
            if members.get(self.pipeline.processor_id, 0) >= 2:
                break
            time.sleep(0.1)
        return time.monotonic() - t0

    def remove_worker(self, proc: Proc, timeout: float = 120.0) -> None:
        """A graceful leave (SIGTERM): the worker finishes its batch and leaves the group."""
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc in self.extra:
            self.extra.remove(proc)

    # ---- the end -----------------------------------------------------------------------

    def drain(self, timeout: float) -> float:
        """Wait until every record in every topic is processed and written."""
        return wait_caught_up(self.probe, None, timeout, self.supervise)

    def clickhouse(self) -> Any:
        """Stop the sink and open its chdb (one process per path)."""
        return self.pipeline.clickhouse()

    def stop(self) -> None:
        self.probe.close()
        self.pipeline.stop()
