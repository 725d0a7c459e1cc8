"""`chipscreen demo`: the main job end to end on one machine.

Broker (the dev broker unless CHIPSCREEN_BOOTSTRAP_SERVERS is set), a worker, sample traffic, and a
summary of the decisions. Each run uses its own topic prefix, so runs never mix.
"""

from __future__ import annotations

import collections
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

from streams import devbroker, topics
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.topics import ensure_topics


@contextlib.contextmanager
def _broker(console: Console) -> Iterator[str]:
    configured = os.environ.get("CHIPSCREEN_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    console.print("[bold]broker[/]: provisioning and starting the dev Kafka broker ...")
    started = time.monotonic()
    was_running = devbroker.is_running(devbroker.read_info())
    info = devbroker.up()
    version = devbroker.broker_version_from_log(info.log_file) or info.version
    console.print(
        f"[bold]broker[/]: Apache Kafka {version} at {info.bootstrap_servers} "
        f"({time.monotonic() - started:.1f}s)"
    )
    try:
        yield info.bootstrap_servers
    finally:
        if not was_running:  # leave a broker the user started alone
            devbroker.down()


def sample_orders() -> list[dict[str, Any]]:
    """A handful of orders that exercise different tiers; the generator replaces this later."""
    base = {
        "schema_version": 1,
        "event_type": "created",
        "occurred_at": "2025-03-01T09:00:00Z",
        "exporter": {
            "id": "EXP-1", "name": "Acme Semis", "country": "US",
            "hq_country": "US", "parent_hq_country": "US",
        },
        "end_use": "datacenter",
        "veu": None,
        "license_id": None,
    }  # fmt: skip
    destinations = [("IN", "Bharat Cloud"), ("DE", "Rhein Compute"), ("CN", "Dragon AI"),
                    ("AE", "Gulf Cloud"), ("JP", "Sakura DC"), ("SG", "Lion Compute")]  # fmt: skip
    orders = []
    for i, (cc, name) in enumerate(destinations, start=1):
        orders.append(
            {
                **base,
                "order_id": f"ORD-DEMO-{i}",
                "consignee": {
                    "id": f"CNS-{cc}",
                    "name": name,
                    "country": cc,
                    "hq_country": cc,
                    "parent_hq_country": cc,
                    "kind": "end_user",
                    "address": "1 Main St",
                },
                "destination_country": cc,
                "lines": [{"part_number": "H100-SXM", "quantity": 100 * i}],
            }
        )
    return orders


def run_demo(console: Console | None = None, timeout_s: float = 120.0) -> int:
    console = console or Console()
    with _broker(console) as bootstrap, tempfile.TemporaryDirectory() as tmp:
        run = time.strftime("%Y%m%d%H%M%S")
        settings = Settings(
            bootstrap_servers=bootstrap,
            topic_prefix=f"demo-{run}.",
            app_id=f"chipscreen-demo-{run}",
            store="memory://",
            data_dir=tmp,
            web_port=devbroker.free_port(),
        )
        ensure_topics(settings)
        console.print(f"[bold]worker[/]: starting (topics prefixed {settings.topic_prefix})")
        with WorkerProcess(settings, Path(tmp) / "worker.log") as worker:
            orders = sample_orders()
            started = time.monotonic()
            producer = KafkaProducer(
                **settings.kafka_python_config(), acks="all", enable_idempotence=True
            )
            for order in orders:
                producer.send(
                    settings.topic(topics.ORDERS),
                    key=order["order_id"].encode(),
                    value=orjson.dumps(order),
                )
            producer.flush()
            producer.close()
            console.print(f"[bold]traffic[/]: published {len(orders)} orders")
            decisions = _collect(settings, len(orders), timeout_s)
            elapsed = time.monotonic() - started
            if len(decisions) < len(orders):
                console.print(f"[red]only {len(decisions)} of {len(orders)} decisions[/]")
                console.print(worker.log_tail())
                return 1
        _summary(console, decisions, elapsed)
    return 0


def _collect(settings: Settings, expected: int, timeout_s: float) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        settings.topic(topics.APPROVALS),
        settings.topic(topics.HOLDS),
        **settings.kafka_python_config(),
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        consumer_timeout_ms=int(timeout_s * 1000),
        enable_auto_commit=False,
    )
    decisions = []
    try:
        for record in consumer:
            decisions.append(orjson.loads(record.value))
            if len(decisions) >= expected:
                break
    finally:
        consumer.close()
    return decisions


def _summary(console: Console, decisions: list[dict[str, Any]], elapsed: float) -> None:
    table = Table(title="Decisions")
    for col in ("order", "destination", "decision", "reasons", "policy version"):
        table.add_column(col)
    for d in sorted(decisions, key=lambda d: d["order_id"]):
        colour = "green" if d["decision"] == "approved" else "yellow"
        table.add_row(
            d["order_id"],
            str(d.get("destination_country")),
            f"[{colour}]{d['decision']}[/]",
            ", ".join(r["code"] for r in d["reasons"]),
            str(d.get("policy_version")),
        )
    console.print(table)
    by_code = collections.Counter(r["code"] for d in decisions for r in d["reasons"])
    console.print("by reason: " + ", ".join(f"{c} {n}" for c, n in by_code.most_common()))
    console.print(f"{len(decisions)} decisions in {elapsed:.1f}s")
