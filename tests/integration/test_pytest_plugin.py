"""A downstream team's test suite, using only the installed plugin, against the real broker."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]

DOWNSTREAM_TEST = """
from tests_support_order import order

def test_orders_to_china_are_held(chipscreen):
    chipscreen.publish_orders([order("DS-1", dest="CN"), order("DS-2", dest="DE")])
    decisions = chipscreen.await_decisions(["DS-1", "DS-2"])
    assert decisions["DS-1"]["decision"] == "held"
    assert decisions["DS-2"]["reasons"][0]["code"] == "TIER1_AIA"

def test_garbage_is_dead_lettered(chipscreen):
    chipscreen.publish_orders([{"order_id": "junk"}])
    dead = chipscreen.await_dead_letters(1)
    assert dead[0]["error_kind"] == "invalid"
"""


def test_downstream_suite_runs_against_a_real_worker(
    pytester: pytest.Pytester, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect

    from tests.unit.rules import builders

    pytester.makepyfile(tests_support_order=inspect.getsource(builders))
    pytester.makepyfile(test_downstream=DOWNSTREAM_TEST)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)
    result.assert_outcomes(passed=2)
