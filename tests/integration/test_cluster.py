"""`metering up --brokers 3` (issue 17, item 3): a three-node KRaft cluster on loopback
from the same Maven jars; the pipeline's topics get replication factor 3 with
`min.insync.replicas=2`; `metering down` stops every node."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from infra.topics import ensure_topics
from schemas.topics import Topics
from testkit.pipeline import ROOT

pytestmark = pytest.mark.integration


def free_range(n: int) -> int:
    """A port p with p .. p+n-1 all free now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n >= 65535:
            continue
        try:
            socks = []
            for p in range(base, base + n):
                sock = socket.socket()
                sock.bind(("127.0.0.1", p))
                socks.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port range")


def metering(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240, check=False)


def test_three_brokers_replicate_the_topics_and_stop_together(tmp_path: Path) -> None:
    import os

    base = free_range(6)
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env |= {"METERING_DATA_DIR": str(tmp_path), "METERING_BROKER_PORT": str(base),
            "METERING_CONTROLLER_PORT": str(base + 1)}
    up = metering(env, "up", "--brokers", "3")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        bootstrap = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
        assert f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in up.stdout
        topics = Topics("cluster-test.")
        ensure_topics(bootstrap, topics, 4)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            assert len(admin.describe_cluster()["brokers"]) == 3
            deadline = time.monotonic() + 60
            while True:  # a new topic's metadata reaches every broker shortly after
                described = admin.describe_topics(list(topics.all()))
                if all(t["partitions"] for t in described) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert {len(p["replica_nodes"]) for t in described
                    for p in t["partitions"]} == {3}
            leaders = {p["leader_id"] for t in described for p in t["partitions"]}
            assert leaders <= {1, 2, 3} and len(leaders) >= 2  # leadership spread
            configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                             topics.events)])
            found = configs["topic"][topics.events]
            assert found["min.insync.replicas"]["value"] == "2", found
        finally:
            admin.close()
    finally:
        down = metering(env, "down")
    assert down.returncode == 0 and "3 broker(s) stopped" in down.stdout, down.stdout
    assert not list(tmp_path.glob("kafka/node-*/broker.pid"))
