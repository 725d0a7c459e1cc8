"""Records appended to one Kafka record batch per partition, sent once per take() batch.

Two reasons, both measured:

* Speed. ``topic.send`` costs Faust's channel, serializer and monitor plumbing plus an
  accumulator append per record; building aiokafka record batches directly and handing each to
  the producer once per take() batch is what took a Faust worker from ~1.5k to several thousand
  orders/s (FAUST-PERFORMANCE.md, lever 3).
* Atomicity. Kafka appends a record batch to a partition whole or not at all. The tally tables'
  changelog records for one source partition therefore go out as one batch: a worker killed in
  the middle of a flush leaves either every key of that batch in the changelog or none of them,
  never some (a torn batch made a replayed order double count; see docs/reliability.md).

Records here skip Faust's ``Topic.send``; partitions come from the producer's own partitioner,
so keys land where Faust (and any Kafka client with the default partitioner) would put them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


class BatchTooLarge(RuntimeError):
    """One record alone exceeds the batch limit."""


class Outbox:
    """Per-(topic, partition) record batches for one Faust app's producer.

    One outbox per agent: an agent's flush must hand *its own* records to the producer before
    Faust commits its offsets, which a flush by another agent holding them would not ensure."""

    def __init__(self, app: Any, *, max_batch_bytes: int) -> None:
        self.app = app
        self.max_batch_bytes = max_batch_bytes
        self._builders: dict[tuple[str, int], BatchBuilder] = {}
        self._known_topics: set[str] = set()
        self._partition_cache: dict[tuple[str, bytes], int] = {}
        self._full: list[tuple[str, int, BatchBuilder]] = []

    # -- the producer --------------------------------------------------------------------------

    def _producer(self) -> Any:
        return self.app.producer._ensure_producer()

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        """The partitioner needs each topic's metadata before the first key is hashed."""
        producer = self._producer()
        for topic in topics:
            if topic not in self._known_topics:
                await producer.client._wait_on_metadata(topic)
                self._known_topics.add(topic)

    def knows(self, topic: str) -> bool:
        return topic in self._known_topics

    def partition_for(self, topic: str, key: bytes) -> int:
        """The partition the default (murmur2) partitioner picks, as every Kafka client does."""
        cached = self._partition_cache.get((topic, key))
        if cached is not None:
            return cached
        partition: int = self._producer()._partition(topic, None, None, None, key, None)
        if len(self._partition_cache) < 100_000:  # keys like countries repeat; order ids don't
            self._partition_cache[(topic, key)] = partition
        return partition

    # -- batches -------------------------------------------------------------------------------

    def _new_builder(self) -> BatchBuilder:
        # the accumulator holds the compression codec as the record format's integer id
        accumulator = self._producer()._message_accumulator
        return BatchBuilder(
            self.max_batch_bytes, accumulator._compression_type, is_transactional=False
        )

    def add(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        timestamp_ms: int | None = None,
    ) -> bool:
        """Append one record. False when its partition's open batch was full: that batch is
        queued as it is and the record starts the next one (fine for outputs; for a changelog
        it means the flush is no longer one atomic batch, which the caller reports)."""
        builder = self._builders.get((topic, partition))
        if builder is None:
            builder = self._builders[(topic, partition)] = self._new_builder()
        hdrs = headers or []
        if builder.append(timestamp=timestamp_ms, key=key, value=value, headers=hdrs) is not None:
            return True
        self._full.append((topic, partition, builder))
        builder = self._builders[(topic, partition)] = self._new_builder()
        if builder.append(timestamp=timestamp_ms, key=key, value=value, headers=hdrs) is None:
            raise BatchTooLarge(f"a record for {topic}[{partition}] exceeds one batch")
        return False

    async def send(self, topic: str, partition: int, builder: BatchBuilder) -> asyncio.Future[Any]:
        """Queue one batch with the producer; the future resolves once the broker has it."""
        fut: asyncio.Future[Any] = await self._producer().send_batch(
            builder, topic, partition=partition
        )
        return fut

    async def flush(
        self, only: Iterable[tuple[str, int]] | None = None
    ) -> list[asyncio.Future[Any]]:
        """Queue the open batches (of ``only`` these partitions, if given). Faust flushes the
        producer before it commits offsets, so these records are on the broker before the
        offsets of the inputs that made them."""
        wanted = None if only is None else set(only)
        # Take the batches synchronously: nothing else may pick them up between the awaits.
        ready, self._full = self._full, []
        chosen = [b for b in ready if wanted is None or (b[0], b[1]) in wanted]
        self._full = [b for b in ready if not (wanted is None or (b[0], b[1]) in wanted)]
        for tp in list(self._builders):
            if wanted is None or tp in wanted:
                chosen.append((*tp, self._builders.pop(tp)))
        return [await self.send(topic, partition, builder) for topic, partition, builder in chosen]
