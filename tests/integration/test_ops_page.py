"""The ops page renders live data in headless Chromium and shows records as text, never markup."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from streams import topics
from streams.process import WorkerProcess
from streams.testkit import collect, publish
from tests.integration.conftest import IN_CI
from tests.unit.rules.builders import order

pytestmark = pytest.mark.integration
HOSTILE = "<img src=x onerror=document.title='pwned'>"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if IN_CI:
            pytest.fail("Chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return found


def headless(url: str, *extra: str, profile: Path) -> str:
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=8000", *extra, url,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return out.stdout


def test_ops_page_renders_tallies_holds_and_alerts(worker: WorkerProcess, tmp_path: Path) -> None:
    s = worker.settings
    orders = [
        order("OPS-1", dest="AE", qty=500, license_id="L"),
        order("OPS-2", dest="CN", qty=5),
        order(HOSTILE, dest="RU", qty=1),
        order("OPS-4", qty=5, consignee={"kind": "freight_forwarder"}),
    ]
    publish(s, topics.ORDERS, [(o.order_id, o) for o in orders])
    collect(s, [topics.APPROVALS, topics.HOLDS], until=lambda r: len(r) >= 4, timeout_s=60)
    time.sleep(0.5)
    dom = headless(worker.base_url + "/", "--dump-dom", profile=tmp_path / "p1")
    assert "<td>AE</td>" in dom, dom[:2000]
    assert "7,916,000" in dom  # AE used TPP: 500 x 15,832
    assert "OPS-2" in dom and "TIER3_DESTINATION" in dom
    assert "FORWARDER_CONSIGNEE" in dom
    # the hostile order id is shown as text: escaped in the DOM, no element, no script run
    assert "&lt;img src=x onerror=" in dom
    assert "<img src" not in dom and "pwned" not in dom.split("<title>")[1].split("<")[0]
    assert "live" in dom
    shot = tmp_path / "ops.png"
    headless(worker.base_url + "/", f"--screenshot={shot}", "--window-size=1200,900",
             profile=tmp_path / "p2")  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 10_000
