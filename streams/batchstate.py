"""The rules' TallyState over a Faust table, written once per key per batch, atomically.

Within a batch the rules read and write a dict in front of the table, so events of one batch see
each other's effects. ``flush`` then writes each changed key once. Every key an event changes
lives in that event's partition (the partition that owns its destination country or VEU), so the
cache notes each key's partition and each partition's keys go to the changelog as **one record
batch**, which Kafka appends whole or not at all.

That is what makes the rules' idempotence hold across a crash: an order's record (``o:``) and
the tallies it moved land together, so a replayed order either finds its record (and repeats its
decision without counting) or finds none of its effects. Per-key writes could tear: some keys of
a batch in the changelog, others not, and the replay then counted an order twice.

Order of a flush: changelog batches out and acknowledged, then the local store, then (RocksDB)
the persisted changelog offset. A worker killed before the acknowledgement recovers the batch
whole or not at all from the changelog; one killed while writing the local store recovers from
the previous persisted offset, which replays this batch's records over the torn local copy.

Under ``exactly_once`` the changelog goes through Faust's own table writes instead, inside its
transaction (``outbox=None``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Iterator, MutableMapping
from typing import Any

from faust.streams import _current_event
from faust.types import TP

from rules.tallies import TallyState
from streams.outbox import Outbox

log = logging.getLogger(__name__)

_MISSING = object()

# A partition's pending keys are flushed mid-batch beyond this many, so that one partition's
# changelog batch stays far below the batch size limit (CHANGELOG_BATCH_BYTES).
FLUSH_KEYS = 2000


class BatchCache:
    def __init__(self, table: Any, outbox: Outbox | None) -> None:
        self.table = table
        self.outbox = outbox
        # key -> (latest value, partition of the event that wrote it last). One dict for all
        # partitions: a key is normally written from one partition only, but a consignee that
        # receives in two destination countries is not, and its readers must see one value.
        self.dirty: dict[bytes, tuple[Any, int]] = {}
        self.counts: collections.Counter[int] = collections.Counter()  # pending keys per partition
        self.events: dict[int, Any] = {}  # partition -> an event of it, the context for writes
        self.partition: int | None = None
        self.torn_batches = 0  # flushes that did not fit one record batch (logged)

    def begin(self, event: Any) -> None:
        """The next reads and writes belong to ``event``; its partition owns what it writes."""
        self.partition = event.message.partition
        self.events[self.partition] = event

    def get(self, key: bytes, default: Any = None) -> Any:
        hit = self.dirty.get(key)
        if hit is not None:
            return hit[0]
        value = self.table.data.get(key, _MISSING)
        return default if value is _MISSING else value

    def set(self, key: bytes, value: Any) -> None:
        if self.partition is None:
            raise RuntimeError("BatchCache.set outside an event")
        previous = self.dirty.get(key)
        if previous is None or previous[1] != self.partition:
            self.counts[self.partition] += 1
            if previous is not None:
                self.counts[previous[1]] -= 1
        self.dirty[key] = (value, self.partition)

    def oversized(self) -> int | None:
        """The current partition, if it holds enough pending keys to flush it now."""
        if self.partition is not None and self.counts[self.partition] >= FLUSH_KEYS:
            return self.partition
        return None

    def _take(self, partitions: list[int] | None) -> dict[int, dict[bytes, Any]]:
        batches: dict[int, dict[bytes, Any]] = {}
        for key, (value, p) in list(self.dirty.items()):
            if partitions is None or p in partitions:
                batches.setdefault(p, {})[key] = value
                del self.dirty[key]
        for p in batches:
            self.counts.pop(p, None)
        return batches

    async def flush(self, partitions: list[int] | None = None) -> int:
        """Write the pending keys (of ``partitions``, default all); returns how many."""
        batches = self._take(partitions)
        events = {p: self.events[p] for p in batches}
        if not batches:
            return 0
        if self.outbox is None:
            for p, values in batches.items():
                with _event_context(events[p]):
                    for key, value in values.items():
                        self.table[key] = value
            return sum(map(len, batches.values()))
        topic = self.table.changelog_topic
        name = topic.get_topic_name()
        key_serializer, value_serializer = self.table.key_serializer, self.table.value_serializer
        for p, values in batches.items():
            whole = True
            for key, value in values.items():
                k, _ = topic.prepare_key(key, key_serializer)
                v, _ = topic.prepare_value(value, value_serializer)
                whole &= self.outbox.add(name, p, k, v)
            if not whole:
                self.torn_batches += 1
                log.error(
                    "changelog batch for %s[%d] (%d keys) exceeded one record batch: written "
                    "in parts, so a crash during this flush could tear it",
                    name, p, len(values),
                )  # fmt: skip
        futures = await self.outbox.flush(only=[(name, p) for p in batches])
        acks = await asyncio.gather(*futures)
        first_offset: dict[int, int] = {}
        for ack in acks:
            first_offset.setdefault(ack.partition, ack.offset)
        for p, values in batches.items():
            with _event_context(events[p]):
                for key, value in values.items():
                    self.table.data[key] = value
            if p in first_offset:
                # The batch's first offset, not its last: a restart re-applies the whole batch,
                # which repairs a local store torn by a kill during the loop above.
                self.table.data.set_persisted_offset(TP(name, p), first_offset[p])
        return sum(map(len, batches.values()))


class _event_context:
    """Faust's stores (RocksDB) file a write under the current event's partition."""

    def __init__(self, event: Any) -> None:
        self.event = event

    def __enter__(self) -> None:
        self.token = _current_event.set(weakref.ref(self.event))

    def __exit__(self, *exc: object) -> None:
        _current_event.reset(self.token)


class PrefixedMap(MutableMapping[str, Any]):
    """One kind of tally inside the shared table, e.g. ``l:`` for LPP allowances."""

    def __init__(self, cache: BatchCache, prefix: str) -> None:
        self.cache = cache
        self.prefix = prefix.encode()

    def __getitem__(self, key: str) -> Any:
        value = self.cache.get(self.prefix + key.encode(), _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self.cache.get(self.prefix + key.encode(), default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.cache.set(self.prefix + key.encode(), value)

    def __delitem__(self, key: str) -> None:  # pragma: no cover - the rules never delete
        raise NotImplementedError("tallies are never deleted")

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - the rules never iterate
        raise NotImplementedError("tallies are looked up by key")

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError


PREFIXES = {
    "country": "c:",
    "lpp": "l:",
    "veu": "u:",
    "nveu": "n:",
    "orders": "o:",
    "cap_marks": "m:",
    "recent": "r:",
}


def tally_state(cache: BatchCache) -> TallyState:
    return TallyState(**{field: PrefixedMap(cache, p) for field, p in PREFIXES.items()})
