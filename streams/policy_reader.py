"""The tier table every worker holds in full: a broadcast reader of the compacted policy topic.

Like Kafka Streams' GlobalKTable: a consumer with no group, assigned every partition of
``policy``, reads from the beginning into the worker's ``PolicyView`` and then follows the topic.
The worker reports healthy, and its screening agents start, only once the reader has reached the
end offsets it saw at start-up. Faust's GlobalTable was not used: its recovery and multi-worker
bugs (faust-streaming #212, robinhood/faust #541, the warning in faust/tables/globaltable.py)
are exactly the failure this table must not have.

Records that do not validate are skipped here; the ``policy`` agent (one worker, in the consumer
group) dead-letters them once.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from rules.policy import PolicyView
from schemas.codec import Codec, DecodeError
from schemas.models import PolicyChange
from streams.settings import Settings

log = logging.getLogger(__name__)


class PolicyReader:
    def __init__(self, settings: Settings, view: PolicyView) -> None:
        self.settings = settings
        self.view = view
        self.ready = asyncio.Event()
        self.codec = Codec(PolicyChange)
        self.applied = 0
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        topic = self.settings.topic("policy")
        consumer = AIOKafkaConsumer(
            **self.settings.aiokafka_config(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._consumer = consumer
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic)
            while not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    await asyncio.sleep(0.5)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            if all(end[tp] == 0 for tp in tps):
                self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self._apply(record.value)
                if not self.ready.is_set():
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= end[tp] for tp in tps):
                        log.info("policy view ready: %s", self.view.version)
                        self.ready.set()
        finally:
            await consumer.stop()

    def _apply(self, raw: bytes | None) -> None:
        if raw is None:
            return  # a tombstone: compaction removed a change id; the view keeps history
        try:
            change = self.codec.decode(raw)
        except DecodeError:
            return
        if self.view.apply(change):
            self.applied += 1
            log.info("policy change %s applied: %s", change.change_id, self.view.version)
