"""docker-compose.yml names the broker and worker and wires them with real settings variables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    docker = shutil.which("docker")
    if docker:
        proc = subprocess.run(
            [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode == 0:  # the Compose plugin exists and accepted the file
            return dict(yaml.safe_load(proc.stdout))
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_has_kraft_broker_and_worker() -> None:
    services = _compose()["services"]
    assert set(services) >= {"kafka", "chipscreen"}
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert kafka_env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"


def test_worker_variables_are_settings_the_worker_reads() -> None:
    env = _compose()["services"]["chipscreen"]["environment"]
    known = {f"CHIPSCREEN_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    assert env["CHIPSCREEN_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_compose_image_matches_the_dev_broker_version() -> None:
    from streams.devbroker import KAFKA_VERSION

    assert _compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
