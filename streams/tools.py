"""What the CLI commands do, as functions (the click layer in cli.py only parses and prints).

Producers: ``read_records`` + ``produce_file``. Ops: ``tail``, ``fetch_tallies``, ``read_policy``,
``set_tier``, ``replay``, ``reprocess_dead_letters``. Generation: ``write_world``.
"""

from __future__ import annotations

import base64
import collections
import csv
import dataclasses
import datetime as dt
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel

from rules.policy import PolicyView, load_pack
from rules.screening import ScreeningRejected, screen_order
from rules.tallies import TallyState, apply_writes
from schemas.codec import Codec, DecodeError, encode
from schemas.models import DeadLetter, OrderEvent, PolicyChange, ShipmentEvent
from streams import topics
from streams.settings import Settings
from streams.testkit import producer

KIND_MODELS: dict[str, tuple[type[BaseModel], str]] = {
    "orders": (OrderEvent, "order_id"),
    "shipments": (ShipmentEvent, "shipment_id"),
    "policy": (PolicyChange, "change_id"),
}
OUTPUT_TOPICS = {
    "holds": topics.HOLDS,
    "approvals": topics.APPROVALS,
    "alerts": topics.ALERTS,
    "dead-letter": topics.DEAD_LETTER,
}


class ToolError(RuntimeError):
    """An operation that cannot go on; the message is for the person at the terminal."""


# -- produce -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    line: int
    raw: bytes


def read_records(path: Path) -> Iterator[Row]:
    """JSONL (one object per line) or CSV (one column per top-level field; objects and lists
    as JSON in their cell), by file extension."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            for number, row in enumerate(csv.DictReader(fh), start=2):
                yield Row(number, orjson.dumps({k: _cell(v) for k, v in row.items() if k}))
        return
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield Row(number, line.strip())


def _cell(value: str | None) -> Any:
    if value is None or value == "":
        return None
    text = value.strip()
    if text[:1] in "{[" or text in ("true", "false", "null") or _is_number(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclasses.dataclass
class ProduceReport:
    sent: int = 0
    bad: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def produce_file(
    settings: Settings,
    kind: str,
    path: Path,
    *,
    skip_bad: bool,
    on_progress: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Validate every row locally, then send the valid ones (idempotent producer, acks=all).
    With ``skip_bad=False`` nothing is sent if any row is bad."""
    model, key_field = KIND_MODELS[kind]
    codec = Codec(model, max_bytes=settings.max_message_bytes)
    report = ProduceReport()
    valid: list[tuple[str, bytes]] = []
    for row in read_records(path):
        try:
            record = codec.decode(row.raw)
        except DecodeError as exc:
            report.bad.append((row.line, exc.reason))
            continue
        valid.append((str(getattr(record, key_field)), encode(record)))
    if report.bad and not skip_bad:
        return report
    p = producer(settings)
    try:
        for key, value in valid:
            p.send(settings.topic(kind), key=key.encode(), value=value)
            report.sent += 1
            if on_progress:
                on_progress(1)
        p.flush()
    finally:
        p.close()
    return report


# -- tail --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TailFilter:
    countries: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    def accepts(self, record: dict[str, Any]) -> bool:
        if self.countries:
            country = record.get("destination_country")
            if country not in self.countries:
                return False
        if self.codes:
            codes = {r.get("code") for r in record.get("reasons", [])}
            codes |= {s.get("code") for s in record.get("signals", [])}
            if record.get("error_kind"):
                codes.add(record["error_kind"])
            if not codes & self.codes:
                return False
        return not self.severities or record.get("severity") in self.severities


def tail(
    settings: Settings,
    which: str,
    *,
    from_beginning: bool,
    flt: TailFilter,
    limit: int | None = None,
    idle_timeout_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of an output topic as they arrive (or from the start), filtered."""
    topic = settings.topic(OUTPUT_TOPICS[which])
    consumer = KafkaConsumer(
        **settings.kafka_python_config(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=int((idle_timeout_s or 0) * 1000) or float("inf"),
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ToolError(f"topic {topic} does not exist (is the prefix right?)")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        shown = 0
        for message in consumer:
            record = orjson.loads(message.value)
            if flt.accepts(record):
                yield record
                shown += 1
                if limit is not None and shown >= limit:
                    return
    finally:
        consumer.close()


def format_record(which: str, r: dict[str, Any]) -> str:
    """One readable line (rich markup) per output record."""
    if which in ("holds", "approvals"):
        colour = "green" if r["decision"] == "approved" else "yellow"
        codes = ", ".join(x["code"] for x in r["reasons"])
        detail = r["reasons"][0].get("detail", "") if r["reasons"] else ""
        return (
            f"[{colour}]{r['decision']:8s}[/] {r['order_id']:16s} {r['destination_country']} "
            f"tier {r.get('tier')} {r['order_tpp']:>14,} TPP  [bold]{codes}[/]  {detail}"
        )
    if which == "alerts":
        colour = {"critical": "red", "high": "magenta", "medium": "yellow"}.get(
            r["severity"], "white"
        )
        codes = ", ".join(s["code"] for s in r["signals"])
        return (
            f"[{colour}]{r['severity']:8s}[/] {r['risk_score']:.2f} {r['subject']:8s} "
            f"{r['subject_id']:16s} [bold]{codes}[/]"
        )
    return (
        f"[red]{r['error_kind']:20s}[/] {r['source_topic']}[{r['source_partition']}]"
        f"@{r['source_offset']}  {r['error']}"
    )


# -- tallies and policy ------------------------------------------------------------------------


def fetch_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise ToolError(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc
    except OSError as exc:
        raise ToolError(f"{url}: {exc} (is a worker running there?)") from exc


def fetch_tallies(urls: Iterable[str], country: str | None) -> list[dict[str, Any]]:
    if country:
        return [fetch_json(f"{next(iter(urls)).rstrip('/')}/tallies/countries/{country}")]
    merged: dict[str, dict[str, Any]] = {}
    for url in urls:  # each worker lists the countries of its own partitions
        for row in fetch_json(f"{url.rstrip('/')}/tallies/countries"):
            merged[row["country"]] = row
    return sorted(merged.values(), key=lambda r: -(r["used_tpp"] or 0))


def read_policy_changes(settings: Settings, timeout_s: float = 10.0) -> list[PolicyChange]:
    """Every valid PolicyChange on the (compacted) policy topic, oldest first."""
    topic = settings.topic(topics.POLICY)
    consumer = KafkaConsumer(**settings.kafka_python_config(), enable_auto_commit=False,
                             consumer_timeout_ms=1000)  # fmt: skip
    codec = Codec(PolicyChange)
    changes = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
            for message in consumer:
                if message.value is None:
                    continue
                try:
                    changes.append(codec.decode(message.value))
                except DecodeError:
                    continue
    finally:
        consumer.close()
    return changes


def policy_view(settings: Settings, pack: str | None = None) -> PolicyView:
    return PolicyView(load_pack(pack or settings.policy_pack), read_policy_changes(settings))


def set_tier(
    settings: Settings,
    country: str,
    tier: int,
    effective_from: dt.datetime,
    cap_tpp: int | None,
    note: str | None,
    pack: str | None = None,
) -> PolicyChange:
    change = PolicyChange.model_validate(
        {
            "schema_version": 1,
            "change_id": f"{country}-tier{tier}-{effective_from.date().isoformat()}",
            "pack": pack or settings.policy_pack,
            "country": country,
            "tier": tier,
            "cap_tpp": cap_tpp,
            "effective_from": effective_from,
            "note": note,
        }
    )
    p = producer(settings)
    try:
        p.send(settings.topic(topics.POLICY), key=change.change_id.encode(), value=encode(change))
        p.flush()
    finally:
        p.close()
    return change


# -- replay ------------------------------------------------------------------------------------


def read_orders_file(path: Path) -> Iterator[OrderEvent]:
    codec = Codec(OrderEvent)
    for row in read_records(path):
        try:
            yield codec.decode(row.raw)
        except DecodeError:
            continue


def read_orders_topic(
    settings: Settings, start: dt.datetime, end: dt.datetime
) -> Iterator[OrderEvent]:
    """Orders whose record timestamps fall in [start, end), in per-partition order."""
    topic = settings.topic(topics.ORDERS)
    consumer = KafkaConsumer(**settings.kafka_python_config(), enable_auto_commit=False,
                             consumer_timeout_ms=2000)  # fmt: skip
    codec = Codec(OrderEvent)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            raise ToolError(f"topic {topic} does not exist")
        consumer.assign(tps)
        starts = consumer.offsets_for_times({tp: int(start.timestamp() * 1000) for tp in tps})
        ends = consumer.end_offsets(tps)
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found else ends[tp])
        end_ms = int(end.timestamp() * 1000)
        for message in consumer:
            if message.timestamp >= end_ms:
                continue
            try:
                yield codec.decode(message.value)
            except DecodeError:
                continue
    finally:
        consumer.close()


def _screen_all(orders: list[OrderEvent], view: PolicyView) -> dict[str, dict[str, Any]]:
    state = TallyState()
    out: dict[str, dict[str, Any]] = {}
    stamp = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for version, event in enumerate(orders):
        try:
            outcome = screen_order(event, view, state, version=version, screened_at=stamp)
        except ScreeningRejected:
            continue
        apply_writes(state, outcome.writes)
        d = outcome.decision
        out[event.order_id] = {
            "decision": d.decision.value,
            "codes": [r.code.value for r in d.reasons],
            "country": d.destination_country,
            "order_tpp": d.order_tpp,
            "policy_version": d.policy_version,
        }
    return out


def replay(
    orders: Iterable[OrderEvent],
    *,
    baseline_pack: str,
    pack: str,
    set_tiers: dict[str, int],
    changes: Iterable[PolicyChange] = (),
) -> dict[str, Any]:
    """Re-screen the same orders under the baseline and under ``pack`` with tier overrides;
    report the orders whose decision flips, by country and code, with TPP totals."""
    history = sorted(orders, key=lambda o: o.occurred_at)
    known = list(changes)
    base_view = PolicyView(load_pack(baseline_pack), known)
    what_if = PolicyView(load_pack(pack), [c for c in known if c.pack == pack])
    for country, tier in sorted(set_tiers.items()):
        what_if.pin(country, tier, note="replay --set-tier")  # type: ignore[arg-type]
    before = _screen_all(history, base_view)
    after = _screen_all(history, what_if)
    flips = []
    groups: dict[tuple[str, str, str], dict[str, int]] = collections.defaultdict(
        lambda: {"orders": 0, "tpp": 0}
    )
    for order_id, was in before.items():
        now = after.get(order_id)
        if now is None or (was["decision"], was["codes"]) == (now["decision"], now["codes"]):
            continue
        flips.append({"order_id": order_id, "country": was["country"], "before": was,
                      "after": now})  # fmt: skip
        key = (was["country"], f"{was['decision']}:{was['codes'][0]}",
               f"{now['decision']}:{now['codes'][0]}")  # fmt: skip
        groups[key]["orders"] += 1
        groups[key]["tpp"] += max(was["order_tpp"], now["order_tpp"])
    return {
        "orders": len(before),
        "baseline": base_view.version,
        "what_if": what_if.version,
        "flipped": len(flips),
        "to_held": sum(1 for f in flips if f["after"]["decision"] == "held"),
        "to_approved": sum(1 for f in flips if f["after"]["decision"] == "approved"),
        "by_country_and_code": [
            {"country": c, "from": f, "to": t, **v} for (c, f, t), v in sorted(groups.items())
        ],
        "flips": flips,
    }


# -- dead letters ------------------------------------------------------------------------------


@dataclasses.dataclass
class ReprocessReport:
    resent: int = 0
    still_bad: list[tuple[str, str]] = dataclasses.field(default_factory=list)


REPLAYABLE_KINDS = frozenset({"rejected", "processing"})


def reprocess_dead_letters(
    settings: Settings,
    *,
    include_rejected: bool,
    dry_run: bool,
    group: str = "chipscreen-dead-letter-reprocess",
) -> ReprocessReport:
    """Send dead letters that now validate (or, with ``include_rejected``, that failed only at
    screening) back to their source topic with their original key and headers. Committed under
    a consumer group, so each dead letter is reprocessed once."""
    consumer = KafkaConsumer(
        settings.topic(topics.DEAD_LETTER),
        **settings.kafka_python_config(),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    codecs = {settings.topic(k): Codec(m) for k, (m, _) in KIND_MODELS.items()}
    report = ReprocessReport()
    p = None if dry_run else producer(settings)
    try:
        for message in consumer:
            dead = DeadLetter.model_validate_json(message.value)
            original = base64.b64decode(dead.original_value_b64)
            key = base64.b64decode(dead.original_key_b64) if dead.original_key_b64 else None
            codec = codecs.get(dead.source_topic)
            reason = None
            if codec is None:
                reason = f"unknown source topic {dead.source_topic}"
            elif dead.error_kind in REPLAYABLE_KINDS:
                reason = None if include_rejected else "rejected at screening"
            else:
                try:
                    codec.decode(original)
                except DecodeError as exc:
                    reason = exc.reason
            label = f"{dead.source_topic}[{dead.source_partition}]@{dead.source_offset}"
            if reason is not None:
                report.still_bad.append((label, reason))
                continue
            if p is not None:
                headers = [(k, v.encode()) for k, v in dead.headers.items()]
                p.send(dead.source_topic, key=key, value=original, headers=headers)
            report.resent += 1
        if p is not None:
            p.flush()
        if not dry_run:
            consumer.commit()
    finally:
        if p is not None:
            p.close()
        consumer.close()
    return report


# -- generate ----------------------------------------------------------------------------------


def write_world(out_dir: Path, orders: int, seed: int, csl_dir: Path | None) -> dict[str, int]:
    from streams.generator import World

    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {"orders": 0, "shipments": 0}
    files: dict[str, io.BufferedWriter] = {
        name: (out_dir / f"{name}.jsonl").open("wb") for name in counts
    }
    try:
        for event in World(seed=seed, csl_dir=csl_dir).events(orders):
            files[event.topic].write(orjson.dumps(event.value) + b"\n")
            counts[event.topic] += 1
    finally:
        for fh in files.values():
            fh.close()
    return counts
