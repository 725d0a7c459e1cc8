"""Integration fixtures: a chipscreen worker on the session's real broker, per test."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.process import WorkerProcess
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.conftest import IN_CI

__all__ = ["IN_CI", "write_csl"]

# A two-entry restricted-party list in the CSL CSV layout, so the suite does not depend on files
# outside the repository (the unit tests read the real samples in ../shared/data).
CSL_ENTRIES = [
    {"source": "Unverified List (UVL) - Bureau of Industry and Security",
     "name": "Atlas Sanatgaran", "addresses": "Komitas 26/114, Yerevan, Armenia, AM"},
    {"source": "Entity List (EL) - Bureau of Industry and Security",
     "name": "Dragon Compute Technology Co. Ltd", "addresses": "1 Road, Shenzhen, CN"},
]  # fmt: skip


def write_csl(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["source", "name", "alt_names", "addresses", "end_date"])
        writer.writeheader()
        writer.writerows(CSL_ENTRIES)
    return path


@pytest.fixture
def pipeline_settings(isolated_settings: Settings, tmp_path: Path) -> Settings:
    csl = write_csl(tmp_path / "csl.csv")
    return isolated_settings.model_copy(update={"orphan_grace_s": 3.0, "party_lists": str(csl)})


@pytest.fixture
def worker(pipeline_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    ensure_topics(pipeline_settings)
    w = WorkerProcess(pipeline_settings, tmp_path / "worker.log")
    w.start()
    try:
        yield w
    finally:
        w.stop()
