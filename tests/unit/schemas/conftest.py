from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


def load_example(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / name).read_text()))


@pytest.fixture
def order() -> dict[str, Any]:
    return load_example("order-created.json")


@pytest.fixture
def shipment() -> dict[str, Any]:
    return load_example("shipment.json")
