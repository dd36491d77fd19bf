"""Start and stop a real single-node Kafka 4.x broker (KRaft, broker+controller).

The jars come from Maven Central through infra/pom.xml (`mvn dependency:copy-dependencies`);
the machine's JDK runs `kafka.tools.StorageTool format` and then `kafka.Kafka`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

INFRA_DIR = Path(__file__).resolve().parent
POM = INFRA_DIR / "pom.xml"


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_jars(lib_dir: Path) -> Path:
    """Make sure the broker's jars are in `lib_dir`, resolving them with Maven if needed."""
    marker = lib_dir / ".resolved"
    if marker.exists() and marker.read_text() == POM.read_text():
        return lib_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not installed: apt-get install maven")
    lib_dir.mkdir(parents=True, exist_ok=True)
    log.info("kafka.resolve_jars", lib_dir=str(lib_dir))
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={lib_dir}"],
        check=True,
    )
    marker.write_text(POM.read_text())
    return lib_dir


_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.state.name = state.change.logger
logger.state.level = warn
"""


@dataclass
class KafkaBroker:
    """One broker+controller process on loopback ports, data kept in `data_dir`."""

    data_dir: Path
    lib_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    partitions: int = 4
    heap: str = "768m"
    log_level: str = "INFO"
    process: subprocess.Popen[bytes] | None = None
    node_id: int = 1
    voters: str | None = None
    """`controller.quorum.voters` of a cluster (`KafkaCluster`); None: this node alone."""
    replication: int = 1
    """Replication factor of the internal topics (3 in a three-node cluster)."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    def _write_config(self) -> Path:
        logs = self.data_dir / "kraft-logs"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or
                                        f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": str(self.partitions),
            "offsets.topic.replication.factor": str(self.replication),
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": str(self.replication),
            "transaction.state.log.min.isr": str(min_isr(self.replication)),
            "share.coordinator.state.topic.replication.factor": str(self.replication),
            "share.coordinator.state.topic.min.isr": str(min_isr(self.replication)),
            "default.replication.factor": str(self.replication),
            "min.insync.replicas": str(min_isr(self.replication)),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "message.max.bytes": "2097152",
            "log.retention.hours": "-1",
            "log.flush.interval.messages": "9223372036854775807",
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.properties").write_text(
            _LOG4J2.format(log_file=self.data_dir / "broker.log", level=self.log_level))
        return path

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java is not installed: apt-get install openjdk-17-jre-headless")
        return [
            java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp", f"{self.lib_dir}/*", *args,
        ]

    def format_storage(self, cluster_id: str | None = None) -> None:
        """Format the KRaft storage with a random cluster id (or `cluster_id`). The id is
        passed as `--cluster-id=<id>`: a random id may begin with `-`, which the tool would
        read as an option after a bare `-t`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        resolve_jars(self.lib_dir)
        config = self._write_config()
        if (self.data_dir / "kraft-logs" / "meta.properties").exists():
            return
        cluster_id = cluster_id or new_cluster_id()
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                       "-c", str(config)),
            check=True, stdout=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 60.0) -> KafkaBroker:
        self.launch()
        self.wait_ready(timeout)
        assert self.process is not None
        log.info("kafka.started", bootstrap=self.bootstrap, pid=self.process.pid,
                 node=self.node_id)
        return self

    def launch(self, cluster_id: str | None = None) -> None:
        """Format (once) and start the process, without waiting for it to answer (the
        nodes of a cluster answer only once a quorum of them runs)."""
        self.format_storage(cluster_id)
        out = open(self.data_dir / "broker.out", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(self.data_dir / "server.properties")),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        self.pid_file.write_text(str(self.process.pid))

    def wait_ready(self, timeout: float) -> None:
        from kafka import KafkaAdminClient  # local import: only needed here

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(f"broker exited with {self.process.returncode}; "
                                  f"see {self.data_dir / 'broker.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError as exc:  # not listening yet: don't let the client log noise
                last = exc
                time.sleep(0.3)
                continue
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                         request_timeout_ms=3000)
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except Exception as exc:  # broker not up yet
                last = exc
                time.sleep(0.3)
        raise BrokerError(f"broker not ready after {timeout}s: {last!r}")

    def stop(self, timeout: float = 30.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.pid_file.unlink(missing_ok=True)
        log.info("kafka.stopped", bootstrap=self.bootstrap)

    def kill(self) -> None:
        """kill -9, for fault-injection tests."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def min_isr(replication: int) -> int:
    """In-sync replicas an acknowledged write needs: 2 of 3 (one broker may fail)."""
    return 2 if replication >= 3 else 1


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaCluster:
    """`size` KRaft nodes (each broker and controller) on loopback from the same jars, one
    data directory each under `data_dir`; topics and internal topics replicated
    `min(size, 3)` times with `min.insync.replicas` 2 (of 3)."""

    data_dir: Path
    lib_dir: Path
    size: int = 3
    partitions: int = 4
    heap: str = "512m"
    log_level: str = "INFO"
    ports: list[tuple[int, int]] | None = None
    """(broker, controller) port of each node; None: free ports."""
    nodes: list[KafkaBroker] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            ports = self.ports or [(free_port(), free_port()) for _ in range(self.size)]
            voters = ",".join(f"{n}@127.0.0.1:{c}" for n, (_, c) in enumerate(ports, 1))
            self.nodes = [KafkaBroker(
                data_dir=self.data_dir / f"node-{n}", lib_dir=self.lib_dir, port=p,
                controller_port=c, partitions=self.partitions, heap=self.heap,
                log_level=self.log_level, node_id=n, voters=voters,
                replication=min(self.size, 3)) for n, (p, c) in enumerate(ports, 1)]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def start(self, timeout: float = 120.0) -> KafkaCluster:
        cluster_id = new_cluster_id()
        for node in self.nodes:
            node.launch(cluster_id)
        for node in self.nodes:
            node.wait_ready(timeout)
        log.info("kafka.cluster_started", bootstrap=self.bootstrap, nodes=len(self.nodes))
        return self

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def restart(self, node_id: int, timeout: float = 120.0) -> None:
        """Start a stopped or killed node again on its data."""
        self.node(node_id).start(timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to every node at once (one by one, the last would wait for a quorum
        that is gone), then SIGKILL to any still running after `timeout`."""
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        for node in running:
            assert node.process is not None
            node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in running:
            assert node.process is not None
            try:
                node.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.kill()
            node.pid_file.unlink(missing_ok=True)
        log.info("kafka.cluster_stopped", bootstrap=self.bootstrap)


def stop_pid_files(pid_files: list[Path], timeout: float = 30.0) -> int:
    """Stop the brokers of `pid_files` together (SIGTERM to all, then wait; SIGKILL after
    `timeout`); how many were running."""
    pids: dict[Path, int] = {}
    for pid_file in pid_files:
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            pids[pid_file] = pid
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    for pid_file, pid in pids.items():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
    return len(pids)
