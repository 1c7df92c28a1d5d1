"""Avro JSON schemas of the type model, in the form of the official ETP 1.2 protocol file.

The codec does not read these (it is generated from the model itself, :mod:`etp_sync.codec.
_compiled`); they show that our declarations are the official ones, field for field
(tests/test_schema_exact.py), and let tools that read Avro schemas parse our types.
"""

from __future__ import annotations

from typing import Any

from ._parse import ArrayType, MapType, NamedType, TypeRef


def type_json(t: TypeRef) -> Any:
    """Avro JSON of a type reference (named types by full name)."""
    if isinstance(t, str):
        return t
    if isinstance(t, ArrayType):
        return {"type": "array", "items": type_json(t.items)}
    if isinstance(t, MapType):
        return {"type": "map", "values": type_json(t.values)}
    return [type_json(b) for b in t.branches]


def named_json(t: NamedType) -> dict[str, Any]:
    """Avro JSON of a declared type."""
    base: dict[str, Any] = {"type": t.kind, "name": t.name, "namespace": t.namespace}
    if t.kind == "enum":
        base["symbols"] = list(t.symbols)
    elif t.kind == "fixed":
        base["size"] = t.size
    else:
        fields = []
        for f in t.fields:
            entry: dict[str, Any] = {"name": f.name, "type": type_json(f.type)}
            if f.has_default:
                entry["default"] = f.default
            fields.append(entry)
        base["fields"] = fields
    return base
