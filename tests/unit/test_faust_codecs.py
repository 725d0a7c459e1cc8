from __future__ import annotations

import json
from pathlib import Path

import pytest
from faust.serializers import codecs

from schemas.codec import DecodeError
from schemas.models import Decision
from streams.codecs import codec_name, register_all

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def test_registered_codec_round_trips_through_faust() -> None:
    register_all()
    codec = codecs.get_codec(codec_name("Decision"))
    raw = (EXAMPLES / "decision.json").read_bytes()
    decision = codecs.loads(codec, raw)
    assert isinstance(decision, Decision)
    assert json.loads(codecs.dumps(codec, decision)) == json.loads(
        codecs.dumps(codec, json.loads(raw))
    )


def test_registered_codec_refuses_invalid_records() -> None:
    register_all()
    with pytest.raises(DecodeError):
        codecs.loads(codecs.get_codec(codec_name("OrderEvent")), b'{"order_id": 1}')
