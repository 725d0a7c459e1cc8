from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.settings import ProcessingGuarantee, SaslMechanism, SecurityProtocol, Settings


def test_reads_chipscreen_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIPSCREEN_BOOTSTRAP_SERVERS", "kafka://a:1, b:2")
    monkeypatch.setenv("CHIPSCREEN_TOPIC_PREFIX", "prod.")
    monkeypatch.setenv("CHIPSCREEN_PARTITIONS", "16")
    monkeypatch.setenv("CHIPSCREEN_PROCESSING_GUARANTEE", "exactly_once")
    s = Settings()
    assert s.bootstrap_list == ["a:1", "b:2"]
    assert s.topic("orders") == "prod.orders"
    assert s.partitions == 16
    assert s.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE


def test_web_views_bind_loopback_by_default() -> None:
    assert Settings().web_host == "127.0.0.1"


def test_rejects_nonsense() -> None:
    with pytest.raises(ValidationError):
        Settings(partitions=0)
    with pytest.raises(ValidationError):
        Settings(bootstrap_servers=" , ")


def test_password_never_shows_in_repr_or_dump() -> None:
    s = Settings(
        security_protocol=SecurityProtocol.SASL_SSL,
        sasl_mechanism=SaslMechanism.SCRAM_SHA_512,
        sasl_username="svc",
        sasl_password="hunter2-secret",
    )
    assert "hunter2-secret" not in repr(s)
    assert "hunter2-secret" not in str(s.model_dump())
    assert s.kafka_python_config()["sasl_plain_password"] == "hunter2-secret"


def test_to_env_round_trips() -> None:
    s = Settings(topic_prefix="x.", partitions=3, sasl_password="pw")
    env = s.to_env()
    assert env["CHIPSCREEN_SASL_PASSWORD"] == "pw"
    again = Settings(**{k.removeprefix("CHIPSCREEN_").lower(): v for k, v in env.items()})
    assert again == s
