"""BatchCache: one changelog record batch per partition, so a crash never tears a batch.

These tests run the real rules, a real (unstarted) Faust table and aiokafka's real record
batches; only the producer is a recorder that can "die" after N batches, standing in for a
worker killed mid-flush. What reaches the recorder is what the broker would hold: Kafka appends
each record batch whole or not at all. The restart restores a fresh table from those records
with Faust's own changelog codec, then replays the uncommitted events as Faust would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.record.default_records import DefaultRecordBatch
from faust.serializers import codecs

from rules.screening import screen_order
from rules.tallies import apply_writes
from schemas.models import OrderEvent
from streams import batchstate
from streams.batchstate import BatchCache, tally_state
from streams.outbox import Outbox
from tests.unit.rules.builders import T0, order, view

CHANGELOG = "unit-tallies-changelog"


class Killed(Exception):
    """The worker died here: nothing after this point reached the broker."""


class RecordingProducer:
    """Keeps each batch it is given, as the broker's changelog would; dies after ``live``."""

    def __init__(self, live: int | None = None) -> None:
        self.live = live
        self.batches: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []
        self._message_accumulator = SimpleNamespace(_compression_type=0)
        self._offsets: dict[int, int] = {}

    async def send_batch(self, builder: Any, topic: str, *, partition: int) -> Any:
        if self.live is not None and len(self.batches) >= self.live:
            raise Killed
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(builder._build()))]
        self.batches.append((topic, partition, records))
        offset = self._offsets.get(partition, 0)
        self._offsets[partition] = offset + len(records)
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(SimpleNamespace(partition=partition, offset=offset))
        return fut


class Event:
    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


def new_table() -> Any:
    app = faust.App("unit", broker="kafka://127.0.0.1:1", store="memory://")
    table = app.Table("tallies", key_type=bytes, value_type=None, partitions=4)
    assert table.changelog_topic.get_topic_name() == CHANGELOG
    return table


def outbox(producer: RecordingProducer) -> Outbox:
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    return Outbox(app, max_batch_bytes=4 * 1024 * 1024)


def restored(producer: RecordingProducer) -> Any:
    """A fresh table rebuilt from what reached the changelog, through Faust's own codec."""
    table = new_table()
    for _topic, _partition, records in producer.batches:
        for key, value in records:
            table.data[codecs.loads(table.key_serializer, key)] = codecs.loads(
                table.value_serializer, value
            )
    return table


# Orders for a few destinations; each destination is "owned" by one of four partitions, as the
# orders-by-country topic would key them.
DESTINATIONS = ["IN", "AE", "MY", "SA", "BR", "VN"]


def partition_of(dest: str) -> int:
    return DESTINATIONS.index(dest) % 4


def orders(n: int, *, roaming: bool = False) -> list[OrderEvent]:
    """Consignees receive in one country each (their tallies have one owner), unless
    ``roaming``: then the same consignees receive in every country."""
    out = []
    for i in range(n):
        dest = DESTINATIONS[i % len(DESTINATIONS)]
        consignee = f"C-{i % 7}" if roaming else f"C-{dest}-{i % 3}"
        licensed = i % 4 == 0  # licensed orders draw on the country cap, the others on LPP
        out.append(
            order(
                f"O-{i}",
                dest=dest,
                qty=100 + i if licensed else 5 + (i * 7) % 30,
                license_id=f"L-{i}" if licensed else None,
                consignee={"id": consignee},
                at=T0 + dt.timedelta(minutes=i),
            )
        )
    return out


def screen(batch: list[OrderEvent], cache: BatchCache, decisions: dict[str, list[str]]) -> None:
    state = tally_state(cache)
    policy = view()
    for ev in batch:
        cache.begin(Event(partition_of(ev.destination_country)))
        outcome = screen_order(ev, policy, state, version=1, screened_at=T0)
        if not outcome.duplicate:
            apply_writes(state, outcome.writes)
        decisions.setdefault(ev.order_id, []).append(outcome.decision.model_dump_json())


def tallies(table: Any) -> dict[bytes, Any]:
    found = {k: v for k, v in table.data.items() if k.startswith((b"c:", b"l:"))}
    assert any(k.startswith(b"c:") for k in found) and any(k.startswith(b"l:") for k in found)
    return found


async def run_through(batches: list[list[OrderEvent]]) -> Any:
    table = new_table()
    decisions: dict[str, list[str]] = {}
    for batch in batches:
        cache = BatchCache(table, outbox(RecordingProducer()))
        screen(batch, cache, decisions)
        await cache.flush()
    return table


def test_each_partition_leaves_as_one_record_batch() -> None:
    async def go() -> None:
        producer = RecordingProducer()
        table = new_table()
        cache = BatchCache(table, outbox(producer))
        screen(orders(60), cache, {})
        pending: dict[int, set[bytes]] = {}
        for key, (_value, p) in cache.dirty.items():
            pending.setdefault(p, set()).add(key)
        written = await cache.flush()

        assert sorted(p for _, p, _ in producer.batches) == sorted(pending)  # one per partition
        for topic, p, records in producer.batches:
            assert topic == CHANGELOG
            assert {codecs.loads(table.key_serializer, k) for k, _ in records} == set(pending[p])
        assert written == len([k for keys in pending.values() for k in keys])
        assert tallies(restored(producer)) == tallies(table)

    asyncio.run(go())


@pytest.mark.parametrize("live", [0, 1, 2, 3])
def test_a_kill_mid_flush_never_double_counts(live: int) -> None:
    """Batch 1 commits; batch 2 dies after ``live`` of its partitions' changelog batches. The
    restarted worker restores the changelog and replays batch 2: tallies and decisions must be
    those of a run without the crash."""

    async def go() -> None:
        events = orders(120)
        first, second = events[:60], events[60:]
        expected = tallies(await run_through([first, second]))

        producer = RecordingProducer()
        table = new_table()
        decisions: dict[str, list[str]] = {}
        cache = BatchCache(table, outbox(producer))
        screen(first, cache, decisions)
        await cache.flush()
        producer.live = len(producer.batches) + live
        cache = BatchCache(table, outbox(producer))
        screen(second, cache, decisions)
        with pytest.raises(Killed):
            await cache.flush()
        # the local store is written only after the changelog acknowledged everything
        assert not any(k.decode().removeprefix("o:") in {e.order_id for e in second}
                       for k in table.data if k.startswith(b"o:"))  # fmt: skip

        producer.live = None
        table = restored(producer)
        cache = BatchCache(table, outbox(producer))
        screen(second, cache, decisions)
        await cache.flush()

        assert tallies(table) == expected
        for order_id, copies in decisions.items():
            assert len(set(copies)) == 1, f"{order_id} decided differently on replay"

    asyncio.run(go())


def test_a_crowded_partition_flushes_at_an_event_boundary(monkeypatch: Any) -> None:
    monkeypatch.setattr(batchstate, "FLUSH_KEYS", 5)

    async def go() -> None:
        producer = RecordingProducer()
        table = new_table()
        cache = BatchCache(table, outbox(producer))
        state = tally_state(cache)
        flushed_at: list[int] = []
        for i, ev in enumerate(orders(30)):
            cache.begin(Event(partition_of(ev.destination_country)))
            apply_writes(state, screen_order(ev, view(), state, version=1, screened_at=T0).writes)
            full = cache.oversized()
            if full is not None:
                assert full == partition_of(ev.destination_country)
                await cache.flush([full])
                flushed_at.append(i)
        await cache.flush()
        assert flushed_at, "no partition reached FLUSH_KEYS"
        assert all(len(records) >= 5 for _, _, records in producer.batches[: len(flushed_at)])
        assert tallies(restored(producer)) == tallies(await run_through([orders(30)]))

    asyncio.run(go())


def test_a_consignee_in_several_partitions_reads_one_value() -> None:
    """Within a batch, a key written from two partitions is one value, as if one event at a
    time had gone through the table (LPP is per consignee, wherever it receives)."""

    async def go() -> None:
        events = orders(60, roaming=True)
        batched = await run_through([events])
        one_by_one = await run_through([[e] for e in events])
        assert tallies(batched) == tallies(one_by_one)

    asyncio.run(go())


def test_writes_outside_an_event_are_refused() -> None:
    cache = BatchCache(new_table(), None)
    with pytest.raises(RuntimeError, match="outside an event"):
        cache.set(b"c:IN", 1)
