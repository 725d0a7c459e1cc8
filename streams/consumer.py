"""Faust's Kafka consumer with its offset bookkeeping made exact around seeks and rebalances.

faust-streaming 0.15.3 strands or commits past input records after a restart with a backlog
(found by the SIGKILL test in tests/reliability; tests/bugs/test_consumer_offsets.py pins each
mechanism, against Faust's consumer too where it shows there):

1. A seek undone. The fetch loop records a record's offset as read *after* handing it to the
   streams, which can wait on a full stream buffer. A rebalance seek back to the committed
   offset landing during that wait is overwritten, and the re-fetched records below the late
   offset are dropped as "already read": never processed, never acknowledged.
2. Records fetched before a seek taken after it. The rest of a batch fetched before the seek
   looks like a jump from the seek target, and the jump is recorded as a gap ("nothing there")
   that is committed as if processed.
3. Acknowledgements of a revoked assignment counted. Streams skip records fetched under an
   earlier consumer generation and acknowledge them; those acknowledgements counted toward the
   new generation's commit, before it had processed the records.
4. A commit past an unprocessed head, and a crawling commit. The commit was held back only when
   the first acknowledged offset was two or more above the committed one (one unprocessed
   record is committed past), and a duplicate in the acknowledged list (gaps are merged in
   without being indexed, so a re-read record is acknowledged twice) ended the committable run
   after one offset: a worker 11,000 records behind committed one offset per commit interval,
   which is what the stalled workers' state dumps showed.

The fix keeps Faust's structure: a per-partition seek counter and a "read offset names the next
record" flag set by seeks; a fetch loop that records a read only for a completed hand-over with
no seek in between and skips (and re-seeks) what a batch holds from before a seek; earlier
generations' acknowledgements ignored; and the commit offset computed as the unbroken run of
done offsets from the committed one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with exact read, acknowledge and commit offsets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seek_count: Counter[TP] = Counter()
        # Partitions whose read offset was set by a seek: it names the next record to read,
        # not the last one read, until the first record after the seek is handed over.
        self._read_from_seek: set[TP] = set()
        #: Records fetched before a seek took effect and skipped (the seek re-reads them).
        self.refetched_skipped = 0
        #: Acknowledgements of records fetched under an earlier consumer generation, ignored.
        self.stale_acks_ignored = 0

    def _commit_tracked(self, tp: Any) -> bool:
        return bool(self.app.topics.acks_enabled_for(tp.topic))

    def _note_seek(self, tp: TP) -> None:
        self._seek_count[tp] += 1
        self._read_from_seek.add(tp)

    async def perform_seek(self) -> None:
        """Seek every assigned partition to its committed offset; with none committed, to
        the beginning, so that what an earlier generation fetched is read again either way."""
        committed = await self.seek_to_committed()
        # aiokafka leaves the position alone when the committed offset is 0 or absent. Only
        # input topics are commit-tracked; changelog positions belong to table recovery.
        inputs = {tp: offset for tp, offset in committed.items() if self._commit_tracked(tp)}
        unset = [tp for tp, offset in inputs.items() if offset is None or offset < 0]
        zero = [tp for tp, offset in inputs.items() if offset == 0]
        thread: Any = self._thread
        if unset:
            await thread.seek_to_beginning(*unset)
        for tp in zero:
            thread.seek(tp, 0)
        for raw_tp, offset in committed.items():
            tp = TP(raw_tp.topic, raw_tp.partition)
            known = offset if offset is not None and offset >= 0 else None
            self._read_offset[tp] = known
            self._committed_offset[tp] = known
            self._note_seek(tp)

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._note_seek(TP(partition.topic, partition.partition))

    def ack(self, message: Any) -> bool:
        if message.generation_id != self.app.consumer_generation_id:
            # Fetched under an assignment that has since been revoked: the rebalance's seek
            # reads it again, so it must not count toward this generation's commit.
            self._unacked_messages.discard(message)
            self.stale_acks_ignored += 1
            return False
        return bool(super().ack(message))

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Offsets ``offset_from..offset_to`` hold nothing to process (transaction markers,
        compacted records): count them as done. Faust clamped the start to one above the
        committed offset, leaving the committed offset itself neither read nor done."""
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed)
        if offset_from <= offset_to:
            gaps = self._gap[tp]
            gaps.addi(offset_from, offset_to + 1)
            await asyncio.sleep(0)
            gaps.merge_overlaps()

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit: one past the unbroken run of done offsets (acknowledged or
        in a gap) that starts at the committed offset; None while that first one is not done.
        Faust's version let the run start one above the committed offset, and a duplicate in
        its acknowledged list (its gap merge adds offsets without indexing them, so a re-read
        record is acknowledged twice) ended the run, committing one offset per commit round."""
        acked = self._acked[tp]
        if not acked:
            return None
        gaps = self._gap[tp]
        done = set(acked)
        committed = self._committed_offset[tp]
        if committed is None:  # nothing known to be committed: start at the lowest done
            committed = min(done | {interval.begin for interval in gaps})
        offset = committed
        while True:
            if offset in done:
                offset += 1
                continue
            in_gap = gaps.at(offset)
            if not in_gap:
                break
            offset = max(interval.end for interval in in_gap)
        if offset == committed:
            return None
        acked[:] = [o for o in acked if o >= offset]
        index = self._acked_index[tp]
        index.difference_update([o for o in index if o < offset])
        gaps.chop(0, offset)
        return offset

    async def _drain_messages(self, fetcher: Any) -> None:  # the fetch loop
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        consumer_stopped = cast(Service, self)._stopped.is_set
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        handed = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany can return at once, again and again
                if self.should_stop:
                    break
                seeks_at_fetch: dict[TP, int] | None = None
                reseeked: set[TP] = set()
                async for tp, message in records:
                    if seeks_at_fetch is None:  # the batch has just been fetched
                        seeks_at_fetch = dict(self._seek_count)
                    if self._seek_count[tp] != seeks_at_fetch.get(tp, 0):
                        # Fetched before a seek of its partition: the seek re-reads it, and
                        # taking it now would look like a jump past everything in between.
                        self.refetched_skipped += 1
                        if tp not in reseeked:
                            # The seek may have reached the fetcher before this batch did;
                            # seeking again to its target makes sure the skipped come back.
                            reseeked.add(tp)
                            target = read_offset.get(tp)
                            if target is None:  # nothing committed: the seek went to the start
                                await cast(Any, self._thread).seek_to_beginning(tp)
                            else:
                                await self._seek(tp, target)
                        continue
                    handed += 1
                    if handed % 100 == 0:
                        await asyncio.sleep(0)
                    offset = message.offset
                    last = read_offset.get(tp)
                    expected = None
                    if last is not None:
                        expected = last if tp in self._read_from_seek else last + 1
                    if expected is not None and offset < expected:
                        self.refetched_skipped += 1
                        continue
                    gap = expected is not None and offset > expected
                    if gap and acks_enabled_for(message.topic):
                        await self._add_gap(tp, cast(int, expected), offset - 1)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    seeks_before = self._seek_count[tp]
                    delivery = callback(message)
                    result = await self.wait_first(delivery, self.suspend_flow.wait())
                    if result.stopped:
                        return
                    if delivery not in result.done:
                        break  # flow suspended mid hand-over: the rebalance seek re-reads it
                    if self._seek_count[tp] == seeks_before:
                        read_offset[tp] = offset
                        self._read_from_seek.discard(tp)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport, creating chipscreen's consumer."""

    Consumer = Consumer
