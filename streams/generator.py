"""A seeded synthetic world: exporters, consignees, VEUs, forwarders, and a day (or more) of orders
and shipments with a realistic share of red-flag scenarios.

Events come out in time order from a generator, so millions can be written without holding them:
only the orders still waiting for a later event (a shipment, an amendment) are kept, in a heap.

Scenarios (each tagged in ``Event.scenario`` for tests and the demo summary):
split orders, destination drift, Hong Kong routing, look-alikes of restricted-party entries,
orphan shipments, over-shipments, transshipment hubs, forwarders as consignees, residential
addresses, PRC-made chips, amendments and cancellations.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import heapq
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rules.catalog import load_catalog

TIER1 = ["US", "DE", "JP", "GB", "FR", "NL", "KR", "TW", "CA", "AU", "SE", "IE"]
TIER2 = ["IN", "AE", "SA", "SG", "MY", "TH", "IL", "PL", "BR", "MX", "VN", "ID", "TR", "CH", "PT"]
TIER3 = ["CN", "HK", "RU", "IR", "MO", "BY"]
HUBS = ["SG", "MY", "TH", "ID", "AE"]
# chip mix by share of order lines (catalog part names)
CHIP_MIX = [("H100-SXM", 28), ("H200", 14), ("A100", 10), ("L40S", 10), ("H20", 10),
            ("B200", 8), ("GB200", 5), ("MI300X", 5), ("L4", 5), ("GAUDI3", 3),
            ("ASCEND-910B", 1), ("H100-PCIE", 1)]  # fmt: skip
SCENARIO_RATES = {
    "split_orders": 0.02, "destination_drift": 0.02, "hong_kong_routing": 0.015,
    "lookalike_party": 0.01, "orphan_shipment": 0.01, "over_shipment": 0.02,
    "hub_routing": 0.06, "residential": 0.005, "amendment": 0.05, "cancellation": 0.03,
}  # fmt: skip
WORDS = ["Compute", "Cloud", "Data", "Systems", "Digital", "Networks", "Labs", "AI",
         "Infrastructure", "Technologies", "Analytics", "Silicon"]  # fmt: skip
FORWARDERS = ["Swift Freight Logistics", "Oceanic Cargo Partners", "Blue Horizon Forwarding"]


@dataclasses.dataclass(frozen=True)
class Event:
    at: dt.datetime
    topic: str  # "orders" or "shipments"
    key: str
    value: dict[str, Any]
    scenario: str = ""


@dataclasses.dataclass
class Party:
    id: str
    name: str
    country: str
    hq: str
    parent_hq: str
    kind: str
    address: str
    veu: dict[str, str] | None = None


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def lookalike_names(csl_dir: Path | None) -> list[str]:
    """Entity names from the CSL samples, to misspell into look-alike consignees."""
    if csl_dir is None or not csl_dir.exists():
        return ["Atlas Sanatgaran", "Sinobright Import and Export Company"]
    names = []
    for path in sorted(csl_dir.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("name") or "").split(";")[0].strip()
                source = row.get("source") or ""
                if name and ("Entity List" in source or "Unverified" in source):
                    names.append(name)
    return names or ["Atlas Sanatgaran"]


class World:
    def __init__(
        self,
        seed: int = 7,
        consignees: int = 2000,
        csl_dir: Path | None = None,
        start: dt.datetime | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.start = start or dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
        self.catalog = load_catalog()
        self.exporters = [
            {"id": f"EXP-{cc}", "name": f"{name} Semiconductors", "country": cc,
             "hq_country": cc, "parent_hq_country": cc}
            for cc, name in [("US", "Acme"), ("US", "Valley"), ("JP", "Fuji"), ("KR", "Han"),
                             ("NL", "Polder"), ("TW", "Formosa")]
        ]  # fmt: skip
        self.parties = [self._party(i) for i in range(consignees)]
        self.uveus = [
            Party(f"UVEU-{i}", f"Hyperscale {w} Inc", "US", "US", "US", "cloud_provider",
                  f"{100 + i} Market St, Seattle", {"id": f"UVEU-{i}", "kind": "universal"})
            for i, w in enumerate(["North", "Azure", "Summit"])
        ]  # fmt: skip
        self.nveus = [
            Party(f"NVEU-{cc}", f"{cc} National Compute", cc, cc, cc, "cloud_provider",
                  f"1 Data Park, {cc}", {"id": f"NVEU-{cc}", "kind": "national"})
            for cc in ["IN", "AE", "SA", "MY", "BR"]
        ]  # fmt: skip
        self.lookalikes = lookalike_names(csl_dir)

    def _party(self, i: int) -> Party:
        r = self.rng.random()
        pool = TIER1 if r < 0.35 else TIER2 if r < 0.92 else TIER3
        cc = self.rng.choice(pool)
        kind = self.rng.choices(
            ["end_user", "cloud_provider", "distributor", "freight_forwarder"], [50, 25, 20, 5]
        )[0]
        hq = cc
        parent = cc
        if self.rng.random() < 0.04:
            parent = "CN"  # a front company: local site, PRC parent
        elif cc in TIER1 and self.rng.random() < 0.05:
            parent = self.rng.choice(TIER2)
        name = f"{self.rng.choice(WORDS)} {self.rng.choice(WORDS)} {i}"
        if kind == "freight_forwarder":
            name = f"{self.rng.choice(FORWARDERS)} {cc} {i}"
        return Party(f"CNS-{i:05d}", name, cc, hq, parent, kind, f"{i} Industrial Rd, {cc}")

    # -- events ----------------------------------------------------------------------------

    def _lines(self, big: bool = False) -> list[dict[str, Any]]:
        n = 1 if self.rng.random() < 0.8 else 2
        parts = self.rng.choices([p for p, _ in CHIP_MIX], [w for _, w in CHIP_MIX], k=n)
        top = 3000 if big else 600
        return [
            {"part_number": p, "quantity": max(1, int(self.rng.paretovariate(1.3) * 8) % top)}
            for p in dict.fromkeys(parts)
        ]

    def _consignee(self, p: Party, name: str | None = None, address: str | None = None) -> Any:
        return {"id": p.id, "name": name or p.name, "country": p.country, "hq_country": p.hq,
                "parent_hq_country": p.parent_hq, "kind": p.kind,
                "address": address or p.address}  # fmt: skip

    def _order(
        self, oid: str, at: dt.datetime, party: Party, lines: list[dict[str, Any]], **kw: Any
    ) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "event_type": kw.pop("event_type", "created"),
            "order_id": oid,
            "occurred_at": _stamp(at),
            "exporter": self.rng.choice(self.exporters),
            "consignee": kw.pop("consignee", None) or self._consignee(party),
            "destination_country": party.country,
            "end_use": "datacenter",
            "veu": party.veu,
            "license_id": kw.pop("license_id", None),
            "lines": lines,
            "event_version": kw.pop("event_version", 0),
        }

    def _shipment(
        self, sid: str, order: dict[str, Any], at: dt.datetime, **kw: Any
    ) -> dict[str, Any]:
        dest = kw.pop("dest", order["destination_country"])
        origin = order["exporter"]["country"]
        route = kw.pop("route", [origin, dest])
        cons = order["consignee"]
        return {
            "schema_version": 1, "shipment_id": sid, "order_id": order["order_id"],
            "occurred_at": _stamp(at), "status": "departed", "origin_country": origin,
            "destination_country": dest, "route": route, "carrier": "Blue Line",
            "forwarder": kw.pop("forwarder", None),
            "consignee": {"id": cons["id"], "name": cons["name"], "country": dest,
                          "kind": cons["kind"], "address": kw.pop("address", cons["address"])},
            "lines": kw.pop("lines", [{"part_number": ln["part_number"],
                                       "quantity": ln["quantity"]} for ln in order["lines"]]),
        }  # fmt: skip

    def events(self, orders: int, span: dt.timedelta = dt.timedelta(days=1)) -> Iterator[Event]:
        """``orders`` order-creating events spread over ``span``, with their follow-ups."""
        rng = self.rng
        later: list[tuple[dt.datetime, int, Event]] = []
        seq = 0
        step = span / max(1, orders)

        def schedule(ev: Event) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(later, (ev.at, seq, ev))

        for i in range(orders):
            at = self.start + step * i
            while later and later[0][0] <= at:
                yield heapq.heappop(later)[2]
            yield from self._one_order(i, at, schedule, rng)
        while later:
            yield heapq.heappop(later)[2]

    def _one_order(self, i: int, at: dt.datetime, schedule: Any, rng: random.Random) -> Any:
        oid = f"ORD-{i:07d}"
        roll = rng.random()
        veu_roll = rng.random()
        if veu_roll < 0.04:
            party = rng.choice(self.uveus)
            if rng.random() < 0.9:  # UVEUs build their Tier 1 base first
                party = dataclasses.replace(party, country=rng.choice(TIER1[:4]))
            else:
                party = dataclasses.replace(party, country=rng.choice(HUBS))
        elif veu_roll < 0.07:
            party = rng.choice(self.nveus)
        else:
            party = rng.choice(self.parties)
        licensed = party.country in TIER2 and party.veu is None and rng.random() < 0.35
        lines = self._lines(big=licensed)
        order = self._order(oid, at, party, lines, license_id=f"LIC-{i}" if licensed else None)
        scenario = ""
        rates = SCENARIO_RATES
        cum = 0.0
        for name, rate in rates.items():
            cum += rate
            if roll < cum:
                scenario = name
                break
        if scenario == "split_orders" and party.country in TIER2 and party.veu is None:
            # three orders each ~40% of the LPP allowance inside a week
            for k in range(3):
                part = {"part_number": "H100-SXM", "quantity": 680}
                o = self._order(f"{oid}-S{k}", at + dt.timedelta(days=k * 2), party, [part])
                yield_at = at + dt.timedelta(days=k * 2)
                schedule(Event(yield_at, "orders", o["order_id"], o, "split_orders"))
            return
        if scenario == "lookalike_party":
            name = rng.choice(self.lookalikes)
            pos = rng.randrange(len(name))
            typo = name[:pos] + rng.choice("aeiou") + name[pos + 1 :]
            order["consignee"] = self._consignee(party, name=typo)
        if scenario == "residential":
            order["consignee"] = self._consignee(party, address=f"Apt {i % 90 + 1}, 7 Garden Rd")
        yield Event(at, "orders", oid, order, scenario)

        ship_at = at + dt.timedelta(hours=rng.uniform(2, 30))
        if scenario == "cancellation":
            cancel = {**order, "event_type": "cancelled", "lines": [], "event_version": 1,
                      "occurred_at": _stamp(at + dt.timedelta(hours=1))}  # fmt: skip
            schedule(Event(at + dt.timedelta(hours=1), "orders", oid, cancel, scenario))
            return
        if scenario == "amendment":
            new_lines = [{**ln, "quantity": max(1, ln["quantity"] // 2)} for ln in order["lines"]]
            amended = {**order, "event_type": "amended", "lines": new_lines, "event_version": 1,
                       "occurred_at": _stamp(at + dt.timedelta(hours=1))}  # fmt: skip
            schedule(Event(at + dt.timedelta(hours=1), "orders", oid, amended, scenario))
            order = amended
        if rng.random() > 0.7 and scenario not in (
            "orphan_shipment",
            "over_shipment",
            "destination_drift",
            "hong_kong_routing",
        ):
            return  # not every order ships within the day  # fmt: skip
        sid = f"SHP-{i:07d}"
        kw: dict[str, Any] = {}
        if scenario == "destination_drift":
            kw["dest"] = rng.choice([c for c in TIER2 if c != order["destination_country"]])
        elif scenario == "hong_kong_routing":
            kw["route"] = [order["exporter"]["country"], "HK", order["destination_country"]]
        elif scenario == "hub_routing":
            hub = rng.choice([h for h in HUBS if h != order["destination_country"]])
            kw["route"] = [order["exporter"]["country"], hub, order["destination_country"]]
        elif scenario == "over_shipment":
            kw["lines"] = [{"part_number": ln["part_number"], "quantity": ln["quantity"] + 5}
                           for ln in order["lines"]]  # fmt: skip
        elif scenario == "orphan_shipment":
            ghost = {**order, "order_id": f"GHOST-{i:07d}"}
            shipment = self._shipment(sid, ghost, ship_at)
            schedule(Event(ship_at, "shipments", sid, shipment, scenario))
            return
        shipment = self._shipment(sid, order, ship_at, **kw)
        schedule(Event(ship_at, "shipments", sid, shipment, scenario))
