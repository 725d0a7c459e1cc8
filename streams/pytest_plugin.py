"""pytest plugin for teams around chipscreen (entry point ``pytest11``: loaded automatically).

    def test_my_orders_are_screened(chipscreen):
        chipscreen.publish_orders([my_order])
        decision = chipscreen.await_decision("ORD-1")
        assert decision["decision"] == "held"

Fixtures:
- ``chipscreen_broker`` (session): a real Kafka broker: ``KAFKA_BOOTSTRAP_SERVERS``, else a
  testcontainers ``apache/kafka`` container when Docker answers, else chipscreen's dev broker.
  Skips without one; fails under ``CI=true``.
- ``chipscreen_settings``: settings with a topic prefix and app id of their own (memory tables).
- ``chipscreen``: a running worker on those settings, with helpers to publish and await.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from streams import topics
from streams.devbroker import free_port
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.testing import Broker, NoBrokerAvailable, acquire_broker
from streams.testkit import collect, publish, values
from streams.topics import ensure_topics


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def chipscreen_broker() -> Iterator[Broker]:
    try:
        with acquire_broker() as broker:
            yield broker
    except NoBrokerAvailable as exc:
        if _in_ci():
            pytest.fail(f"chipscreen needs a Kafka broker under CI: {exc}")
        pytest.skip(f"no Kafka broker available: {exc}")


@pytest.fixture
def chipscreen_settings(chipscreen_broker: Broker, tmp_path: Path) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        bootstrap_servers=chipscreen_broker.bootstrap_servers,
        topic_prefix=f"cs{run}.",
        app_id=f"chipscreen-{run}",
        partitions=4,
        store="memory://",
        data_dir=str(tmp_path / "chipscreen-state"),
        web_port=free_port(),
        orphan_grace_s=3.0,
    )


class Chipscreen:
    """A running chipscreen worker and helpers to talk to it through Kafka."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.settings = worker.settings

    @property
    def url(self) -> str:
        return self.worker.base_url

    def publish_orders(self, orders: Iterable[BaseModel | dict[str, Any]]) -> int:
        return publish(self.settings, topics.ORDERS, [(_key(o, "order_id"), o) for o in orders])

    def publish_shipments(self, shipments: Iterable[BaseModel | dict[str, Any]]) -> int:
        return publish(
            self.settings, topics.SHIPMENTS, [(_key(s, "shipment_id"), s) for s in shipments]
        )

    def publish_policy(self, changes: Iterable[BaseModel | dict[str, Any]]) -> int:
        return publish(self.settings, topics.POLICY, [(_key(c, "change_id"), c) for c in changes])

    def await_decision(self, order_id: str, timeout_s: float = 60) -> dict[str, Any]:
        return self.await_decisions([order_id], timeout_s)[order_id]

    def await_decisions(
        self, order_ids: Iterable[str], timeout_s: float = 60
    ) -> dict[str, dict[str, Any]]:
        """The latest decision for each order id (approvals and holds)."""
        wanted = set(order_ids)
        records = collect(self.settings, [topics.APPROVALS, topics.HOLDS], timeout_s=timeout_s,
                          until=lambda r: wanted <= {v["order_id"] for v in values(r)})  # fmt: skip
        found: dict[str, dict[str, Any]] = {}
        for v in values(records):
            if v["order_id"] in wanted:
                found[v["order_id"]] = v
        missing = wanted - set(found)
        if missing:
            raise AssertionError(f"no decision within {timeout_s}s for {sorted(missing)}")
        return found

    def await_alerts(self, subject_id: str, timeout_s: float = 60) -> list[dict[str, Any]]:
        def seen(records: list[Any]) -> bool:
            return any(v["subject_id"] == subject_id for v in values(records))

        records = collect(self.settings, [topics.ALERTS], timeout_s=timeout_s, until=seen)
        found = [v for v in values(records) if v["subject_id"] == subject_id]
        if not found:
            raise AssertionError(f"no alert within {timeout_s}s for {subject_id}")
        return found

    def await_dead_letters(self, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        records = collect(self.settings, [topics.DEAD_LETTER], timeout_s=timeout_s,
                          until=lambda r: len(r) >= count)  # fmt: skip
        return values(records)


def _key(record: BaseModel | dict[str, Any], field: str) -> str:
    value = getattr(record, field, None) if isinstance(record, BaseModel) else record.get(field)
    return str(value)


@pytest.fixture
def chipscreen(chipscreen_settings: Settings, tmp_path: Path) -> Iterator[Chipscreen]:
    ensure_topics(chipscreen_settings)
    worker = WorkerProcess(chipscreen_settings, tmp_path / "chipscreen-worker.log").start()
    try:
        yield Chipscreen(worker)
    finally:
        worker.stop()
