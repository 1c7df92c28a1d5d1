"""Which field of a record holds a value its Avro type cannot take (for encoding errors).

Constructors check and coerce what they are given, but some values get through: a map of
strings given an int, a record whose attribute was changed after it was made. The generated
encoders then fail with Python's own words (``'int' object has no attribute 'encode'``), which
name no field. :func:`first_unfit` walks the record along its schema and names the first value
that does not fit, e.g. ``uris['a']: 5 (int) is not a string``. It runs only once an encoder
has failed, so it is written for clarity, not speed, and errs on the side of accepting: a value
it lets through is left for the encoder's own message.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np

from ..schema._model import ETPEnum, Record, _short_repr
from ..schema._parse import ArrayType, MapType, TypeRef, UnionType
from ..schema._registry import model, registry
from ._varint_bits import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN

__all__ = ["first_unfit"]

_INT_RANGES = {"int": (INT32_MIN, INT32_MAX), "long": (INT64_MIN, INT64_MAX)}
_BYTES_LIKE = (bytes, bytearray, memoryview, np.ndarray)


def first_unfit(record: Record) -> str | None:
    """``"<path>: <value> (<type>) is not <what>"`` for the first value of ``record`` its
    schema type cannot take (depth first, fields in wire order), or None when all fit."""
    return _unfit(record, record.etp_full_name, "")


def _unfit(value: Any, t: TypeRef, path: str) -> str | None:
    if isinstance(t, UnionType):
        reasons = [_unfit(value, branch, path) for branch in t.branches]
        if None in reasons:
            return None
        for branch, why in zip(t.branches, reasons, strict=True):
            cls = registry.classes.get(branch) if isinstance(branch, str) else None
            if cls is not None and isinstance(value, cls):
                return why  # the branch it is a record of: what inside it does not fit
        return _say(path, value, " or ".join(_what(b) for b in t.branches))
    if isinstance(t, ArrayType):
        if isinstance(value, np.ndarray):
            return None  # typed arrays are the array codec's to judge
        if not isinstance(value, list | tuple):
            return _say(path, value, _what(t))
        for i, item in enumerate(value):
            found = _unfit(item, t.items, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(t, MapType):
        if not isinstance(value, Mapping):
            return _say(path, value, _what(t))
        for key, item in value.items():
            if not isinstance(key, str):
                return _say(f"{path}[{key!r}] (its key)", key, "a string")
            found = _unfit(item, t.values, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    return _unfit_named(value, t, path)


def _unfit_named(value: Any, t: str, path: str) -> str | None:
    """A primitive or a declared type."""
    if t == "null":
        return None if value is None else _say(path, value, "null")
    if t == "boolean":
        return None if isinstance(value, bool | np.bool_) else _say(path, value, "a boolean")
    if t in _INT_RANGES:
        if not isinstance(value, Integral):
            return _say(path, value, f"an Avro {t}")
        low, high = _INT_RANGES[t]
        return None if low <= int(value) <= high else _say(path, value, f"within Avro {t}")
    if t in ("float", "double"):
        ok = isinstance(value, Real) and not isinstance(value, bool)
        return None if ok else _say(path, value, f"an Avro {t}")
    if t == "bytes":
        return None if isinstance(value, _BYTES_LIKE) else _say(path, value, "bytes")
    if t == "string":
        return None if isinstance(value, str) else _say(path, value, "a string")
    named = model.types.get(t)
    if named is None:
        return None  # a type this walker does not know: the encoder's message stands
    cls = registry.classes.get(t)
    if named.kind == "enum":
        ok = (isinstance(value, ETPEnum) and (cls is None or isinstance(value, cls))) or (
            isinstance(value, str) and value in named.symbols
        )
        return None if ok else _say(path, value, f"one of {', '.join(named.symbols)}")
    if named.kind == "fixed":
        ok = isinstance(value, uuid.UUID) or (
            isinstance(value, _BYTES_LIKE) and len(bytes(value)) == named.size
        )
        if not ok and isinstance(value, str) and named.size == 16:
            try:
                ok = bool(uuid.UUID(value))
            except ValueError:
                ok = False
        return None if ok else _say(path, value, f"a UUID or {named.size} bytes")
    if cls is not None and not isinstance(value, cls):
        return _say(path, value, f"a record of type {cls.etp_name}")
    for field, attr in zip(named.fields, cls.etp_attributes if cls else (), strict=False):
        found = _unfit(getattr(value, attr, None), field.type, f"{path}.{attr}" if path else attr)
        if found is not None:
            return found
    return None


def _what(t: TypeRef) -> str:
    if isinstance(t, ArrayType):
        return "a list"
    if isinstance(t, MapType):
        return "a dict"
    if isinstance(t, UnionType):
        return " or ".join(_what(b) for b in t.branches)
    if t == "null":
        return "null"
    return t.rsplit(".", 1)[-1]


def _say(path: str, value: Any, what: str) -> str:
    return f"{path or 'the record'}: {_short_repr(value)} ({type(value).__name__}) is not {what}"
