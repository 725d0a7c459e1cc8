"""Generate the machine-readable contract: a JSON Schema per event and an AsyncAPI 3.0 document.

python -m schemas.export           # write schemas/json/*.json and schemas/asyncapi.yaml
python -m schemas.export --check   # exit 1 if the checked-in files differ from the models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from schemas.models import INPUT_MODELS, OUTPUT_MODELS

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
ASYNCAPI = HERE / "asyncapi.yaml"

# topic -> (message model, key description, direction); mirrors CONTRACT.md's topic tables.
TOPICS: dict[str, tuple[str, str, str]] = {
    "orders": ("OrderEvent", "order_id", "receive"),
    "shipments": ("ShipmentEvent", "shipment_id", "receive"),
    "policy": ("PolicyChange", "change_id (compacted topic)", "receive"),
    "screening.approvals": ("Decision", "order_id", "send"),
    "screening.holds": ("Decision", "order_id", "send"),
    "screening.alerts": ("Alert", "order_id or shipment_id", "send"),
    "screening.dead-letter": ("DeadLetter", "the original record's key", "send"),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    models: dict[str, type[BaseModel]] = {**INPUT_MODELS, **OUTPUT_MODELS}
    out: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://chipscreen.example/schemas/{name}.json"
        out[name] = schema
    return out


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, (model, key, direction) in TOPICS.items():
        cid = _channel_id(topic)
        messages[model] = {
            "name": model,
            "contentType": "application/json",
            "payload": {"$ref": f"./json/{model}.json"},
        }
        channels[cid] = {
            "address": topic,
            "description": f"Kafka topic `{topic}` (an optional prefix comes from configuration).",
            "messages": {model: {"$ref": f"#/components/messages/{model}"}},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": "0.5.0"}},
        }
        operations[f"{direction}_{cid}"] = {
            "action": direction,
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"{'chipscreen consumes' if direction == 'receive' else 'chipscreen emits'}"
            f" {model} records on `{topic}`",
            "messages": [{"$ref": f"#/channels/{cid}/messages/{model}"}],
        }
        messages[model]["bindings"] = {
            "kafka": {
                "key": {"type": "string", "description": key},
                "bindingVersion": "0.5.0",
            }
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "chipscreen",
            "version": "1.0.0",
            "description": "Export-control screening of AI chip orders and shipments "
            "(wire contract v1). JSON, UTF-8, snake_case keys, RFC 3339 timestamps with offset, "
            "ISO 3166-1 alpha-2 countries, TPP as integers. Consumers ignore unknown fields.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered() -> dict[Path, str]:
    files = {
        JSON_DIR / f"{name}.json": json.dumps(schema, indent=2, sort_keys=False) + "\n"
        for name, schema in json_schemas().items()
    }
    files[ASYNCAPI] = yaml.safe_dump(asyncapi_document(), sort_keys=False, width=100)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if files are out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if args.check and stale:
        names = ", ".join(p.name for p in stale)
        print(f"out of date: {names}; run `python -m schemas.export`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
