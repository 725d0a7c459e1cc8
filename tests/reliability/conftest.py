"""Reliability suite: faults against a real broker. Reduced sizes by default (CI); the full sizes
with CHIPSCREEN_RELIABILITY_FULL=1 (``make reliability``)."""

from __future__ import annotations

import dataclasses
import os

FULL = os.environ.get("CHIPSCREEN_RELIABILITY_FULL", "") == "1"


@dataclasses.dataclass(frozen=True)
class Sizes:
    crash_orders: int = 100_000 if FULL else 20_000
    kills: int = 5 if FULL else 2
    outage_orders: int = 50_000 if FULL else 10_000
    outage_s: float = 30.0 if FULL else 10.0
    hostile: int = 10_000 if FULL else 1_000
    valid_with_hostile: int = 10_000 if FULL else 2_000


SIZES = Sizes()
