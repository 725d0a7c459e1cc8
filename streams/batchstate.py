"""The rules' TallyState over a Faust table, written once per key per batch.

Within a batch the rules read and write a dict in front of the table, so events of one batch see
each other's effects. ``flush`` then writes each changed key to the table once, inside the
context of the last event that changed it: the table's changelog record goes to that event's
partition (the partition that owns the key) and Faust's stores (memory or RocksDB) file it
there. Faust tables refuse writes outside an event context; ``take_events`` batches have none,
so the context is set per key here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, MutableMapping
from typing import Any

from faust.streams import _current_event

from rules.tallies import TallyState

_MISSING = object()


class BatchCache:
    def __init__(self, table: Any) -> None:
        self.table = table
        self.dirty: dict[bytes, tuple[Any, Any]] = {}
        self.event: Any = None  # the event being processed; its partition owns what it writes

    def get(self, key: bytes, default: Any = None) -> Any:
        hit = self.dirty.get(key)
        if hit is not None:
            return hit[0]
        value = self.table.get(key, _MISSING)
        return default if value is _MISSING else value

    def set(self, key: bytes, value: Any) -> None:
        if self.event is None:
            raise RuntimeError("BatchCache.set outside an event")
        self.dirty[key] = (value, self.event)

    def flush(self) -> int:
        written = len(self.dirty)
        for key, (value, event) in self.dirty.items():
            token = _current_event.set(weakref.ref(event))
            try:
                self.table[key] = value
            finally:
                _current_event.reset(token)
        self.dirty.clear()
        self.event = None
        return written


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
