"""Running a worker: topics first, then the Faust worker in the foreground."""

from __future__ import annotations

import faust

from streams.app import create_app
from streams.settings import Settings
from streams.topics import ensure_topics


def run_worker(settings: Settings, *, loglevel: str = "warning") -> None:
    """Create the contract topics, then run the Faust worker until SIGINT/SIGTERM."""
    ensure_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
