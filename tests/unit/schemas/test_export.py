"""The generated contract files: up to date, and as strict as the models where it matters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from schemas import export
from schemas.codec import Codec
from schemas.models import INPUT_MODELS, OUTPUT_MODELS

EXAMPLES = sorted((export.HERE / "examples").glob("*.json"))
MODEL_OF_PREFIX = {
    "order": "OrderEvent",
    "shipment": "ShipmentEvent",
    "policy": "PolicyChange",
    "decision": "Decision",
    "alert": "Alert",
    "dead": "DeadLetter",
}


def _model_name(example: Path) -> str:
    return MODEL_OF_PREFIX[example.stem.split("-")[0]]


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((export.JSON_DIR / f"{name}.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def test_checked_in_files_match_the_models() -> None:
    assert export.main(["--check"]) == 0, "run `python -m schemas.export`"


def test_check_notices_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "JSON_DIR", tmp_path / "json")
    monkeypatch.setattr(export, "ASYNCAPI", tmp_path / "asyncapi.yaml")
    assert export.main(["--check"]) == 1
    assert export.main([]) == 0
    assert export.main(["--check"]) == 0


def test_there_is_an_example_per_event_type_and_consignee_kind() -> None:
    names = {_model_name(e) for e in EXAMPLES}
    assert names == set(INPUT_MODELS) | set(OUTPUT_MODELS)
    orders = [json.loads(e.read_text()) for e in EXAMPLES if e.stem.startswith("order")]
    assert {o["event_type"] for o in orders} == {"created", "amended", "cancelled"}
    assert {o["consignee"]["kind"] for o in orders} == {
        "end_user", "distributor", "cloud_provider", "freight_forwarder",
    }  # fmt: skip
    assert {(o["veu"] or {}).get("kind") for o in orders} == {None, "universal", "national"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_pass_models_and_json_schemas(example: Path) -> None:
    name = _model_name(example)
    model = {**INPUT_MODELS, **OUTPUT_MODELS}[name]
    Codec(model).decode(example.read_bytes())
    _validator(name).validate(json.loads(example.read_text()))


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda o: o["lines"][0].update(quantity=-3), "negative quantity"),
        (lambda o: o.update(destination_country="XX"), "unknown country"),
        (lambda o: o.update(occurred_at="2025-03-01T09:00:00"), "naive timestamp"),
    ],
)
def test_json_schema_rejects_what_the_models_reject(mutate: Any, what: str) -> None:
    order = json.loads((export.HERE / "examples" / "order-created.json").read_text())
    mutate(order)
    errors = list(_validator("OrderEvent").iter_errors(order))
    assert errors, f"the JSON Schema accepted a {what}"


def test_asyncapi_describes_every_topic_with_key_and_payload() -> None:
    doc = yaml.safe_load(export.ASYNCAPI.read_text())
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "orders", "shipments", "policy", "screening.approvals", "screening.holds",
        "screening.alerts", "screening.dead-letter",
    }  # fmt: skip
    messages = doc["components"]["messages"]
    for channel_id, channel in doc["channels"].items():
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[1]]
            payload = export.HERE / message["payload"]["$ref"]
            assert payload.exists(), payload
            assert message["bindings"]["kafka"]["key"]["type"] == "string"
        ops = [o for o in doc["operations"].values() if o["channel"]["$ref"].endswith(channel_id)]
        assert len(ops) == 1 and ops[0]["action"] in ("send", "receive")
