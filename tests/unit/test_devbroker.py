from __future__ import annotations

from pathlib import Path

import pytest

from streams import devbroker


def test_kraft_settings_are_single_node_and_loopback() -> None:
    props = devbroker.kraft_settings(broker_port=1111, controller_port=2222)
    replication = {k: v for k, v in props.items() if "replication.factor" in k or "min.isr" in k}
    # Every replication factor and min ISR at 1, the transaction state log's included.
    assert "transaction.state.log.replication.factor" in replication
    assert "transaction.state.log.min.isr" in replication
    assert "offsets.topic.replication.factor" in replication
    assert set(replication.values()) == {"1"}
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1111,CONTROLLER://127.0.0.1:2222"
    assert props["process.roles"] == "broker,controller"


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = {devbroker.free_port() for _ in range(5)}
    assert len(ports) >= 4  # the OS may hand one back twice; nearly never all
    assert all(1024 < p < 65536 for p in ports)


def test_pom_names_the_broker_and_a_logging_binding() -> None:
    pom = devbroker._pom("4.4.0")
    assert "<artifactId>kafka_2.13</artifactId><version>4.4.0</version>" in pom
    assert "log4j-slf4j2-impl" in pom


def test_without_maven_or_archive_the_error_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHIPSCREEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(devbroker.shutil, "which", lambda name: None)

    def no_network(url: str, path: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(devbroker.urllib.request, "urlretrieve", no_network)
    with pytest.raises(devbroker.BrokerError, match=r"Install Maven"):
        devbroker.provision("4.4.0")


def test_without_java_the_error_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(devbroker.shutil, "which", lambda name: None)
    with pytest.raises(devbroker.BrokerError, match=r"Java 17"):
        devbroker.java_binary()


def test_status_of_a_never_started_broker(tmp_path: Path) -> None:
    assert devbroker.read_info(tmp_path) is None
    assert devbroker.is_running(None) is False
    assert devbroker.down(tmp_path) is False


def test_version_is_read_from_the_broker_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("[x] INFO Kafka version: 4.4.0 (org.apache.kafka.common.utils.AppInfoParser)\n")
    assert devbroker.broker_version_from_log(log) == "4.4.0"
    assert devbroker.broker_version_from_log(tmp_path / "missing.log") is None
