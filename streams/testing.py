"""Where a test run gets its Kafka broker: one choice, used by our suite and by the pytest plugin.

In order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; else an ``apache/kafka`` container through
testcontainers when a Docker engine answers a ping within 2 s; else the dev broker (Maven-fetched
jars, see ``streams.devbroker``) in a throw-away state directory. Each source is a real Apache
Kafka broker; nothing here stands in for one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from streams import devbroker

KAFKA_IMAGE = f"apache/kafka:{devbroker.KAFKA_VERSION}"


class NoBrokerAvailable(RuntimeError):
    """No broker could be had; the message lists what was tried."""


@dataclasses.dataclass(frozen=True)
class Broker:
    bootstrap_servers: str
    source: str  # "env", "testcontainers" or "devbroker"
    log_file: Path | None = None


def docker_answers(timeout_s: float = 2.0) -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=int(max(1, timeout_s)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to reach an engine means "no engine"
        return False


@contextlib.contextmanager
def _container_broker() -> Iterator[Broker]:
    from testcontainers.core.container import DockerContainer

    port = devbroker.free_port()
    settings = devbroker.kraft_settings(broker_port=9092, controller_port=9093, host="0.0.0.0")
    # Inside the container it listens on all interfaces; clients outside reach it on the
    # published port, so that is what it must advertise.
    settings["controller.quorum.voters"] = "1@localhost:9093"
    settings["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in settings.items():
        container = container.with_env("KAFKA_" + key.upper().replace(".", "_"), value)
    with container:
        bootstrap = f"127.0.0.1:{port}"
        devbroker.wait_ready(bootstrap, timeout_s=120)
        yield Broker(bootstrap, "testcontainers")


@contextlib.contextmanager
def _dev_broker() -> Iterator[Broker]:
    with tempfile.TemporaryDirectory(prefix="chipscreen-broker-") as tmp:
        info = devbroker.up(Path(tmp))
        try:
            yield Broker(info.bootstrap_servers, "devbroker", info.log_file)
        finally:
            devbroker.down(Path(tmp))


@contextlib.contextmanager
def acquire_broker() -> Iterator[Broker]:
    """Yield a running Kafka broker for the duration of the block."""
    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        if not devbroker.metadata_ok(explicit, timeout_s=10):
            raise NoBrokerAvailable(f"KAFKA_BOOTSTRAP_SERVERS={explicit} does not answer")
        yield Broker(explicit, "env")
        return
    if docker_answers():
        with _container_broker() as broker:
            yield broker
        return
    with contextlib.ExitStack() as stack:
        try:
            broker = stack.enter_context(_dev_broker())
        except devbroker.BrokerError as exc:
            raise NoBrokerAvailable(
                "KAFKA_BOOTSTRAP_SERVERS is not set, no Docker engine answered, and the dev "
                f"broker could not start: {exc}"
            ) from exc
        yield broker
