"""The dev broker itself: provisioning, start, the version in its log, restart with its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams import devbroker

pytestmark = pytest.mark.integration


def test_up_down_up_keeps_ports_and_data(tmp_path: Path) -> None:
    try:
        info = devbroker.up(tmp_path)
    except devbroker.BrokerError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"dev broker cannot run here: {exc}")
    try:
        assert devbroker.broker_version_from_log(info.log_file) == devbroker.KAFKA_VERSION
        admin = KafkaAdminClient(bootstrap_servers=[info.bootstrap_servers])
        admin.create_topics([NewTopic("persisted", 1, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=[info.bootstrap_servers], acks="all")
        producer.send("persisted", b"survives a restart")
        producer.flush()
        producer.close()

        assert devbroker.down(tmp_path) is True
        assert not devbroker.metadata_ok(info.bootstrap_servers, timeout_s=2)
        assert devbroker.down(tmp_path) is False  # already stopped: nothing to do

        again = devbroker.up(tmp_path)
        assert again.bootstrap_servers == info.bootstrap_servers
        consumer = KafkaConsumer(
            "persisted",
            bootstrap_servers=[again.bootstrap_servers],
            auto_offset_reset="earliest",
            consumer_timeout_ms=15_000,
        )
        first = next(iter(consumer), None)
        consumer.close()
        assert first is not None and first.value == b"survives a restart"
    finally:
        devbroker.down(tmp_path, purge=True)
    assert not tmp_path.exists()
