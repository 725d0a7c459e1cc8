"""The ``chipscreen`` command line (click: Faust is built on it already, so no second CLI library).

Exit codes: 0 success, 1 the operation failed (message on stderr), 2 bad usage (click's own).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from streams import devbroker


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """chipscreen: real-time export-control screening of AI chip orders on Kafka.

    Configuration comes from CHIPSCREEN_* environment variables (see README).
    """
    level = os.environ.get("CHIPSCREEN_CLI_LOGLEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# -- broker ------------------------------------------------------------------------------------


@main.group()
def broker() -> None:
    """A local single-node Apache Kafka broker (KRaft) for development and tests."""


_state_opt = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Broker config, data, log and PID directory [default: ~/.cache/chipscreen/broker].",
)


@broker.command("up")
@_state_opt
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for readiness.")
def broker_up(state_dir: Path | None, timeout: float) -> None:
    """Provision the Kafka jars (cached) and start the broker; prints its bootstrap servers."""
    try:
        info = devbroker.up(state_dir, timeout_s=timeout)
    except devbroker.BrokerError as exc:
        _fail(str(exc))
        return
    click.echo(info.bootstrap_servers)
    click.echo(f"kafka {info.version}, pid {info.pid}, log {info.log_file}", err=True)


@broker.command("down")
@_state_opt
@click.option("--purge", is_flag=True, help="Also delete the broker's data and config.")
def broker_down(state_dir: Path | None, purge: bool) -> None:
    """Stop the broker by PID (SIGTERM, SIGKILL after 30 s)."""
    stopped = devbroker.down(state_dir, purge=purge)
    click.echo("stopped" if stopped else "not running", err=True)


@broker.command("status")
@_state_opt
def broker_status(state_dir: Path | None) -> None:
    """Print the bootstrap servers of a running broker; exit 1 when none runs."""
    info = devbroker.read_info(state_dir)
    if info is None or not devbroker.is_running(info):
        click.echo("not running", err=True)
        sys.exit(1)
    ok = devbroker.metadata_ok(info.bootstrap_servers)
    click.echo(info.bootstrap_servers)
    click.echo(
        f"kafka {info.version}, pid {info.pid}, {'answering' if ok else 'NOT answering'}, "
        f"log {info.log_file}",
        err=True,
    )
    if not ok:
        sys.exit(1)


# -- topics and worker -------------------------------------------------------------------------


@main.command("topics")
def topics_cmd() -> None:
    """Create the contract's topics (idempotent) and list them with their partition counts."""
    from streams.settings import Settings
    from streams.topics import contract_topics, ensure_topics

    settings = Settings()
    created = set(ensure_topics(settings))
    for spec in contract_topics(settings):
        mark = "created" if spec.name in created else "exists"
        click.echo(f"{spec.name}\t{spec.partitions}\t{mark}")


@main.command("worker")
@click.option(
    "-l",
    "--loglevel",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def worker_cmd(loglevel: str) -> None:
    """Start the screening worker (Faust) with the CHIPSCREEN_* configuration."""
    from streams.runner import run_worker
    from streams.settings import Settings

    run_worker(Settings(), loglevel=loglevel)


@main.command("demo")
@click.option("--orders", default=20_000, show_default=True, help="Orders in the synthetic day.")
@click.option("--seed", default=7, show_default=True, help="Seed of the synthetic world.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for screening.")
def demo_cmd(orders: int, seed: int, timeout: float) -> None:
    """Run the main job end to end: broker, worker, a day of traffic, a summary."""
    from streams.demo import run_demo

    sys.exit(run_demo(orders=orders, seed=seed, timeout_s=timeout))
