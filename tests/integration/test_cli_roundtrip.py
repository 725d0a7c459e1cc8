"""CLI commands against the real broker and a running worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import main
from streams.process import WorkerProcess
from tests.unit.rules.builders import order

pytestmark = pytest.mark.integration


def run(worker: WorkerProcess, *args: str) -> tuple[int, str]:
    env = worker.settings.to_env()
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_produce_then_tail_then_tallies(worker: WorkerProcess, tmp_path: Path) -> None:
    lines = [order(f"CLI-{i}", dest=d, qty=5, license_id="L" if d == "AE" else None)
             for i, d in enumerate(["AE", "AE", "CN", "DE"])]  # fmt: skip
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(o.model_dump_json() + "\n" for o in lines) + "{broken\n")
    code, out = run(worker, "produce", "orders", str(path), "--on-error", "skip")
    assert code == 1  # a bad row was skipped: the run says so
    assert "sent 4 orders" in out and ":5: not valid JSON" in out

    code, out = run(worker, "tail", "approvals", "--from-beginning", "--json", "--limit", "3",
                    "--idle-timeout", "60")  # fmt: skip
    assert code == 0, out
    approvals = [json.loads(line) for line in out.splitlines()]
    assert {a["order_id"] for a in approvals} == {"CLI-0", "CLI-1", "CLI-3"}

    code, out = run(worker, "tail", "holds", "--from-beginning", "--country", "CN", "--limit",
                    "1", "--idle-timeout", "60")  # fmt: skip
    assert code == 0 and "CLI-2" in out and "TIER3_DESTINATION" in out

    code, out = run(worker, "tail", "approvals", "--from-beginning", "--code", "TIER1_AIA",
                    "--json", "--limit", "1", "--idle-timeout", "30")  # fmt: skip
    assert [json.loads(x)["order_id"] for x in out.splitlines()] == ["CLI-3"]

    code, out = run(worker, "tallies", "--url", worker.base_url, "--json")
    assert code == 0, out
    ae = next(r for r in json.loads(out) if r["country"] == "AE")
    assert ae["used_tpp"] == 2 * 5 * 15_832 and ae["tier"] == 2


def test_policy_set_tier_show_and_replay_from_the_topic(worker: WorkerProcess) -> None:
    code, out = run(worker, "policy", "set-tier", "PL", "1", "--from", "2025-02-01",
                    "--note", "bilateral")  # fmt: skip
    assert code == 0, out
    code, out = run(worker, "policy", "show", "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert shown["policy_version"] == "ai-diffusion-2025@2025-01-13+1"
    assert any(a["country"] == "PL" and a["tier"] == 1 for a in shown["assignments"])

    orders = [order(f"RP-{i}", dest="PL", qty=10, consignee={"id": f"PLC-{i}"})
              for i in range(3)]  # fmt: skip
    from streams import topics
    from streams.testkit import publish

    publish(worker.settings, topics.ORDERS, [(o.order_id, o) for o in orders])
    today = time.strftime("%Y-%m-%d")
    code, out = run(worker, "replay", "--pack", "ai-diffusion-2025", "--baseline-pack",
                    "ai-diffusion-2025", "--set-tier", "PL=3", "--topic-range",
                    f"2000-01-01..{int(today[:4]) + 1}-01-01", "--json")  # fmt: skip
    assert code == 0, out
    report = json.loads(out)
    assert report["orders"] == 3
    # under the topic's change PL is Tier 1 (AIA); the what-if makes it Tier 3
    assert report["flipped"] == 3
    assert {f["after"]["codes"][0] for f in report["flips"]} == {"TIER3_DESTINATION"}


def test_dead_letter_reprocess_resends_what_now_validates(worker: WorkerProcess) -> None:
    from streams import topics
    from streams.testkit import collect, publish

    s = worker.settings
    early_amend = order("DLQ-1", qty=3, event_type="amended", version=2)
    publish(s, topics.ORDERS, [("DLQ-1", early_amend), ("DLQ-X", b"{nope")])
    collect(s, [topics.DEAD_LETTER], until=lambda r: len(r) >= 2, timeout_s=60)
    publish(s, topics.ORDERS, [("DLQ-1", order("DLQ-1", qty=5, version=1))])

    code, out = run(worker, "dead-letter", "reprocess", "--dry-run", "--include-rejected")
    assert code == 0 and "would resend 1; kept 1" in out
    code, out = run(worker, "dead-letter", "reprocess", "--include-rejected")
    assert code == 0 and "resent 1; kept 1" in out, out
    code, out = run(worker, "dead-letter", "reprocess", "--include-rejected")
    assert "resent 0" in out  # each dead letter once

    recs = collect(s, [topics.APPROVALS], timeout_s=60,
                   until=lambda r: sum(1 for x in r if x.key == b"DLQ-1") >= 2)  # fmt: skip
    decisions = [json.loads(r.value) for r in recs if r.key == b"DLQ-1"]
    assert {d["decision_id"] for d in decisions} == {"DLQ-1@1", "DLQ-1@2"}
