"""Python classes for every ETP record and enum, built once from the type model.

Records are light ``__slots__`` classes with snake_case attributes, schema defaults, equality and a
repr that never dumps megabytes. Numeric ``ArrayOf*`` values are numpy arrays. Union values are
plain Python values; the two ambiguous primitive pairs of ``DataValue`` keep their wire branch
through the marker types :class:`Int32` (Avro ``int``) and :class:`Float32` (Avro ``float``):
a plain ``int`` travels as ``long`` and a plain ``float`` as ``double``.
"""

from __future__ import annotations

import copy
import enum
import keyword
import re
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import numpy as np

from .._value_casts import fitted_values
from ..errors import ETPError, ETPInvalidArgument
from ._code_cache import compile_cached
from ._parse import (
    ArrayType,
    FieldDef,
    MapType,
    NamedType,
    SchemaModel,
    TypeRef,
    UnionType,
    public_name,
)

Converter = Callable[[Any], Any]
# What a bad user value makes a coercer raise; reported as ETPInvalidArgument.
_COERCION_ERRORS = (TypeError, ValueError, IndexError, KeyError, OverflowError)

_SNAKE_OVERRIDES = {"WMLtypeIn": "wml_type_in", "XMLin": "xml_in", "XMLout": "xml_out"}
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# dtype of the ``values`` of the numeric ArrayOf* records.
NUMERIC_ARRAY_DTYPES: dict[str, np.dtype[Any]] = {
    "ArrayOfBoolean": np.dtype(np.bool_),
    "ArrayOfInt": np.dtype("<i4"),
    "ArrayOfLong": np.dtype("<i8"),
    "ArrayOfFloat": np.dtype("<f4"),
    "ArrayOfDouble": np.dtype("<f8"),
}


def snake_case(name: str) -> str:
    """Python attribute name of an Avro field name (``correlationId`` -> ``correlation_id``)."""
    if name in _SNAKE_OVERRIDES:
        return _SNAKE_OVERRIDES[name]
    result = _CAMEL_BOUNDARY.sub("_", name).lower()
    return result + "_" if keyword.iskeyword(result) else result


class Int32(int):
    """An ``int`` that travels as Avro ``int`` (not ``long``) inside a union such as DataValue."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int32({int(self)})"


class Float32(float):
    """A ``float`` that travels as Avro ``float`` (not ``double``) inside a union."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Float32({float(self)!r})"


def _short_repr(value: Any) -> str:
    """Repr that stays small for big arrays, bytes, strings and collections."""
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return f"array({value.tolist()!r}, dtype={value.dtype})"
        return f"<{value.dtype} array shape={value.shape}>"
    if isinstance(value, bytes | bytearray | memoryview):
        n = len(value)
        if n <= 64:
            return repr(bytes(value))
        return f"<{n} bytes {bytes(value[:32])!r}...>"
    if isinstance(value, str) and len(value) > 200:
        return repr(value[:200]) + f"...({len(value)} chars)"
    if isinstance(value, list):
        items = [_short_repr(v) for v in value[:10]]
        if len(value) > 10:
            items.append(f"...({len(value)} items)")
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        pairs = [f"{k!r}: {_short_repr(v)}" for k, v in list(value.items())[:10]]
        if len(value) > 10:
            pairs.append(f"...({len(value)} entries)")
        return "{" + ", ".join(pairs) + "}"
    return repr(value)


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    if type(a) in (Int32, Float32) or type(b) in (Int32, Float32):
        return type(a) is type(b) and a == b
    return bool(a == b)


class Record:
    """Base of every ETP record and message class.

    Construct with snake_case keyword arguments; fields with a schema default (and nullable unions)
    may be omitted; unknown, missing or unusable fields raise
    :class:`~etp_sync.errors.ETPInvalidArgument`. Class attributes describe the schema:
    ``etp_full_name``, ``etp_name``, ``etp_fields`` (wire names in order), ``etp_attributes``
    (matching Python names), and for messages ``etp_protocol``, ``etp_message_type``,
    ``etp_multipart`` and ``etp_sender``.
    """

    __slots__ = ()
    etp_full_name: ClassVar[str] = ""
    etp_name: ClassVar[str] = ""
    etp_fields: ClassVar[tuple[str, ...]] = ()
    etp_attributes: ClassVar[tuple[str, ...]] = ()
    etp_protocol: ClassVar[int | None] = None
    etp_message_type: ClassVar[int | None] = None
    etp_multipart: ClassVar[bool] = False
    etp_sender: ClassVar[str] = ""

    _coerce: ClassVar[dict[str, Converter]] = {}
    _defaults: ClassVar[dict[str, Callable[[], Any]]] = {}

    def __init__(self, **kwargs: Any) -> None:
        # The first record of a class writes the class's own __init__ (see _make_init), which
        # then builds this one and every later one. Writing them all at import would cost ~0.1 s.
        cls = type(self)
        if cls is Record:
            if kwargs:
                raise _unknown_fields(cls, kwargs)
            return
        init = _make_init(cls, cls._coerce, cls._defaults)
        cls.__init__ = init  # type: ignore[method-assign]
        init(self, **kwargs)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _values_equal(getattr(self, a), getattr(other, a)) for a in type(self).etp_attributes
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        inner = ", ".join(f"{a}={_short_repr(getattr(self, a))}" for a in type(self).etp_attributes)
        return f"{type(self).etp_name}({inner})"

    def replace(self, **changes: Any) -> Self:
        """A shallow copy with some fields changed."""
        values = {a: getattr(self, a) for a in type(self).etp_attributes}
        values.update(changes)
        return type(self)(**values)


def compile_definitions(lines: list[str], where: str) -> types.CodeType:
    """The code of the generated source ``lines``; ``where`` names it in tracebacks. It comes
    from the on-disk cache of :mod:`._code_cache` when an earlier process compiled the same
    source (so this may read or write a file)."""
    return compile_cached("\n".join(lines) + "\n", f"<generated {where}>")


def run_definitions(code: types.CodeType, namespace: dict[str, Any]) -> dict[str, Any]:
    """The functions ``code`` (of :func:`compile_definitions`) defines, by name, with
    ``namespace`` as their globals (no I/O)."""
    local: dict[str, Any] = {}
    exec(code, namespace, local)
    return local


def define_functions(lines: list[str], namespace: dict[str, Any], where: str) -> dict[str, Any]:
    """The functions defined by the generated source ``lines``, by name, with ``namespace`` as
    their globals; ``where`` names the source in tracebacks (see :func:`compile_definitions`)."""
    return run_definitions(compile_definitions(lines, where), namespace)


_MISSING: Any = object()  # a field the caller left out


def _unknown_fields(cls: type[Record], unknown: Mapping[str, Any]) -> ETPInvalidArgument:
    return ETPInvalidArgument(
        f"{cls.etp_name}() got unexpected field(s) {sorted(unknown)}; "
        f"fields are {list(cls.etp_attributes)}"
    )


def _missing_fields(cls: type[Record], given: Mapping[str, Any]) -> ETPInvalidArgument:
    missing = [a for a, v in given.items() if v is _MISSING]
    return ETPInvalidArgument(f"{cls.etp_name}() missing required field(s): {', '.join(missing)}")


def _invalid_field(cls: type[Record], attr: str, exc: Exception) -> ETPInvalidArgument:
    return ETPInvalidArgument(f"{cls.etp_name}.{attr}: {exc}")


_INIT_HELPERS: dict[str, Any] = {
    "MISSING": _MISSING,
    "ETPError": ETPError,
    "COERCION_ERRORS": _COERCION_ERRORS,
    "UNKNOWN": _unknown_fields,
    "MISSING_FIELDS": _missing_fields,
    "INVALID": _invalid_field,
}


def _make_init(
    cls: type[Record],
    coerce: Mapping[str, Converter],
    defaults: Mapping[str, Callable[[], Any]],
) -> Callable[..., None]:
    """A keyword-only ``__init__`` written for the fields of ``cls``.

    Unknown or missing fields and values a field's coercer refuses raise ETPInvalidArgument;
    fields whose values need no coercion are stored as given. Generated once per class: the
    records of a message with a thousand objects are built in microseconds each.
    """
    attrs = cls.etp_attributes
    ns: dict[str, Any] = {**_INIT_HELPERS, "CLS": cls}
    params = "".join(f", {a}=MISSING" for a in attrs)
    lines = [f"def __init__(_self{', *' if attrs else ''}{params}, **_unknown):"]
    lines.append("    if _unknown: raise UNKNOWN(CLS, _unknown)")
    required = [a for a in attrs if a not in defaults]
    if required:
        given = ", ".join(f"{a!r}: {a}" for a in required)
        lines.append(f"    if {' or '.join(f'{a} is MISSING' for a in required)}:")
        lines.append(f"        raise MISSING_FIELDS(CLS, {{{given}}})")
    lines.append("    try:")
    lines.append("        _field = ''")
    for n, a in enumerate(attrs):
        value = a
        if coerce[a] is not identity:
            ns[f"C{n}"] = coerce[a]
            value = f"C{n}({a})"
        if a in defaults:
            ns[f"D{n}"] = defaults[a]
            lines.append(f"        if {a} is MISSING: _self.{a} = D{n}()")
            lines.append(f"        else: _field = {a!r}; _self.{a} = {value}")
        else:
            lines.append(f"        _field = {a!r}; _self.{a} = {value}")
    lines.append("    except ETPError: raise")
    lines.append("    except COERCION_ERRORS as exc: raise INVALID(CLS, _field, exc) from exc")
    init: Callable[..., None] = define_functions(lines, ns, f"{cls.etp_full_name}.__init__")[
        "__init__"
    ]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class ETPEnum(enum.Enum):
    """Base of ETP enums: the value is the wire symbol, the wire index is ``.index``."""

    @property
    def index(self) -> int:
        return list(type(self)).index(self)


def _coerce_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return uuid.UUID(bytes=bytes(value))
    if isinstance(value, str):
        return uuid.UUID(value)
    # Coercers raise TypeError/ValueError; Record.__init__ reports them as ETPInvalidArgument.
    raise TypeError(f"expected a UUID (uuid.UUID, str or 16 bytes), got {type(value).__name__}")


class TypeRegistry:
    """Python classes for every named type of a :class:`SchemaModel`."""

    def __init__(self, model: SchemaModel) -> None:
        self.model = model
        self.classes: dict[str, Any] = {}
        for t in model.types.values():
            if t.kind == "record":
                self.classes[t.full_name] = self._make_record(t)
            elif t.kind == "enum":
                functional: Any = ETPEnum
                module, qualname = public_name(t.full_name)
                self.classes[t.full_name] = functional(
                    t.name,
                    [(s, s) for s in t.symbols],
                    module=f"etp_sync.schema.{module}",
                    qualname=qualname,
                )
            else:
                self.classes[t.full_name] = uuid.UUID

    # -- coercion of user values -------------------------------------------------------------

    def coercer(self, t: TypeRef, owner: str = "") -> Callable[[Any], Any]:
        """A function normalising a user-supplied value of type ``t``."""
        if isinstance(t, str):
            named = self.model.types.get(t)
            if named is None:
                return identity
            if named.kind == "fixed":
                return _coerce_uuid
            if named.kind == "enum":
                enum_cls = self.classes[t]
                symbols = named.symbols
                by_symbol = {m.value: m for m in enum_cls}

                def coerce_enum(v: Any) -> Any:
                    if isinstance(v, enum_cls):
                        return v
                    if type(v) is str and v in by_symbol:
                        return by_symbol[v]
                    if isinstance(v, int) and not isinstance(v, bool):
                        return enum_cls(symbols[v])
                    return enum_cls(v)

                return coerce_enum
            cls = self.classes[t]

            def coerce_record(v: Any) -> Any:
                if isinstance(v, cls):
                    return v
                if isinstance(v, Mapping):
                    return cls(**v)
                raise TypeError(f"expected {cls.etp_name}, got {type(v).__name__}")

            return coerce_record
        if isinstance(t, ArrayType | MapType):
            return container_converter(
                t, owner, self.coercer, numeric=_flat_array, array=list, mapping=dict
            )
        return self._union_coercer(t)

    def _union_coercer(self, t: UnionType) -> Callable[[Any], Any]:
        """Build the one record branch from a mapping, a UUID from str/bytes, an enum from a str."""
        kinds = {b: self.model.types[b].kind for b in t.branches if b in self.model.types}
        records = [self.coercer(b) for b, k in kinds.items() if k == "record"]
        fixed = any(k == "fixed" for k in kinds.values())
        enums = [self.coercer(b) for b, k in kinds.items() if k == "enum"]
        has_text = "string" in t.branches or "bytes" in t.branches
        if not records and not (fixed and not has_text) and not (enums and not has_text):
            return identity

        def coerce_union(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, Mapping) and len(records) == 1:
                return records[0](v)
            if fixed and not has_text and isinstance(v, str | bytes):
                return _coerce_uuid(v)
            if enums and not has_text and isinstance(v, str | int) and not isinstance(v, bool):
                return enums[0](v)
            return v

        return coerce_union

    def _make_record(self, t: NamedType) -> type[Record]:
        attrs = tuple(snake_case(f.name) for f in t.fields)
        module, qualname = public_name(t.full_name)
        namespace: dict[str, Any] = {
            "__slots__": attrs,
            "__module__": f"etp_sync.schema.{module}",
            "__qualname__": qualname,
            "__doc__": _record_doc(t),
            "etp_full_name": t.full_name,
            "etp_name": t.name,
            "etp_fields": tuple(f.name for f in t.fields),
            "etp_attributes": attrs,
            "etp_protocol": t.protocol,
            "etp_message_type": t.message_type,
            "etp_multipart": t.multipart,
            "etp_sender": t.sender,
        }
        cls = type(t.name, (Record,), namespace)
        # Coercers and defaults refer to other classes: fill them once all classes exist.
        self.classes[t.full_name] = cls
        return cls

    def finish(self) -> None:
        """Attach coercers and defaults (needs every class to exist)."""
        for t in self.model.types.values():
            if t.kind != "record":
                continue
            cls = self.classes[t.full_name]
            coerce: dict[str, Callable[[Any], Any]] = {}
            defaults: dict[str, Callable[[], Any]] = {}
            for f, attr in zip(t.fields, cls.etp_attributes, strict=True):
                c = self.coercer(f.type, t.name)
                coerce[attr] = c
                default = self._default_factory(f, c)
                if default is not None:
                    defaults[attr] = default
            cls._coerce = coerce
            cls._defaults = defaults

    @staticmethod
    def _default_factory(f: FieldDef, coerce: Callable[[Any], Any]) -> Callable[[], Any] | None:
        if f.has_default:
            value = f.default
            if isinstance(value, list | dict):
                if not value and coerce(type(value)()) == type(value)():
                    return type(value)  # a fresh empty list or dict, without a deep copy
                return lambda: coerce(copy.deepcopy(value))
            coerced = coerce(value) if value is not None else None
            return lambda: coerced
        if isinstance(f.type, UnionType) and f.type.branches[0] == "null":
            return lambda: None
        return None


def identity(value: Any) -> Any:
    """The converter of values that need no conversion."""
    return value


def container_converter(
    t: ArrayType | MapType,
    owner: str,
    build: Callable[[TypeRef], Converter],
    *,
    numeric: Callable[[np.dtype[Any]], Converter],
    array: Converter,
    mapping: Converter,
) -> Converter:
    """Convert an array or map item by item with ``build``'s converter of the item type.

    The ``values`` of a numeric ``ArrayOf*`` record (``owner``) use ``numeric(dtype)``; arrays and
    maps whose items need no conversion use ``array`` or ``mapping`` on the whole value.
    """
    if isinstance(t, ArrayType) and owner in NUMERIC_ARRAY_DTYPES:
        return numeric(NUMERIC_ARRAY_DTYPES[owner])
    item = build(t.items if isinstance(t, ArrayType) else t.values)
    if item is identity:
        return array if isinstance(t, ArrayType) else mapping
    if isinstance(t, ArrayType):
        return lambda v: [item(x) for x in v]
    return lambda v: {k: item(x) for k, x in v.items()}


def _flat_array(dtype: np.dtype[Any]) -> Converter:
    return lambda v: fitted_values(v, dtype, ValueError)


def _type_text(t: TypeRef) -> str:
    if isinstance(t, str):
        return t.rsplit(".", 1)[-1]
    if isinstance(t, ArrayType):
        return f"array<{_type_text(t.items)}>"
    if isinstance(t, MapType):
        return f"map<{_type_text(t.values)}>"
    return " | ".join(_type_text(b) for b in t.branches)


def _record_doc(t: NamedType) -> str:
    head = f"ETP 1.2 ``{t.full_name}``"
    if t.is_message:
        head += f" (protocol {t.protocol}, message type {t.message_type}, sent by {t.sender})"
    lines = [head + ".", ""]
    for f in t.fields:
        default = f" = {f.default!r}" if f.has_default else ""
        lines.append(f"- ``{snake_case(f.name)}``: {_type_text(f.type)}{default}")
    return "\n".join(lines)
