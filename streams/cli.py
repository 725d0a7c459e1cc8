"""The ``chipscreen`` command line (click: Faust is built on it already, so no second CLI library).

Exit codes: 0 success, 1 the operation failed (message on stderr), 2 bad usage (click's own).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streams import devbroker

if TYPE_CHECKING:
    from streams.settings import Settings


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
@click.option(
    "--sasl-user",
    default=None,
    help="Also open a SASL_SSL listener (PLAIN, SCRAM-SHA-512, self-signed CA) for this user; "
    "the password comes from CHIPSCREEN_DEV_BROKER_PASSWORD or a prompt.",
)
def broker_up(state_dir: Path | None, timeout: float, sasl_user: str | None) -> None:
    """Provision the Kafka jars (cached) and start the broker; prints its bootstrap servers."""
    users = None
    if sasl_user:
        password = os.environ.get("CHIPSCREEN_DEV_BROKER_PASSWORD") or click.prompt(
            f"password for {sasl_user}", hide_input=True, confirmation_prompt=True
        )
        users = {sasl_user: password}
    try:
        info = devbroker.up(state_dir, timeout_s=timeout, sasl_users=users)
    except devbroker.BrokerError as exc:
        _fail(str(exc))
        return
    click.echo(info.bootstrap_servers)
    click.echo(f"kafka {info.version}, pid {info.pid}, log {info.log_file}", err=True)
    if info.sasl_ssl_bootstrap:
        click.echo(f"SASL_SSL at {info.sasl_ssl_bootstrap}, CA {info.ca_file}", err=True)


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


# -- producers ---------------------------------------------------------------------------------


def _settings() -> Settings:
    from streams.settings import Settings

    return Settings()


@main.command("produce")
@click.argument("kind", type=click.Choice(["orders", "shipments", "policy"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--on-error",
    type=click.Choice(["abort", "skip"]),
    default="abort",
    show_default=True,
    help="abort: send nothing if any row is bad; skip: send the good rows.",
)
def produce_cmd(kind: str, file: Path, on_error: str) -> None:
    """Validate FILE (JSONL, or CSV with one column per top-level field) and publish it.

    Every row is checked against the contract first; bad rows are listed with their line
    numbers. Exit 1 if any row was bad, even with --on-error skip."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from streams.tools import produce_file

    with Progress(
        TextColumn(f"[bold]{kind}[/]"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.completed:,} sent, {task.fields[rate]}"), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("send", total=None, rate="")
        started = time.monotonic()

        def advance(n: int) -> None:
            progress.advance(task, n)
            done = progress.tasks[0].completed
            rate = done / max(1e-6, time.monotonic() - started)
            progress.update(task, rate=f"{rate:,.0f}/s")

        report = produce_file(_settings(), kind, file, skip_bad=on_error == "skip",
                              on_progress=advance)  # fmt: skip
    for line, reason in report.bad:
        click.echo(f"{file}:{line}: {reason}", err=True)
    if report.bad and on_error == "abort":
        click.echo(f"{len(report.bad)} bad rows: nothing sent (use --on-error skip)", err=True)
        sys.exit(1)
    click.echo(f"sent {report.sent} {kind} to {_settings().topic(kind)}")
    if report.bad:
        sys.exit(1)


@main.command("generate")
@click.option("--orders", default=20_000, show_default=True, help="Orders to create.")
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Directory for orders.jsonl and shipments.jsonl.",
)
@click.option(
    "--csl-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="CSL CSV files whose names the look-alike consignees misspell.",
)
def generate_cmd(orders: int, seed: int, out: Path, csl_dir: Path | None) -> None:
    """Write a seeded synthetic world's orders and shipments as JSONL (streaming)."""
    from streams.tools import write_world

    counts = write_world(out, orders, seed, csl_dir)
    click.echo(f"{counts['orders']} order events -> {out / 'orders.jsonl'}")
    click.echo(f"{counts['shipments']} shipment events -> {out / 'shipments.jsonl'}")


# -- ops ---------------------------------------------------------------------------------------


@main.command("tail")
@click.argument("which", type=click.Choice(["holds", "approvals", "alerts", "dead-letter"]))
@click.option("--country", multiple=True, help="Only these destination countries.")
@click.option("--code", multiple=True, help="Only records with these reason/signal codes.")
@click.option("--severity", multiple=True, type=click.Choice(["low", "medium", "high", "critical"]))
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record.")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line, for piping.")
@click.option("--limit", type=int, default=None, help="Stop after this many records.")
@click.option("--idle-timeout", type=float, default=None, help="Stop after this many idle s.")
def tail_cmd(
    which: str,
    country: tuple[str, ...],
    code: tuple[str, ...],
    severity: tuple[str, ...],
    from_beginning: bool,
    as_json: bool,
    limit: int | None,
    idle_timeout: float | None,
) -> None:
    """Follow holds, approvals, alerts or dead letters as they happen."""
    import orjson
    from rich.console import Console

    from streams.tools import TailFilter, ToolError, format_record, tail

    console = Console(highlight=False)
    flt = TailFilter(frozenset(c.upper() for c in country), frozenset(code), frozenset(severity))
    try:
        for record in tail(_settings(), which, from_beginning=from_beginning, flt=flt,
                           limit=limit, idle_timeout_s=idle_timeout):  # fmt: skip
            if as_json:
                sys.stdout.write(orjson.dumps(record).decode() + "\n")
                sys.stdout.flush()
            else:
                console.print(format_record(which, record), soft_wrap=True)
    except ToolError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass


_url_opt = click.option(
    "--url",
    multiple=True,
    help="Worker web address(es) [default: from CHIPSCREEN_WEB_HOST/PORT].",
)


def _urls(url: tuple[str, ...]) -> list[str]:
    if url:
        return list(url)
    s = _settings()
    return [f"http://{s.web_host}:{s.web_port}"]


@main.command("tallies")
@click.option("--country", default=None, help="One country only.")
@_url_opt
@click.option("--json", "as_json", is_flag=True)
def tallies_cmd(country: str | None, url: tuple[str, ...], as_json: bool) -> None:
    """Live country tallies from the workers: tier, used, cap, remaining, a bar."""
    import json

    from rich.console import Console
    from rich.table import Table

    from streams.tools import ToolError, fetch_tallies

    try:
        rows = fetch_tallies(_urls(url), country.upper() if country else None)
    except ToolError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(rows))
        return
    table = Table(title="country tallies")
    for col in ("country", "tier", "used TPP", "cap TPP", "remaining TPP", ""):
        table.add_column(col, justify="left" if col in ("country", "") else "right")
    for r in rows:
        cap = r.get("cap_tpp")
        frac = (r["used_tpp"] / cap) if cap else 0.0
        bar = ("█" * round(frac * 25)).ljust(25, "░") + f" {frac:.1%}" if cap else "no cap"
        table.add_row(r["country"], str(r["tier"]), f"{r['used_tpp']:,}",
                      f"{cap:,}" if cap else "-",
                      f"{r['remaining_tpp']:,}" if r.get("remaining_tpp") is not None else "-",
                      bar)  # fmt: skip
    Console().print(table)


@main.group("policy")
def policy_group() -> None:
    """The policy pack in force and its tier assignments."""


@policy_group.command("show")
@click.option("--pack", default=None, help="Pack to show [default: CHIPSCREEN_POLICY_PACK].")
@click.option("--json", "as_json", is_flag=True)
def policy_show(pack: str | None, as_json: bool) -> None:
    """The pack with every assignment applied from the policy topic."""
    import json

    from rich.console import Console
    from rich.table import Table

    from rules.policy import PackError
    from streams.tools import policy_view

    try:
        view = policy_view(_settings(), pack)
    except PackError as exc:
        _fail(str(exc))
        return
    info = view.describe()
    if as_json:
        click.echo(json.dumps(info, default=str))
        return
    console = Console()
    console.print(f"[bold]{info['pack']}[/]  version {info['policy_version']}")
    console.print(str(info["description"]))
    console.print(f"Tier 1: {' '.join(info['tier1']) or '-'}")  # type: ignore[arg-type]
    console.print(f"Tier 3: {' '.join(info['tier3'])}  (aliases {info['aliases']})")  # type: ignore[arg-type]
    table = Table(title="dated assignments")
    for col in ("country", "tier", "cap TPP", "effective from", "change", "note"):
        table.add_column(col)
    for a in info["assignments"]:  # type: ignore[attr-defined]
        table.add_row(a["country"], str(a["tier"]), str(a["cap_tpp"] or "-"),
                      a["effective_from"], a["change_id"], a["note"] or "")  # fmt: skip
    console.print(table)


@policy_group.command("set-tier")
@click.argument("country")
@click.argument("tier", type=click.IntRange(1, 3))
@click.option(
    "--from",
    "effective_from",
    required=True,
    help="Effective from: RFC 3339, or YYYY-MM-DD for 00:00 UTC.",
)
@click.option("--cap", type=click.IntRange(min=0), default=None, help="Country cap in TPP.")
@click.option("--note", default=None)
@click.option("--pack", default=None, help="Pack the change is for [default: the deployment's].")
def policy_set_tier(
    country: str, tier: int, effective_from: str, cap: int | None, note: str | None,
    pack: str | None,
) -> None:  # fmt: skip
    """Publish a PolicyChange: COUNTRY is TIER from --from on."""
    import datetime as dt

    from pydantic import ValidationError

    from streams.tools import set_tier

    text = effective_from + ("T00:00:00Z" if len(effective_from) == 10 else "")
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError("needs a UTC offset")
        change = set_tier(_settings(), country.upper(), tier, when, cap, note, pack)
    except (ValueError, ValidationError) as exc:
        _fail(f"invalid policy change: {exc}")
        return
    click.echo(f"published {change.change_id}: {change.country} tier {change.tier} from "
               f"{change.effective_from.isoformat()}")  # fmt: skip


@main.command("replay")
@click.option("--pack", required=True, help="Pack to re-screen under.")
@click.option("--baseline-pack", default=None, help="Compare against [default: deployment's].")
@click.option(
    "--set-tier",
    "set_tiers",
    multiple=True,
    metavar="CC=T",
    help="Tier override for the what-if, from the beginning of time.",
)
@click.option(
    "--topic-range",
    default=None,
    metavar="FROM..TO",
    help="Orders-topic records with timestamps in [FROM, TO), ISO dates.",
)
@click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def replay_cmd(
    pack: str, baseline_pack: str | None, set_tiers: tuple[str, ...], topic_range: str | None,
    file: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """What-if, offline: re-screen historical orders under another pack or tiers and show
    the orders whose decision flips (by country and code, with TPP totals)."""
    import datetime as dt
    import json

    from rich.console import Console
    from rich.table import Table

    from rules.policy import PackError
    from streams.tools import (
        ToolError,
        read_orders_file,
        read_orders_topic,
        read_policy_changes,
        replay,
    )  # fmt: skip

    if (file is None) == (topic_range is None):
        raise click.UsageError("give either FILE or --topic-range FROM..TO")
    overrides: dict[str, int] = {}
    for item in set_tiers:
        cc, _, tier = item.partition("=")
        if not tier.isdigit() or int(tier) not in (1, 2, 3):
            raise click.UsageError(f"--set-tier {item}: expected CC=1|2|3")
        overrides[cc.upper()] = int(tier)
    settings = _settings()
    changes = []
    try:
        if file is not None:
            orders = list(read_orders_file(file))
        else:
            start_s, _, end_s = (topic_range or "").partition("..")
            start = dt.datetime.fromisoformat(start_s).replace(tzinfo=dt.UTC)
            end = dt.datetime.fromisoformat(end_s).replace(tzinfo=dt.UTC)
            orders = list(read_orders_topic(settings, start, end))
            changes = read_policy_changes(settings)
        result = replay(orders, baseline_pack=baseline_pack or settings.policy_pack, pack=pack,
                        set_tiers=overrides, changes=changes)  # fmt: skip
    except (PackError, ToolError, ValueError) as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(result))
        return
    console = Console()
    console.print(f"{result['orders']:,} orders: {result['baseline']} -> {result['what_if']}: "
                  f"[bold]{result['flipped']:,} flip[/] ({result['to_held']:,} to held, "
                  f"{result['to_approved']:,} to approved)")  # fmt: skip
    table = Table(title="flips by country and code")
    for col in ("country", "from", "to", "orders", "TPP"):
        table.add_column(col, justify="right" if col in ("orders", "TPP") else "left")
    for g in result["by_country_and_code"]:
        table.add_row(g["country"], g["from"], g["to"], f"{g['orders']:,}", f"{g['tpp']:,}")
    console.print(table)


@main.group("dead-letter")
def dead_letter_group() -> None:
    """Records that could not be screened."""


@dead_letter_group.command("reprocess")
@click.option(
    "--include-rejected",
    is_flag=True,
    help="Also resend records that decoded but were rejected at screening "
    "(e.g. an amendment that arrived before its order).",
)
@click.option("--dry-run", is_flag=True, help="Report only; send and commit nothing.")
def dead_letter_reprocess(include_rejected: bool, dry_run: bool) -> None:
    """Send dead letters that now validate back to their source topic (each once)."""
    from streams.tools import reprocess_dead_letters

    report = reprocess_dead_letters(_settings(), include_rejected=include_rejected,
                                    dry_run=dry_run)  # fmt: skip
    for label, reason in report.still_bad:
        click.echo(f"kept {label}: {reason}", err=True)
    verb = "would resend" if dry_run else "resent"
    click.echo(f"{verb} {report.resent}; kept {len(report.still_bad)}")
