"""A real single-node Apache Kafka broker (KRaft) for machines without Docker.

The broker jars come from Maven Central through ``mvn dependency:copy-dependencies`` into a cache
outside the repository (``$CHIPSCREEN_CACHE_DIR`` or ``~/.cache/chipscreen``), reused across runs.
Without Maven, the official binary release archive is tried; with neither, the error names what to
install. The broker listens on 127.0.0.1 only, on free ports, with every replication factor and
min ISR at 1 (the transaction state log included, so Kafka transactions work).

A broker's state directory keeps its config, data, log and PID: ``up`` on a directory whose broker
was stopped restarts it with the same ports and data, which is what an outage test needs.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

# Kafka 4.4.0 is the newest release served here; faust-streaming 0.15.3 (aiokafka 0.14) and
# kafka-python 3.0 were checked against it, consumer groups and transactions included.
KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
# Kafka's own pom leaves slf4j at 1.7 with no binding, so the broker would log nothing; these make
# it log through log4j2 like the binary distribution does.
_LOGGING_DEPS = (
    ("org.slf4j", "slf4j-api", "2.0.17"),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.25.5"),
)
_ARCHIVE_URL = "https://archive.apache.org/dist/kafka/{v}/kafka_{s}-{v}.tgz"
_READY_MARKER = ".complete"


class BrokerError(RuntimeError):
    """The dev broker could not be provisioned, started or stopped; the message says why."""


@dataclasses.dataclass(frozen=True)
class BrokerInfo:
    bootstrap_servers: str
    pid: int
    version: str
    state_dir: Path
    log_file: Path
    # with security="sasl_ssl": a second listener for clients, and the CA that signed it
    sasl_ssl_bootstrap: str = ""
    ca_file: str = ""

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["state_dir"] = str(self.state_dir)
        data["log_file"] = str(self.log_file)
        return json.dumps(data)


def cache_dir() -> Path:
    explicit = os.environ.get("CHIPSCREEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chipscreen"


def default_state_dir() -> Path:
    return cache_dir() / "broker"


def kraft_settings(
    *, broker_port: int, controller_port: int, host: str = "127.0.0.1"
) -> dict[str, str]:
    """Single-node combined broker+controller settings, shared with the container fixture."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{broker_port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "8",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly by chipscreen with their partition counts; a typo in a
        # topic name should fail loudly rather than create a one-partition topic.
        "auto.create.topics.enable": "false",
        "message.max.bytes": str(8 * 1024 * 1024),
        "log.retention.hours": "168",
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# -- provisioning ------------------------------------------------------------------------------


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_dir() / f"kafka-{version}" / "libs"


def _pom(version: str) -> str:
    deps = [("org.apache.kafka", f"kafka_{SCALA_VERSION}", version), *_LOGGING_DEPS]
    dep_xml = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>local.chipscreen</groupId><artifactId>kafka-broker</artifactId>"
        f"<version>{version}</version><packaging>pom</packaging>"
        f"<dependencies>{dep_xml}</dependencies></project>"
    )


def _provision_with_maven(mvn: str, version: str, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="chipscreen-mvn-") as tmp:
        (Path(tmp) / "pom.xml").write_text(_pom(version))
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise BrokerError(f"maven could not resolve Kafka {version} broker jars:\n{tail}")


def _provision_from_archive(version: str, target: Path) -> None:
    url = _ARCHIVE_URL.format(v=version, s=SCALA_VERSION)
    with tempfile.TemporaryDirectory(prefix="chipscreen-kafka-") as tmp:
        archive = Path(tmp) / "kafka.tgz"
        try:
            urllib.request.urlretrieve(url, archive)
        except OSError as exc:
            raise BrokerError(
                f"no Maven on PATH and the Kafka release archive could not be downloaded "
                f"({url}: {exc}). Install Maven (e.g. `apt-get install maven`) or set "
                f"KAFKA_BOOTSTRAP_SERVERS to an existing broker."
            ) from exc
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/libs/" in m.name and m.isfile()]
            for member in members:
                member.name = Path(member.name).name
                tar.extract(member, target, filter="data")


def provision(version: str = KAFKA_VERSION) -> Path:
    """Make the broker jars available in the cache and return their directory."""
    target = libs_dir(version)
    if (target / _READY_MARKER).exists():
        return target
    if target.exists():
        shutil.rmtree(target)  # a half-finished earlier attempt
    target.mkdir(parents=True)
    mvn = shutil.which("mvn")
    if mvn:
        _provision_with_maven(mvn, version, target)
    else:
        _provision_from_archive(version, target)
    if not any(target.glob(f"kafka_{SCALA_VERSION}-*.jar")):
        raise BrokerError(f"provisioning finished but no Kafka jar is in {target}")
    (target / _READY_MARKER).write_text(version)
    return target


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise BrokerError(
            "no Java runtime found: the dev broker needs Java 17 or newer "
            "(e.g. `apt-get install openjdk-17-jre-headless`), or set KAFKA_BOOTSTRAP_SERVERS."
        )
    return found


# -- lifecycle ---------------------------------------------------------------------------------


def _state_file(state_dir: Path) -> Path:
    return state_dir / "broker.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); ask /proc whether it has really gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def read_info(state_dir: Path | None = None) -> BrokerInfo | None:
    state_dir = state_dir or default_state_dir()
    path = _state_file(state_dir)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return BrokerInfo(
        bootstrap_servers=data["bootstrap_servers"],
        pid=int(data["pid"]),
        version=data["version"],
        state_dir=Path(data["state_dir"]),
        log_file=Path(data["log_file"]),
        sasl_ssl_bootstrap=data.get("sasl_ssl_bootstrap", ""),
        ca_file=data.get("ca_file", ""),
    )


def is_running(info: BrokerInfo | None) -> bool:
    return info is not None and info.pid > 0 and _pid_alive(info.pid)


def _port_open(server: str, timeout_s: float) -> bool:
    host, _, port = server.strip().rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def metadata_ok(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """True when the broker answers a metadata request."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaConfigurationError, KafkaError

    # kafka-python retries a refused bootstrap for up to 30 s; a plain connect answers at once.
    if not any(_port_open(server, timeout_s) for server in bootstrap_servers.split(",")):
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers.split(","),
            request_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaConfigurationError:
        raise  # a bug in this function, not a broker that is still starting
    except (KafkaError, OSError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def wait_ready(
    bootstrap_servers: str,
    timeout_s: float = 90.0,
    alive: Iterator[bool] | None = None,
    log_file: Path | None = None,
) -> float:
    """Poll until a metadata request succeeds; returns the seconds it took."""
    start = time.monotonic()
    with _quiet_kafka_client():
        while time.monotonic() - start < timeout_s:
            if alive is not None and not next(alive):
                raise BrokerError(f"the broker process exited during start-up{_log_tail(log_file)}")
            if metadata_ok(bootstrap_servers, timeout_s=3.0):
                return time.monotonic() - start
            time.sleep(0.5)
    raise BrokerError(
        f"the broker did not answer a metadata request within {timeout_s:.0f}s{_log_tail(log_file)}"
    )


@contextlib.contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    # Refused connections are the expected answer while the broker starts; don't print each one.
    client_log = logging.getLogger("kafka")
    before = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_log.setLevel(before)


def _log_tail(log_file: Path | None, lines: int = 30) -> str:
    if log_file is None or not log_file.exists():
        return ""
    tail = log_file.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log_file}:\n" + "\n".join(tail)


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _log4j_config(log_file: Path) -> str:
    return "\n".join(
        [
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = FILE",
            f"appender.file.fileName = {log_file}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = FILE",
            # The controller's per-record replay lines would dominate the log.
            "logger.controller.name = org.apache.kafka.controller",
            "logger.controller.level = WARN",
            "",
        ]
    )


def _make_tls(tls_dir: Path) -> tuple[Path, Path]:
    """A throw-away CA and a broker certificate for 127.0.0.1/localhost (openssl CLI).
    Returns (ca.pem, broker keystore PEM: unencrypted PKCS#8 key + certificate chain)."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise BrokerError("SASL_SSL needs the openssl command (apt-get install openssl)")
    tls_dir.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        proc = subprocess.run([openssl, *args], cwd=tls_dir, capture_output=True, text=True,
                              check=False)  # fmt: skip
        if proc.returncode != 0:
            raise BrokerError(f"openssl {' '.join(args[:2])} failed: {proc.stderr[-500:]}")

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        "/CN=chipscreen dev CA", "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "broker.key", "-out", "broker.csr")  # fmt: skip
    (tls_dir / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "30", "-extfile", "san.cnf", "-out", "broker.pem")  # fmt: skip
    run("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.pk8")
    keystore = tls_dir / "broker-keystore.pem"
    keystore.write_text(
        (tls_dir / "broker.pk8").read_text()
        + (tls_dir / "broker.pem").read_text()
        + (tls_dir / "ca.pem").read_text()
    )
    return tls_dir / "ca.pem", keystore


def _sasl_ssl_settings(keystore: Path, ca: Path, users: Mapping[str, str]) -> dict[str, str]:
    plain_users = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca),
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
        ),
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
    }


def _cluster_id() -> str:
    # A base64url id may start with "-", which kafka-storage's argument parser then takes for
    # an option (seen in CI: "argument --cluster-id/-t: expected one argument").
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def up(
    state_dir: Path | None = None,
    *,
    version: str = KAFKA_VERSION,
    timeout_s: float = 90.0,
    heap: str = "1g",
    sasl_users: Mapping[str, str] | None = None,
) -> BrokerInfo:
    """Start the dev broker (provisioning it first) and wait until it answers; idempotent.

    With ``sasl_users`` ({user: password}) it also opens a SASL_SSL listener for clients
    (PLAIN and SCRAM-SHA-512, a self-signed CA in ``<state_dir>/tls/ca.pem``); the PLAINTEXT
    listener stays for the broker itself, on 127.0.0.1 only."""
    state_dir = (state_dir or default_state_dir()).resolve()
    existing = read_info(state_dir)
    if existing is not None and is_running(existing):
        wait_ready(existing.bootstrap_servers, timeout_s=timeout_s, log_file=existing.log_file)
        return existing

    java = java_binary()
    libs = provision(version)
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "server.properties"
    data_dir = state_dir / "data"
    log_file = state_dir / "server.log"
    ports_file = state_dir / "ports.json"
    classpath = f"{libs}/*"

    if config.exists() and ports_file.exists() and (data_dir / "meta.properties").exists():
        ports = json.loads(ports_file.read_text())  # restart: same ports, same data
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        ports = {"broker": free_port(), "controller": free_port()}
        props = kraft_settings(broker_port=ports["broker"], controller_port=ports["controller"])
        props["log.dirs"] = str(data_dir)
        scram: list[str] = []
        if sasl_users:
            ca, keystore = _make_tls(state_dir / "tls")
            ports["sasl_ssl"] = free_port()
            props.update(_sasl_ssl_settings(keystore, ca, sasl_users))
            host = "127.0.0.1"
            props["listeners"] += f",SASL_SSL://{host}:{ports['sasl_ssl']}"
            props["advertised.listeners"] += f",SASL_SSL://{host}:{ports['sasl_ssl']}"
            props["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
            for user, password in sasl_users.items():
                scram += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        _write_properties(config, props)
        ports_file.write_text(json.dumps(ports))
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", _cluster_id(), "-c", str(config), *scram],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise BrokerError(f"formatting the KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")

    log4j = state_dir / "log4j2.properties"
    log4j.write_text(_log4j_config(log_file))
    stdout = (state_dir / "broker.out").open("ab")
    proc = subprocess.Popen(
        [java, f"-Xmx{heap}", "-Xms256m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, "kafka.Kafka", str(config)],
        stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the CLI that started it; stopped by PID
    )  # fmt: skip
    stdout.close()
    bootstrap = f"127.0.0.1:{ports['broker']}"
    secure = f"127.0.0.1:{ports['sasl_ssl']}" if "sasl_ssl" in ports else ""
    ca_file = str(state_dir / "tls" / "ca.pem") if secure else ""
    info = BrokerInfo(bootstrap, proc.pid, version, state_dir, log_file, secure, ca_file)
    _state_file(state_dir).write_text(info.to_json())

    def _alive() -> Iterator[bool]:
        while True:
            yield proc.poll() is None

    try:
        wait_ready(bootstrap, timeout_s=timeout_s, alive=_alive(), log_file=log_file)
    except BrokerError:
        down(state_dir)
        raise
    return info


def down(state_dir: Path | None = None, *, timeout_s: float = 30.0, purge: bool = False) -> bool:
    """Stop the broker by PID (SIGTERM, then SIGKILL after ``timeout_s``). True if one ran."""
    state_dir = (state_dir or default_state_dir()).resolve()
    info = read_info(state_dir)
    was_running = is_running(info)
    if info is not None and was_running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(info.pid) and time.monotonic() < deadline:
            _reap(info.pid)
            time.sleep(0.2)
        if _pid_alive(info.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
        _reap(info.pid)
    if purge:
        shutil.rmtree(state_dir, ignore_errors=True)
    elif info is not None:
        # Keep config and data for a restart, but no PID that could later name another process.
        _state_file(state_dir).write_text(dataclasses.replace(info, pid=0).to_json())
    return was_running


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def broker_version_from_log(log_file: Path) -> str | None:
    """The version line Kafka prints at start-up, read back from the broker's own log."""
    if not log_file.exists():
        return None
    for line in log_file.read_text(errors="replace").splitlines():
        if "Kafka version:" in line:
            return line.split("Kafka version:", 1)[1].split()[0]
    return None
