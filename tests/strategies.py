"""Hypothesis strategies for valid contract records (shared by schema and rules tests)."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from schemas.codes import ConsigneeKind, EventType, ShipmentStatus, VeuKind
from schemas.models import (
    COUNTRY_CODES,
    Consignee,
    Exporter,
    OrderEvent,
    OrderLine,
    ShipmentConsignee,
    ShipmentEvent,
    ShipmentLine,
    Veu,
)

countries = st.sampled_from(sorted(COUNTRY_CODES))
ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=16)
names = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
timestamps = st.datetimes(
    min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2028, 12, 31)
).map(lambda d: d.replace(tzinfo=dt.UTC))
parts = st.sampled_from(["H100-SXM", "H100-PCIE", "A100", "H20", "L40S", "L4", "B200", "MI300X"])

order_lines = st.builds(
    OrderLine,
    part_number=parts,
    quantity=st.integers(min_value=1, max_value=5000),
    tpp_per_unit=st.none() | st.integers(min_value=0, max_value=60_000),
    die_area_mm2=st.none() | st.floats(min_value=1, max_value=2000, allow_nan=False),
    eccn=st.none() | st.sampled_from(["3A090.a", "4A090.a", "EAR99", "3A991"]),
)
exporters = st.builds(
    Exporter, id=ids, name=names, country=countries, hq_country=countries,
    parent_hq_country=countries,
)  # fmt: skip
consignees = st.builds(
    Consignee, id=ids, name=names, country=countries, hq_country=countries,
    parent_hq_country=countries, kind=st.sampled_from(list(ConsigneeKind)),
    address=st.none() | names, operator_id=st.none() | ids,
)  # fmt: skip
veus = st.none() | st.builds(Veu, id=ids, kind=st.sampled_from(list(VeuKind)))


@st.composite
def order_events(draw: st.DrawFn) -> OrderEvent:
    event_type = draw(st.sampled_from(list(EventType)))
    min_lines = 0 if event_type is EventType.CANCELLED else 1
    return OrderEvent(
        schema_version=1,
        event_type=event_type,
        order_id=draw(ids),
        occurred_at=draw(timestamps),
        exporter=draw(exporters),
        consignee=draw(consignees),
        destination_country=draw(countries),
        end_use=draw(st.none() | names),
        veu=draw(veus),
        license_id=draw(st.none() | ids),
        lines=draw(st.lists(order_lines, min_size=min_lines, max_size=4)),
        event_version=draw(st.none() | st.integers(min_value=0, max_value=100)),
    )


shipment_events = st.builds(
    ShipmentEvent,
    schema_version=st.just(1), shipment_id=ids, order_id=ids, occurred_at=timestamps,
    status=st.sampled_from(list(ShipmentStatus)), origin_country=countries,
    destination_country=countries, route=st.lists(countries, max_size=5),
    carrier=st.none() | names, forwarder=st.none() | names,
    consignee=st.builds(ShipmentConsignee, id=ids, name=names, country=countries,
                        kind=st.sampled_from(list(ConsigneeKind))),
    lines=st.lists(st.builds(ShipmentLine, part_number=parts,
                             quantity=st.integers(min_value=1, max_value=5000)),
                   min_size=1, max_size=4),
)  # fmt: skip
