"""Write the typed stubs ``messages.pyi`` and ``datatypes.pyi`` from the schema model.

The runtime classes are built from the model at import, so type checkers cannot see them; these
stubs declare every record with its typed attributes and a keyword-only ``__init__`` (fields with
a default are optional), every enum as an :class:`~etp_sync.schema.ETPEnum` and every namespace as
a class (``messages.Store.GetDataObjects``). Attributes have the types the classes hold after
coercion; ``__init__`` parameters accept what the coercion accepts (a mapping for a record, a
symbol or index for an enum, array-likes for numeric arrays, ...).

Run ``python -m etp_sync.schema._stubgen`` after changing the declarations; a test checks that
the checked-in stubs are exactly what this module generates.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._model import NUMERIC_ARRAY_DTYPES, snake_case
from ._parse import ArrayType, FieldDef, MapType, NamedType, SchemaModel, TypeRef, public_name
from ._parse import UnionType as Union
from ._registry import model

MODULES = ("datatypes", "messages")
_OUTPUT = {
    "boolean": "bool",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "string": "str",
    "bytes": "bytes",
    "null": "None",
}
_NUMPY_SCALAR = {"b": "_np.bool_", "i": "_np.int", "f": "_np.float"}
_NAMED_INPUT = {"enum": "str | int", "fixed": "str | bytes", "record": "_Mapping[str, _Any]"}
# Import groups (as ruff sorts them) of the names a stub may use; unused ones are left out.
_IMPORTS: tuple[tuple[tuple[str, str], ...], ...] = (
    (
        ("_Iterable", "from collections.abc import Iterable as _Iterable"),
        ("_Mapping", "from collections.abc import Mapping as _Mapping"),
        ("_Any", "from typing import Any as _Any"),
        ("_UUID", "from uuid import UUID as _UUID"),
    ),
    (
        ("_np", "import numpy as _np"),
        ("_ArrayLike", "from numpy.typing import ArrayLike as _ArrayLike"),
        ("_NDArray", "from numpy.typing import NDArray as _NDArray"),
    ),
    (
        ("_ETPEnum", "from etp_sync.schema._model import ETPEnum as _ETPEnum"),
        ("_Record", "from etp_sync.schema._model import Record as _Record"),
    ),
    (("datatypes.", "from . import datatypes"),),
)
_LINE = 100


def _numpy_type(owner: str) -> str:
    dtype = NUMERIC_ARRAY_DTYPES[owner]
    scalar = _NUMPY_SCALAR[dtype.kind]
    if dtype.kind != "b":
        scalar += str(dtype.itemsize * 8)
    return f"_NDArray[{scalar}]"


class _Writer:
    """Type expressions of one stub module (names of the other module get its prefix)."""

    def __init__(self, schema: SchemaModel, module: str) -> None:
        self.model = schema
        self.module = module

    def named(self, full_name: str) -> str:
        t = self.model.types[full_name]
        if t.kind == "fixed":
            return "_UUID"
        where, path = public_name(full_name)
        return path if where == self.module else f"{where}.{path}"

    def output(self, t: TypeRef, owner: str) -> str:
        """The type a field holds."""
        if isinstance(t, str):
            return _OUTPUT[t] if t in _OUTPUT else self.named(t)
        if isinstance(t, ArrayType):
            if owner in NUMERIC_ARRAY_DTYPES:
                return _numpy_type(owner)
            return f"list[{self.output(t.items, '')}]"
        if isinstance(t, MapType):
            return f"dict[str, {self.output(t.values, '')}]"
        return _union(self.output(b, "") for b in t.branches)

    def input(self, t: TypeRef, owner: str) -> str:
        """The type ``__init__`` accepts for a field (what coercion turns into the field type)."""
        if isinstance(t, str):
            if t not in self.model.types:
                return _OUTPUT[t]
            return f"{self.named(t)} | {_NAMED_INPUT[self.model.types[t].kind]}"
        if isinstance(t, ArrayType):
            if owner in NUMERIC_ARRAY_DTYPES:
                return "_ArrayLike"
            return f"_Iterable[{self.input(t.items, '')}]"
        if isinstance(t, MapType):
            return f"_Mapping[str, {self.input(t.values, '')}]"
        return self.union_input(t)

    def union_input(self, u: Union) -> str:
        """What the union coercion accepts: branch values, a mapping for its only record branch,
        and, unless the union carries text, symbols for an enum and str/bytes for a UUID."""
        kinds = [self.model.types[b].kind for b in u.branches if b in self.model.types]
        text = "string" in u.branches or "bytes" in u.branches
        extra = ["_Mapping[str, _Any]"] if kinds.count("record") == 1 else []
        extra += [_NAMED_INPUT[k] for k in ("enum", "fixed") if k in kinds and not text]
        if "bytes" in u.branches:
            extra.append("bytearray | memoryview | _NDArray[_Any]")
        return _union([*(self.output(b, "") for b in u.branches), *extra])


def _union(parts: Iterable[str]) -> str:
    """``A | B`` without repeats (``int | long`` are both ``int``)."""
    seen: list[str] = []
    for part in parts:
        for p in part.split(" | "):
            if p not in seen:
                seen.append(p)
    if "None" in seen:  # optional types read better (and lint clean) with None last
        seen.remove("None")
        seen.append("None")
    return " | ".join(seen)


def _annotation(indent: str, name: str, type_text: str, tail: str = "") -> list[str]:
    """``name: type`` lines as ruff formats them: a too long type is split where ruff splits it.

    ``tail`` ends a parameter (``,`` or `` = ...,``); attributes split inside parentheses.
    """
    line = f"{indent}{name}: {type_text}{tail}"
    if len(line) <= _LINE:
        return [line]
    if not tail and _top_level(type_text, " | "):
        return [f"{indent}{name}: (", *_split(indent + "    ", type_text), f"{indent})"]
    return _split(indent, f"{name}: {type_text}", tail)


def _split(indent: str, text: str, tail: str = "") -> list[str]:
    """``text`` + ``tail`` over several lines: one union branch a line, else inside its brackets."""
    if len(indent) + len(text) + len(tail) <= _LINE:
        return [indent + text + tail]
    branches = _top_level(text, " | ")
    if branches:
        first, *rest = branches
        return [
            indent + first,
            *(f"{indent}| {b}" for b in rest[:-1]),
            f"{indent}| {rest[-1]}{tail}",
        ]
    head, inner = text[:-1].split("[", 1)
    return [f"{indent}{head}[", *_split(indent + "    ", inner), f"{indent}]{tail}"]


def _top_level(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside brackets; empty when it does not occur there."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    return [*parts, text[start:]] if parts else []


class _Renderer:
    """Source of one stub module."""

    def __init__(self, schema: SchemaModel, module: str) -> None:
        self.types = _Writer(schema, module)
        self.tree: dict[str, Any] = {}
        for t in schema.types.values():
            where, path = public_name(t.full_name)
            if where == module and t.kind != "fixed":
                *outer, name = path.split(".")
                node = self.tree
                for part in outer:
                    node = node.setdefault(part, {})
                node[name] = t

    def source(self) -> str:
        body = "\n".join(self.members(self.tree, "")) + "\n"
        head = [
            f'"""Types of ``etp_sync.schema.{self.types.module}`` for type checkers and editors.',
            "",
            "Generated from the schema model by ``python -m etp_sync.schema._stubgen``; do not",
            "edit.",
            '"""',
        ]
        used = re.compile(
            r"(?<![\w.])({})\b".format("|".join(re.escape(n) for g in _IMPORTS for n, _ in g))
        )
        names = set(used.findall(body))
        for group in _IMPORTS:
            lines = [line for name, line in group if name in names]
            if lines:
                head += ["", *lines]
        return "\n".join(head) + "\n\n" + body

    def members(self, node: dict[str, Any], indent: str) -> list[str]:
        out: list[str] = []
        for name, value in node.items():
            if out:
                out.append("")
            if isinstance(value, dict):
                out.append(f"{indent}class {name}:")
                out.extend(self.members(value, indent + "    "))
            elif value.kind == "enum":
                out.extend(self.enum(name, value, indent))
            else:
                out.extend(self.record(name, value, indent))
        return out

    @staticmethod
    def enum(name: str, t: NamedType, indent: str) -> list[str]:
        inner = indent + "    "
        doc = (
            f'{inner}"""ETP 1.2 enum ``{public_name(t.full_name)[1]}`` (symbols in wire order)."""'
        )
        return [
            f"{indent}class {name}(_ETPEnum):",
            doc,
            "",
            *(f'{inner}{s} = "{s}"' for s in t.symbols),
        ]

    def record(self, name: str, t: NamedType, indent: str) -> list[str]:
        inner = indent + "    "
        out = [f"{indent}class {name}(_Record):", f'{inner}"""{_summary(t)}"""']
        if not t.fields:
            return [*out, f"{inner}def __init__(self) -> None: ..."]
        out.append("")
        for f in t.fields:
            out.extend(_annotation(inner, snake_case(f.name), self.types.output(f.type, t.name)))
        out.append(f"{inner}def __init__(")
        out.append(f"{inner}    self,")
        out.append(f"{inner}    *,")
        for f in t.fields:
            tail = " = ...," if _optional(f) else ","
            param = self.types.input(f.type, t.name)
            out.extend(_annotation(inner + "    ", snake_case(f.name), param, tail))
        out.append(f"{inner}) -> None: ...")
        return out


def _summary(t: NamedType) -> str:
    if t.is_message:
        return f"ETP 1.2 message {t.message_type} of protocol {t.protocol}, sent by {t.sender}."
    return f"ETP 1.2 record ``{public_name(t.full_name)[1]}``."


def _optional(f: FieldDef) -> bool:
    """Whether ``__init__`` may omit the field (schema default, or a nullable union)."""
    return f.has_default or (isinstance(f.type, Union) and f.type.branches[0] == "null")


def stub_sources(schema: SchemaModel = model) -> dict[str, str]:
    """``{file name: source}`` of the stubs for ``schema``."""
    return {f"{m}.pyi": _Renderer(schema, m).source() for m in MODULES}


def main(argv: list[str] | None = None) -> int:
    """Write the stubs beside this module; ``--check`` only reports whether they are current."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(__file__).parent
    stale = []
    for name, text in stub_sources().items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
            if "--check" not in args:
                path.write_text(text, encoding="utf-8")
    verb = "stale" if "--check" in args else "written"
    print(f"{verb}: {', '.join(stale)}" if stale else "stubs are current")
    return 1 if stale and "--check" in args else 0


if __name__ == "__main__":
    raise SystemExit(main())
