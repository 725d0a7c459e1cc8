"""schemas' wire codec registered with Faust, one codec name per contract model.

Output topics use these names, so ``topic.send(value=decision)`` encodes through the contract.
Input topics stay raw on purpose: the agents decode each record with ``schemas.codec.Codec`` so a
record that fails can be dead-lettered with its original bytes, partition and offset, which a
codec raising inside Faust's deserializer could not do.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel

from schemas.codec import Codec, encode
from schemas.models import INPUT_MODELS, OUTPUT_MODELS


class ContractCodec(codecs.Codec):
    def __init__(self, model: type[BaseModel], **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        self._codec = Codec(model)

    def _loads(self, s: bytes) -> Any:
        return self._codec.decode(s)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseModel):
            return encode(obj)
        return encode(self._codec.model.model_validate(obj))


def codec_name(model_name: str) -> str:
    return f"chipscreen.{model_name}"


def register_all() -> None:
    """Idempotent: safe to call from every app factory."""
    for name, model in {**INPUT_MODELS, **OUTPUT_MODELS}.items():
        codecs.register(codec_name(name), ContractCodec(model))
