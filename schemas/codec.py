"""Bytes <-> models for the wire: orjson plus pydantic, with limits and readable errors.

``decode`` raises only ``DecodeError``, whatever the bytes; its ``reason`` is the string a
dead-letter record carries, e.g. ``lines[2].quantity: must be greater than 0``.

Decoding uses ``model_validate_json`` (pydantic's own JSON parser): measured against
``orjson.loads`` + ``model_validate`` by ``bench/codec.py``, it was the faster of the two (174k vs
159k ops/s on a 413-byte order). Encoding uses pydantic's serializer straight to bytes (397k vs
296k ops/s for orjson over ``model_dump``): field order is definition order, so equal models give
equal bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from schemas.models import MAX_LINES_PER_ORDER, UnsupportedSchemaVersion

DEFAULT_MAX_BYTES = 1024 * 1024

ErrorKind = Literal["too_large", "not_json", "invalid", "unsupported_version"]

M = TypeVar("M", bound=BaseModel)


class DecodeError(ValueError):
    """A record that cannot become a model: ``reason`` for people, ``kind`` for programs."""

    def __init__(self, reason: str, kind: ErrorKind) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: ErrorKind = kind


def format_location(loc: Sequence[int | str]) -> str:
    """``("lines", 2, "quantity")`` -> ``lines[2].quantity``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(record)"


_PHRASES = (
    ("Input should be ", "must be "),
    ("Field required", "is required"),
    ("Value error, ", ""),
    ("Input is ", "is "),
    ("String should have ", "must have "),
    ("List should have ", "must have "),
)


def _phrase(message: str) -> str:
    for old, new in _PHRASES:
        if message.startswith(old):
            return new + message[len(old) :]
    return message


def format_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """One line per problem (at most ``limit``), each ``path: reason``."""
    errors = exc.errors(include_url=False)
    lines = [f"{format_location(e['loc'])}: {_phrase(e['msg'])}" for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return "; ".join(lines)


def _is_unsupported_version(exc: ValidationError) -> bool:
    return any(
        isinstance((e.get("ctx") or {}).get("error"), UnsupportedSchemaVersion)
        for e in exc.errors(include_url=False)
    )


class Codec(Generic[M]):
    """Decode and encode one model type."""

    def __init__(
        self,
        model: type[M],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_lines: int = MAX_LINES_PER_ORDER,
    ) -> None:
        self.model = model
        self.max_bytes = max_bytes
        self.max_lines = max_lines

    def decode(self, data: bytes | bytearray | memoryview | None) -> M:
        if data is None:
            raise DecodeError("record has no value (tombstone)", "invalid")
        if len(data) > self.max_bytes:
            # Checked before parsing: a huge record must not cost a parse to be refused.
            raise DecodeError(
                f"record is {len(data)} bytes, over the limit of {self.max_bytes}", "too_large"
            )
        try:
            model = self.model.model_validate_json(bytes(data))
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise DecodeError(f"not valid JSON: {_json_problem(exc)}", "not_json") from None
            kind: ErrorKind = "unsupported_version" if _is_unsupported_version(exc) else "invalid"
            raise DecodeError(format_validation_error(exc), kind) from None
        except (ValueError, TypeError, UnicodeDecodeError) as exc:  # pragma: no cover - defensive
            raise DecodeError(f"undecodable record: {exc}", "not_json") from None
        lines = getattr(model, "lines", None)
        if lines is not None and len(lines) > self.max_lines:
            raise DecodeError(
                f"lines: {len(lines)} lines, over the limit of {self.max_lines}", "invalid"
            )
        return model

    def encode(self, model: M) -> bytes:
        return encode(model)


def _json_problem(exc: ValidationError) -> str:
    for e in exc.errors(include_url=False):
        if e["type"] == "json_invalid":
            return str((e.get("ctx") or {}).get("error", e["msg"]))
    return str(exc)


def encode(model: BaseModel) -> bytes:
    """Stable JSON bytes: definition-order keys, no whitespace, UTF-8."""
    return model.__pydantic_serializer__.to_json(model)


def dumps(value: Any) -> bytes:
    """orjson with the same options, for plain structures."""
    return orjson.dumps(value)
