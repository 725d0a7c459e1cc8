from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import Codec, DecodeError, encode, format_location
from schemas.models import OrderEvent, ShipmentEvent
from tests.strategies import order_events, shipment_events

ORDERS = Codec(OrderEvent)


@given(order_events())
@settings(max_examples=200, deadline=None)
def test_order_round_trips_bytes_model_bytes(model: OrderEvent) -> None:
    wire = encode(model)
    again = ORDERS.decode(wire)
    assert again == model
    assert encode(again) == wire


@given(shipment_events)
@settings(max_examples=100, deadline=None)
def test_shipment_round_trips(model: ShipmentEvent) -> None:
    wire = encode(model)
    assert encode(Codec(ShipmentEvent).decode(wire)) == wire


@given(st.binary(max_size=2048))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        ORDERS.decode(data)
    except DecodeError as exc:
        assert exc.reason
        assert exc.kind in ("not_json", "invalid", "too_large", "unsupported_version")


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=6),
    max_leaves=20,
))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_arbitrary_json_raises_only_decode_error(value: Any) -> None:
    with pytest.raises(DecodeError):
        ORDERS.decode(orjson.dumps(value))


def test_size_limit_is_checked_before_parsing() -> None:
    codec = Codec(OrderEvent, max_bytes=1024)
    with pytest.raises(DecodeError) as info:
        codec.decode(b"{" + b" " * 2000)  # would be a JSON error if it were parsed
    assert info.value.kind == "too_large"
    assert "over the limit of 1024" in info.value.reason


def test_line_limit_is_configurable(order: dict[str, Any]) -> None:
    many = {**order, "lines": order["lines"] * 3}
    assert len(Codec(OrderEvent).decode(orjson.dumps(many)).lines) == 3
    with pytest.raises(DecodeError, match=r"lines: 3 lines, over the limit of 2"):
        Codec(OrderEvent, max_lines=2).decode(orjson.dumps(many))


def test_invalid_utf8_is_not_json() -> None:
    with pytest.raises(DecodeError) as info:
        ORDERS.decode(b'{"order_id": "\xff\xfe"}')
    assert info.value.kind == "not_json"


def test_tombstone_is_refused() -> None:
    with pytest.raises(DecodeError, match="tombstone"):
        ORDERS.decode(None)


def test_equal_models_encode_to_equal_bytes(order: dict[str, Any]) -> None:
    reordered = dict(reversed(list(order.items())))
    assert encode(ORDERS.decode(orjson.dumps(order))) == encode(
        ORDERS.decode(orjson.dumps(reordered))
    )


def test_format_location() -> None:
    assert format_location(("lines", 2, "quantity")) == "lines[2].quantity"
    assert format_location(()) == "(record)"
    assert format_location((0,)) == "[0]"
