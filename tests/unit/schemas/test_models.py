"""One test per field rule of the contract, through the codec as a producer's bytes would go."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from schemas.codec import Codec, DecodeError
from schemas.models import (
    Alert,
    Decision,
    OrderEvent,
    PolicyChange,
    ShipmentEvent,
)

ORDERS = Codec(OrderEvent)
SHIPMENTS = Codec(ShipmentEvent)


def _reject(codec: Codec[Any], record: dict[str, Any]) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        codec.decode(orjson.dumps(record))
    return info.value


def _mutated(record: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    change(out)
    return out


def test_contract_example_decodes(order: dict[str, Any]) -> None:
    model = ORDERS.decode(orjson.dumps(order))
    assert model.order_id == "ORD-1"
    assert model.lines[0].quantity == 1000
    assert model.occurred_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("change", "path", "phrase"),
    [
        (lambda o: o["lines"][0].update(quantity=0), "lines[0].quantity", "greater than 0"),
        (lambda o: o["lines"][0].update(quantity=-5), "lines[0].quantity", "greater than 0"),
        (lambda o: o["lines"][0].update(quantity="5"), "lines[0].quantity", "valid integer"),
        (lambda o: o["lines"][0].update(quantity=2.5), "lines[0].quantity", "valid integer"),
        (lambda o: o["lines"][0].update(tpp_per_unit=-1), "lines[0].tpp_per_unit",
         "greater than or equal to 0"),
        (lambda o: o["lines"][0].update(tpp_per_unit=1.5), "lines[0].tpp_per_unit", "integer"),
        (lambda o: o["lines"][0].update(die_area_mm2=0), "lines[0].die_area_mm2", "greater than 0"),
        (lambda o: o.update(destination_country="XX"), "destination_country", "ISO 3166-1"),
        (lambda o: o.update(destination_country="in"), "destination_country", "ISO 3166-1"),
        (lambda o: o["consignee"].update(country="ZZ"), "consignee.country", "ISO 3166-1"),
        (lambda o: o["exporter"].update(parent_hq_country="USA"), "exporter.parent_hq_country",
         "ISO 3166-1"),
        (lambda o: o.update(occurred_at="2025-03-01T09:00:00"), "occurred_at", "offset"),
        (lambda o: o.update(occurred_at="2025-03-01"), "occurred_at", "offset"),
        (lambda o: o.update(occurred_at=1740819600), "occurred_at", "RFC 3339"),
        (lambda o: o.update(event_type="deleted"), "event_type", "'created'"),
        (lambda o: o["consignee"].update(kind="smuggler"), "consignee.kind", "'end_user'"),
        (lambda o: o.update(veu={"id": "V1", "kind": "regional"}), "veu.kind", "'universal'"),
        (lambda o: o.update(lines=[]), "(record)", "at least one line"),
        (lambda o: o.pop("order_id"), "order_id", "is required"),
        (lambda o: o.update(order_id=""), "order_id", "at least 1 character"),
        (lambda o: o.update(schema_version=0), "schema_version", "greater than or equal to 1"),
    ],
)  # fmt: skip
def test_order_field_rules(
    order: dict[str, Any], change: Callable[[dict[str, Any]], None], path: str, phrase: str
) -> None:
    err = _reject(ORDERS, _mutated(order, change))
    assert err.kind == "invalid"
    assert err.reason.startswith(f"{path}: "), err.reason
    assert phrase in err.reason, err.reason


def test_timestamps_with_offsets_are_accepted(order: dict[str, Any]) -> None:
    for stamp in ("2025-03-01T09:00:00+05:30", "2025-03-01T09:00:00.123456-04:00"):
        model = ORDERS.decode(orjson.dumps({**order, "occurred_at": stamp}))
        assert model.occurred_at.utcoffset() is not None


def test_cancellation_may_carry_no_lines(order: dict[str, Any]) -> None:
    model = ORDERS.decode(orjson.dumps({**order, "event_type": "cancelled", "lines": []}))
    assert model.lines == []


def test_unknown_fields_are_ignored(order: dict[str, Any]) -> None:
    noisy = {**order, "priority": "rush", "consignee": {**order["consignee"], "vat": "X1"}}
    model = ORDERS.decode(orjson.dumps(noisy))
    assert b"priority" not in ORDERS.encode(model)
    assert b"vat" not in ORDERS.encode(model)


def test_newer_schema_version_is_its_own_kind(order: dict[str, Any]) -> None:
    err = _reject(ORDERS, {**order, "schema_version": 2})
    assert err.kind == "unsupported_version"
    assert "newer than the supported 1" in err.reason


def test_shipment_rules(shipment: dict[str, Any]) -> None:
    assert SHIPMENTS.decode(orjson.dumps(shipment)).route == ["US", "SG", "IN"]
    assert _reject(SHIPMENTS, {**shipment, "route": ["US", "QQ"]}).reason.startswith("route[1]:")
    assert "'departed'" in _reject(SHIPMENTS, {**shipment, "status": "lost"}).reason
    assert _reject(SHIPMENTS, {**shipment, "lines": []}).reason.startswith("lines:")


def test_policy_change_tier_is_1_2_or_3() -> None:
    from tests.unit.schemas.conftest import load_example

    change = load_example("policy-change.json")
    assert Codec(PolicyChange).decode(orjson.dumps(change)).tier == 1
    assert _reject(Codec(PolicyChange), {**change, "tier": 4}).reason.startswith("tier:")
    assert _reject(Codec(PolicyChange), {**change, "cap_tpp": -1}).reason.startswith("cap_tpp:")


def test_decision_reasons_must_fit_the_decision() -> None:
    from tests.unit.schemas.conftest import load_example

    decision = load_example("decision.json")
    assert Codec(Decision).decode(orjson.dumps(decision)).order_tpp == 15832000
    wrong = {**decision, "reasons": [{"code": "TIER3_DESTINATION", "detail": "x"}]}
    assert "hold codes: TIER3_DESTINATION" in _reject(Codec(Decision), wrong).reason
    held = {**decision, "decision": "held", "reasons": [{"code": "LPP", "detail": "x"}]}
    assert "at least one hold reason" in _reject(Codec(Decision), held).reason


def test_alert_risk_score_is_a_fraction() -> None:
    from tests.unit.schemas.conftest import load_example

    alert = load_example("alert.json")
    assert Codec(Alert).decode(orjson.dumps(alert)).risk_score == 0.8
    assert _reject(Codec(Alert), {**alert, "risk_score": 1.5}).reason.startswith("risk_score:")
    assert (
        "'COUNTRY_CAP_NEARING'"
        in _reject(Codec(Alert), {**alert, "signals": [{"code": "VIBES", "detail": ""}]}).reason
    )
