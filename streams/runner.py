"""Running a worker: topics first, then the Faust worker in the foreground."""

from __future__ import annotations

import asyncio
import logging

import faust

from streams.app import create_app
from streams.settings import Settings
from streams.topics import ensure_topics


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

    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
