"""The screening topology: Faust agents, tables and timers around the pure rules.

```
orders ──ingest-orders──┬─> <app>.orders-by-country (key: destination, HK as CN) ──screen-country──┐
  (key order_id)        └─> <app>.orders-by-veu     (key: VEU id)                ──screen-veu─────┤
                         \\─> screening.dead-letter                                                │
                             approvals / holds (key order_id) <── decisions ───────────────────────┤
                             screening.alerts                  <── order-side alerts ──────────────┘
shipments ──ingest-shipments──> <app>.shipments-by-order (key order_id) ─┐
approvals + holds (key order_id) ────────────────────────────────────────┴─screen-shipments─> alerts
policy ──policy agent (validation, dead-letter) ; every worker: PolicyReader -> PolicyView
```

Every tally has one owner: country-cap and LPP tallies live in the partition of the destination
country, UVEU/NVEU tallies in the partition of the VEU id, shipment state in the partition of the
order id. Agents take batches (``take_events``), run the per-event pure rules against a batch
cache, write each table key once per batch and send outputs without awaiting delivery.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextvars
import datetime as dt
import logging
import time
import types
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import faust
import orjson
from faust import web
from faust.exceptions import SameNode

from rules.parties import PartyIndex
from rules.policy import PolicyView, load_pack
from rules.screening import ScreeningRejected, screen_order
from rules.shipments import OrderStatus, screen_shipment
from rules.tallies import apply_writes, lpp_key
from schemas.codec import Codec, DecodeError, encode
from schemas.codes import DecisionKind
from schemas.models import Alert, DeadLetter, Decision, OrderEvent, PolicyChange, ShipmentEvent
from streams import topics
from streams.batchstate import BatchCache, tally_state
from streams.metrics import Metrics
from streams.outbox import Outbox
from streams.policy_reader import PolicyReader
from streams.settings import ProcessingGuarantee, Settings
from streams.stallwatch import PartitionProgress, StallWatch

log = logging.getLogger(__name__)

# One partition's changelog flush must fit one record batch to be atomic (streams/batchstate.py);
# the tally tables' changelog topics allow records batches of twice that.
CHANGELOG_BATCH_BYTES = 4 * 1024 * 1024
OUTPUT_BATCH_BYTES = 512 * 1024
TRACE_HEADERS = frozenset({"traceparent", "tracestate", "x-trace-id", "trace-id", "trace_id"})
SOURCE_HEADER = "chipscreen-source"  # "topic:partition:offset" of the original record
SOURCE_KEY_HEADER = "chipscreen-source-key"  # the original record's key, when it had one


# The outbox of the agent (asyncio task) that is running: each agent's flush sends its own records.
_current_outbox: contextvars.ContextVar[Outbox | None] = contextvars.ContextVar(
    "chipscreen_outbox", default=None
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _headers(event: Any) -> dict[str, bytes]:
    raw = event.message.headers or []
    items = raw.items() if isinstance(raw, dict) else raw
    return {str(k): (v if isinstance(v, bytes) else str(v).encode()) for k, v in items}


def _forward_headers(event: Any) -> dict[str, bytes]:
    """The record's headers plus where it came from, for the repartitioned copy."""
    msg = event.message
    headers = _headers(event)
    headers[SOURCE_HEADER] = f"{msg.topic}:{msg.partition}:{msg.offset}".encode()
    if msg.key is not None:
        headers[SOURCE_KEY_HEADER] = msg.key
    return headers


def _trace_headers(headers: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in headers.items() if k.lower() in TRACE_HEADERS}


class Pipeline:
    """Everything the agents share in one worker: view, codecs, metrics, topics, tables."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.view = PolicyView(load_pack(settings.policy_pack))
        self.reader = PolicyReader(settings, self.view)
        self.metrics = Metrics.create()
        self.parties = load_parties(settings, self.view)
        limits = {"max_bytes": settings.max_message_bytes}
        self.order_codec = Codec(OrderEvent, **limits)
        self.shipment_codec = Codec(ShipmentEvent, **limits)
        self.policy_codec = Codec(PolicyChange, **limits)
        self.decision_codec = Codec(Decision)
        self.grace_s = settings.orphan_grace_s
        # the latest holds and alerts this worker emitted, for the ops page
        self.recent_holds: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self.recent_alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        # Under exactly_once every record must go through Faust's transactional producers, so
        # the outbox (plain producer, own record batches) is only used at-least-once.
        self.eos = settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
        self.outboxes: dict[str, Outbox] = {}
        self.shipment_lock = asyncio.Lock()
        self.stalled: set[str] = set()  # input partitions the stall watch found (see /health)

        def topic(name: str, **kw: Any) -> Any:
            return app.topic(
                name, key_serializer="raw", value_serializer="raw",
                partitions=kw.pop("partitions", settings.partitions), internal=False, **kw,
            )  # fmt: skip

        t = settings.topic
        self.orders = topic(t(topics.ORDERS))
        self.shipments = topic(t(topics.SHIPMENTS))
        self.policy = topic(t(topics.POLICY), partitions=1)
        self.approvals = topic(t(topics.APPROVALS))
        self.holds = topic(t(topics.HOLDS))
        self.alerts = topic(t(topics.ALERTS))
        self.dead_letter = topic(t(topics.DEAD_LETTER))
        self.by_country = topic(topics.internal(settings, topics.ORDERS_BY_COUNTRY))
        self.by_veu = topic(topics.internal(settings, topics.ORDERS_BY_VEU))
        self.shipments_by_order = topic(topics.internal(settings, topics.SHIPMENTS_BY_ORDER))

        table: dict[str, Any] = {
            "partitions": settings.partitions,
            # bytes keys are serialized raw (str keys would be JSON-quoted): the shipment table's
            # partitioner and table_route must hash the same bytes as the topics' record keys
            "key_type": bytes,
            "value_type": None,
        }
        tally_topic_config = {"max.message.bytes": str(2 * CHANGELOG_BATCH_BYTES)}
        self.country_table = app.Table(
            "tallies-by-country", extra_topic_configs=tally_topic_config, **table
        )
        self.veu_table = app.Table(
            "tallies-by-veu", extra_topic_configs=tally_topic_config, **table
        )
        # keyed by order id, like its source topics, so the producer's partitioner puts each
        # changelog record in the partition that owns it and the orphan timer may write too
        self.shipment_table = app.Table("shipments-by-order", use_partitioner=True, **table)

    # -- outputs -------------------------------------------------------------------------------

    def use_outbox(self, stage: str, max_batch_bytes: int = OUTPUT_BATCH_BYTES) -> Outbox | None:
        """The calling agent's own outbox (None under exactly_once), made current for ``send``."""
        if self.eos:
            return None
        box = self.outboxes.get(stage)
        if box is None:
            box = self.outboxes[stage] = Outbox(self.app, max_batch_bytes=max_batch_bytes)
        _current_outbox.set(box)
        return box

    async def send(
        self,
        topic: Any,
        key: str,
        value: bytes,
        headers: dict[str, bytes] | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Queue one keyed output; ``flush_outputs`` hands the batches to the producer."""
        name = topic.get_topic_name()
        raw_key = key.encode()
        outbox = _current_outbox.get()
        if outbox is None:
            # force=True: publish now. Without it Faust attaches the message to the source
            # offset and publishes it at commit time, and a rebalance between the two loses it
            # (seen in the two-worker test).
            await topic.send(key=raw_key, value=value, headers=headers, force=True)
        else:
            if not outbox.knows(name):  # an await per record only the first time
                await outbox.ensure_topics((name,))
            outbox.add(
                name,
                outbox.partition_for(name, raw_key),
                raw_key,
                value,
                list(headers.items()) if headers else None,
                None if timestamp is None else int(timestamp * 1000),
            )
        self.metrics.records_out.labels(name).inc()

    async def flush_outputs(self) -> None:
        # Queued, not awaited: Faust flushes the producer before every offset commit, so the
        # outputs of a batch reach the broker before the offsets of its inputs are committed.
        outbox = _current_outbox.get()
        if outbox is not None:
            await outbox.flush()

    async def dead(
        self, event: Any, error: str, kind: str, source: tuple[str, int, int] | None = None
    ) -> None:
        msg = event.message
        topic, partition, offset = source or (msg.topic, msg.partition, msg.offset)
        value = msg.value if isinstance(msg.value, bytes) else b""
        headers = _headers(event)
        key = headers.pop(SOURCE_KEY_HEADER, None) if source else msg.key
        headers.pop(SOURCE_HEADER, None)
        record = DeadLetter(
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            original_key_b64=base64.b64encode(key).decode() if key else None,
            original_value_b64=base64.b64encode(value).decode(),
            error=error[:4000],
            error_kind=kind,
            failed_at=_now(),
            headers={k: v.decode(errors="replace") for k, v in headers.items()},
        )
        await self.dead_letter.send(key=key, value=encode(record), headers=headers, force=True)
        self.metrics.dead_letters.labels(topic, kind).inc()
        self.metrics.records_out.labels(self.dead_letter.get_topic_name()).inc()

    async def emit_decision(self, decision: Decision, headers: dict[str, bytes]) -> None:
        target = self.approvals if decision.decision is DecisionKind.APPROVED else self.holds
        payload = encode(decision)
        await self.send(target, decision.order_id, payload, headers)
        if target is self.holds:
            self.recent_holds.appendleft(orjson.loads(payload))
        for reason in decision.reasons:
            self.metrics.decisions.labels(decision.decision.value, reason.code.value).inc()

    async def emit_alert(self, alert: Alert, headers: dict[str, bytes]) -> None:
        payload = encode(alert)
        await self.send(self.alerts, alert.order_id or alert.subject_id, payload, headers)
        self.recent_alerts.appendleft(orjson.loads(payload))
        self.metrics.alerts.labels(alert.subject.value, alert.severity.value).inc()

    def observe_latency(self, event: Any) -> None:
        stamp = event.message.timestamp
        if stamp:
            self.metrics.latency.observe(max(0.0, time.time() - stamp))

    # -- stages --------------------------------------------------------------------------------

    async def _ingest(
        self,
        events: Sequence[Any],
        source: Any,
        codec: Codec[Any],
        route: Callable[[Any], tuple[Any, str]],
    ) -> None:
        """Validate each record; dead-letter what fails; forward the original bytes, with where
        they came from, to the repartition topic and key that ``route`` picks."""
        name = source.get_topic_name()
        for event in events:
            self.metrics.records_in.labels(name).inc()
            try:
                record = codec.decode(event.message.value)
            except DecodeError as exc:
                await self.dead(event, exc.reason, exc.kind)
                continue
            target, key = route(record)
            # the original timestamp travels on, so latency is measured from the producer
            await self.send(
                target, key, event.message.value, _forward_headers(event), event.message.timestamp
            )
        await self.flush_outputs()

    async def ingest_orders(self, events: Sequence[Any]) -> None:
        def route(order: OrderEvent) -> tuple[Any, str]:
            if order.veu is not None:
                return self.by_veu, order.veu.id
            return self.by_country, self.view.canonical_country(order.destination_country)

        self.use_outbox("ingest-orders")
        await self._ingest(events, self.orders, self.order_codec, route)

    async def screen_orders(self, events: Sequence[Any], table: Any) -> None:
        await self.reader.ready.wait()
        self.use_outbox(table.name)
        cache = BatchCache(table, self._changelog_outbox())
        state = tally_state(cache)
        for event in events:
            cache.begin(event)
            headers = _headers(event)
            source = _source(headers, event)
            try:
                order = self.order_codec.decode(event.message.value)
                version = order.event_version if order.event_version is not None else source[2]
                outcome = screen_order(
                    order, self.view, state, version=version, screened_at=_now(),
                    parties=self.parties,
                )  # fmt: skip
            except DecodeError as exc:  # pragma: no cover - validated at ingest
                await self.dead(event, exc.reason, exc.kind, source)
                continue
            except ScreeningRejected as exc:
                await self.dead(event, str(exc), "rejected", source)
                continue
            if not outcome.duplicate:
                apply_writes(state, outcome.writes)
                full = cache.oversized()
                if full is not None:
                    await cache.flush([full])
            trace = _trace_headers(headers)
            await self.emit_decision(outcome.decision, trace)
            for alert in outcome.alerts:
                await self.emit_alert(alert, trace)
            self.observe_latency(event)
        await cache.flush()
        await self.flush_outputs()

    async def ingest_shipments(self, events: Sequence[Any]) -> None:
        def route(shipment: ShipmentEvent) -> tuple[Any, str]:
            return self.shipments_by_order, shipment.order_id

        self.use_outbox("ingest-shipments")
        await self._ingest(events, self.shipments, self.shipment_codec, route)

    def _changelog_outbox(self) -> Outbox | None:
        return None if self.eos else Outbox(self.app, max_batch_bytes=CHANGELOG_BATCH_BYTES)

    async def screen_shipments(self, events: Sequence[Any]) -> None:
        """Shipments joined with the order-status table fed by the decision topics."""
        await self.reader.ready.wait()
        async with self.shipment_lock:
            await self._screen_shipments(events)

    async def _screen_shipments(self, events: Sequence[Any]) -> None:
        self.use_outbox("screen-shipments")
        # Every input here is keyed by order id on equally partitioned topics, so the event's
        # partition is the partition that owns the order's state: one changelog batch each.
        cache = BatchCache(self.shipment_table, self._changelog_outbox())
        decision_topics = {self.approvals.get_topic_name(), self.holds.get_topic_name()}

        def state_of(order_id: str) -> dict[str, Any]:
            stored = cache.get(order_id.encode())
            return dict(stored or {"status": None, "shipped": {}, "pending": []})

        def keep(order_id: str, st: dict[str, Any]) -> None:
            cache.set(order_id.encode(), st)

        for event in events:
            cache.begin(event)
            msg = event.message
            if msg.topic in decision_topics:
                decision = self.decision_codec.decode(msg.value)
                st = state_of(decision.order_id)
                st["status"] = OrderStatus.from_decision(decision).to_json()
                waiting, st["pending"] = st["pending"], []
                for raw, _deadline in waiting:
                    await self._screen_one(ShipmentEvent.model_validate(raw), st, {})
                keep(decision.order_id, st)
                continue
            headers = _headers(event)
            try:
                shipment = self.shipment_codec.decode(msg.value)
            except DecodeError as exc:  # pragma: no cover - validated at ingest
                await self.dead(event, exc.reason, exc.kind, _source(headers, event))
                continue
            st = state_of(shipment.order_id)
            if st["status"] is None:
                # No decision yet: the order may still be on its way. Orphan after the grace.
                st["pending"] = [
                    *st["pending"],
                    [shipment.model_dump(mode="json"), time.time() + self.grace_s],
                ]
            else:  # fmt: skip
                await self._screen_one(shipment, st, _trace_headers(headers))
            keep(shipment.order_id, st)
            self.observe_latency(event)
        await cache.flush()
        await self.flush_outputs()

    async def _screen_one(
        self, shipment: ShipmentEvent, st: dict[str, Any], headers: dict[str, bytes]
    ) -> None:
        status = OrderStatus.from_json(st["status"]) if st["status"] else None
        outcome = screen_shipment(
            shipment, status, st["shipped"], self.view, screened_at=_now(), parties=self.parties
        )
        st["shipped"] = outcome.shipped
        if outcome.alert is not None:
            await self.emit_alert(outcome.alert, headers)
            self.metrics.shipments_screened.labels("alert").inc()
        else:
            self.metrics.shipments_screened.labels("clean").inc()

    async def expire_orphans(self) -> int:
        """Shipments whose order did not appear within the grace period become orphan alerts."""
        async with self.shipment_lock:  # never between the agent's read and its write
            return await self._expire_orphans()

    async def _expire_orphans(self) -> int:
        self.use_outbox("orphans")
        table = self.shipment_table
        cache = BatchCache(table, self._changelog_outbox())
        changelog = table.changelog_topic.get_topic_name()
        if cache.outbox is not None:
            await cache.outbox.ensure_topics((changelog,))
        now = time.time()
        expired = 0
        for order_id, st in list(table.items()):
            due = [p for p in st.get("pending", []) if p[1] <= now]
            if not due or st.get("status") is not None:
                continue
            st = dict(st)
            st["pending"] = [p for p in st["pending"] if p[1] > now]
            for raw, _ in due:
                await self._screen_one(ShipmentEvent.model_validate(raw), st, {})
                expired += 1
            # no event here: the key's own partition, as the producer's partitioner puts it
            partition = (
                cache.outbox.partition_for(changelog, order_id)
                if cache.outbox is not None
                else table.partition_for_key(order_id) or 0  # exactly_once: Faust hashes it
            )
            cache.begin(_PartitionEvent(partition))
            cache.set(order_id, st)
        await cache.flush()
        await self.flush_outputs()
        return expired

    async def validate_policy(self, events: Sequence[Any]) -> None:
        for event in events:
            self.metrics.records_in.labels(self.policy.get_topic_name()).inc()
            if event.message.value is None:
                continue  # tombstones are how compaction forgets a change id
            try:
                self.policy_codec.decode(event.message.value)
            except DecodeError as exc:
                await self.dead(event, exc.reason, exc.kind)

    # -- live state ----------------------------------------------------------------------------

    def healthy(self, stalls: bool = True) -> tuple[bool, str]:
        if stalls and self.stalled:
            return False, "stalled input partitions: " + ", ".join(sorted(self.stalled))
        if not self.reader.ready.is_set():
            return False, "reading the policy topic"
        if self.app.tables.recovery.in_recovery:  # type: ignore[attr-defined]
            return False, "recovering tables"
        if self.app.rebalancing:
            return False, "rebalancing"
        return True, "ok"

    def country_tally(self, cc: str) -> dict[str, Any]:
        at = _now()
        used = int(self.country_table.get(b"c:" + cc.encode()) or 0)
        cap = self.view.country_cap(cc, at)
        return {
            "country": cc,
            "tier": self.view.tier(cc, at),
            "used_tpp": used,
            "cap_tpp": cap,
            "remaining_tpp": None if cap is None else max(0, cap - used),
            "policy_version": self.view.version,
        }

    def consignee_tally(self, consignee_id: str, year: int) -> dict[str, Any] | None:
        used = self.country_table.get(b"l:" + lpp_key(consignee_id, year).encode())
        if used is None:
            return None
        lpp = self.view.pack.lpp
        return {
            "consignee_id": consignee_id,
            "year": year,
            "lpp_used_tpp": int(used),
            "lpp_limit_tpp": lpp.limit_tpp if lpp else None,
        }

    def update_lag(self) -> None:
        consumer = self.app.consumer
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
            if high is not None and committed is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, high - committed)
                )
        self.metrics.policy_version.set(self.view.applied_changes)


def load_parties(settings: Settings, view: PolicyView) -> PartyIndex | None:
    paths = [Path(p.strip()) for p in settings.party_lists.split(",") if p.strip()]
    if not paths:
        return None
    thresholds = view.pack.parties
    index = PartyIndex.from_csv(
        paths,
        as_of=dt.date.today(),
        threshold=thresholds.match_threshold,
        foreign_threshold=thresholds.foreign_country_threshold,
    )
    log.info("restricted-party lists: %d entries from %d files", len(index), len(paths))
    return index


class _PartitionEvent:
    """Stands in for an event where a table write has none (a timer): its partition only."""

    def __init__(self, partition: int) -> None:
        self.message = types.SimpleNamespace(partition=partition)


def _source(headers: dict[str, bytes], event: Any) -> tuple[str, int, int]:
    raw = headers.get(SOURCE_HEADER)
    if raw:
        topic, partition, offset = raw.decode().rsplit(":", 2)
        return topic, int(partition), int(offset)
    msg = event.message
    return msg.topic, msg.partition, msg.offset


def register(app: faust.App, settings: Settings) -> Pipeline:
    pipe = Pipeline(app, settings)
    app.chipscreen = pipe  # type: ignore[attr-defined]

    async def batches(stream: Any) -> Any:
        window_s = settings.batch_window_ms / 1000
        async for events in stream.take_events(settings.batch_size, within=window_s):
            yield events

    @app.agent(pipe.orders, name=f"{settings.app_id}.ingest-orders")
    async def ingest_orders(stream: Any) -> None:
        async for events in batches(stream):
            await pipe.ingest_orders(events)

    @app.agent(pipe.by_country, name=f"{settings.app_id}.screen-country")
    async def screen_country(stream: Any) -> None:
        async for events in batches(stream):
            await pipe.screen_orders(events, pipe.country_table)

    @app.agent(pipe.by_veu, name=f"{settings.app_id}.screen-veu")
    async def screen_veu(stream: Any) -> None:
        async for events in batches(stream):
            await pipe.screen_orders(events, pipe.veu_table)

    @app.agent(pipe.shipments, name=f"{settings.app_id}.ingest-shipments")
    async def ingest_shipments(stream: Any) -> None:
        async for events in batches(stream):
            await pipe.ingest_shipments(events)

    shipment_inputs = app.topic(
        pipe.shipments_by_order.get_topic_name(),
        pipe.approvals.get_topic_name(),
        pipe.holds.get_topic_name(),
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(shipment_inputs, name=f"{settings.app_id}.screen-shipments")
    async def screen_shipments(stream: Any) -> None:
        async for events in batches(stream):
            await pipe.screen_shipments(events)

    @app.agent(pipe.policy, name=f"{settings.app_id}.policy")
    async def validate_policy(stream: Any) -> None:
        async for events in batches(stream):
            await pipe.validate_policy(events)

    @app.task
    async def follow_policy() -> None:
        await pipe.reader.run()

    @app.timer(interval=max(1.0, settings.orphan_grace_s / 4))
    async def orphans() -> None:
        if pipe.reader.ready.is_set() and not app.rebalancing:
            await pipe.expire_orphans()

    @app.timer(interval=5.0)
    async def lag() -> None:
        pipe.update_lag()

    watch = StallWatch(settings.stall_reseek_s)

    @app.timer(interval=5.0)
    async def watch_stalls() -> None:
        if app.rebalancing or not pipe.healthy(stalls=False)[0]:
            watch.stalled({}, time.monotonic(), flow_active=False)
            return
        consumer = app.consumer
        progress = {
            tp: PartitionProgress(
                consumer._committed_offset.get(tp),  # type: ignore[attr-defined]
                consumer._read_offset.get(tp),  # type: ignore[attr-defined]
                consumer.highwater(tp),
            )
            for tp in consumer.assignment()
            if tp.topic not in app.tables.changelog_topics
        }
        active = bool(consumer.flow_active)  # type: ignore[attr-defined]
        for tp, offset in watch.stalled(progress, time.monotonic(), active):
            # A safety net behind streams/consumer.py: no seek here (an in-process seek, before
            # that fix, was followed by lost records); a restart re-reads from the committed
            # offset, so the worker declares itself unhealthy for its supervisor to restart it.
            log.error(
                "%s[%d]: read to the end but nothing committed since offset %d for %.0f s: "
                "reporting unhealthy (a restart re-reads it)",
                tp.topic, tp.partition, offset, settings.stall_reseek_s,
            )  # fmt: skip
            pipe.metrics.stalls.labels(tp.topic, str(tp.partition)).inc()
            pipe.stalled.add(f"{tp.topic}[{tp.partition}]")

    _register_views(app, pipe)
    return pipe


def _register_views(app: faust.App, pipe: Pipeline) -> None:
    @app.page("/health")
    async def health(view: web.View, request: web.Request) -> web.Response:
        ok, why = pipe.healthy()
        body = {"status": "ok" if ok else "starting", "detail": why,
                "policy_version": pipe.view.version}  # fmt: skip
        return view.json(body, status=200 if ok else 503)

    page = (Path(__file__).parent / "web" / "ops.html").read_bytes()

    @app.page("/")
    async def ops(view: web.View, request: web.Request) -> web.Response:
        """The read-only ops page: tallies against caps, latest holds and alerts."""
        return view.bytes(page, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' 'self'; "
            "style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        })  # fmt: skip

    @app.page("/recent")
    async def recent(view: web.View, request: web.Request) -> web.Response:
        return view.json({"holds": list(pipe.recent_holds), "alerts": list(pipe.recent_alerts),
                          "policy_version": pipe.view.version})  # fmt: skip

    @app.page("/policy")
    async def policy(view: web.View, request: web.Request) -> web.Response:
        return view.json(pipe.view.describe())

    @app.page("/metrics")
    async def metrics(view: web.View, request: web.Request) -> web.Response:
        pipe.update_lag()
        return view.bytes(pipe.metrics.exposition(), content_type="text/plain; version=0.0.4")

    async def routed(
        view: web.View,
        request: web.Request,
        key: str,
        local: Callable[[], Awaitable[web.Response]],
    ) -> web.Response:
        """Answer from the worker that owns ``key`` (Faust's table router), here if we do."""
        if pipe.app.rebalancing:
            return _retry_later(view, "rebalancing: partition owners are changing")
        try:
            routed_response = await app.router.route_req(
                pipe.country_table.name, key, view.web, request
            )
            return routed_response
        except SameNode:
            return await local()
        except (OSError, aiohttp.ClientError) as exc:
            # The owner is gone and the group has not rebalanced yet: say so, don't guess.
            return _retry_later(view, f"owner of {key!r} unreachable: {exc.__class__.__name__}")

    @app.page("/tallies/countries")
    async def countries(view: web.View, request: web.Request) -> web.Response:
        """The country tallies of this worker's partitions (ask every worker for all)."""
        rows = [
            pipe.country_tally(key[2:].decode())
            for key in list(pipe.country_table.keys())
            if key.startswith(b"c:")
        ]
        return view.json(sorted(rows, key=lambda r: -r["used_tpp"]))

    @app.page("/tallies/countries/{cc}")
    async def country(view: web.View, request: web.Request, cc: str) -> web.Response:
        cc = cc.upper()
        if cc not in _country_codes():
            return view.json({"error": f"unknown country {cc!r}"}, status=404)
        canonical = pipe.view.canonical_country(cc)
        if canonical != cc:  # Hong Kong's tally is China's, owned by China's partition
            return view.json({"redirect": f"/tallies/countries/{canonical}"}, status=307,
                             headers={"Location": f"/tallies/countries/{canonical}"})  # fmt: skip

        async def local() -> web.Response:
            return view.json(pipe.country_tally(cc))

        return await routed(view, request, cc, local)

    @app.page("/tallies/consignees/{consignee_id}/{year}")
    async def consignee(
        view: web.View, request: web.Request, consignee_id: str, year: str
    ) -> web.Response:
        # A consignee's tally lives in its destination country's partition: with several
        # workers, ?country=CC routes the request to that partition's owner.
        if not year.isdigit():
            return view.json({"error": "year must be a number"}, status=400)
        country_param = (request.query.get("country") or "").upper()

        async def local() -> web.Response:
            found = pipe.consignee_tally(consignee_id, int(year))
            if found is None:
                lpp = pipe.view.pack.lpp
                found = {"consignee_id": consignee_id, "year": int(year), "lpp_used_tpp": 0,
                         "lpp_limit_tpp": lpp.limit_tpp if lpp else None}  # fmt: skip
                if not country_param:
                    found["note"] = "not on this worker; pass ?country=CC to reach its owner"
            return view.json(found)

        if country_param:
            return await routed(view, request, pipe.view.canonical_country(country_param), local)
        return await local()


def _retry_later(view: web.View, why: str) -> web.Response:
    return view.json({"error": why}, status=503, headers={"Retry-After": "1"})


def _country_codes() -> frozenset[str]:
    from schemas.models import COUNTRY_CODES

    return COUNTRY_CODES
