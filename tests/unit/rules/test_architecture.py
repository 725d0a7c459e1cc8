"""rules/ stays pure: it imports only schemas, the standard library and small pure libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = {"faust", "aiokafka", "kafka", "confluent_kafka", "mode", "streams", "aiohttp"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_rules_and_schemas_import_no_kafka_faust_or_streams() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN)
        for package in ("rules", "schemas")
        for p in (ROOT / package).rglob("*.py")
        if _imports(p) & FORBIDDEN
    }
    assert offenders == {}


def test_schemas_import_nothing_of_ours() -> None:
    offenders = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "schemas").rglob("*.py")
        if _imports(p) & {"rules", "streams"}
    }
    assert offenders == set()


def test_importing_rules_loads_no_kafka_at_run_time() -> None:
    code = (
        "import sys, rules.screening, rules.shipments, rules.parties; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(FORBIDDEN)!r}]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
