"""Integration fixtures: a chipscreen worker on the session's real broker, per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.process import WorkerProcess
from streams.settings import Settings
from streams.topics import ensure_topics

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture
def pipeline_settings(isolated_settings: Settings) -> Settings:
    lists = [p for p in sorted(SHARED_DATA.glob("csl-*.csv"))]
    return isolated_settings.model_copy(
        update={"orphan_grace_s": 3.0, "party_lists": ",".join(str(p) for p in lists)}
    )


@pytest.fixture
def worker(pipeline_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    ensure_topics(pipeline_settings)
    w = WorkerProcess(pipeline_settings, tmp_path / "worker.log")
    w.start()
    try:
        yield w
    finally:
        w.stop()
