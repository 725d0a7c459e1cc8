"""An order published with kafka-python comes back as a decision from a real worker and broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from streams import topics
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

ORDER = {
    "schema_version": 1, "event_type": "created", "order_id": "ORD-SKEL-1",
    "occurred_at": "2025-03-01T09:00:00Z",
    "exporter": {"id": "EXP-1", "name": "Acme Semis", "country": "US", "hq_country": "US",
                 "parent_hq_country": "US"},
    "consignee": {"id": "CNS-9", "name": "Bharat Cloud", "country": "IN", "hq_country": "IN",
                  "parent_hq_country": "IN", "kind": "end_user", "address": "12 Ring Rd, Pune"},
    "destination_country": "IN", "end_use": "datacenter", "veu": None, "license_id": None,
    "lines": [{"part_number": "H100-SXM", "quantity": 1000, "tpp_per_unit": 15832,
               "die_area_mm2": 814, "eccn": "3A090.a"}],
}  # fmt: skip


def test_order_published_to_kafka_comes_back_as_a_decision(
    isolated_settings: Settings, tmp_path: Path
) -> None:
    s = isolated_settings
    ensure_topics(s)
    with WorkerProcess(s, tmp_path / "worker.log") as worker:
        producer = KafkaProducer(bootstrap_servers=s.bootstrap_list, acks="all")
        producer.send(s.topic(topics.ORDERS), key=b"ORD-SKEL-1", value=json.dumps(ORDER).encode())
        producer.flush()
        producer.close()
        consumer = KafkaConsumer(
            s.topic(topics.APPROVALS), s.topic(topics.HOLDS),
            bootstrap_servers=s.bootstrap_list, auto_offset_reset="earliest",
            consumer_timeout_ms=60_000, isolation_level="read_committed",
        )  # fmt: skip
        records = []
        for record in consumer:
            records.append(record)
            break
        consumer.close()
        assert records, f"no decision within 60 s; worker log:\n{worker.log_tail()}"
    record = records[0]
    decision = json.loads(record.value)
    assert record.key == b"ORD-SKEL-1"
    assert decision["order_id"] == "ORD-SKEL-1"
    assert decision["decision"] in ("approved", "held")
    expected = topics.APPROVALS if decision["decision"] == "approved" else topics.HOLDS
    assert record.topic == s.topic(expected)
