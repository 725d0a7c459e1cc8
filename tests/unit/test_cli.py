"""Every command through click's CliRunner: help, usage errors and the offline commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import main

COMMANDS = [
    [], ["broker"], ["broker", "up"], ["broker", "down"], ["broker", "status"], ["topics"],
    ["worker"], ["demo"], ["produce"], ["generate"], ["tail"], ["tallies"], ["policy"],
    ["policy", "show"], ["policy", "set-tier"], ["replay"], ["dead-letter"],
    ["dead-letter", "reprocess"],
]  # fmt: skip
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "chipscreen")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "hunter2" not in result.output  # no secret defaults in help


def test_generate_writes_valid_jsonl(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["generate", "--orders", "200", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    orders = (tmp_path / "orders.jsonl").read_text().splitlines()
    assert len(orders) >= 200
    assert json.loads(orders[0])["event_type"] == "created"


def test_generate_is_deterministic_per_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        CliRunner().invoke(main, ["generate", "--orders", "50", "--seed", "3",
                                  "--out", str(tmp_path / name)])  # fmt: skip
    assert (tmp_path / "a" / "orders.jsonl").read_bytes() == (
        tmp_path / "b" / "orders.jsonl"
    ).read_bytes()


def test_produce_reports_bad_rows_with_line_numbers_and_sends_nothing(tmp_path: Path) -> None:
    good = (EXAMPLES / "order-created.json").read_text().replace("\n", " ")
    bad = good.replace('"quantity": 1000', '"quantity": -1')
    path = tmp_path / "orders.jsonl"
    path.write_text(f"{good}\n{bad}\n{{not json\n")
    # no broker configured: aborting must happen before any connection is tried
    result = CliRunner().invoke(main, ["produce", "orders", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2: lines[0].quantity: must be greater than 0" in result.output
    assert f"{path}:3: not valid JSON" in result.output
    assert "nothing sent" in result.output


def test_produce_reads_csv_with_json_cells(tmp_path: Path) -> None:
    from streams.tools import read_records

    order = json.loads((EXAMPLES / "order-created.json").read_text())
    header = list(order)
    import csv

    with (tmp_path / "o.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerow([json.dumps(v) if isinstance(v, (dict, list)) else
                    ("" if v is None else v) for v in order.values()])  # fmt: skip
    rows = list(read_records(tmp_path / "o.csv"))
    assert rows[0].line == 2
    assert json.loads(rows[0].raw) == order


def test_replay_file_shows_flips(tmp_path: Path) -> None:
    CliRunner().invoke(main, ["generate", "--orders", "300", "--out", str(tmp_path)])
    result = CliRunner().invoke(
        main,
        ["replay", "--pack", "ai-diffusion-2025", "--set-tier", "IN=1", "--json",
         str(tmp_path / "orders.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["what_if"] == "ai-diffusion-2025@2025-01-13+1"
    # the flips: orders to India, and Tier 1 sites whose parent is Indian (AIA now available)
    assert report["flipped"] > 0
    for flip in report["flips"]:
        if flip["country"] != "IN":
            assert flip["before"]["codes"] == ["AIA_HEADQUARTERS_INELIGIBLE"]
            assert flip["after"]["codes"] == ["TIER1_AIA"]
    assert any(f["country"] == "IN" for f in report["flips"])


def test_replay_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["replay", "--pack", "x"]).exit_code == 2
    f = tmp_path / "o.jsonl"
    f.write_text("")
    assert runner.invoke(main, ["replay", "--pack", "ai-diffusion-2025", "--set-tier", "IN=7",
                                str(f)]).exit_code == 2  # fmt: skip
    unknown = runner.invoke(main, ["replay", "--pack", "nope", str(f)])
    assert unknown.exit_code == 1 and "unknown policy pack" in unknown.output


def test_tallies_without_a_worker_fails_clearly() -> None:
    result = CliRunner().invoke(main, ["tallies", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "is a worker running there?" in result.output


def test_broker_status_when_not_running(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["broker", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "not running" in result.output


def test_set_tier_rejects_a_bad_date() -> None:
    result = CliRunner().invoke(main, ["policy", "set-tier", "PL", "1", "--from", "soon"])
    assert result.exit_code == 1
    assert "invalid policy change" in result.output
