"""chipscreen benchmarks against baselines measured in the same run, on the same broker.

    python bench/run.py [--quick] [--orders N]

Measures, on pre-produced ~350-byte orders:
- pipeline: the chipscreen worker (repartition + screening + tables), first to last decision;
- raw ceiling: aiokafka getmany -> decode -> rules -> encode -> batched produce, no Faust;
- naive Faust: one await per event, group_by, a table update per event;
- party screening ops/s (bench/parties.py's index on a synthetic 20k list).
Prints a table and writes bench/results/latest.json. Numbers, not assertions: nothing here fails
because a machine is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.policy import PolicyView, load_pack  # noqa: E402
from rules.screening import ScreeningRejected, screen_order  # noqa: E402
from rules.tallies import TallyState, apply_writes  # noqa: E402
from schemas.codec import Codec, encode  # noqa: E402
from schemas.models import OrderEvent  # noqa: E402
from streams import devbroker, topics  # noqa: E402
from streams.devbroker import free_port  # noqa: E402
from streams.process import WorkerProcess  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.testkit import producer  # noqa: E402
from streams.topics import TopicSpec, contract_topics, ensure_topics  # noqa: E402

COUNTRIES = ["IN", "AE", "SA", "SG", "MY", "TH", "IL", "PL", "BR", "MX", "DE", "JP", "US", "CN"]


def make_orders(n: int, consignees: int, seed: int = 1) -> list[bytes]:
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        cc = COUNTRIES[i % len(COUNTRIES)]
        out.append(orjson.dumps({
            "schema_version": 1, "event_type": "created", "order_id": f"B-{i:08d}",
            "occurred_at": "2025-03-01T09:00:00Z",
            "exporter": {"id": "EXP-1", "name": "Acme", "country": "US", "hq_country": "US",
                         "parent_hq_country": "US"},
            "consignee": {"id": f"C-{rng.randrange(consignees)}", "name": "Buyer",
                          "country": cc, "hq_country": cc, "parent_hq_country": cc,
                          "kind": "end_user"},
            "destination_country": cc, "license_id": "L" if i % 3 == 0 else None,
            "lines": [{"part_number": "H100-SXM", "quantity": 1 + i % 9}],
        }))  # fmt: skip
    return out


def preproduce(settings: Settings, orders: list[bytes]) -> None:
    p = producer(settings)
    for raw in orders:
        order_id = orjson.loads(raw)["order_id"]
        p.send(settings.topic(topics.ORDERS), key=order_id.encode(), value=raw)
    p.flush()
    p.close()


def count_decisions(settings: Settings, n: int, timeout_s: float) -> tuple[int, float]:
    """Wait for n decisions; return (count, seconds from first to last decision timestamp)."""
    from kafka import KafkaConsumer

    c = KafkaConsumer(
        settings.topic(topics.APPROVALS), settings.topic(topics.HOLDS),
        **settings.kafka_python_config(), auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=1000, max_poll_records=10000,
    )  # fmt: skip
    seen = 0
    first, last = None, None
    deadline = time.monotonic() + timeout_s
    try:
        while seen < n and time.monotonic() < deadline:
            for r in c:
                seen += 1
                first = r.timestamp if first is None else min(first, r.timestamp)
                last = r.timestamp if last is None else max(last, r.timestamp)
                if seen >= n:
                    break
    finally:
        c.close()
    return seen, ((last or 0) - (first or 0)) / 1000


class Sampler:
    """CPU% and peak RSS of a process, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.cpu: list[float] = []
        self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.proc.cpu_percent(None)
        while not self._stop.wait(0.5):
            try:
                self.cpu.append(self.proc.cpu_percent(None))
                self.rss = max(self.rss, self.proc.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settings_for(bootstrap: str, partitions: int, tmp: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(bootstrap_servers=bootstrap, topic_prefix=f"bench{run}.",
                    app_id=f"bench-{run}", partitions=partitions, store="memory://",
                    data_dir=tmp, web_port=free_port())  # fmt: skip


def bench_pipeline(bootstrap: str, orders: list[bytes], partitions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(bootstrap, partitions, tmp)
        ensure_topics(s)
        preproduce(s, orders)
        worker = WorkerProcess(s, Path(tmp) / "worker.log")
        started = time.monotonic()
        worker.start()
        assert worker.proc is not None
        with Sampler(worker.proc.pid) as sampler:
            seen, span = count_decisions(s, len(orders), timeout_s=900)
        wall = time.monotonic() - started
        worker.stop()
    cpu = sorted(sampler.cpu)
    return {"decisions": seen, "seconds": span, "eps": seen / span if span else 0.0,
            "wall_s": wall, "cpu_pct": cpu[len(cpu) // 2] if cpu else 0.0,
            "rss_mb": sampler.rss / 2**20}  # fmt: skip


async def _raw_pipe(s: Settings, n: int, rules: bool = True) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    view = PolicyView(load_pack(s.policy_pack))
    state = TallyState()
    codec = Codec(OrderEvent)
    consumer = AIOKafkaConsumer(s.topic(topics.ORDERS), **s.aiokafka_config(),
                                group_id=f"{s.app_id}-raw", auto_offset_reset="earliest",
                                max_poll_records=5000)  # fmt: skip
    prod = AIOKafkaProducer(**s.aiokafka_config(), linger_ms=5, max_batch_size=256 * 1024)
    await consumer.start()
    await prod.start()
    done = 0
    start = None
    stamp = dt.datetime.now(dt.UTC)
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            futures = []
            for records in batches.values():
                for rec in records:
                    if start is None:
                        start = time.monotonic()
                    order = codec.decode(rec.value)
                    if not rules:  # the ceiling: decode -> encode -> produce
                        futures.append(await prod.send(s.topic(topics.APPROVALS), encode(order),
                                                       key=rec.key))  # fmt: skip
                        done += 1
                        continue
                    try:
                        out = screen_order(order, view, state, version=rec.offset,
                                           screened_at=stamp)  # fmt: skip
                    except ScreeningRejected:
                        continue
                    apply_writes(state, out.writes)
                    target = topics.APPROVALS if out.decision.decision.value == "approved" else (
                        topics.HOLDS)  # fmt: skip
                    futures.append(await prod.send(s.topic(target), encode(out.decision),
                                                   key=order.order_id.encode()))  # fmt: skip
                    done += 1
            if futures:
                await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await consumer.stop()
        await prod.stop()
    return done / (time.monotonic() - (start or time.monotonic()))


def bench_raw(bootstrap: str, orders: list[bytes], partitions: int, rules: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(bootstrap, partitions, tmp)
        ensure_topics(s)
        preproduce(s, orders)
        return asyncio.run(_raw_pipe(s, len(orders), rules))


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1)}


def bench_latency(bootstrap: str, partitions: int, rate: int, seconds: float) -> dict[str, Any]:
    """Orders offered at ``rate``/s to a running worker; for each, the time from the producer's
    send to the decision being readable by a read_committed consumer."""
    from kafka import KafkaConsumer, KafkaProducer

    n = int(rate * seconds)
    orders = make_orders(n, consignees=5000, seed=rate)
    keys = [orjson.loads(raw)["order_id"].encode() for raw in orders]
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    screened: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(bootstrap, partitions, tmp)
        ensure_topics(s)
        worker = WorkerProcess(s, Path(tmp) / "worker.log").start()
        consumer = KafkaConsumer(
            s.topic(topics.APPROVALS), s.topic(topics.HOLDS), **s.kafka_python_config(),
            auto_offset_reset="earliest", enable_auto_commit=False,
            isolation_level="read_committed", fetch_max_wait_ms=5,
        )  # fmt: skip
        consumer.poll(timeout_ms=500)  # join: assignment before the first send
        done = threading.Event()

        def consume() -> None:
            deadline = time.monotonic() + seconds + 120
            while len(latencies) < n and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=50, max_records=10_000).values():
                    now = time.time()
                    for r in records:
                        if r.key in sent:
                            latencies.append((now - sent[r.key]) * 1000)
                            # the decision record's own timestamp: when the worker built it
                            screened.append(r.timestamp - sent[r.key] * 1000)
            done.set()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        prod = KafkaProducer(**s.kafka_python_config(), linger_ms=1, acks=1)
        tick = 0.005
        per_tick = rate * tick
        start = time.monotonic()
        for i, (key, raw) in enumerate(zip(keys, orders, strict=True)):
            due = start + i / per_tick * tick
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[key] = time.time()
            prod.send(s.topic(topics.ORDERS), key=key, value=raw)
        offered_s = time.monotonic() - start
        prod.flush()
        done.wait(seconds + 150)
        consumer.close()
        prod.close()
        worker.stop()
    result: dict[str, Any] = {"offered_eps": rate, "achieved_offer_eps": round(n / offered_s),
                              "decided": len(latencies), "sent": n}  # fmt: skip
    if latencies:
        result.update(percentiles(latencies))
        # how much of it is before the decision exists (ingest, repartition, screening) and
        # how much after (producer batching, broker, the reading consumer)
        result["p50_to_decision_built"] = percentiles(screened)["p50"]
    return result


def bench_restore(bootstrap: str, partitions: int, keys: int) -> float:
    """Seconds from worker start to healthy with ``keys`` tally keys in its changelog (healthy
    waits for table recovery); checks one restored value through the web view."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer.message_accumulator import BatchBuilder

    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(bootstrap, partitions, tmp)
        ensure_topics(s)
        changelog = f"{s.app_id}-tallies-by-country-changelog"
        ensure_topics(s, [TopicSpec(changelog, partitions, {"cleanup.policy": "compact"})])

        async def fill() -> None:
            prod = AIOKafkaProducer(**s.aiokafka_config(), max_request_size=16 * 2**20)
            await prod.start()
            try:
                futures = []
                per_partition = keys // partitions
                for p in range(partitions):
                    builder = None
                    for i in range(p * per_partition, (p + 1) * per_partition):
                        if builder is None:
                            builder = BatchBuilder(900_000, 0, is_transactional=False)
                        key, value = f"l:C-{i}|2025".encode(), str(i).encode()
                        if builder.append(timestamp=None, key=key, value=value, headers=[]) is None:
                            futures.append(await prod.send_batch(builder, changelog, partition=p))
                            builder = BatchBuilder(900_000, 0, is_transactional=False)
                            builder.append(timestamp=None, key=key, value=value, headers=[])
                    if builder is not None:
                        futures.append(await prod.send_batch(builder, changelog, partition=p))
                await asyncio.gather(*futures)
            finally:
                await prod.stop()

        if keys:
            asyncio.run(fill())
        worker = WorkerProcess(s, Path(tmp) / "worker.log")
        started = time.monotonic()
        worker.start(timeout_s=600)
        elapsed = time.monotonic() - started
        if keys:
            probe = 7
            with urllib.request.urlopen(f"{worker.base_url}/tallies/consignees/C-{probe}/2025",
                                        timeout=10) as resp:  # fmt: skip
                got = json.loads(resp.read())["lpp_used_tpp"]
            if got != probe:
                raise RuntimeError(f"restored C-{probe} = {got}, expected {probe}")
        worker.stop()
    return elapsed


NAIVE_APP = """
import datetime as dt, os, faust
from rules.policy import PolicyView, load_pack
from rules.screening import screen_order, ScreeningRejected
from rules.tallies import TallyState
from schemas.codec import Codec, encode
from schemas.models import OrderEvent
P = os.environ["BENCH_PREFIX"]
app = faust.App(os.environ["BENCH_APP"], broker="kafka://" + os.environ["BENCH_BOOTSTRAP"],
                store="memory://", web_port=int(os.environ["BENCH_PORT"]),
                topic_partitions=int(os.environ["BENCH_PARTITIONS"]))
orders = app.topic(P + "orders", value_serializer="raw", key_serializer="raw")
by_country = app.topic(P + "naive-by-country", value_serializer="raw", key_serializer="raw",
                       partitions=int(os.environ["BENCH_PARTITIONS"]))
approvals = app.topic(P + "screening.approvals", value_serializer="raw", key_serializer="raw")
holds = app.topic(P + "screening.holds", value_serializer="raw", key_serializer="raw")
used = app.Table("used", default=int)
view = PolicyView(load_pack("ai-diffusion-2025"))
codec = Codec(OrderEvent)
state = TallyState()

@app.agent(orders)
async def route(stream):
    async for event in stream.events():
        order = codec.decode(event.value)
        await by_country.send(key=order.destination_country.encode(), value=event.value)

@app.agent(by_country)
async def screen(stream):
    async for event in stream.events():
        order = codec.decode(event.value)
        try:
            out = screen_order(order, view, state, version=event.message.offset,
                               screened_at=dt.datetime.now(dt.UTC))
        except ScreeningRejected:
            continue
        used[order.destination_country] += out.decision.order_tpp
        target = approvals if out.decision.decision.value == "approved" else holds
        await target.send(key=order.order_id.encode(), value=encode(out.decision))
"""


def bench_naive(bootstrap: str, orders: list[bytes], partitions: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(bootstrap, partitions, tmp)
        ensure_topics(s, [*contract_topics(s), TopicSpec(s.topic("naive-by-country"), partitions)])
        preproduce(s, orders)
        app = Path(tmp) / "naive_app.py"
        app.write_text(NAIVE_APP)
        env = {**os.environ, "PYTHONPATH": f"{tmp}:{ROOT}", "BENCH_PREFIX": s.topic_prefix,
               "BENCH_APP": s.app_id, "BENCH_BOOTSTRAP": bootstrap,
               "BENCH_PORT": str(free_port()), "BENCH_PARTITIONS": str(partitions)}  # fmt: skip
        log = (Path(tmp) / "naive.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "naive_app", "worker", "-l", "warn"],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            seen, span = count_decisions(s, len(orders), timeout_s=1200)
        finally:
            proc.terminate()
            proc.wait(30)
        return seen / span if span else 0.0


def bench_parties() -> float:
    import random

    sys.path.insert(0, str(ROOT / "bench"))
    from parties import WORDS, synthetic  # type: ignore[import-not-found]

    from rules.parties import PartyIndex

    rng = random.Random(3)
    index = PartyIndex(synthetic(20_000, rng))
    queries = [f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {i}" for i in range(2000)]
    start = time.perf_counter()
    for q in queries:
        index.screen(q, "CN")
    return len(queries) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description="chipscreen benchmarks with same-run baselines")
    parser.add_argument("--quick", action="store_true", help="a ~1 minute version")
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--naive-orders", type=int, default=None)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    n = args.orders or (10_000 if args.quick else 200_000)
    naive_n = args.naive_orders or (3_000 if args.quick else 20_000)
    scale_n = 5_000 if args.quick else 50_000
    lat_s = 4.0 if args.quick else 20.0

    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    state_dir = Path(tempfile.mkdtemp(prefix="chipscreen-bench-broker-"))
    bootstrap = explicit or devbroker.up(state_dir).bootstrap_servers
    try:
        orders = make_orders(n, consignees=5000)
        print(f"{n:,} orders of ~{sum(map(len, orders)) // n} bytes, {args.partitions} partitions")
        results: dict[str, Any] = {"n_events": n, "naive_n_events": naive_n}
        pipe = bench_pipeline(bootstrap, orders, args.partitions)
        print(f"pipeline        {pipe['eps']:>10,.0f} orders/s  cpu {pipe['cpu_pct']:.0f}%  "
              f"rss {pipe['rss_mb']:.0f} MB")  # fmt: skip
        raw = bench_raw(bootstrap, orders, args.partitions, rules=False)
        print(f"raw ceiling     {raw:>10,.0f} orders/s  (decode, encode, produce; no rules)")
        raw_rules = bench_raw(bootstrap, orders, args.partitions, rules=True)
        print(f"raw + rules     {raw_rules:>10,.0f} orders/s  (same, with the rules, dict tallies)")
        naive = bench_naive(bootstrap, orders[:naive_n], args.partitions)
        print(f"naive Faust     {naive:>10,.0f} orders/s")

        latency: dict[str, Any] = {}
        for rate in [1000, 5000] if args.quick else [1000, 5000, 10000]:
            lat = latency[str(rate)] = bench_latency(bootstrap, args.partitions, rate, lat_s)
            print(f"latency @{rate:>6,}/s  p50 {lat.get('p50')} p95 {lat.get('p95')} "
                  f"p99 {lat.get('p99')} max {lat.get('max')} ms  "
                  f"({lat['decided']:,}/{lat['sent']:,} decided)")  # fmt: skip

        by_consignees: dict[str, float] = {}
        for count in [10, 1_000_000] if args.quick else [10, 10_000, 1_000_000]:
            run = bench_pipeline(bootstrap, make_orders(scale_n, consignees=count),
                                 args.partitions)  # fmt: skip
            by_consignees[str(count)] = round(run["eps"])
            print(f"{count:>9,} consignees {run['eps']:>10,.0f} orders/s ({scale_n:,} orders)")
        by_partitions: dict[str, float] = {}
        if not args.quick:
            by_partitions[str(args.partitions)] = by_consignees["10000"]
            run = bench_pipeline(bootstrap, make_orders(scale_n, consignees=10_000), 32)
            by_partitions["32"] = round(run["eps"])
            print(
                f"32 partitions   {run['eps']:>10,.0f} orders/s ({scale_n:,} orders, 10k "
                f"consignees; {args.partitions} partitions: {by_consignees['10000']:,.0f})"
            )

        startup = bench_restore(bootstrap, args.partitions, 0)
        restore: dict[str, float] = {}
        for keys in [100_000] if args.quick else [100_000, 1_000_000]:
            restore[str(keys)] = round(bench_restore(bootstrap, args.partitions, keys) - startup, 1)
            print(
                f"restore {keys:>9,} keys {restore[str(keys)]:>6.1f} s "
                f"(start to healthy, minus {startup:.1f} s with an empty changelog)"
            )
        party = bench_parties()
        print(f"party screening {party:>10,.0f} names/s (20k-entry list, uncached)")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        results.update({
            "pipeline_eps": round(pipe["eps"]), "raw_ceiling_eps": round(raw),
            "naive_faust_eps": round(naive), "cpu_pct": pipe["cpu_pct"],
            "rss_mb": round(pipe["rss_mb"]), "party_screen_ops": round(party),
            "raw_with_rules_eps": round(raw_rules), "latency_ms": latency,
            "eps_by_consignees": by_consignees, "eps_by_partitions": by_partitions,
            "scale_n_events": scale_n, "restore_s": restore, "startup_s": round(startup, 1),
            "kafka_version": devbroker.KAFKA_VERSION, "git_commit": commit,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python "
                       f"{platform.python_version()}",
            "vs_naive": round(pipe["eps"] / naive, 1) if naive else None,
            "vs_raw": round(pipe["eps"] / raw, 3) if raw else None,
        })  # fmt: skip
        out = ROOT / "bench" / "results" / "latest.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results, indent=2))
    finally:
        if not explicit:
            devbroker.down(state_dir, purge=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
