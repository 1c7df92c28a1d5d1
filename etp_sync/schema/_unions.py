"""Which branch of an Avro union a Python value travels in: one rule set for every codec path.

``None`` → null; records → their own branch; ``bool`` → boolean; :class:`Int32` → int and other
integers → long (or whichever of the two exists); :class:`Float32` → float and other floats →
double; ``str`` → string (or the union's enum, or a UUID for a fixed); ``uuid.UUID`` → fixed;
bytes-like → bytes (or fixed); enum members → the enum.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ETPEncodeError
from ._model import Float32, Int32, Record
from ._parse import SchemaModel, UnionType


def branch_picker(model: SchemaModel, u: UnionType) -> Callable[[Any], int]:
    """A function returning the index of the branch of ``u`` that a value travels in."""
    b = u.branches
    named = {name: i for i, name in enumerate(b) if name in model.types}
    fixed = [i for name, i in named.items() if model.types[name].kind == "fixed"]
    enums = [i for name, i in named.items() if model.types[name].kind == "enum"]

    def first(*names: str) -> int:
        for n in names:
            if n in b:
                return b.index(n)
        raise ETPEncodeError(f"no branch of {b} for this value")

    def pick(value: Any) -> int:
        if value is None:
            return first("null")
        if isinstance(value, Record):
            i = named.get(value.etp_full_name)
            if i is None:
                raise ETPEncodeError(f"{value.etp_name} is not a branch of {b}")
            return i
        if isinstance(value, bool | np.bool_):
            return first("boolean")
        if isinstance(value, Int32):
            return first("int", "long")
        if isinstance(value, int | np.integer):
            return first("long", "int")
        if isinstance(value, Float32):
            return first("float", "double")
        if isinstance(value, float | np.floating):
            return first("double", "float")
        if isinstance(value, str):
            if "string" in b:
                return b.index("string")
            if enums:
                return enums[0]
            if fixed:
                return fixed[0]
            return first("string")
        if isinstance(value, uuid.UUID) and fixed:
            return fixed[0]
        if isinstance(value, bytes | bytearray | memoryview | np.ndarray):
            return first("bytes") if "bytes" in b or not fixed else fixed[0]
        if enums and isinstance(value, enum.Enum):
            return enums[0]
        raise ETPEncodeError(f"cannot put a {type(value).__name__} into a union of {b}")

    return pick
