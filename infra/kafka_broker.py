"""Start and stop a real single-node Kafka 4.x broker (KRaft, broker+controller).

The jars come from Maven Central through infra/pom.xml (`mvn dependency:copy-dependencies`);
the machine's JDK runs `kafka.tools.StorageTool format` and then `kafka.Kafka`.
"""

from __future__ import annotations

import base64
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
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": str(self.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
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
        cluster_id = cluster_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode(
        ).rstrip("=")
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                       "-c", str(config)),
            check=True, stdout=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 60.0) -> KafkaBroker:
        self.format_storage()
        out = open(self.data_dir / "broker.out", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(self.data_dir / "server.properties")),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        self.pid_file.write_text(str(self.process.pid))
        self.wait_ready(timeout)
        log.info("kafka.started", bootstrap=self.bootstrap, pid=self.process.pid)
        return self

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


def stop_pid_file(pid_file: Path, timeout: float = 30.0) -> bool:
    """Stop a broker started by another process (`metering down`)."""
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True
