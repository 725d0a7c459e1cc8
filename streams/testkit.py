"""Publish events and await chipscreen's outputs on a real broker (tests, demo, pytest plugin)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from pydantic import BaseModel

from schemas.codec import encode
from streams.settings import Settings


def producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        **settings.kafka_python_config(), acks="all", enable_idempotence=True, linger_ms=5
    )


def publish(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[str | None, bytes | BaseModel | dict[str, Any]]],
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Send (key, value) pairs to a contract topic (name without prefix); returns the count."""
    p = producer(settings)
    n = 0
    try:
        for key, value in records:
            if isinstance(value, BaseModel):
                data = encode(value)
            elif isinstance(value, dict):
                data = orjson.dumps(value)
            else:
                data = value
            p.send(
                settings.topic(topic),
                key=key.encode() if key is not None else None,
                value=data,
                headers=headers or [],
            )
            n += 1
        p.flush()
    finally:
        p.close()
    return n


def collect(
    settings: Settings,
    topics: Iterable[str],
    *,
    until: Callable[[list[Any]], bool],
    timeout_s: float = 60.0,
) -> list[Any]:
    """Read contract topics from the beginning (read_committed) until ``until(records)``."""
    consumer = KafkaConsumer(
        *[settings.topic(t) for t in topics],
        **settings.kafka_python_config(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=500,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for record in consumer:
                records.append(record)
                if until(records):
                    return records
            if until(records):
                return records
    finally:
        consumer.close()
    return records


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]
