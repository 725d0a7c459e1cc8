"""Finds an input partition that faust-streaming marked as read but never handed to its agent.

Seen in the SIGKILL tests (about 1 run in 4 at full size): a worker restarted with a backlog
read every record of some input partitions (its read offset at the high watermark) while their
committed offsets never moved and their agents waited for events. Faust's drain loop advances
the read offset even when a flow suspension (recovery, rebalance) cancels the hand-over of a
record, so those records are skipped until the next rebalance. This watch finds such a partition
(everything read, nothing committed for ``after_s`` while flow is active); the worker then
reports itself unhealthy so that its supervisor restarts it, and the restart re-reads from the
committed offset (duplicates are absorbed by the rules: same order version, same decision, no
tally change). Seeking back inside the running worker was tried first and lost records in a CI
run, so it is not done.
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
        """Partitions to seek back, with the offset to seek to."""
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
