"""Running a worker: topics first, then the Faust worker in the foreground."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import signal
from typing import Any

import faust

from streams.app import create_app
from streams.settings import Settings
from streams.topics import ensure_topics


def _await_chain(task: asyncio.Task[Any]) -> str:
    """Where a task waits: its coroutine and every coroutine it awaits, innermost last."""
    frames = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "\n    ".join(frames)


def _by_topic(tps: Any) -> str:
    grouped: dict[str, list[int]] = {}
    for tp in tps:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return "; ".join(f"{t}{sorted(ps)}" for t, ps in sorted(grouped.items())) or "none"


def _span(offsets: list[int]) -> str:
    """A sorted offset list in a line: count, first few, last."""
    if not offsets:
        return "[]"
    return f"{len(offsets)}:{offsets[:5]}..{offsets[-1]}"


def dump_state(app: Any) -> None:
    """Every asyncio task's await chain and the consumer's view of its partitions, to the log."""
    out = io.StringIO()
    try:
        consumer = app.consumer
        assigned = sorted(consumer.assignment())
        skipped = getattr(consumer, "refetched_skipped", "-")
        stale = getattr(consumer, "stale_acks_ignored", "-")
        out.write(f"flow_active={consumer.flow_active} rebalancing={app.rebalancing} "
                  f"refetched_skipped={skipped} stale_acks_ignored={stale}\n")  # fmt: skip
        out.write(f"assigned: {_by_topic(assigned)}\n")
        out.write(f"active: {_by_topic(consumer._active_partitions or ())}\n")
        out.write(f"paused: {_by_topic(consumer._paused_partitions)}\n")
        inner = consumer._thread._ensure_consumer()
        out.write(f"aiokafka paused: {_by_topic(inner.paused())}\n")
        for tp in assigned:
            committed, read = consumer._committed_offset.get(tp), consumer._read_offset.get(tp)
            high = consumer.highwater(tp)
            if high and committed != high:
                acked = sorted(consumer._acked.get(tp) or ())
                unacked = sorted(m.offset for m in consumer._unacked_messages if m.tp == tp)
                out.write(f"  {tp.topic}[{tp.partition}] committed={committed} read={read} "
                          f"high={high} acked={_span(acked)} unacked={_span(unacked)} "
                          f"gap={sorted(consumer._gap.get(tp) or ())[:3]}\n")  # fmt: skip
    except Exception as exc:  # a diagnostic must never take the worker down
        out.write(f"consumer state unavailable: {exc!r}\n")
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()}\n    {_await_chain(task)}\n")
    logging.getLogger("chipscreen.tasks").warning("worker state:\n%s", out.getvalue())


def tune_gc() -> None:
    """Fewer cyclic collections: the worker's heap (tables, order records, Faust's own objects)
    is large and long-lived, and each full collection walks all of it. Measured on the rules
    alone: 16.0k orders/s with the default thresholds, 19.6k with these (bench/run.py shows the
    worker's figure). What exists at start-up is frozen out of collections altogether."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)


GC_GEN0_THRESHOLD = 50_000


def run_worker(settings: Settings, *, loglevel: str = "warning") -> None:
    """Create the contract topics, then run the Faust worker until SIGINT/SIGTERM."""
    try:
        import uvloop
    except ImportError:  # the "fast" extra is optional
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    ensure_topics(settings)
    app = create_app(settings)
    level = getattr(logging, loglevel.upper(), logging.WARNING)

    @app.task
    async def restore_root_log_level() -> None:
        # Faust's worker leaves the root logger at DEBUG behind its own handler, so every
        # logger.debug in Faust's and aiokafka's hot paths builds a record (12% of CPU measured).
        logging.getLogger().setLevel(level)
        # `kill -USR1 <pid>` writes every asyncio task's stack to the log: how to see where a
        # worker that stopped consuming is waiting.
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_state, app)
        tune_gc()

    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
