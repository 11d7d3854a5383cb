"""Turning Redis replies into values and records, and records into bytes. No I/O."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ._errors import CorruptRecordError

ModelT = TypeVar("ModelT", bound=BaseModel)


def key_text(key: str | bytes) -> str:
    """A key as text, whatever form Redis returned it in."""
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else key


def encode_record(record: BaseModel) -> bytes:
    """The stored form of a record."""
    return record.model_dump_json().encode()


def decode_record(key: str | bytes, raw: bytes | None, model: type[ModelT]) -> ModelT | None:
    """The record stored at `key`: `None` if absent, `CorruptRecordError` if unreadable."""
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        # Only locations and messages: the stored value itself may hold secrets.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '<record>'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise CorruptRecordError(
            key_text(key), f"not a valid {model.__name__} ({problems})"
        ) from None


def decode_text(key: str, raw: bytes | None) -> str | None:
    """A plain value as text, `None` when absent, `CorruptRecordError` when not UTF-8."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptRecordError(key, "the value is not UTF-8 text") from None
