"""Faust agents: the walking skeleton. Orders in, a placeholder Decision out.

Until the rules are wired in, every order is held with LICENSE_REQUIRED: a placeholder that
approves nothing is the only safe one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import faust
import orjson
from faust import web

from streams import topics
from streams.settings import Settings

BATCH_SIZE = 1000
BATCH_WINDOW_S = 0.05


def register(app: faust.App, settings: Settings) -> None:
    orders = app.topic(settings.topic(topics.ORDERS), value_serializer="raw", key_serializer="raw")
    holds = app.topic(settings.topic(topics.HOLDS), value_serializer="raw", key_serializer="raw")

    @app.agent(orders, name="chipscreen.screen-orders")
    async def screen_orders(stream: Any) -> None:
        async for batch in stream.take(BATCH_SIZE, within=BATCH_WINDOW_S):
            for raw in batch:
                order = orjson.loads(raw)
                decision = {
                    "order_id": order["order_id"],
                    "decision": "held",
                    "reasons": [
                        {"code": "LICENSE_REQUIRED", "detail": "placeholder: rules not wired"}
                    ],
                    "destination_country": order.get("destination_country"),
                    "policy_version": settings.policy_pack,
                    "screened_at": dt.datetime.now(dt.UTC).isoformat(),
                }
                await holds.send(key=order["order_id"].encode(), value=orjson.dumps(decision))

    @app.page("/health")
    async def health(view: web.View, request: web.Request) -> web.Response:
        return view.json({"status": "ok"})
