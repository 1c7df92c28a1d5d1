"""A schema-driven Avro binary codec in pure Python whose numeric arrays go through numpy.

The codec of the DataArray protocol's bodies (the generated codec of :mod:`._compiled` serves
every other message). Those carry millions of values, which must not become one Python object
each: this codec walks the same type model but reads and writes
``ArrayOfBoolean/Int/Long/Float/Double`` values as whole numpy arrays (zero-copy views for
floats where alignment allows) and ``bytes`` payloads as buffer slices, so an array's bytes are
copied at most once on the way in or out.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ETPDecodeError, ETPEncodeError
from ..schema import Float32, Int32, model, registry
from ..schema._model import NUMERIC_ARRAY_DTYPES
from ..schema._parse import ArrayType, MapType, NamedType, TypeRef, UnionType
from ..schema._unions import branch_picker
from ._numeric import (
    avro_array_numeric_size,
    decode_avro_array_numeric,
    encode_avro_array_numeric,
    read_varint,
    write_varint,
)

Buffer = bytes | bytearray | memoryview
Decoder = Callable[[memoryview, int], tuple[Any, int]]
Encoder = Callable[[Any, list[Any]], None]

_NUMERIC_KIND = {
    "ArrayOfBoolean": "boolean",
    "ArrayOfInt": "int",
    "ArrayOfLong": "long",
    "ArrayOfFloat": "float",
    "ArrayOfDouble": "double",
}
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_ZERO = b"\x00"


def _need(buf: memoryview, pos: int, n: int, what: str) -> None:
    if n < 0 or pos + n > len(buf):
        raise ETPDecodeError(f"truncated frame: {what} needs {n} bytes at offset {pos}")


def _read_length(buf: memoryview, pos: int, what: str) -> tuple[int, int]:
    n, pos = read_varint(buf, pos)
    if n < 0:
        raise ETPDecodeError(f"negative length {n} for {what} at offset {pos}")
    _need(buf, pos, n, what)
    return n, pos


def _dec_null(buf: memoryview, pos: int) -> tuple[Any, int]:
    return None, pos


def _dec_boolean(buf: memoryview, pos: int) -> tuple[Any, int]:
    _need(buf, pos, 1, "boolean")
    return buf[pos] != 0, pos + 1


def _dec_long(buf: memoryview, pos: int) -> tuple[Any, int]:
    return read_varint(buf, pos)


def _dec_int(buf: memoryview, pos: int) -> tuple[Any, int]:
    v, pos = read_varint(buf, pos)
    if not _INT32_MIN <= v <= _INT32_MAX:
        raise ETPDecodeError(f"int value {v} out of range at offset {pos}")
    return v, pos


def _dec_float(buf: memoryview, pos: int) -> tuple[Any, int]:
    _need(buf, pos, 4, "float")
    return _FLOAT.unpack_from(buf, pos)[0], pos + 4


def _dec_double(buf: memoryview, pos: int) -> tuple[Any, int]:
    _need(buf, pos, 8, "double")
    return _DOUBLE.unpack_from(buf, pos)[0], pos + 8


def _dec_bytes(buf: memoryview, pos: int) -> tuple[Any, int]:
    n, pos = _read_length(buf, pos, "bytes")
    return bytes(buf[pos : pos + n]), pos + n


def _dec_string(buf: memoryview, pos: int) -> tuple[Any, int]:
    n, pos = _read_length(buf, pos, "string")
    try:
        return str(buf[pos : pos + n], "utf-8"), pos + n
    except UnicodeDecodeError as exc:
        raise ETPDecodeError(f"invalid UTF-8 in string at offset {pos}: {exc}") from None


def _enc_null(value: Any, out: list[Any]) -> None:
    if value is not None:
        raise ETPEncodeError(f"expected None, got {type(value).__name__}")


def _enc_boolean(value: Any, out: list[Any]) -> None:
    out.append(b"\x01" if value else _ZERO)


def _enc_long(value: Any, out: list[Any]) -> None:
    out.append(write_varint(int(value)))


def _enc_int(value: Any, out: list[Any]) -> None:
    v = int(value)
    if not _INT32_MIN <= v <= _INT32_MAX:
        raise ETPEncodeError(f"int value {v} out of 32-bit range")
    out.append(write_varint(v))


def _enc_float(value: Any, out: list[Any]) -> None:
    out.append(_FLOAT.pack(value))


def _enc_double(value: Any, out: list[Any]) -> None:
    out.append(_DOUBLE.pack(value))


def _enc_bytes(value: Any, out: list[Any]) -> None:
    view = memoryview(value).cast("B") if not isinstance(value, bytes) else value
    out.append(write_varint(len(view)))
    out.append(view)


def _enc_string(value: Any, out: list[Any]) -> None:
    data = value.encode("utf-8")
    out.append(write_varint(len(data)))
    out.append(data)


_PRIMITIVE_DECODERS: dict[str, Decoder] = {
    "null": _dec_null,
    "boolean": _dec_boolean,
    "int": _dec_int,
    "long": _dec_long,
    "float": _dec_float,
    "double": _dec_double,
    "bytes": _dec_bytes,
    "string": _dec_string,
}
_PRIMITIVE_ENCODERS: dict[str, Encoder] = {
    "null": _enc_null,
    "boolean": _enc_boolean,
    "int": _enc_int,
    "long": _enc_long,
    "float": _enc_float,
    "double": _enc_double,
    "bytes": _enc_bytes,
    "string": _enc_string,
}


class SizeCounter(list[Any]):
    """An encoder output that only totals the bytes: numeric arrays report their size without
    being encoded (see :func:`~._numeric.avro_array_numeric_size`)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def append(self, piece: Any) -> None:
        self.total += memoryview(piece).nbytes

    def extend(self, pieces: Any) -> None:
        for piece in pieces:
            self.append(piece)

    def add(self, size: int) -> None:
        self.total += size


class ArrayCodec:
    """Encoders and decoders per named type, compiled on first use."""

    def __init__(self) -> None:
        self._decoders: dict[str, Decoder] = {}
        self._encoders: dict[str, Encoder] = {}

    # -- decoding -----------------------------------------------------------------------------

    def decoder(self, full_name: str) -> Decoder:
        """The decoder of a named type: ``(buffer, offset) -> (value, new offset)``."""
        return _compiled(self._decoders, full_name, self._build_named_decoder)

    def _build_named_decoder(self, t: NamedType) -> Decoder:
        if t.kind == "fixed":
            size = t.size

            def dec_fixed(buf: memoryview, pos: int) -> tuple[Any, int]:
                _need(buf, pos, size, t.name)
                return uuid.UUID(bytes=bytes(buf[pos : pos + size])), pos + size

            return dec_fixed
        cls = registry.classes[t.full_name]
        if t.kind == "enum":
            members = list(cls)

            def dec_enum(buf: memoryview, pos: int) -> tuple[Any, int]:
                i, pos = read_varint(buf, pos)
                if not 0 <= i < len(members):
                    raise ETPDecodeError(f"enum index {i} out of range for {t.name}")
                return members[i], pos

            return dec_enum
        plan = [
            (attr, self._build_decoder(f.type, t.name))
            for f, attr in zip(t.fields, cls.etp_attributes, strict=True)
        ]
        new = object.__new__
        setter = object.__setattr__

        def dec_record(buf: memoryview, pos: int) -> tuple[Any, int]:
            obj = new(cls)
            for attr, dec in plan:
                value, pos = dec(buf, pos)
                setter(obj, attr, value)
            return obj, pos

        return dec_record

    def _build_decoder(self, t: TypeRef, owner: str = "") -> Decoder:
        if isinstance(t, str):
            if t in _PRIMITIVE_DECODERS:
                return _PRIMITIVE_DECODERS[t]
            return lambda b, p: self.decoder(t)(b, p)
        if isinstance(t, ArrayType):
            if owner in _NUMERIC_KIND:
                kind = _NUMERIC_KIND[owner]
                return lambda b, p: decode_avro_array_numeric(b, p, kind)
            return self._blocks_decoder(self._build_decoder(t.items), is_map=False)
        if isinstance(t, MapType):
            return self._blocks_decoder(self._build_decoder(t.values), is_map=True)
        return self._union_decoder(t)

    @staticmethod
    def _blocks_decoder(item: Decoder, *, is_map: bool) -> Decoder:
        def dec_blocks(buf: memoryview, pos: int) -> tuple[Any, int]:
            result: Any = {} if is_map else []
            while True:
                count, pos = read_varint(buf, pos)
                if count == 0:
                    return result, pos
                if count < 0:
                    count = -count
                    _size, pos = read_varint(buf, pos)
                if count > len(buf) - pos:  # every item takes at least one byte
                    raise ETPDecodeError(f"block of {count} items past the end at offset {pos}")
                for _ in range(count):
                    if is_map:
                        key, pos = _dec_string(buf, pos)
                        result[key], pos = item(buf, pos)
                    else:
                        value, pos = item(buf, pos)
                        result.append(value)

        return dec_blocks

    def _union_decoder(self, u: UnionType) -> Decoder:
        branches = [self._build_decoder(b) for b in u.branches]
        wrap: list[Callable[[Any], Any] | None] = [None] * len(branches)
        if "int" in u.branches and "long" in u.branches:
            wrap[u.branches.index("int")] = Int32
        if "float" in u.branches and "double" in u.branches:
            wrap[u.branches.index("float")] = Float32

        def dec_union(buf: memoryview, pos: int) -> tuple[Any, int]:
            i, pos = read_varint(buf, pos)
            if not 0 <= i < len(branches):
                raise ETPDecodeError(f"union branch {i} out of range at offset {pos}")
            value, pos = branches[i](buf, pos)
            w = wrap[i]
            return (w(value) if w is not None else value), pos

        return dec_union

    # -- encoding -----------------------------------------------------------------------------

    def encoder(self, full_name: str) -> Encoder:
        """The encoder of a named type: ``(value, out)`` appends the value's bytes to ``out``."""
        return _compiled(self._encoders, full_name, self._build_named_encoder)

    def _build_named_encoder(self, t: NamedType) -> Encoder:
        if t.kind == "fixed":

            def enc_fixed(value: Any, out: list[Any]) -> None:
                data = value.bytes if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).bytes
                out.append(data)

            return enc_fixed
        cls = registry.classes[t.full_name]
        if t.kind == "enum":
            index = {m: i for i, m in enumerate(cls)}

            def enc_enum(value: Any, out: list[Any]) -> None:
                member = value if isinstance(value, cls) else cls(value)
                out.append(write_varint(index[member]))

            return enc_enum
        plan = [
            (attr, self._build_encoder(f.type, t.name))
            for f, attr in zip(t.fields, cls.etp_attributes, strict=True)
        ]

        def enc_record(value: Any, out: list[Any]) -> None:
            if not isinstance(value, cls):
                value = cls(**value)
            for attr, enc in plan:
                enc(getattr(value, attr), out)

        return enc_record

    def _build_encoder(self, t: TypeRef, owner: str = "") -> Encoder:
        if isinstance(t, str):
            if t in _PRIMITIVE_ENCODERS:
                return _PRIMITIVE_ENCODERS[t]
            return lambda v, o: self.encoder(t)(v, o)
        if isinstance(t, ArrayType):
            if owner in _NUMERIC_KIND:
                kind = _NUMERIC_KIND[owner]
                dtype = NUMERIC_ARRAY_DTYPES[owner]

                def enc_numeric(value: Any, out: list[Any]) -> None:
                    if isinstance(out, SizeCounter):
                        out.add(avro_array_numeric_size(np.asarray(value, dtype=dtype), kind))
                        return
                    out.extend(encode_avro_array_numeric(np.asarray(value, dtype=dtype), kind))

                return enc_numeric
            return self._blocks_encoder(self._build_encoder(t.items), is_map=False)
        if isinstance(t, MapType):
            return self._blocks_encoder(self._build_encoder(t.values), is_map=True)
        return self._union_encoder(t)

    @staticmethod
    def _blocks_encoder(item: Encoder, *, is_map: bool) -> Encoder:
        def enc_blocks(value: Any, out: list[Any]) -> None:
            if len(value):
                out.append(write_varint(len(value)))
                if is_map:
                    for k, v in value.items():
                        _enc_string(k, out)
                        item(v, out)
                else:
                    for v in value:
                        item(v, out)
            out.append(_ZERO)

        return enc_blocks

    def _union_encoder(self, u: UnionType) -> Encoder:
        encoders = [self._build_encoder(b) for b in u.branches]
        pick = branch_picker(model, u)

        def enc_union(value: Any, out: list[Any]) -> None:
            i = pick(value)
            out.append(write_varint(i))
            encoders[i](value, out)

        return enc_union


def _compiled(cache: dict[str, Any], full_name: str, build: Callable[[NamedType], Any]) -> Any:
    """The cached function of a named type, built on first use.

    While it is built, the cache holds a forwarder to the finished function, so recursive types
    (a record reached again through its own fields) compile.
    """
    found = cache.get(full_name)
    if found is None:
        cache[full_name] = lambda *args: cache[full_name](*args)
        found = cache[full_name] = build(model.types[full_name])
    return found


ARRAY_CODEC = ArrayCodec()
