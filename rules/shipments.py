"""Shipment screening: (shipment, the order's last decision or none, shipped so far, policy view)
-> an Alert with signals and a risk score, or a clean pass.

The order side is taken from the order's last Decision (``OrderStatus``), so the shipment side
needs only the decision topics. ``shipped`` is per order: ``{shipment_id: {part: quantity}}``;
a shipment's later events (departed, arrived, ...) replace its own entry, so cumulative counts
never double count one shipment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from rules.alerts import build_alert, signal
from rules.catalog import Catalog, load_catalog, normalise_part
from rules.parties import PartyIndex
from rules.policy import PolicyView
from schemas.codes import AlertSubject, ConsigneeKind, DecisionKind, SignalCode
from schemas.models import Alert, Decision, ShipmentEvent, Signal


@dataclasses.dataclass(frozen=True)
class OrderStatus:
    """What shipment screening needs to know of an order: its last decision."""

    order_id: str
    decision: DecisionKind
    destination_country: str
    consignee_id: str | None
    ordered: dict[str, int]  # normalised part -> units

    @classmethod
    def from_decision(cls, decision: Decision) -> OrderStatus:
        ordered: dict[str, int] = {}
        for line in decision.lines:
            key = normalise_part(line.part_number)
            ordered[key] = ordered.get(key, 0) + line.quantity
        return cls(
            decision.order_id,
            decision.decision,
            decision.destination_country,
            decision.consignee_id,
            ordered,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "decision": self.decision.value,
            "destination_country": self.destination_country,
            "consignee_id": self.consignee_id,
            "ordered": self.ordered,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderStatus:
        return cls(
            data["order_id"],
            DecisionKind(data["decision"]),
            data["destination_country"],
            data["consignee_id"],
            {k: int(v) for k, v in data["ordered"].items()},
        )


@dataclasses.dataclass(frozen=True)
class ShipmentOutcome:
    alert: Alert | None  # None: screened, nothing found (a recorded clean pass)
    shipped: dict[str, dict[str, int]]  # the order's shipped-so-far after this shipment
    signals: tuple[Signal, ...] = ()


def _residential(address: str | None, markers: list[str]) -> str | None:
    if not address:
        return None
    low = address.lower()
    for marker in markers:
        if re.search(rf"\b{re.escape(marker)}\b", low):
            return marker
    return None


def screen_shipment(
    shipment: ShipmentEvent,
    order: OrderStatus | None,
    shipped: dict[str, dict[str, int]],
    view: PolicyView,
    *,
    screened_at: dt.datetime,
    parties: PartyIndex | None = None,
    catalog: Catalog | None = None,
) -> ShipmentOutcome:
    """Screen a shipment. With ``order=None`` the shipment is an orphan: call this only once the
    grace period for its order to appear has passed."""
    catalog = catalog or load_catalog()
    pack = view.pack
    flags = pack.red_flags
    at = shipment.occurred_at
    signals: list[Signal] = []

    def flag(code: SignalCode, detail: str) -> None:
        signals.append(signal(code, detail, pack))

    # -- route
    transit = shipment.route[1:-1] if len(shipment.route) > 2 else []
    endpoints = {shipment.origin_country, shipment.destination_country}
    hubs = [c for c in transit if c in flags.transshipment_hubs and c not in endpoints]
    if hubs:
        flag(SignalCode.TRANSSHIPMENT_HUB, f"route via {', '.join(dict.fromkeys(hubs))}")
    tier3 = [c for c in transit if c in flags.transit_as_tier3 or view.tier(c, at) == 3]
    if tier3:
        flag(SignalCode.TIER3_TRANSIT, f"route via Tier 3 {', '.join(dict.fromkeys(tier3))}")

    # -- parties
    consignee = shipment.consignee
    if consignee.kind is ConsigneeKind.FREIGHT_FORWARDER:
        flag(SignalCode.FORWARDER_CONSIGNEE, f"freight forwarder '{consignee.name}' is consignee")
    units = sum(line.quantity for line in shipment.lines)
    marker = _residential(consignee.address, flags.residential_markers)
    if marker and units >= flags.commercial_quantity:
        flag(
            SignalCode.RESIDENTIAL_ADDRESS,
            f"{units} units to an address that looks residential ('{marker}')",
        )
    if parties is not None:
        for role, name, country in (
            ("consignee", consignee.name, consignee.country),
            ("forwarder", shipment.forwarder, None),
        ):
            if not name:
                continue
            matches = parties.screen(name, country)
            if matches:
                flag(SignalCode.RESTRICTED_PARTY_MATCH, f"{role}: {matches[0].explain()}")

    # -- items
    prc = [
        line.part_number
        for line in shipment.lines
        if (chip := catalog.lookup(line.part_number)) is not None and chip.prc_made
    ]
    if prc:
        flag(SignalCode.PRC_ADVANCED_IC, f"PRC-made advanced ICs: {', '.join(prc)}")

    # -- against the order
    this_shipment: dict[str, int] = {}
    for line in shipment.lines:
        key = normalise_part(line.part_number)
        this_shipment[key] = this_shipment.get(key, 0) + line.quantity
    new_shipped = {**shipped, shipment.shipment_id: this_shipment}
    if order is None:
        flag(SignalCode.ORPHAN_SHIPMENT, f"no order {shipment.order_id} known")
    else:
        if order.decision is DecisionKind.HELD:
            flag(SignalCode.SHIPMENT_OF_HELD_ORDER, f"order {order.order_id} is held")
        if view.canonical_country(shipment.destination_country) != view.canonical_country(
            order.destination_country
        ):
            flag(
                SignalCode.DESTINATION_MISMATCH,
                f"shipment to {shipment.destination_country}, order to {order.destination_country}",
            )
        if order.consignee_id is not None and consignee.id != order.consignee_id:
            flag(
                SignalCode.CONSIGNEE_MISMATCH,
                f"shipment consignee {consignee.id}, order consignee {order.consignee_id}",
            )
        totals: dict[str, int] = {}
        for lines in new_shipped.values():
            for part, qty in lines.items():
                totals[part] = totals.get(part, 0) + qty
        over = [
            f"{part}: {qty} shipped of {order.ordered.get(part, 0)} ordered"
            for part, qty in sorted(totals.items())
            if qty > order.ordered.get(part, 0)
        ]
        if over:
            flag(SignalCode.OVER_SHIPMENT, "; ".join(over))

    alert = None
    if signals:
        alert = build_alert(
            subject=AlertSubject.SHIPMENT,
            subject_id=shipment.shipment_id,
            order_id=shipment.order_id,
            signals=signals,
            pack=pack,
            policy_version=view.version,
            raised_at=screened_at,
            version_key=f"{shipment.status.value}|{shipment.occurred_at.isoformat()}",
        )
    return ShipmentOutcome(alert=alert, shipped=new_shipped, signals=tuple(signals))
