"""Avro schemas from the type model, and conversion between our classes and fastavro values.

Two schema forms are produced:

- the *official* form, field for field what the ETP 1.2 protocol file says (tests compare it);
- the *wire* form given to fastavro. It differs only inside unions that hold both ``int`` and
  ``long`` (or ``float`` and ``double``), as ``DataValue`` does: those branches become records with
  a single field. A one-field record is encoded exactly like its field, so the bytes are identical,
  but fastavro now reports which branch it read, and re-encoding reproduces the same bytes.
"""

from __future__ import annotations

import uuid
from typing import Any

import fastavro
import numpy as np

from ._model import (
    Converter,
    Float32,
    Int32,
    Record,
    TypeRegistry,
    container_converter,
    identity,
)
from ._parse import ArrayType, MapType, NamedType, SchemaModel, TypeRef, UnionType
from ._unions import branch_picker

WRAPPER_NAMESPACE = "etp_sync.wire"
_AMBIGUOUS = (("int", "long"), ("float", "double"))
_WRAPPER_VALUE = {"int": Int32, "long": int, "float": Float32, "double": float}


def _ambiguous_branches(u: UnionType) -> set[str]:
    out: set[str] = set()
    for pair in _AMBIGUOUS:
        if all(p in u.branches for p in pair):
            out.update(pair)
    return out


def type_json(t: TypeRef, *, wire: bool = False) -> Any:
    """Avro JSON of a type reference (named types by full name)."""
    if isinstance(t, str):
        return t
    if isinstance(t, ArrayType):
        return {"type": "array", "items": type_json(t.items, wire=wire)}
    if isinstance(t, MapType):
        return {"type": "map", "values": type_json(t.values, wire=wire)}
    wrapped = _ambiguous_branches(t) if wire else set()
    return [
        f"{WRAPPER_NAMESPACE}.{b}" if b in wrapped else type_json(b, wire=wire) for b in t.branches
    ]


def named_json(t: NamedType, *, wire: bool = False) -> dict[str, Any]:
    """Avro JSON of a declared type, in the official form (or the wire form)."""
    base: dict[str, Any] = {"type": t.kind, "name": t.name, "namespace": t.namespace}
    if t.kind == "enum":
        base["symbols"] = list(t.symbols)
    elif t.kind == "fixed":
        base["size"] = t.size
    else:
        fields = []
        for f in t.fields:
            entry: dict[str, Any] = {"name": f.name, "type": type_json(f.type, wire=wire)}
            if f.has_default:
                entry["default"] = f.default
            fields.append(entry)
        base["fields"] = fields
    return base


def wrapper_schemas() -> list[dict[str, Any]]:
    """The one-field records standing for ambiguous primitive union branches."""
    return [
        {
            "type": "record",
            "name": name,
            "namespace": WRAPPER_NAMESPACE,
            "fields": [{"name": "v", "type": name}],
        }
        for name in ("int", "long", "float", "double")
    ]


class FastavroSchemas:
    """fastavro-parsed wire schemas of every named type, parsed once on first use per type."""

    def __init__(self, model: SchemaModel) -> None:
        self.model = model
        self.named: dict[str, Any] = {}
        for w in wrapper_schemas():
            fastavro.parse_schema(w, named_schemas=self.named)
        for t in model.types.values():
            if not t.is_message:
                fastavro.parse_schema(named_json(t, wire=True), named_schemas=self.named)
        self._parsed: dict[str, Any] = {}

    def parsed(self, full_name: str) -> Any:
        schema = self._parsed.get(full_name)
        if schema is None:
            t = self.model.types[full_name]
            schema = fastavro.parse_schema(named_json(t, wire=True), named_schemas=dict(self.named))
            self._parsed[full_name] = schema
        return schema


class AvroConverters:
    """Compiled converters between our objects and fastavro's dict values, per named type."""

    def __init__(self, model: SchemaModel, registry: TypeRegistry) -> None:
        self.model = model
        self.registry = registry
        self._to: dict[str, Converter] = {}
        self._from: dict[str, Converter] = {}

    # -- ours -> fastavro --------------------------------------------------------------------

    def to_avro(self, full_name: str) -> Converter:
        conv = self._to.get(full_name)
        if conv is None:
            conv = self._build_to_named(self.model.types[full_name])
            self._to[full_name] = conv
        return conv

    def _lazy_to(self, full_name: str) -> Converter:
        return lambda v: self.to_avro(full_name)(v)

    def _build_to_named(self, t: NamedType) -> Converter:
        if t.kind == "fixed":
            return _uuid_to_bytes
        if t.kind == "enum":
            return _enum_to_symbol
        attrs = self.registry.classes[t.full_name].etp_attributes
        names = [f.name for f in t.fields]
        convs = [self._build_to(f.type, t.name) for f in t.fields]
        plan = list(zip(names, attrs, convs, strict=True))

        def record_to(obj: Any) -> dict[str, Any]:
            if not isinstance(obj, Record):
                obj = self.registry.classes[t.full_name](**obj)
            return {n: c(getattr(obj, a)) for n, a, c in plan}

        return record_to

    def _build_to(self, t: TypeRef, owner: str = "") -> Converter:
        if isinstance(t, str):
            if t in self.model.types:
                return self._lazy_to(t)
            if t == "bytes":
                return _to_bytes
            return identity
        if isinstance(t, ArrayType | MapType):
            return container_converter(
                t, owner, self._build_to, numeric=_list_of, array=list, mapping=dict
            )
        return self._build_to_union(t)

    def _build_to_union(self, u: UnionType) -> Converter:
        wrapped = _ambiguous_branches(u)
        pick = branch_picker(self.model, u)
        # ETP unions hold primitives and named types only (no inline arrays or maps).
        names = [b if isinstance(b, str) else "" for b in u.branches]
        kinds = {b: self.model.types[b].kind for b in names if b in self.model.types}

        def union_to(v: Any) -> Any:
            branch = names[pick(v)]
            kind = kinds.get(branch)
            if kind == "record":
                return (branch, self.to_avro(branch)(v))
            if kind == "fixed":
                return _uuid_to_bytes(v)
            if kind == "enum":
                return _enum_to_symbol(v)
            if branch in ("int", "long"):
                v = int(v)
            elif branch in ("float", "double"):
                v = float(v)
            elif branch == "bytes":
                v = _to_bytes(v)
            if branch in wrapped:
                return (f"{WRAPPER_NAMESPACE}.{branch}", {"v": v})
            return v

        return union_to

    # -- fastavro -> ours --------------------------------------------------------------------

    def from_avro(self, full_name: str) -> Converter:
        conv = self._from.get(full_name)
        if conv is None:
            conv = self._build_from_named(self.model.types[full_name])
            self._from[full_name] = conv
        return conv

    def _lazy_from(self, full_name: str) -> Converter:
        return lambda v: self.from_avro(full_name)(v)

    def _build_from_named(self, t: NamedType) -> Converter:
        if t.kind == "fixed":
            return lambda b: uuid.UUID(bytes=bytes(b))
        cls = self.registry.classes[t.full_name]
        if t.kind == "enum":
            members = {m.value: m for m in cls}
            return members.__getitem__
        plan = [
            (f.name, a, self._build_from(f.type, t.name))
            for f, a in zip(t.fields, cls.etp_attributes, strict=True)
        ]
        new = object.__new__
        setter = object.__setattr__

        def record_from(d: dict[str, Any]) -> Any:
            obj = new(cls)
            for n, a, c in plan:
                setter(obj, a, c(d[n]))
            return obj

        return record_from

    def _build_from(self, t: TypeRef, owner: str = "") -> Converter:
        if isinstance(t, str):
            if t in self.model.types:
                return self._lazy_from(t)
            return identity
        if isinstance(t, ArrayType | MapType):
            return container_converter(
                t, owner, self._build_from, numeric=_array_of, array=identity, mapping=identity
            )
        return self._build_from_union(t)

    def _build_from_union(self, u: UnionType) -> Converter:
        named = {b: self.model.types[b] for b in u.branches if b in self.model.types}
        records = [b for b, n in named.items() if n.kind == "record"]
        fixed = [b for b, n in named.items() if n.kind == "fixed"]
        enums = [b for b, n in named.items() if n.kind == "enum"]
        wrapper_prefix = WRAPPER_NAMESPACE + "."

        def union_from(v: Any) -> Any:
            if isinstance(v, tuple):
                name, inner = v
                if name.startswith(wrapper_prefix):
                    return _WRAPPER_VALUE[name[len(wrapper_prefix) :]](inner["v"])
                return self.from_avro(name)(inner)
            if isinstance(v, dict):
                return self.from_avro(records[0])(v)
            if isinstance(v, bytes) and fixed and "bytes" not in u.branches:
                return uuid.UUID(bytes=v)
            if isinstance(v, str) and enums and "string" not in u.branches:
                return self.from_avro(enums[0])(v)
            return v

        return union_from


def _list_of(dtype: np.dtype[Any]) -> Converter:
    return lambda v: np.asarray(v, dtype=dtype).reshape(-1).tolist()


def _array_of(dtype: np.dtype[Any]) -> Converter:
    return lambda v: np.array(v, dtype=dtype)


def _to_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)


def _uuid_to_bytes(value: Any) -> bytes:
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, str):
        return uuid.UUID(value).bytes
    return bytes(value)


def _enum_to_symbol(value: Any) -> str:
    return value if isinstance(value, str) else str(value.value)
