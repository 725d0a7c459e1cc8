"""Fixture strategy.

Unit tests (tests/unit) need nothing but the code. Integration tests (marked ``integration``) get
one real Apache Kafka broker per session from ``streams.testing.acquire_broker``:
``KAFKA_BOOTSTRAP_SERVERS`` if set, else a testcontainers ``apache/kafka`` container when Docker
answers, else the Maven-provisioned dev broker. With no broker to be had they skip locally and
fail under ``CI=true``: a CI run that skipped its integration tests is not green.

Each integration test that writes to topics gets its own topic prefix and app id, so tests share
the broker but never each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from streams.settings import Settings
from streams.testing import Broker, NoBrokerAvailable, acquire_broker

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    try:
        with acquire_broker() as broker:
            yield broker
    except NoBrokerAvailable as exc:
        if IN_CI:
            pytest.fail(f"integration tests need a Kafka broker under CI: {exc}")
        pytest.skip(f"no Kafka broker available: {exc}")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def isolated_settings(kafka_bootstrap: str, tmp_path: object) -> Settings:
    """Settings for one test: its own topic prefix, app id, memory tables and a free web port."""
    from streams.devbroker import free_port

    run = uuid.uuid4().hex[:8]
    return Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{run}.",
        app_id=f"chipscreen-test-{run}",
        partitions=4,
        store="memory://",
        data_dir=str(tmp_path),
        web_port=free_port(),
    )


_skipped_integration: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # an expected failure (xfail) reports as skipped too, but it ran against the broker
    if report.skipped and "integration" in report.keywords and not hasattr(report, "wasxfail"):
        _skipped_integration.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under CI a skipped integration test is a failure: green must mean "ran against Kafka".
    if IN_CI and _skipped_integration and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if IN_CI and _skipped_integration:
        terminalreporter.write_line(
            f"CI=true: {len(_skipped_integration)} integration test(s) skipped -> failing the run",
            red=True,
        )
