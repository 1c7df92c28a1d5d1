"""Parse the compact declarations of :mod:`etp_sync.schema._etp12` into a small type model.

The model is plain data (no Avro library involved) so that every other layer (Python classes,
the generated codec, the array codec, the Avro JSON of :mod:`._avro`) derives from one
description of ETP 1.2.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ETPInvalidArgument

ROOT = "Energistics.Etp.v12"
DATATYPES = f"{ROOT}.Datatypes"
PROTOCOL_NS = f"{ROOT}.Protocol"
PRIVATE_NS = f"{ROOT}.PrivateProtocols"

# Public module of the declared types under each namespace (see ``public_name``).
PUBLIC_MODULES: tuple[tuple[str, str], ...] = (
    (DATATYPES, "datatypes"),
    (PROTOCOL_NS, "messages"),
    (PRIVATE_NS, "messages"),
)

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


@dataclass(frozen=True)
class ArrayType:
    """``array<items>``."""

    items: TypeRef


@dataclass(frozen=True)
class MapType:
    """``map<values>`` (Avro maps always have string keys)."""

    values: TypeRef


@dataclass(frozen=True)
class UnionType:
    """``A | B | ...`` in wire (branch) order."""

    branches: tuple[TypeRef, ...]


# A reference to a type: a primitive name, the full name of a declared type, or a composite.
TypeRef = str | ArrayType | MapType | UnionType

NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class FieldDef:
    """One record field: wire name, type, and the schema default (``NO_DEFAULT`` when none)."""

    name: str
    type: TypeRef
    default: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass
class NamedType:
    """A declared record, enum or fixed; messages are records with protocol information."""

    kind: str  # "record" | "enum" | "fixed"
    full_name: str
    fields: tuple[FieldDef, ...] = ()
    symbols: tuple[str, ...] = ()
    size: int = 0
    protocol: int | None = None
    message_type: int | None = None
    sender: str = ""
    multipart: bool = False

    @property
    def name(self) -> str:
        return self.full_name.rsplit(".", 1)[1]

    @property
    def namespace(self) -> str:
        return self.full_name.rsplit(".", 1)[0]

    @property
    def is_message(self) -> bool:
        return self.protocol is not None


@dataclass
class ProtocolDef:
    """An ETP protocol: number, name, the two roles it defines, and its messages by type number."""

    number: int
    name: str
    roles: tuple[str, ...]
    namespace: str = PROTOCOL_NS
    messages: dict[int, NamedType] = field(default_factory=dict)


@dataclass
class SchemaModel:
    """Every declared type (in declaration order) and every protocol."""

    types: dict[str, NamedType]
    protocols: dict[int, ProtocolDef]


def public_name(full_name: str) -> tuple[str, str]:
    """Where a declared type is reachable: ``("messages", "Store.GetDataObjects")``.

    The first item names the module of :mod:`etp_sync.schema` (``datatypes`` or ``messages``),
    the second the dotted path inside it; runtime namespaces and the typed stubs both use it.
    """
    for prefix, module in PUBLIC_MODULES:
        if full_name.startswith(prefix + "."):
            return module, full_name[len(prefix) + 1 :]
    raise ETPInvalidArgument(f"{full_name!r} is outside the ETP 1.2 namespaces")


_TYPE_TOKEN = re.compile(r"\s*(array<|map<|>|\||[\w.]+)")
_FIELD = re.compile(r"^(\w+):\s*(.+?)(?:\s=\s(.+))?$")


def _parse_type(text: str, resolve: Any) -> TypeRef:
    tokens = [t for t in _TYPE_TOKEN.findall(text)]
    if "".join(tokens).replace(" ", "") != text.replace(" ", ""):
        raise ETPInvalidArgument(f"cannot parse type {text!r}")
    pos = 0

    def single() -> TypeRef:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok in ("array<", "map<"):
            inner = union()
            if tokens[pos] != ">":
                raise ETPInvalidArgument(f"missing '>' in {text!r}")
            pos += 1
            return ArrayType(inner) if tok == "array<" else MapType(inner)
        return resolve(tok)

    def union() -> TypeRef:
        nonlocal pos
        branches = [single()]
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            branches.append(single())
        return branches[0] if len(branches) == 1 else UnionType(tuple(branches))

    result = union()
    if pos != len(tokens):
        raise ETPInvalidArgument(f"trailing tokens in type {text!r}")
    return result


def parse_declarations(text: str) -> SchemaModel:
    """Parse the declaration text into a :class:`SchemaModel`.

    Raises :class:`~etp_sync.errors.ETPInvalidArgument` for text that breaks the grammar.
    """
    types: dict[str, NamedType] = {}
    protocols: dict[int, ProtocolDef] = {}
    protocol: ProtocolDef | None = None
    current: NamedType | None = None
    pending_fields: list[str] = []

    def resolve(name: str) -> str:
        if name in PRIMITIVES:
            return name
        full = f"{DATATYPES}.{name}"
        if full not in types:
            raise ETPInvalidArgument(f"unknown type {name!r} (declare it before use)")
        return full

    def finish() -> None:
        nonlocal current
        if current is None:
            return
        if current.kind == "record":
            defs = []
            for line in pending_fields:
                m = _FIELD.match(line)
                if not m:
                    raise ETPInvalidArgument(f"bad field line {line!r} in {current.full_name}")
                name, type_text, default_text = m.groups()
                default = NO_DEFAULT if default_text is None else json.loads(default_text)
                defs.append(FieldDef(name, _parse_type(type_text, resolve), default))
            current.fields = tuple(defs)
        elif current.kind == "enum":
            joined = " ".join(pending_fields)
            current.symbols = tuple(s.strip() for s in joined.split(",") if s.strip())
        pending_fields.clear()
        current = None

    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        stripped = line.strip()
        words = stripped.split()
        if stripped.startswith("|"):
            if not pending_fields:
                raise ETPInvalidArgument(f"continuation line without a field: {raw!r}")
            pending_fields[-1] += " " + stripped
            continue
        if words[0] in ("enum", "record", "fixed") and not line.startswith(" "):
            finish()
            full = f"{DATATYPES}.{words[1]}"
            current = NamedType(kind=words[0], full_name=full)
            if words[0] == "fixed":
                current.size = int(words[2])
            types[full] = current
            if words[0] == "fixed":
                current = None
            continue
        if words[0] == "protocol" and not line.startswith(" "):
            finish()
            m = re.match(r"protocol (\d+) (\w+) \(([^)]*)\)( private)?$", stripped)
            if not m:
                raise ETPInvalidArgument(f"bad protocol line {raw!r}")
            roles = tuple(r.strip() for r in m.group(3).split(","))
            namespace = PRIVATE_NS if m.group(4) else PROTOCOL_NS
            protocol = ProtocolDef(int(m.group(1)), m.group(2), roles, namespace=namespace)
            protocols[protocol.number] = protocol
            continue
        if words[0] == "message":
            finish()
            m = re.match(r"message (\d+) (\w+) \(([^)]*)\)$", stripped)
            if not m or protocol is None:
                raise ETPInvalidArgument(f"bad message line {raw!r}")
            flags = [f.strip() for f in m.group(3).split(",")]
            multipart = "multipart" in flags
            sender = ",".join(f for f in flags if f != "multipart")
            full = f"{protocol.namespace}.{protocol.name}.{m.group(2)}"
            current = NamedType(
                kind="record",
                full_name=full,
                protocol=protocol.number,
                message_type=int(m.group(1)),
                sender=sender,
                multipart=multipart,
            )
            types[full] = current
            protocol.messages[current.message_type or 0] = current
            continue
        if current is None:
            raise ETPInvalidArgument(f"line outside a declaration: {raw!r}")
        pending_fields.append(stripped)
    finish()
    return SchemaModel(types, protocols)
