"""faust-streaming 0.15.3: input records stranded or committed past around rebalances.

Found by the SIGKILL test (tests/reliability): after a restart with a backlog, partitions were
read to the end while their commit never moved, and a seek to recover lost records. The fix is
streams/consumer.py. Each test here drives a real (unstarted) Faust consumer's own fetch loop,
acknowledgement and commit-offset code, with records handed out by a scripted fetch instead of
a broker. Where Faust's consumer shows the bug, the same scenario runs against it and asserts
the bug: when a Faust release fixes one, its test fails and the workaround can go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.app import create_app
from streams.consumer import Consumer
from streams.settings import Settings

TOPIC = "bugs-orders"
TP0 = TP(TOPIC, 0)
FAUST = faust_aiokafka.Consumer
OURS = Consumer


def record(offset: int, generation: int = 1) -> ConsumerMessage:
    return ConsumerMessage(
        TOPIC, 0, offset, 0.0, 0, [], b"k", b"v", None, tp=TP0, generation_id=generation
    )


class Harness:
    """A consumer of the given class whose fetch hands out scripted batches of records."""

    def __init__(self, cls: type[Any], committed: int) -> None:
        app = create_app(Settings(app_id="bugs"))
        app.topics.acking_topics.add(TOPIC)
        app.consumer_generation_id = 1
        self.delivered: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.started: dict[int, asyncio.Event] = {}

        async def nothing(*args: Any) -> None:
            return None

        self.consumer = cls(
            app.transport,
            callback=self._deliver,
            on_partitions_revoked=nothing,
            on_partitions_assigned=nothing,
        )
        self.seeks: list[tuple[TP, int]] = []

        async def seek_on_broker(tp: TP, offset: int) -> None:
            self.seeks.append((tp, offset))

        self.consumer._seek = seek_on_broker  # the broker side of a seek; the bookkeeping is real
        self.consumer._committed_offset[TP0] = committed
        self.consumer._read_offset[TP0] = committed - 1  # steady state: the last record read
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.batches: asyncio.Queue[list[ConsumerMessage] | None] = asyncio.Queue()
        self.consumer.getmany = self._getmany

    def hold(self, offset: int) -> None:
        """The hand-over of ``offset`` waits (a full stream buffer) until released."""
        self.gates[offset] = asyncio.Event()
        self.started[offset] = asyncio.Event()

    async def _deliver(self, message: ConsumerMessage) -> None:
        gate = self.gates.get(message.offset)
        if gate is not None and not gate.is_set():  # held once; a re-read passes
            self.started[message.offset].set()
            await gate.wait()
        self.delivered.append(message.offset)

    async def _getmany(self, timeout: float) -> AsyncIterator[tuple[TP, ConsumerMessage]]:
        batch = await self.batches.get()
        if batch is None:
            self.fetcher._stopped.set()
            return
        for message in batch:
            if not self.consumer.flow_active:  # as Faust's getmany checks per record
                return
            yield TP0, message

    def fetch(self, *offsets: int) -> None:
        self.batches.put_nowait(
            [record(o, self.consumer.app.consumer_generation_id) for o in offsets]
        )

    async def run(self, during: Callable[[], Awaitable[None]] | None = None) -> None:
        self.batches.put_nowait(None)
        steps = [self.consumer._drain_messages(self.fetcher)]
        if during is not None:
            steps.append(during())
        await asyncio.wait_for(asyncio.gather(*steps), 5)

    def ack(self, *offsets: int, generation: int | None = None) -> None:
        gen = self.consumer.app.consumer_generation_id if generation is None else generation
        for offset in offsets:
            self.consumer.ack(record(offset, gen))


def seek_lands_during_a_blocked_hand_over(cls: type[Any]) -> list[int]:
    """Records 10-15 fetched; the hand-over of 15 waits on a full buffer while the rebalance
    seeks back to the committed offset 10; the re-fetch brings 10-16. What is handed over
    after the seek?"""

    async def go() -> list[int]:
        h = Harness(cls, committed=10)
        h.hold(15)
        h.fetch(*range(10, 16))
        h.fetch(*range(10, 17))

        async def seek_meanwhile() -> None:
            await h.started[15].wait()
            await h.consumer.seek(TP0, 10)
            h.gates[15].set()

        await h.run(seek_meanwhile)
        return h.delivered[6:]

    return asyncio.run(go())


def test_a_seek_during_a_blocked_hand_over_is_not_undone() -> None:
    assert seek_lands_during_a_blocked_hand_over(OURS) == list(range(10, 17))


def test_faust_drops_what_a_seek_during_a_blocked_hand_over_re_reads() -> None:
    # The late write puts the read offset back at 15, so 10-14 are dropped as "already
    # read": never processed, never acknowledged. The partition's commit stays at 10 for
    # good while its read offset reaches the end: the stall the SIGKILL test hit.
    assert seek_lands_during_a_blocked_hand_over(FAUST) == [15, 16]


def commit_offset(cls: type[Any], prepare: Callable[[Harness], None]) -> int | None:
    """The offset the consumer would commit after ``prepare`` (committed offset 10)."""

    async def go() -> int | None:
        h = Harness(cls, committed=10)
        prepare(h)
        return h.consumer._new_offset(TP0)  # type: ignore[no-any-return]

    return asyncio.run(go())


def commit_after_acks(cls: type[Any], acks: list[int]) -> int | None:
    return commit_offset(cls, lambda h: h.ack(*acks))


def test_the_commit_waits_for_the_record_at_the_committed_offset() -> None:
    # 10 (the next record to process) is not done; 11 and 12 are.
    assert commit_after_acks(OURS, [11, 12]) is None
    assert commit_after_acks(OURS, [11, 12, 10]) == 13


def test_faust_commits_past_an_unprocessed_record_at_the_committed_offset() -> None:
    assert commit_after_acks(FAUST, [11, 12]) == 13


def stale_acks_then_commit(cls: type[Any]) -> int | None:
    """Generation 1 fetched 10-14; a rebalance (generation 2) seeks back to 10; the streams
    skip the generation-1 records still buffered and acknowledge them; generation 2 has
    processed only 10 so far. How far may the offset be committed?"""

    def prepare(h: Harness) -> None:
        h.consumer.app.consumer_generation_id = 2
        h.ack(*range(10, 15), generation=1)
        h.ack(10)

    return commit_offset(cls, prepare)


def test_acks_of_an_earlier_generation_do_not_count() -> None:
    assert stale_acks_then_commit(OURS) == 11


def test_faust_counts_acks_of_an_earlier_generation() -> None:
    # 11-14 committed before generation 2 processed them: a crash now loses them.
    assert stale_acks_then_commit(FAUST) == 15


@pytest.mark.parametrize(
    ("fetched", "expected_commit"),
    [
        # a transaction marker at the committed offset: the first record after the seek is 11
        ((11, 12), 13),
        # markers mid-stream: 12 and 13 hold no records
        ((10, 11, 14), 15),
    ],
)
def test_offsets_without_records_do_not_hold_the_commit(
    fetched: tuple[int, ...], expected_commit: int
) -> None:
    async def go() -> int | None:
        h = Harness(OURS, committed=10)
        await h.consumer.seek(TP0, 10)
        h.fetch(*fetched)
        await h.run()
        assert h.delivered == list(fetched)
        h.ack(*fetched)
        return h.consumer._new_offset(TP0)  # type: ignore[no-any-return]

    assert asyncio.run(go()) == expected_commit


def test_a_hand_over_cut_short_by_a_rebalance_is_not_recorded_as_read() -> None:
    async def go() -> tuple[list[int], int | None]:
        h = Harness(OURS, committed=10)
        h.consumer._read_offset[TP0] = 12  # 10-12 read; 13 is next
        h.hold(13)
        h.fetch(13, 14)

        async def rebalance_meanwhile() -> None:
            await h.started[13].wait()
            h.consumer.stop_flow()

        await h.run(rebalance_meanwhile)
        return h.delivered, h.consumer._read_offset[TP0]

    delivered, read = asyncio.run(go())
    assert delivered == []
    assert read == 12


def test_records_fetched_before_a_seek_are_read_again_not_jumped_over() -> None:
    """A batch 10-20 is being handed over when the rebalance seeks back to 10 (hand-over of
    12 waits meanwhile). The rest of that batch must not be taken as a jump from 10 to 13,
    which would record 10-12 as "nothing there" and commit past them unprocessed."""

    async def go() -> tuple[list[int], int | None, list[tuple[TP, int]]]:
        h = Harness(OURS, committed=10)
        h.hold(12)
        h.fetch(*range(10, 21))
        h.fetch(*range(10, 21))  # the re-read after the seek

        async def seek_meanwhile() -> None:
            await h.started[12].wait()
            await h.consumer.seek(TP0, 10)
            h.gates[12].set()

        await h.run(seek_meanwhile)
        # the generation-1 hand-overs count once each; the re-read is what gets acknowledged
        h.ack(*h.delivered[3:])
        return h.delivered, h.consumer._new_offset(TP0), h.seeks

    delivered, commit, seeks = asyncio.run(go())
    assert delivered == [10, 11, 12, *range(10, 21)]
    assert commit == 21
    # the rebalance's seek, then the same seek again on meeting the batch fetched before it
    # (in case the fetcher had already applied the first when that batch was built)
    assert seeks == [(TP0, 10), (TP0, 10)]


def commit_from_a_stalled_workers_state(cls: type[Any]) -> int | None:
    """Acknowledged offsets as a stalled worker's state dump showed them: every offset twice
    (re-read after a seek, the first copy added by a gap merge that does not index it)."""

    def prepare(h: Harness) -> None:
        h.consumer._acked[TP0] = [9, 10, 10, 11, 11, 12, 12, 13]
        h.consumer._acked_index[TP0] = {9, 10, 11, 12, 13}

    return commit_offset(cls, prepare)


def test_duplicate_acknowledgements_do_not_slow_the_commit() -> None:
    assert commit_from_a_stalled_workers_state(OURS) == 14


def test_faust_commits_one_offset_per_round_when_acknowledgements_repeat() -> None:
    # 11,000 records behind at one offset per commit interval (2.8 s): a stall in practice.
    assert commit_from_a_stalled_workers_state(FAUST) == 11
