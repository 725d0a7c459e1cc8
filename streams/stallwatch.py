"""Finds an input partition read to its end whose committed offset does not move.

Seen in the SIGKILL tests before streams/consumer.py fixed faust-streaming's offset bookkeeping
(records dropped as "already read" or acknowledged twice after a rebalance seek): a restarted
worker read every record of some input partitions while their commits stood still. The fix
makes that not happen; this watch stays as a safety net. A partition fully read with nothing
committed for ``after_s`` while flow is active makes the worker report itself unhealthy, so that
its supervisor restarts it, and the restart re-reads from the committed offset (duplicates are
absorbed by the rules: same order version, same decision, no tally change). It never seeks:
seeking inside the running worker, before the consumer fix, was followed by lost records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class PartitionProgress:
    committed: int | None  # next offset to read after a restart
    read: int | None  # last offset the consumer handed on (or skipped)
    high: int | None  # the partition's high watermark


class StallWatch:
    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._since: dict[Any, tuple[int, float]] = {}

    def stalled(
        self, progress: Mapping[Any, PartitionProgress], now: float, flow_active: bool
    ) -> list[tuple[Any, int]]:
        """Partitions stalled for ``after_s``, each with the committed offset it stands at."""
        if not flow_active:
            self._since.clear()
            return []
        out: list[tuple[Any, int]] = []
        for tp, p in progress.items():
            if p.committed is None or p.read is None or p.high is None:
                self._since.pop(tp, None)
                continue
            all_read = p.read >= p.high - 1
            if not all_read or p.committed >= p.high:
                self._since.pop(tp, None)
                continue
            first = self._since.get(tp)
            if first is None or first[0] != p.committed:
                self._since[tp] = (p.committed, now)
            elif now - first[1] >= self.after_s:
                out.append((tp, p.committed))
                del self._since[tp]
        for tp in set(self._since) - set(progress):
            del self._since[tp]
        return out
