"""`metering run` says when it is ready (issue 17, rough edges): once the API answers and
the worker's and sink's consumer groups have members, one block with the broker address,
the API and dashboard URLs, the data directory and how to make an API key; Ctrl-C stops
it cleanly. On the session's real broker (KAFKA_BOOTSTRAP_SERVERS set: no second one)."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.processes import Pipeline
from testkit.pipeline import ROOT

pytestmark = pytest.mark.integration


# the children share the pipe: faust's terminal spinner leaves escapes and backspaces
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x08")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metering_run_prints_one_ready_block_then_stops_on_ctrl_c(bootstrap: str,
                                                                 tmp_path: Path) -> None:
    port = _free_port()
    p = Pipeline(bootstrap, tmp_path, METERING_API_PORT=str(port), METERING_API_KEYS="[]")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run"], cwd=ROOT, env=p.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    output = proc.stdout
    assert output is not None

    def pump() -> None:
        for line in output:
            lines.put(_ANSI.sub("", line))

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any(ln.startswith("metering is running") for ln in seen):
            assert proc.poll() is None, "".join(seen)
            assert time.monotonic() < deadline, "no ready block:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=5))
            except queue.Empty:
                continue
        start = next(i for i, ln in enumerate(seen) if ln.startswith("metering is running"))
        while len(seen) < start + 7:
            seen.append(lines.get(timeout=30))
        block = "".join(seen[start:start + 7])
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
        p.stop()
    assert f"Kafka broker  {bootstrap}" in block
    assert f"API           http://127.0.0.1:{port}  (OpenAPI: http://127.0.0.1:{port}/docs)" \
        in block
    assert f"dashboard     http://127.0.0.1:{port}/dashboard/ops" in block
    assert "metering api-key new --name me --write '*' --read '*'" in block
    assert f"ClickHouse    embedded, data in {tmp_path / 'chdb'}" in block
    assert "stop          Ctrl-C" in block
    assert sum(ln.startswith("metering is running") for ln in seen) == 1
    assert code == 0
