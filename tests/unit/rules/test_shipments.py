"""Shipment screening: every shipment signal, scoring and severity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rules.parties import PartyIndex, read_csl
from rules.shipments import OrderStatus, ShipmentOutcome, screen_shipment
from schemas.codes import DecisionKind, Severity, SignalCode
from tests.unit.rules.builders import shipment, view

NOW = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)
APPROVED = OrderStatus("ORD-1", DecisionKind.APPROVED, "IN", "CNS-9", {"H100SXM": 1000})
HELD = OrderStatus("ORD-1", DecisionKind.HELD, "IN", "CNS-9", {"H100SXM": 1000})
LIST = PartyIndex(
    read_csl(
        "source,name,alt_names,addresses\n"
        "Entity List (EL) - Bureau of Industry and Security,Shadow Freight Forwarding Ltd,,"
        '"Tower 1, Hong Kong, HK"\n',
        dt.date(2025, 1, 1),
    )
)


def screen(
    kw: dict[str, Any] | None = None,
    order: OrderStatus | None = APPROVED,
    shipped: dict[str, dict[str, int]] | None = None,
) -> ShipmentOutcome:
    return screen_shipment(
        shipment(**(kw or {})), order, shipped or {}, view(), screened_at=NOW, parties=LIST
    )


def signal_codes(outcome: ShipmentOutcome) -> set[SignalCode]:
    return {s.code for s in outcome.signals}


def test_a_clean_shipment_raises_nothing() -> None:
    outcome = screen()
    assert outcome.alert is None
    assert outcome.shipped == {"SHP-1": {"H100SXM": 1000}}


CASES: list[tuple[dict[str, Any], OrderStatus | None, SignalCode]] = [
    ({"route": ["US", "SG", "IN"]}, APPROVED, SignalCode.TRANSSHIPMENT_HUB),
    ({"route": ["US", "HK", "IN"]}, APPROVED, SignalCode.TIER3_TRANSIT),
    ({"route": ["US", "RU", "IN"]}, APPROVED, SignalCode.TIER3_TRANSIT),
    ({"consignee": {"kind": "freight_forwarder"}}, APPROVED, SignalCode.FORWARDER_CONSIGNEE),
    ({"dest": "AE"}, APPROVED, SignalCode.DESTINATION_MISMATCH),
    ({"consignee": {"id": "CNS-OTHER"}}, APPROVED, SignalCode.CONSIGNEE_MISMATCH),
    ({"qty": 1001}, APPROVED, SignalCode.OVER_SHIPMENT),
    ({}, HELD, SignalCode.SHIPMENT_OF_HELD_ORDER),
    ({}, None, SignalCode.ORPHAN_SHIPMENT),
    ({"consignee": {"address": "Flat 4B, 12 Garden Rd"}}, APPROVED,
     SignalCode.RESIDENTIAL_ADDRESS),
    ({"part": "Ascend 910B"}, APPROVED, SignalCode.PRC_ADVANCED_IC),
    ({"forwarder": "Shadow Freight Forwarding Limited"}, APPROVED,
     SignalCode.RESTRICTED_PARTY_MATCH),
]  # fmt: skip


@pytest.mark.parametrize(("kw", "order", "code"), CASES, ids=[c[2].value for c in CASES])
def test_signals(kw: dict[str, Any], order: OrderStatus | None, code: SignalCode) -> None:
    outcome = screen(kw, order)
    assert code in signal_codes(outcome)
    assert outcome.alert is not None and outcome.alert.order_id == "ORD-1"


def test_hub_as_destination_is_not_transshipment() -> None:
    assert SignalCode.TRANSSHIPMENT_HUB not in signal_codes(
        screen({"dest": "SG", "route": ["US", "SG"]}, OrderStatus(
            "ORD-1", DecisionKind.APPROVED, "SG", "CNS-9", {"H100SXM": 1000}))
    )  # fmt: skip


def test_over_shipment_is_cumulative_across_shipments_not_events() -> None:
    first = screen({"qty": 600})
    # the same shipment's next event replaces its own count
    again = screen({"qty": 600, "status": "arrived"}, shipped=first.shipped)
    assert SignalCode.OVER_SHIPMENT not in signal_codes(again)
    second = screen({"shipment_id": "SHP-2", "qty": 600}, shipped=first.shipped)
    assert SignalCode.OVER_SHIPMENT in signal_codes(second)


def test_held_order_shipping_is_always_critical() -> None:
    alert = screen({}, HELD).alert
    assert alert is not None and alert.severity is Severity.CRITICAL


def test_scores_combine_and_grade_severity() -> None:
    one = screen({"route": ["US", "SG", "IN"]}).alert
    many = screen({"route": ["US", "SG", "HK", "IN"], "dest": "AE"}).alert
    assert one is not None and many is not None
    assert 0 < one.risk_score < many.risk_score <= 1
    assert one.severity is Severity.MEDIUM  # weight 0.30 reaches the medium threshold
    assert many.severity in (Severity.HIGH, Severity.CRITICAL)


def test_alert_ids_are_stable_for_replays() -> None:
    a = screen({}, None).alert
    b = screen({}, None).alert
    assert a is not None and b is not None and a.alert_id == b.alert_id
