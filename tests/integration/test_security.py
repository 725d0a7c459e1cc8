"""SASL_SSL end to end: the dev broker with TLS and SASL (PLAIN, SCRAM-SHA-512), the worker and
the CLI over it, a wrong password refused, and no secret in logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams import devbroker, topics
from streams.cli import main
from streams.devbroker import free_port
from streams.process import WorkerProcess
from streams.settings import SaslMechanism, SecurityProtocol, Settings
from streams.testkit import collect, publish, values
from streams.topics import ensure_topics
from tests.unit.rules.builders import order

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
PASSWORD = "s3cret-Kafka-pw-81"


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> devbroker.BrokerInfo:
    state = tmp_path_factory.mktemp("secure-broker")
    try:
        info = devbroker.up(state, sasl_users={"chipscreen": PASSWORD})
    except devbroker.BrokerError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"SASL_SSL dev broker did not start: {exc}")
    yield info
    devbroker.down(state, purge=True)


def secure_settings(info: devbroker.BrokerInfo, mechanism: SaslMechanism, password: str,
                    tmp_path: Path, prefix: str) -> Settings:  # fmt: skip
    return Settings(
        bootstrap_servers=info.sasl_ssl_bootstrap,
        security_protocol=SecurityProtocol.SASL_SSL,
        sasl_mechanism=mechanism,
        sasl_username="chipscreen",
        sasl_password=password,
        ssl_cafile=info.ca_file,
        topic_prefix=prefix,
        app_id=f"secure-{prefix.strip('.')}",
        partitions=2,
        store="memory://",
        data_dir=str(tmp_path),
        web_port=free_port(),
    )


@pytest.mark.parametrize("mechanism", [SaslMechanism.SCRAM_SHA_512, SaslMechanism.PLAIN])
def test_pipeline_over_sasl_ssl(
    secure_broker: devbroker.BrokerInfo, mechanism: SaslMechanism, tmp_path: Path
) -> None:
    prefix = f"sec{mechanism.value.lower().replace('-', '')}."
    s = secure_settings(secure_broker, mechanism, PASSWORD, tmp_path, prefix)
    ensure_topics(s)
    log = tmp_path / "worker.log"
    with WorkerProcess(s, log):
        publish(s, topics.ORDERS, [("SEC-1", order("SEC-1", dest="CN"))])
        got = values(collect(s, [topics.HOLDS], until=lambda r: len(r) >= 1, timeout_s=60))
        assert got[0]["order_id"] == "SEC-1"
        # the CLI connects the same way
        result = CliRunner().invoke(
            main, ["tail", "holds", "--from-beginning", "--json", "--limit", "1",
                   "--idle-timeout", "30"], env=s.to_env(),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["order_id"] == "SEC-1"
    assert PASSWORD not in log.read_text(errors="replace")


def test_wrong_password_is_refused(secure_broker: devbroker.BrokerInfo, tmp_path: Path) -> None:
    s = secure_settings(secure_broker, SaslMechanism.SCRAM_SHA_512, "not-the-password",
                        tmp_path, "secbad.")  # fmt: skip
    with pytest.raises(KafkaError) as info:
        producer = KafkaProducer(**s.kafka_python_config(), max_block_ms=15_000)
        producer.send("anything", b"x").get(timeout=15)
    assert "not-the-password" not in str(info.value)


def test_plaintext_client_cannot_use_the_secure_listener(
    secure_broker: devbroker.BrokerInfo,
) -> None:
    with pytest.raises(KafkaError):
        producer = KafkaProducer(bootstrap_servers=[secure_broker.sasl_ssl_bootstrap],
                                 max_block_ms=5_000)  # fmt: skip
        producer.send("anything", b"x").get(timeout=5)
