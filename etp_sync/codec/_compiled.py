"""Avro binary encoders and decoders generated as Python source, one pair per ETP record type.

Small messages (requests, sessions, lists of resources, a thousand data objects) cost what their
per-field work costs. Instead of converting records to fastavro's dicts and back, each record
type gets two plain functions written for its fields: every field's code is inlined (strings,
longs, unions, arrays and maps of records), varints of -64..63 come from a table and larger
ones met lately from the writer's memo (without a call), varints of one or two bytes are read
without a call (one-byte ones from a table), and the union branch of a value is
cached by its Python type (:func:`~etp_sync.schema._unions.branch_picker` gives the same answer
for every value of one type). The bytes are those of
fastavro and the official schema (tests/test_codec_exact.py).

The payloads that can be big, the values of numeric ``ArrayOf*`` records and ``bytes``, take
the paths of a :class:`ValuePaths`. :data:`COMPILED_CODEC` (every ordinary message) copies them
in and out of its ``bytes`` and ``bytearray`` (numeric values with the numpy kernels of
:mod:`._numeric`); the DataArray protocol's codec (:mod:`._arraycodec`) is this same generator
with paths that leave big payloads where they are (:attr:`ValuePaths.in_place`).

Decoders check what hostile input could abuse: lengths and counts against the bytes left before
anything is allocated, union and enum indexes, ``int`` range, UTF-8; a read past the end raises
IndexError or struct.error, which the caller reports as a truncated frame.

This module is the generator; the functions it writes run with the names of
:mod:`._generated_runtime` as their globals (its helpers and :class:`ValuePaths`), and are written
with the source builder of :mod:`._source`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ETPDecodeError, ETPInvalidArgument
from ..schema import model, registry
from ..schema._model import NUMERIC_ARRAY_DTYPES, compile_definitions, run_definitions
from ..schema._parse import ArrayType, MapType, NamedType, TypeRef, UnionType
from ..schema._unions import branch_picker
from ._generated_runtime import _HELPERS, INLINE_PATHS, ValuePaths
from ._numeric import _SMALL_VARINTS
from ._source import _ident, _Source

Encoder = Callable[[Any, bytearray], None]
Decoder = Callable[[Any, int], tuple[Any, int]]

NUMERIC_KIND = {name: name.removeprefix("ArrayOf").lower() for name in NUMERIC_ARRAY_DTYPES}
"""The Avro item type of each numeric ``ArrayOf*`` record's values: ArrayOfLong -> long."""
_PRIMITIVE_SIZE = {
    "null": 0,
    "boolean": 1,
    "int": 1,
    "long": 1,
    "float": 4,
    "double": 8,
    "bytes": 1,
    "string": 1,
}
_PICK_CACHE_LIMIT = 64  # Python types remembered per union
_MERGE_AFTER = 16  # blocks of one numeric array kept apart before they are joined as they come


def min_size(t: TypeRef) -> int:
    """The fewest bytes a value of type ``t`` takes on the wire."""
    if isinstance(t, str):
        named = model.types.get(t)
        if named is None:
            return _PRIMITIVE_SIZE[t]
        if named.kind == "record":
            return sum(min_size(f.type) for f in named.fields)
        return named.size if named.kind == "fixed" else 1
    return 1  # an array, a map (the count) or a union (the branch index)


class CompiledCodec:
    """Generated encoders and decoders per named ETP type, built on first use of a type, whose
    numeric arrays and ``bytes`` take the value ``paths``."""

    def __init__(self, paths: ValuePaths = INLINE_PATHS) -> None:
        self._paths = paths
        self._ns: dict[str, Any] = dict(_HELPERS)
        self._ns.update(
            ENC_NUM=paths.encode_numeric,
            DEC_NUM=paths.decode_numeric,
            DEC_BYTES=paths.decode_bytes,
        )
        self._built: dict[str, Any] = {}  # generated functions by name
        self._encoders: dict[str, Encoder] = {}  # by full name of the record type
        self._decoders: dict[str, Decoder] = {}
        self._const_prefix = ""  # of the function being generated (see _const)
        self._inlining = False  # writing the code of a record read inline (see _decode_named)
        self._consts = 0
        self._lock = threading.Lock()

    def encoder(self, full_name: str) -> Encoder:
        """``encode(record, out)``: append the Avro binary of a record to the bytearray ``out``."""
        found = self._encoders.get(full_name)
        if found is None:
            found = self._encoders[full_name] = self._function("E", full_name)
        return found

    def decoder(self, full_name: str) -> Decoder:
        """``decode(data, offset) -> (record, new offset)`` for a record type; ``data`` must be
        ``bytes`` (its slices become the values of ``bytes`` fields), or a format ``B``
        memoryview for a codec of :attr:`ValuePaths.in_place`."""
        found = self._decoders.get(full_name)
        if found is None:
            found = self._decoders[full_name] = self._function("D", full_name)
        return found

    # -- generation -------------------------------------------------------------------------------

    def _function(self, kind: str, full_name: str) -> Any:
        """The encoder (``E``) or decoder (``D``) of a record type, generated on first use.

        Generated code calls the functions of other record types by name; until one is first
        called, that name holds a stand-in which generates it, so a message costs only the
        types it meets. The source is written under a lock (sessions' threads may meet a type
        together) and compiled outside it: the code cache may read or write a file, and a slow
        disk must not hold up the threads that meet other types. Two threads meeting the same
        new type both compile it; the first to finish installs it, and both use that one.
        """
        name = f"{kind}_{_ident(full_name)}"
        found = self._built.get(name)
        if found is not None:
            return found
        if model.types.get(full_name) is None or model.types[full_name].kind != "record":
            raise ETPInvalidArgument(f"{full_name} is not a record type")
        with self._lock:
            found = self._built.get(name)
            if found is not None:
                return found
            self._const_prefix, self._consts = f"K_{name}_", 0
            lines = (
                self._encoder_source(full_name) if kind == "E" else self._decoder_source(full_name)
            )
        code = compile_definitions(lines, f"codec {name}")
        with self._lock:
            found = self._built.get(name)
            if found is None:
                found = run_definitions(code, self._ns)[name]
                self._ns[name] = self._built[name] = found
            return found

    def _call(self, kind: str, full_name: str) -> str:
        """The name generated code calls for the encoder or decoder of a record type."""
        name = f"{kind}_{_ident(full_name)}"
        if name not in self._ns:
            self._ns[name] = lambda *args: self._function(kind, full_name)(*args)
        return name

    def _const(self, value: Any) -> str:
        """A name in the generated code's namespace bound to ``value``, made of the name of the
        function being generated and a count: a function's source (the code cache's key) does not
        depend on which functions were generated before it."""
        self._consts += 1
        name = f"{self._const_prefix}{self._consts}"
        self._ns[name] = value
        return name

    def _emit(self, op: str, t: TypeRef, x: str, owner: str, src: _Source) -> None:
        """Code for ``t`` by ``self._<op>_<kind of t>`` (``owner``: the enclosing record)."""
        if isinstance(t, ArrayType | MapType):
            getattr(self, f"_{op}_container")(t, x, owner, src)
        elif isinstance(t, UnionType):
            getattr(self, f"_{op}_union")(t, x, src)
        elif t in model.types:
            getattr(self, f"_{op}_named")(model.types[t], x, src)
        else:
            getattr(self, f"_{op}_primitive")(t, x, src)

    def _record_class(self, t: NamedType) -> str:
        return self._const(registry.classes[t.full_name])

    # -- encoders ---------------------------------------------------------------------------------

    def _encoder_source(self, full_name: str) -> list[str]:
        t = model.types[full_name]
        cls = self._record_class(t)
        src = _Source()
        src.lines.append(f"def E_{_ident(full_name)}(v, out):")
        with src.block(f"if type(v) is not {cls}:"):
            src.line(f"v = AS_RECORD({cls}, v)")
        attrs = registry.classes[full_name].etp_attributes
        for f, attr in zip(t.fields, attrs, strict=True):
            x = src.fresh("x")
            src.line(f"{x} = v.{attr}")
            self._encode(f.type, x, t.name, src)
        src.line("return None")
        return src.lines

    def _encode(self, t: TypeRef, x: str, owner: str, src: _Source) -> None:
        """Append code encoding the value in variable ``x`` to ``out``."""
        self._emit("encode", t, x, owner, src)

    def _encode_primitive(self, t: str, x: str, src: _Source) -> None:
        if t == "null":
            with src.block(f"if {x} is not None:"):
                src.line(f"raise TypeError('expected None, got ' + type({x}).__name__)")
        elif t == "boolean":
            src.line(f"out += ONE if {x} else ZERO")
        elif t == "long":  # WV remembers the last values it wrote (not floats equal to them)
            src.line(f"if -64 <= {x} < 64: out += SMALL[{x} + 64]")
            src.line(f"else: out += (RECENT.get({x}) if type({x}) is int else None) or WV({x})")
        elif t == "int":
            src.line(f"out += SMALL[{x} + 64] if -64 <= {x} < 64 else WINT({x})")
        elif t == "float":
            src.line(f"out += PACK_F({x})")
        elif t == "double":
            src.line(f"out += PACK_D({x})")
        else:
            data, n = src.fresh("d"), src.fresh("n")
            by_reference = t == "bytes" and self._paths.in_place  # a view, added to the Pieces
            if t == "string":
                src.line(f"{data} = {x}.encode()")
            else:
                copy = "memoryview({x}).cast('B')" if by_reference else "bytes({x})"
                src.line(f"{data} = {x} if type({x}) is bytes else {copy.format(x=x)}")
            src.line(f"{n} = len({data})")
            src.line(f"out += SMALL[{n} + 64] if {n} < 64 else RECENT.get({n}) or WV({n})")
            src.line(f"out.add({data})" if by_reference else f"out += {data}")

    def _encode_named(self, t: NamedType, x: str, src: _Source) -> None:
        if t.kind == "record" and len(t.fields) == 1 and not self._inlining:
            self._encode_inline_record(t, x, src)
        elif t.kind == "record":
            src.line(f"{self._call('E', t.full_name)}({x}, out)")
        elif t.kind == "enum":
            members = list(registry.classes[t.full_name])
            index = {m: _SMALL_VARINTS[64 + i] for i, m in enumerate(members)}
            index.update({m.value: _SMALL_VARINTS[64 + i] for i, m in enumerate(members)})
            src.line(f"out += {self._const(index)}[{x}]")
        else:
            src.line(f"out += {x}.bytes if type({x}) is UUID else FIXED({x}, {t.size})")

    def _encode_inline_record(self, t: NamedType, x: str, src: _Source) -> None:
        """A record of one field (a DataValue, an ``ArrayOf*``) written by its holder's code,
        with no call per value; one level deep: the records in its field are written by
        calls."""
        (f,) = t.fields
        (attr,) = registry.classes[t.full_name].etp_attributes
        cls = self._record_class(t)
        with src.block(f"if type({x}) is not {cls}:"):
            src.line(f"{x} = AS_RECORD({cls}, {x})")
        y = src.fresh("r")
        src.line(f"{y} = {x}.{attr}")
        self._inlining = True
        try:
            self._encode(f.type, y, t.name, src)
        finally:
            self._inlining = False

    def _encode_container(self, t: ArrayType | MapType, x: str, owner: str, src: _Source) -> None:
        if isinstance(t, ArrayType) and owner in NUMERIC_KIND:
            dtype = self._const(NUMERIC_ARRAY_DTYPES[owner])
            src.line(f"ENC_NUM({x}, out, {dtype}, {NUMERIC_KIND[owner]!r})")
            return
        n = src.fresh("n")
        src.line(f"{n} = len({x})")
        with src.block(f"if {n}:"):
            src.line(f"out += SMALL[{n} + 64] if {n} < 64 else WV({n})")
            y = src.fresh("y")
            if isinstance(t, ArrayType):
                with src.block(f"for {y} in {x}:"):
                    self._encode(t.items, y, "", src)
            else:
                k = src.fresh("k")
                with src.block(f"for {k}, {y} in {x}.items():"):
                    self._encode_primitive("string", k, src)
                    self._encode(t.values, y, "", src)
        src.line("out += ZERO")

    def _encode_union(self, u: UnionType, x: str, src: _Source) -> None:
        pick = branch_picker(model, u)
        cache: dict[type, int] = {}

        def slow_pick(value: Any) -> int:
            i = pick(value)
            if len(cache) < _PICK_CACHE_LIMIT:
                cache[type(value)] = i
            return i

        i = src.fresh("i")
        nullable = u.branches[0] == "null"
        if nullable:
            src.line(f"if {x} is None: out += ZERO")
            src.line("else:")
            src.depth += 1
        src.line(f"{i} = {self._const(cache)}.get(type({x}))")
        with src.block(f"if {i} is None:"):
            src.line(f"{i} = {self._const(slow_pick)}({x})")
        src.line(f"out += SMALL[{i} + 64]")
        branches = list(enumerate(u.branches))[1 if nullable else 0 :]
        for n, (j, b) in enumerate(branches):
            with src.block(f"{'if' if n == 0 else 'elif'} {i} == {j}:"):
                self._encode(b, x, "", src)
        if nullable:
            src.depth -= 1

    # -- decoders ---------------------------------------------------------------------------------

    def _decoder_source(self, full_name: str) -> list[str]:
        t = model.types[full_name]
        cls = self._record_class(t)
        src = _Source()
        src.lines.append(f"def D_{_ident(full_name)}(buf, pos):")
        src.line("L = len(buf)")
        src.line(f"o = NEW({cls})")
        attrs = registry.classes[full_name].etp_attributes
        for f, attr in zip(t.fields, attrs, strict=True):
            x = src.fresh("x")
            self._decode(f.type, x, t.name, src)
            src.line(f"o.{attr} = {x}")
        src.line("return o, pos")
        return src.lines

    def _decode(self, t: TypeRef, x: str, owner: str, src: _Source) -> None:
        """Append code decoding a value at ``pos`` into variable ``x`` and moving ``pos`` on."""
        self._emit("decode", t, x, owner, src)

    def _varint(self, x: str, src: _Source, *, recurring: bool = False) -> None:
        """Code reading a varint into ``x``; ``recurring`` for ``long`` fields (times, sizes),
        which are remembered by their bytes (not from memoryviews: they may change)."""
        recurring = recurring and not self._paths.in_place
        b = src.fresh("b")
        src.line(f"{b} = buf[pos]")
        with src.block(f"if {b} < 128:"):
            src.line(f"{x} = ZIGZAG[{b}]")
            src.line("pos += 1")
        if not recurring:
            # two bytes (lengths of 64 bytes to 8 KiB: URIs, small documents), without a call
            c, z = src.fresh("b"), src.fresh("z")
            with src.block(f"elif ({c} := buf[pos + 1]) < 128:"):
                src.line(f"{z} = ({b} & 127) | ({c} << 7)")
                src.line(f"{x} = ({z} >> 1) ^ -({z} & 1)")
                src.line("pos += 2")
            with src.block("else:"):
                src.line(f"{x}, pos = RV(buf, pos)")
            return
        with src.block("else:"):
            # read_recurring_varint's memo, read without a call when ``buf`` is bytes
            found = src.fresh("f")
            src.line(f"{found} = WINDOWS.get(buf[pos : pos + 8]) if type(buf) is bytes else None")
            with src.block(f"if {found} is None:"):
                src.line(f"{x}, pos = RV_RECURRING(buf, pos)")
            with src.block("else:"):
                src.line(f"{x} = {found}[0]")
                src.line(f"pos += {found}[1]")

    def _decode_primitive(self, t: str, x: str, src: _Source) -> None:
        if t == "null":
            src.line(f"{x} = None")
        elif t == "boolean":
            src.line(f"{x} = buf[pos] != 0")
            src.line("pos += 1")
        elif t in ("int", "long"):
            self._varint(x, src, recurring=t == "long")
            if t == "int":
                with src.block(f"if not INT_MIN <= {x} <= INT_MAX:"):
                    src.line(f"raise BAD_INT({x}, pos)")
        elif t in ("float", "double"):
            src.line(f"{x} = UNPACK_{t[0].upper()}(buf, pos)[0]")
            src.line(f"pos += {_PRIMITIVE_SIZE[t]}")
        elif t == "bytes" and self._paths.decode_bytes is not None:
            src.line(f"{x}, pos = DEC_BYTES(buf, pos)")
        else:
            n, end = src.fresh("n"), src.fresh("e")
            self._varint(n, src)
            src.line(f"{end} = pos + {n}")
            with src.block(f"if {n} < 0 or {end} > L:"):
                src.line(f"raise TRUNC({t!r}, pos)")
            views = self._paths.in_place  # a decoded value owns its bytes: a view's are copied
            if t == "string":
                with src.block("try:"):
                    text = f"str(buf[pos:{end}], 'utf-8')" if views else f"buf[pos:{end}].decode()"
                    src.line(f"{x} = {text}")
                with src.block("except UnicodeDecodeError as exc:"):
                    src.line("raise BAD_UTF8(exc, pos) from None")
            else:
                src.line(f"{x} = bytes(buf[pos:{end}])" if views else f"{x} = buf[pos:{end}]")
            src.line(f"pos = {end}")

    def _decode_named(self, t: NamedType, x: str, src: _Source) -> None:
        if t.kind == "record" and len(t.fields) == 1 and not self._inlining:
            self._decode_inline_record(t, x, src)
        elif t.kind == "record":
            src.line(f"{x}, pos = {self._call('D', t.full_name)}(buf, pos)")
        elif t.kind == "enum":
            members = tuple(registry.classes[t.full_name])
            i = src.fresh("i")
            self._varint(i, src)
            with src.block(f"if not 0 <= {i} < {len(members)}:"):
                src.line(f"raise BAD_INDEX({t.name!r}, {i}, pos)")
            src.line(f"{x} = {self._const(members)}[{i}]")
        else:
            end = src.fresh("e")
            src.line(f"{end} = pos + {t.size}")
            with src.block(f"if {end} > L:"):
                src.line(f"raise TRUNC({t.name!r}, pos)")
            raw = f"bytes(buf[pos:{end}])" if self._paths.in_place else f"buf[pos:{end}]"
            src.line(f"{x} = UUID(bytes={raw})")
            src.line(f"pos = {end}")

    def _decode_inline_record(self, t: NamedType, x: str, src: _Source) -> None:
        """A record of one field (a DataValue, an ``ArrayOf*``) read by its holder's code, with
        no call per value; one level deep: the records in its field are read by calls."""
        (f,) = t.fields
        (attr,) = registry.classes[t.full_name].etp_attributes
        y = src.fresh("r")
        self._inlining = True
        try:
            self._decode(f.type, y, t.name, src)
        finally:
            self._inlining = False
        src.line(f"{x} = NEW({self._record_class(t)})")
        src.line(f"{x}.{attr} = {y}")

    def _blocks(self, src: _Source, at: str = "") -> tuple[str, str]:
        """Open the loop over the blocks of an array or map: each pass has read a block's count
        (made positive) and its byte size (None unless the count was negative), and stored the
        offset of the block's start in ``at`` when given. Returns the names of count and size;
        the caller emits the pass's body and closes the loop (``src.depth -= 1``)."""
        count, size = src.fresh("c"), src.fresh("s")
        src.line("while True:")
        src.depth += 1
        if at:
            src.line(f"{at} = pos")
        self._varint(count, src)
        with src.block(f"if {count} == 0:"):
            src.line("break")
        src.line(f"{size} = None")
        with src.block(f"if {count} < 0:"):
            src.line(f"{count} = -{count}")
            self._varint(size, src)
        return count, size

    def _decode_container(self, t: ArrayType | MapType, x: str, owner: str, src: _Source) -> None:
        if isinstance(t, ArrayType) and owner in NUMERIC_KIND:
            self._decode_numeric_array(owner, x, src)
            return
        is_map = isinstance(t, MapType)
        item = t.values if isinstance(t, MapType) else t.items
        least = 1 + min_size(item) if is_map else min_size(item)
        if least < 1:  # pragma: no cover - no ETP array holds zero-byte items
            raise ETPDecodeError(f"cannot bound a count of zero-byte {item} items")
        y = src.fresh("y")
        src.line(f"{x} = {{}}" if is_map else f"{x} = []")
        with src.block("if buf[pos] == 0:"):  # empty: the usual case of maps of extras
            src.line("pos += 1")
        src.line("else:")
        src.depth += 1
        count, _size = self._blocks(src)  # the size in bytes is not needed
        with src.block(f"if {count} * {least} > L - pos:"):
            src.line(f"raise TRUNC('a block of ' + str({count}) + ' items', pos)")
        with src.block(f"for _ in range({count}):"):
            if is_map:
                k = src.fresh("k")
                self._decode_primitive("string", k, src)
                self._decode(item, y, "", src)
                src.line(f"{x}[{k}] = {y}")
            else:
                self._decode(item, y, "", src)
                src.line(f"{x}.append({y})")
        src.depth -= 2

    def _decode_numeric_array(self, owner: str, x: str, src: _Source) -> None:
        """An ``ArrayOf*`` record's values: each block by the value paths' ``decode_numeric``,
        several joined into one array, none an empty array of the record's dtype."""
        at, y, more = src.fresh("a"), src.fresh("y"), src.fresh("m")
        src.line(f"{x} = {more} = None")
        count, size = self._blocks(src, at)
        kind = NUMERIC_KIND[owner]
        src.line(f"{y}, pos = DEC_NUM(buf, {at}, pos, {count}, {size}, {kind!r})")
        with src.block(f"if {x} is None:"):
            src.line(f"{x} = {y}")
        with src.block(f"elif {more} is None:"):
            src.line(f"{more} = [{x}, {y}]")
        with src.block("else:"):
            src.line(f"{more}.append({y})")
            # Many small blocks: join the newest parts as a binary counter does (a part as long
            # as the one before it merges into it), so a frame of one-item blocks holds a few
            # arrays, not one per item; the few blocks of an ordinary array are joined once.
            with (
                src.block(f"if len({more}) > {_MERGE_AFTER}:"),
                src.block(f"while len({more}) > 1 and len({more}[-1]) >= len({more}[-2]):"),
            ):
                src.line(f"{more}[-2:] = [CONCAT({more}[-2:])]")
        src.depth -= 1
        with src.block(f"if {more} is not None:"):
            src.line(f"{x} = CONCAT({more})")
        with src.block(f"elif {x} is None:"):
            src.line(f"{x} = EMPTY(0, {self._const(NUMERIC_ARRAY_DTYPES[owner])})")

    def _decode_union(self, u: UnionType, x: str, src: _Source) -> None:
        wrap = {}
        if "int" in u.branches and "long" in u.branches:
            wrap[u.branches.index("int")] = "Int32"
        if "float" in u.branches and "double" in u.branches:
            wrap[u.branches.index("float")] = "Float32"
        i = src.fresh("i")
        nullable = u.branches[0] == "null"
        if nullable:  # the usual value of an optional field, one byte: read without the varint
            with src.block("if buf[pos] == 0:"):
                src.line(f"{x} = None")
                src.line("pos += 1")
            src.line("else:")
            src.depth += 1
        self._varint(i, src)
        for j, b in enumerate(u.branches):
            with src.block(f"{'if' if j == 0 else 'elif'} {i} == {j}:"):
                self._decode(b, x, "", src)
                if j in wrap:
                    src.line(f"{x} = {wrap[j]}({x})")
        with src.block("else:"):
            src.line(f"raise BAD_INDEX('union branch', {i}, pos)")
        if nullable:
            src.depth -= 1


COMPILED_CODEC = CompiledCodec()
