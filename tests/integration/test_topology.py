"""The whole topology on the real broker: reason codes, signals, policy changes, tallies, DLQ."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request
from typing import Any

import pytest

from schemas.codes import ReasonCode, SignalCode
from schemas.models import OrderEvent
from streams import topics
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.testkit import collect, publish, values
from tests.unit.rules.builders import H100_TPP, T0, change, order, shipment

pytestmark = pytest.mark.integration
US = {"hq_country": "US", "parent_hq_country": "US"}


def get(worker: WorkerProcess, path: str) -> Any:
    with urllib.request.urlopen(worker.base_url + path, timeout=10) as resp:
        return json.loads(resp.read())


def decisions_for(
    s: Settings, order_ids: set[str], expected: int | None = None, timeout_s: float = 60
) -> dict[str, list[dict[str, Any]]]:
    want = expected if expected is not None else len(order_ids)
    recs = collect(
        s, [topics.APPROVALS, topics.HOLDS], timeout_s=timeout_s,
        until=lambda r: len([x for x in values(r) if x["order_id"] in order_ids]) >= want,
    )  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {}
    for v in values(recs):
        out.setdefault(v["order_id"], []).append(v)
    return out


def send_orders(s: Settings, events: list[OrderEvent]) -> None:
    publish(s, topics.ORDERS, [(e.order_id, e) for e in events])


def test_every_reason_code_end_to_end(worker: WorkerProcess) -> None:
    s = worker.settings
    cases: dict[str, tuple[OrderEvent, ReasonCode]] = {
        "NC": (order("NC", part="H20"), ReasonCode.NOT_CONTROLLED),
        "AIA": (order("AIA", dest="DE"), ReasonCode.TIER1_AIA),
        "LPP": (order("LPP", qty=100), ReasonCode.LPP),
        "LIC": (order("LIC", qty=2000, license_id="L-1"), ReasonCode.LICENSED_WITHIN_CAP),
        "UV": (order("UV", dest="US", veu={"id": "U1", "kind": "universal"}, consignee=US),
               ReasonCode.UVEU_WITHIN_ALLOCATION),
        "NV": (order("NV", veu={"id": "N1", "kind": "national"}),
               ReasonCode.NVEU_WITHIN_ALLOCATION),
        "T3": (order("T3", dest="CN"), ReasonCode.TIER3_DESTINATION),
        "HQ": (order("HQ", consignee={"parent_hq_country": "RU"}),
               ReasonCode.HEADQUARTERS_RESTRICTED),
        "AIAX": (order("AIAX", dest="FR", consignee={"parent_hq_country": "IN"}),
                 ReasonCode.AIA_HEADQUARTERS_INELIGIBLE),
        "LR": (order("LR", qty=1700, consignee={"id": "BIG"}), ReasonCode.LICENSE_REQUIRED),
        "CAPX": (order("CAPX", dest="AE", qty=60_000, license_id="L-2"),
                 ReasonCode.COUNTRY_CAP_EXCEEDED),
        "UVX": (order("UVX", dest="MY", veu={"id": "U2", "kind": "universal"}, consignee=US),
                ReasonCode.UVEU_ALLOCATION_EXCEEDED),
        "NVX": (order("NVX", qty=200_000, veu={"id": "N2", "kind": "national"},
                      consignee={"id": "NV2"}), ReasonCode.NVEU_ALLOCATION_EXCEEDED),
        "UNC": (order("UNC", part="mystery"), ReasonCode.UNCLASSIFIED_ITEM),
        "RPM": (order("RPM", dest="AM", consignee={"name": "Atlas Sanatgaran"}),
                ReasonCode.RESTRICTED_PARTY_MATCH),
    }  # fmt: skip
    # LPP_EXCEEDED needs an earlier order of the same consignee in the same year
    first = order("LPX-1", qty=1000, consignee={"id": "SPLIT"})
    second = order("LPX-2", qty=800, consignee={"id": "SPLIT"}, at=T0 + dt.timedelta(hours=1))
    send_orders(s, [first])
    decisions_for(s, {"LPX-1"})
    send_orders(s, [e for e, _ in cases.values()] + [second])
    got = decisions_for(s, set(cases) | {"LPX-2"})
    for oid, (_, code) in cases.items():
        assert code.value in [r["code"] for r in got[oid][0]["reasons"]], (oid, got[oid])
    assert [r["code"] for r in got["LPX-2"][0]["reasons"]] == ["LPP_EXCEEDED"]
    assert got["LPP"][0]["policy_version"] == "ai-diffusion-2025@2025-01-13"
    assert got["LPP"][0]["tallies"]["lpp_used_tpp"] == 100 * H100_TPP
    # cancellation ends in a decision too (held: nothing may ship)
    cancel = order("LPP", event_type="cancelled", lines=[], version=99)
    send_orders(s, [cancel])
    after = decisions_for(s, {"LPP"}, expected=2)
    latest = max(after["LPP"], key=lambda d: d["decision_id"].rsplit("@", 1)[1].zfill(20))
    assert [r["code"] for r in latest["reasons"]] == ["ORDER_CANCELLED"]
    # the split across LPX-1/LPX-2 also raised an alert
    alerts = values(collect(s, [topics.ALERTS], timeout_s=30, until=lambda r: any(
        a["order_id"] == "LPX-2" for a in values(r))))  # fmt: skip
    assert SignalCode.SPLIT_ORDERS.value in {
        sig["code"] for a in alerts if a["order_id"] == "LPX-2" for sig in a["signals"]
    }


def test_shipment_signals_end_to_end(worker: WorkerProcess) -> None:
    s = worker.settings
    send_orders(s, [order("OK", qty=10), order("HELD", dest="CN")])
    decisions_for(s, {"OK", "HELD"})
    shipments = [
        shipment("S-HUB", "OK", qty=1, route=["US", "SG", "IN"]),
        shipment("S-T3", "OK", qty=1, route=["US", "HK", "IN"]),
        shipment("S-FWD", "OK", qty=1, consignee={"kind": "freight_forwarder"}),
        shipment("S-DEST", "OK", qty=1, dest="AE"),
        shipment("S-CONS", "OK", qty=1, consignee={"id": "CNS-X"}),
        shipment("S-OVER", "OK", qty=50),
        shipment("S-HELD", "HELD", qty=1, dest="CN"),
        shipment("S-ORPHAN", "NO-SUCH-ORDER", qty=1),
        shipment("S-RES", "OK", qty=8, consignee={"address": "Apt 5, 9 Elm Street"}),
        shipment("S-PRC", "OK", qty=1, part="Ascend 910B"),
        shipment("S-RPM", "OK", qty=1, forwarder="Atlas Sanatgaran"),
    ]
    publish(s, topics.SHIPMENTS, [(x.shipment_id, x) for x in shipments])
    ids = {x.shipment_id for x in shipments}
    recs = collect(s, [topics.ALERTS], timeout_s=60, until=lambda r: ids <= {
        a["subject_id"] for a in values(r)})  # fmt: skip
    by_id = {a["subject_id"]: {sig["code"] for sig in a["signals"]} for a in values(recs)}
    expect = {
        "S-HUB": "TRANSSHIPMENT_HUB", "S-T3": "TIER3_TRANSIT", "S-FWD": "FORWARDER_CONSIGNEE",
        "S-DEST": "DESTINATION_MISMATCH", "S-CONS": "CONSIGNEE_MISMATCH",
        "S-OVER": "OVER_SHIPMENT", "S-HELD": "SHIPMENT_OF_HELD_ORDER",
        "S-ORPHAN": "ORPHAN_SHIPMENT", "S-RES": "RESIDENTIAL_ADDRESS",
        "S-PRC": "PRC_ADVANCED_IC", "S-RPM": "RESTRICTED_PARTY_MATCH",
    }  # fmt: skip
    for sid, code in expect.items():
        assert code in by_id.get(sid, set()), (sid, by_id.get(sid))
    held = next(a for a in values(recs) if a["subject_id"] == "S-HELD")
    assert held["severity"] == "critical"


def test_tier_change_mid_stream_keeps_old_tier_for_earlier_events(
    worker: WorkerProcess,
) -> None:
    s = worker.settings
    effective = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
    publish(s, topics.POLICY, [("PL-1", change("PL", 1, effective, change_id="PL-1"))])
    early = order("PL-EARLY", dest="PL", qty=10, at=effective - dt.timedelta(days=1))
    late = order("PL-LATE", dest="PL", qty=10, at=effective + dt.timedelta(days=1))
    # the view follows the topic: wait until this worker has applied the change
    for _ in range(100):
        if get(worker, "/policy")["policy_version"].endswith("+1"):
            break
        import time

        time.sleep(0.1)
    send_orders(s, [early, late])
    got = decisions_for(s, {"PL-EARLY", "PL-LATE"})
    assert (got["PL-EARLY"][0]["tier"], got["PL-EARLY"][0]["reasons"][0]["code"]) == (2, "LPP")
    assert (got["PL-LATE"][0]["tier"], got["PL-LATE"][0]["reasons"][0]["code"]) == (
        1, "TIER1_AIA")  # fmt: skip
    assert got["PL-LATE"][0]["policy_version"] == "ai-diffusion-2025@2025-01-13+1"
    assert any(a["country"] == "PL" and a["tier"] == 1 for a in get(worker, "/policy")[
        "assignments"])  # fmt: skip


def test_amendment_and_cancellation_move_tallies(worker: WorkerProcess) -> None:
    s = worker.settings
    send_orders(s, [order("AM", dest="IN", qty=1000, license_id="L", version=1,
                          consignee={"id": "AMC"})])  # fmt: skip
    decisions_for(s, {"AM"})
    assert get(worker, "/tallies/countries/IN")["used_tpp"] == 1000 * H100_TPP
    send_orders(s, [order("AM", dest="IN", qty=400, license_id="L", version=2,
                          event_type="amended", consignee={"id": "AMC"})])  # fmt: skip
    decisions_for(s, {"AM"}, expected=2)
    country = get(worker, "/tallies/countries/IN")
    assert country["used_tpp"] == 400 * H100_TPP
    assert country["cap_tpp"] - country["used_tpp"] == country["remaining_tpp"]
    send_orders(s, [order("AM", dest="IN", event_type="cancelled", lines=[], version=3,
                          consignee={"id": "AMC"})])  # fmt: skip
    decisions_for(s, {"AM"}, expected=3)
    assert get(worker, "/tallies/countries/IN")["used_tpp"] == 0
    # an LPP order shows up in the consignee view
    send_orders(s, [order("LP", qty=10, consignee={"id": "LPC"})])
    decisions_for(s, {"LP"})
    assert get(worker, "/tallies/consignees/LPC/2025?country=IN")["lpp_used_tpp"] == 10 * H100_TPP


def test_poison_records_are_dead_lettered_and_the_worker_keeps_going(
    worker: WorkerProcess,
) -> None:
    s = worker.settings
    good = order("GOOD-AFTER-POISON", qty=1)
    bad_amend = order("NEVER-CREATED", event_type="amended", version=1)
    poison: list[tuple[str | None, Any]] = [
        ("P1", b'{"schema_version": 1, "order_id": '),
        ("P2", b"\xff\xfe\x00garbage"),
        ("P3", {**json.loads(order("P3").model_dump_json()), "schema_version": 2}),
        ("P4", bad_amend),
        ("GOOD-AFTER-POISON", good),
    ]
    publish(s, topics.ORDERS, poison, headers=[("traceparent", b"00-abc-def-01")])
    dead = values(collect(s, [topics.DEAD_LETTER], timeout_s=60, until=lambda r: len(r) >= 4))
    kinds = {base64.b64decode(d["original_key_b64"]).decode(): d["error_kind"] for d in dead}
    assert kinds == {"P1": "not_json", "P2": "not_json", "P3": "unsupported_version",
                     "P4": "rejected"}  # fmt: skip
    p2 = next(d for d in dead if d["error_kind"] == "not_json" and b"garbage" in
              base64.b64decode(d["original_value_b64"]))  # fmt: skip
    assert p2["source_topic"] == s.topic(topics.ORDERS) and p2["source_offset"] >= 0
    got = decisions_for(s, {"GOOD-AFTER-POISON"})
    assert got["GOOD-AFTER-POISON"][0]["decision"] == "approved"
    # the trace id travelled from the input record to the decision
    recs = collect(s, [topics.APPROVALS], timeout_s=10, until=lambda r: len(r) >= 1)
    assert ("traceparent", b"00-abc-def-01") in list(recs[0].headers)
    assert get(worker, "/health")["status"] == "ok"


def test_nothing_is_dropped_silently(worker: WorkerProcess) -> None:
    s = worker.settings
    orders = [order(f"N-{i}", qty=1 + i % 5, consignee={"id": f"C{i % 40}"},
                    dest=["IN", "DE", "AE", "CN", "SG"][i % 5]) for i in range(300)]  # fmt: skip
    bad = [(f"B-{i}", b"{not json") for i in range(20)]
    publish(s, topics.ORDERS, [(o.order_id, o) for o in orders] + bad)
    ships = [shipment(f"SH-{i}", f"N-{i}", qty=1, dest=["IN", "DE", "AE", "CN", "SG"][i % 5])
             for i in range(0, 300, 3)]  # fmt: skip
    bad_ships = [(f"BS-{i}", b'{"shipment_id": 3}') for i in range(7)]
    decisions_for(s, {o.order_id for o in orders})
    publish(s, topics.SHIPMENTS, [(x.shipment_id, x) for x in ships] + bad_ships)
    dead = collect(s, [topics.DEAD_LETTER], timeout_s=60, until=lambda r: len(r) >= 27)
    assert len(dead) == 27
    # every order: one decision; every shipment: an alert or a recorded clean pass
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = urllib.request.urlopen(worker.base_url + "/metrics", timeout=10).read().decode()
        screened = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("chipscreen_shipments_screened_total{"))  # fmt: skip
        if screened >= len(ships):
            break
        time.sleep(0.5)
    assert screened == len(ships)
    decided = decisions_for(s, {o.order_id for o in orders})
    assert all(len(v) == 1 for v in decided.values())
