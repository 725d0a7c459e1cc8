"""Small builders for rules tests: an order from the contract example with overrides."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rules.policy import PolicyView, load_pack
from schemas.models import OrderEvent, PolicyChange, ShipmentEvent

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
H100_TPP = 15_832


def order(
    order_id: str = "ORD-1",
    *,
    dest: str = "IN",
    qty: int = 1000,
    part: str = "H100-SXM",
    event_type: str = "created",
    version: int | None = None,
    at: dt.datetime = T0,
    consignee: dict[str, Any] | None = None,
    lines: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> OrderEvent:
    cons = {
        "id": "CNS-9", "name": "Bharat Cloud", "country": dest, "hq_country": dest,
        "parent_hq_country": dest, "kind": "end_user", "address": "12 Ring Rd, Pune",
    }  # fmt: skip
    cons.update(consignee or {})
    data: dict[str, Any] = {
        "schema_version": 1,
        "event_type": event_type,
        "order_id": order_id,
        "occurred_at": at,
        "exporter": {"id": "EXP-1", "name": "Acme Semis", "country": "US", "hq_country": "US",
                     "parent_hq_country": "US"},
        "consignee": cons,
        "destination_country": dest,
        "veu": None,
        "license_id": None,
        "lines": lines if lines is not None else [{"part_number": part, "quantity": qty}],
        "event_version": version,
    }  # fmt: skip
    data.update(fields)
    return OrderEvent.model_validate(data)


def shipment(
    shipment_id: str = "SHP-1",
    order_id: str = "ORD-1",
    *,
    dest: str = "IN",
    route: list[str] | None = None,
    qty: int = 1000,
    part: str = "H100-SXM",
    consignee: dict[str, Any] | None = None,
    **fields: Any,
) -> ShipmentEvent:
    cons = {"id": "CNS-9", "name": "Bharat Cloud", "country": dest, "kind": "end_user",
            "address": "12 Ring Rd, Pune"}  # fmt: skip
    cons.update(consignee or {})
    data: dict[str, Any] = {
        "schema_version": 1, "shipment_id": shipment_id, "order_id": order_id,
        "occurred_at": T0 + dt.timedelta(days=9), "status": "departed", "origin_country": "US",
        "destination_country": dest, "route": route if route is not None else ["US", dest],
        "carrier": "Blue Line", "forwarder": None, "consignee": cons,
        "lines": [{"part_number": part, "quantity": qty}],
    }  # fmt: skip
    data.update(fields)
    return ShipmentEvent.model_validate(data)


def view(pack: str = "ai-diffusion-2025", *changes: PolicyChange) -> PolicyView:
    return PolicyView(load_pack(pack), changes)


def change(
    country: str, tier: int, at: dt.datetime, change_id: str | None = None, **fields: Any
) -> PolicyChange:
    return PolicyChange.model_validate(
        {
            "schema_version": 1,
            "change_id": change_id or f"{country}-{tier}-{at.date()}",
            "pack": fields.pop("pack", "ai-diffusion-2025"),
            "country": country,
            "tier": tier,
            "effective_from": at,
            **fields,
        }
    )
