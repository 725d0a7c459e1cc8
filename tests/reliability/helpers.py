"""Shared checks: every order decided consistently, tallies equal an offline recomputation."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import urllib.request
from collections import defaultdict
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from rules.policy import PolicyView, load_pack
from rules.screening import ScreeningRejected, screen_order
from rules.tallies import TallyState, apply_writes
from schemas.codec import Codec, DecodeError
from schemas.models import OrderEvent
from streams import topics
from streams.agents import SOURCE_HEADER
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.topics import internal


def read_topic(settings: Settings, name: str) -> list[Any]:
    consumer = KafkaConsumer(**settings.kafka_python_config(), enable_auto_commit=False,
                             consumer_timeout_ms=3000, max_poll_records=10_000)  # fmt: skip
    try:
        parts = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return list(consumer)
    finally:
        consumer.close()


def decisions_by_order(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in (topics.APPROVALS, topics.HOLDS):
        for record in read_topic(settings, settings.topic(name)):
            d = orjson.loads(record.value)
            out[d["order_id"]].append(d)
    return out


def wait_for_decisions(
    settings: Settings,
    order_ids: set[str],
    timeout_s: float,
    worker: WorkerProcess | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    missing = order_ids
    while time.monotonic() < deadline:
        missing = order_ids - set(decisions_by_order(settings))
        if not missing:
            return
        time.sleep(2)
    if worker is not None and worker.proc is not None and worker.proc.poll() is None:
        # every asyncio task's stack goes to the worker log (streams/runner.py)
        worker.proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
    lag = {f"{tp.topic}[{tp.partition}]": n for tp, n in lag_by_partition(settings).items() if n}
    raise AssertionError(
        f"{len(missing)} orders without a decision, e.g. {sorted(missing)[:5]}; "
        f"uncommitted records per partition: {lag}"
        + (f"; worker log: {worker.log_path}" if worker else "")
    )


def lag_by_partition(settings: Settings) -> dict[TopicPartition, int]:
    """Records the worker's consumer group has not committed, per partition it has committed."""
    admin = KafkaAdminClient(**settings.kafka_python_config())
    try:
        committed = admin.list_group_offsets(settings.app_id).get(settings.app_id, {})
    finally:
        admin.close()
    consumer = KafkaConsumer(**settings.kafka_python_config(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(tp.topic, tp.partition) for tp in committed]
        ends = consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()
    return {tp: max(0, ends[tp] - committed[tp].offset) for tp in tps}


def offline_country_tallies(settings: Settings) -> dict[str, int]:
    """Recompute the country tallies with the rules over the repartitioned orders, each
    partition in its own order, exactly as the worker's owners see them."""
    view = PolicyView(load_pack(settings.policy_pack))
    codec = Codec(OrderEvent)
    states: dict[int, TallyState] = defaultdict(TallyState)
    stamp = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for record in read_topic(settings, internal(settings, topics.ORDERS_BY_COUNTRY)):
        headers = dict(record.headers or [])
        source = headers[SOURCE_HEADER].decode().rsplit(":", 2)
        try:
            order = codec.decode(record.value)
        except DecodeError:
            continue
        version = order.event_version if order.event_version is not None else int(source[2])
        state = states[record.partition]
        try:
            outcome = screen_order(order, view, state, version=version, screened_at=stamp)
        except ScreeningRejected:
            continue
        if not outcome.duplicate:
            apply_writes(state, outcome.writes)
    totals: dict[str, int] = {}
    for state in states.values():
        for country, used in state.country.items():
            totals[country] = totals.get(country, 0) + used
    return {k: v for k, v in totals.items() if v}


def assert_tallies_match_offline(settings: Settings, worker: WorkerProcess) -> None:
    """The worker's country tallies equal the rules replayed offline over the same input (the
    last decisions may still be flushing their tables: up to a minute)."""
    expected = offline_country_tallies(settings)
    deadline = time.monotonic() + 60
    while live_country_tallies(worker) != expected and time.monotonic() < deadline:
        time.sleep(1)
    assert live_country_tallies(worker) == expected


def live_country_tallies(worker: WorkerProcess) -> dict[str, int]:
    with urllib.request.urlopen(worker.base_url + "/tallies/countries", timeout=10) as resp:
        rows = json.loads(resp.read())
    return {r["country"]: r["used_tpp"] for r in rows if r["used_tpp"]}


def assert_consistent_decisions(decisions: dict[str, list[dict[str, Any]]]) -> int:
    """Duplicates may occur under at-least-once; they must be identical but for screened_at.
    Returns how many duplicate decisions there were."""
    dupes = 0
    for order_id, ds in decisions.items():
        ids = {d["decision_id"] for d in ds}
        by_id: dict[str, set[bytes]] = defaultdict(set)
        for d in ds:
            stable = {k: v for k, v in d.items() if k != "screened_at"}
            by_id[d["decision_id"]].add(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS))
        for did, variants in by_id.items():
            assert len(variants) == 1, f"{order_id}: decision {did} differs between copies"
        dupes += len(ds) - len(ids)
    return dupes
