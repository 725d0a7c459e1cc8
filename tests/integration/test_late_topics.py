"""A topic that is missing from the broker's metadata when the worker's consumer joins its group.

On a fresh broker, topics created a moment before the worker starts were once missing from the
metadata it joined with: it held no partitions for 306 s, until aiokafka's next metadata refresh
(default every 5 min). The worker's consumer is configured to refresh every 10 s; this runs a
consumer with the worker's own settings against a topic created only after it joined.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from streams.app import create_app
from streams.settings import Settings
from streams.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


def test_a_topic_created_after_the_join_is_consumed_within_seconds(
    isolated_settings: Settings,
) -> None:
    s = isolated_settings
    conf = create_app(s).conf
    topic = s.topic(f"late-{uuid.uuid4().hex[:8]}")

    async def go() -> float | None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=f"{s.app_id}-late",
            metadata_max_age_ms=conf.consumer_metadata_max_age_ms,
        )
        await consumer.start()
        try:
            consumer.subscribe([topic])
            await consumer.getmany(timeout_ms=2000)  # joined, with the topic not there yet
            assert not consumer.assignment()
            ensure_topics(s, [TopicSpec(topic, 2, {})])
            created = time.monotonic()
            while time.monotonic() - created < 30:
                await consumer.getmany(timeout_ms=500)
                if consumer.assignment():
                    return time.monotonic() - created
            return None
        finally:
            await consumer.stop()

    waited = asyncio.run(go())
    assert waited is not None, "no partition of the late topic assigned within 30 s"
