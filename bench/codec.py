"""Micro-benchmark of the wire codec: decode and encode ops/s for a typical ~350-byte order.

    python bench/codec.py [--seconds 2]

Prints both decode strategies side by side (the codec uses the faster) and the encoders.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from schemas.codec import Codec, encode
from schemas.models import OrderEvent

TYPICAL_ORDER = orjson.dumps(
    {
        "schema_version": 1, "event_type": "created", "order_id": "ORD-000123",
        "occurred_at": "2025-03-01T09:00:00Z",
        "exporter": {"id": "EXP-1", "name": "Acme Semis", "country": "US", "hq_country": "US",
                     "parent_hq_country": "US"},
        "consignee": {"id": "CNS-9", "name": "Bharat Cloud", "country": "IN", "hq_country": "IN",
                      "parent_hq_country": "IN", "kind": "end_user"},
        "destination_country": "IN",
        "lines": [{"part_number": "H100-SXM", "quantity": 1000}],
    }
)  # fmt: skip


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(500):
            fn()
        n += 500
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    codec = Codec(OrderEvent)
    model = codec.decode(TYPICAL_ORDER)
    rows = {
        "decode: model_validate_json": lambda: OrderEvent.model_validate_json(TYPICAL_ORDER),
        "decode: orjson.loads + model_validate": lambda: OrderEvent.model_validate(
            orjson.loads(TYPICAL_ORDER)
        ),
        "decode: Codec.decode (limits + errors)": lambda: codec.decode(TYPICAL_ORDER),
        "encode: codec (pydantic serializer)": lambda: encode(model),
        "encode: orjson.dumps(model_dump(json))": lambda: orjson.dumps(
            model.model_dump(mode="json")
        ),
    }
    print(f"order: {len(TYPICAL_ORDER)} bytes in, {len(encode(model))} bytes out")
    for name, fn in rows.items():
        print(f"{name:42s} {rate(fn, args.seconds):>12,.0f} ops/s")


if __name__ == "__main__":
    main()
