"""`chipscreen demo`: the main job end to end on one machine.

Broker (the dev broker unless CHIPSCREEN_BOOTSTRAP_SERVERS is set), a worker, a day of synthetic
traffic, a wait until screening is done (consumer lag zero), and a summary. Each run uses its own
topic prefix, so runs never mix; everything started here is stopped at the end.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams import devbroker, topics
from streams.generator import World
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.testkit import producer
from streams.topics import ensure_topics

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@contextlib.contextmanager
def _broker(console: Console) -> Iterator[str]:
    configured = os.environ.get("CHIPSCREEN_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    console.print("[bold]broker[/]  provisioning and starting the dev Kafka broker ...")
    started = time.monotonic()
    was_running = devbroker.is_running(devbroker.read_info())
    info = devbroker.up()
    version = devbroker.broker_version_from_log(info.log_file) or info.version
    console.print(
        f"[bold]broker[/]  Apache Kafka {version} at {info.bootstrap_servers} "
        f"(ready in {time.monotonic() - started:.1f}s)"
    )
    try:
        yield info.bootstrap_servers
    finally:
        if not was_running:  # leave a broker the user started alone
            devbroker.down()
            console.print("[bold]broker[/]  stopped")


def run_demo(
    console: Console | None = None,
    *,
    orders: int = 20_000,
    seed: int = 7,
    timeout_s: float = 600.0,
) -> int:
    console = console or Console()
    with _broker(console) as bootstrap, tempfile.TemporaryDirectory() as tmp:
        run = time.strftime("%Y%m%d%H%M%S")
        lists = sorted(SHARED_DATA.glob("csl-*.csv")) if SHARED_DATA.exists() else []
        settings = Settings(
            bootstrap_servers=bootstrap,
            topic_prefix=f"demo-{run}.",
            app_id=f"chipscreen-demo-{run}",
            store="memory://",
            data_dir=tmp,
            web_port=devbroker.free_port(),
            # shipments outrun their orders' decisions while the backlog drains: the grace must
            # cover that lag, or orders screened late make their shipments look orphaned
            orphan_grace_s=30.0,
            party_lists=",".join(str(p) for p in lists),
        )
        ensure_topics(settings)
        console.print(f"[bold]worker[/]  starting (topics prefixed {settings.topic_prefix})")
        with WorkerProcess(settings, Path(tmp) / "worker.log") as worker:
            sent = _publish(console, settings, orders, seed)
            started = time.monotonic() - sent["publish_s"]
            orders_done = _wait_until_screened(console, settings, worker, sent, timeout_s)
            sent["orders_s"] = (orders_done or time.monotonic()) - started
            sent["grace_s"] = settings.orphan_grace_s
            elapsed = time.monotonic() - started
            if orders_done is None:
                console.print("[red]screening did not finish in time[/]")
                console.print(worker.log_tail())
                return 1
            _summary(console, settings, worker, sent, elapsed)
        console.print("[bold]worker[/]  stopped")
    return 0


def _publish(console: Console, settings: Settings, orders: int, seed: int) -> dict[str, Any]:
    world = World(seed=seed, csl_dir=SHARED_DATA if SHARED_DATA.exists() else None)
    p = producer(settings)
    counts: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    columns = (TextColumn("[bold]traffic[/] {task.description}"), BarColumn(),
               TextColumn("{task.completed:,} orders"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("publishing a day of orders and shipments", total=orders)
        for event in world.events(orders):
            p.send(settings.topic(event.topic), key=event.key.encode(),
                   value=orjson.dumps(event.value))  # fmt: skip
            counts[event.topic] += 1
            if event.topic == topics.ORDERS and event.value["event_type"] == "created":
                progress.advance(task)
        p.flush()
    p.close()
    publish_s = time.monotonic() - started
    console.print(
        f"[bold]traffic[/] published {counts[topics.ORDERS]:,} order events and "
        f"{counts[topics.SHIPMENTS]:,} shipment events in {publish_s:.1f}s"
    )
    return {"orders": counts[topics.ORDERS], "shipments": counts[topics.SHIPMENTS],
            "publish_s": publish_s}  # fmt: skip


def group_lag(settings: Settings) -> int:
    """Records the worker's consumer group has not yet committed, over all its topics."""
    admin = KafkaAdminClient(**settings.kafka_python_config())
    try:
        committed = admin.list_group_offsets(settings.app_id).get(settings.app_id, {})
    finally:
        admin.close()
    if not committed:
        return -1
    consumer = KafkaConsumer(**settings.kafka_python_config(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(tp.topic, tp.partition) for tp in committed]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    return sum(max(0, ends[tp] - committed[tp].offset) for tp in tps)


def _metric(worker: WorkerProcess, name: str) -> float:
    with urllib.request.urlopen(worker.base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def _wait_until_screened(
    console: Console,
    settings: Settings,
    worker: WorkerProcess,
    sent: dict[str, Any],
    timeout_s: float,
) -> float | None:
    """Wait until every event is screened and the group's lag is zero; returns when every order
    event had its decision (monotonic time), or None on timeout."""
    deadline = time.monotonic() + timeout_s
    orders_done: float | None = None
    columns = (
        TextColumn("[bold]screen[/]  {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
    )
    total = sent["orders"] + sent["shipments"]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("waiting for decisions and shipment screening", total=total)
        while time.monotonic() < deadline:
            screened = _metric(worker, "chipscreen_shipments_screened_total")
            decided = _decisions_made(worker)
            dead = _metric(worker, "chipscreen_dead_letters_total")
            progress.update(task, completed=min(total, decided + screened + dead))
            if orders_done is None and decided >= sent["orders"]:
                orders_done = time.monotonic()
            if decided + screened + dead >= total and group_lag(settings) == 0:
                return orders_done or time.monotonic()
            time.sleep(0.5)
    return None


def _decisions_made(worker: WorkerProcess) -> float:
    # one decision per order event: count records out on the approvals and holds topics
    with urllib.request.urlopen(worker.base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("chipscreen_records_out_total{") and (
            "screening.approvals" in line or "screening.holds" in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _read_all(settings: Settings, names: list[str]) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        *[settings.topic(n) for n in names],
        **settings.kafka_python_config(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=2000,
        max_poll_records=5000,
    )
    try:
        return [orjson.loads(r.value) for r in consumer]
    finally:
        consumer.close()


def _bar(fraction: float, width: int = 30) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def _summary(
    console: Console,
    settings: Settings,
    worker: WorkerProcess,
    sent: dict[str, Any],
    elapsed: float,
) -> None:
    decisions = _read_all(settings, [topics.APPROVALS, topics.HOLDS])
    alerts = _read_all(settings, [topics.ALERTS])
    dead = _read_all(settings, [topics.DEAD_LETTER])

    by_code: collections.Counter[tuple[str, str]] = collections.Counter()
    for d in decisions:
        for r in d["reasons"]:
            by_code[(d["decision"], r["code"])] += 1
    table = Table(title=f"{len(decisions):,} decisions by reason code")
    table.add_column("decision")
    table.add_column("reason code")
    table.add_column("orders", justify="right")
    for (decision, code), n in sorted(by_code.items(), key=lambda x: (x[0][0], -x[1])):
        colour = "green" if decision == "approved" else "yellow"
        table.add_row(f"[{colour}]{decision}[/]", code, f"{n:,}")
    console.print(table)

    signals: collections.Counter[str] = collections.Counter()
    severity: collections.Counter[str] = collections.Counter(a["severity"] for a in alerts)
    for a in alerts:
        for s in a["signals"]:
            signals[s["code"]] += 1
    at = Table(title=f"{len(alerts):,} alerts")
    at.add_column("signal")
    at.add_column("alerts", justify="right")
    for code, n in signals.most_common():
        at.add_row(code, f"{n:,}")
    at.add_section()
    for level in ("critical", "high", "medium", "low"):
        if severity[level]:
            at.add_row(f"severity {level}", f"{severity[level]:,}")
    console.print(at)

    countries = sorted({d["destination_country"] for d in decisions if d.get("tier") == 2})
    rows = []
    for cc in countries:
        with urllib.request.urlopen(f"{worker.base_url}/tallies/countries/{cc}", timeout=10) as r:
            tally = json.loads(r.read())
        if tally.get("cap_tpp"):
            rows.append((tally["used_tpp"] / tally["cap_tpp"], cc, tally))
    ct = Table(title="Tier 2 countries nearest their cap")
    for col in ("country", "used TPP", "cap TPP", "", "used"):
        ct.add_column(col, justify="right" if col != "" else "left")
    for frac, cc, tally in sorted(rows, reverse=True)[:8]:
        ct.add_row(cc, f"{tally['used_tpp']:,}", f"{tally['cap_tpp']:,}", _bar(frac),
                   f"{frac:.1%}")  # fmt: skip
    console.print(ct)

    kinds = collections.Counter(d["error_kind"] for d in dead)
    total = sent["orders"] + sent["shipments"]
    console.print(
        f"[bold]{sent['orders']:,} order events decided in {sent['orders_s']:.1f}s: "
        f"{sent['orders'] / sent['orders_s']:,.0f} orders/s[/] (from the first publish); "
        f"all {total:,} events screened in {elapsed:.1f}s, orphan shipments after their "
        f"{sent['grace_s']:.0f}s grace; dead letters: {sum(kinds.values())} "
        + (f"({', '.join(f'{k} {n}' for k, n in kinds.items())})" if kinds else "")
    )
    console.print(f"policy version: {decisions[0]['policy_version'] if decisions else '-'}")
