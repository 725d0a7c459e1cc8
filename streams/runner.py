"""Running a worker: topics first, then the Faust worker in the foreground."""

from __future__ import annotations

import asyncio
import io
import logging
import signal

import faust

from streams.app import create_app
from streams.settings import Settings
from streams.topics import ensure_topics


def dump_tasks() -> None:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()} {task!r:.200}\n")
        task.print_stack(limit=12, file=out)
    logging.getLogger("chipscreen.tasks").warning("asyncio tasks:\n%s", out.getvalue())


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
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)

    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
