"""Receiving the values of a one-entry DataArray message straight into their place (no copy).

A ``GetDataArraysResponse`` or ``GetDataSubarraysResponse`` (the client's replies), or a
``PutDataArrays`` or ``PutDataSubarrays`` (the server's requests), with one entry is, on the
wire, a short prefix (header, map count, key, identifier and dimensions where the message has
them, AnyArray branch, value count), the values as raw bytes (doubles, floats, or a ``bytes``
payload), then a tail (the end of the values block, and whatever follows: starts and counts,
custom data, the end of the map). When the values arrive as raw bytes there is no reason to
receive them anywhere but where they end up:

* :class:`ArrayReplyTarget` (client): a reply's values go straight into the caller's result,
  when they have exactly its dtype and size;
* :class:`IncomingValues` (server): a put's values go into a fresh array of their own dtype and
  size, which the handler decodes as usual (aligned, its own memory, never zero-filled).

Integers travel as zig-zag varints (``ArrayOfLong``, ``ArrayOfInt``), whose length is only known
once they are scanned: the rest of such a frame, from its first varint to its end, is received
into a reused scratch buffer (:data:`_SCRATCH`: no buffer grown nor faulted in per frame), and
``decode`` decodes the varints from there straight into the values' memory (the caller's
result, or a fresh array of the put's own) and the message from the bytes around them.

A target reads the prefix of an arriving frame and says at which offset the values start and
where their bytes go (``place``); the transport then receives those bytes into that memory and
the rest of the frame into an ordinary buffer, and ``decode`` turns the rest into the same
``(header, body)`` :func:`~etp_sync.codec.decode_message` would give, whose values are a view of
that memory.

Anything unexpected in the prefix (another message, several entries, another branch or count,
compression, header extension, integers the memory cannot take) makes ``place`` decline, and
the frame is received and decoded the ordinary way. Only the receiving thread calls ``place``
and ``decode``; a target serves at most one frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ETPDecodeError
from ..schema import message_class
from ._arraycodec import locate_values
from ._decode import decode_message
from ._header import ARRAY_PROTOCOL, MessageFlags
from ._numeric import decode_zigzag_varints, read_header, read_varint
from ._pool import BufferPool
from .arrays import TRANSPORT_DTYPES, fresh_empty

__all__ = ["PLACE_PEEK", "ArrayReplyTarget", "IncomingValues", "takes_varints"]

PLACE_PEEK = 512
"""Bytes of a frame's start that ``place`` needs to see (or the whole frame when shorter); a
prefix longer than that (over-long key or identifier, absurd dimensions) declines."""

# message type -> its body's record type
_REPLY_LAYOUT = {t: message_class(ARRAY_PROTOCOL, t).etp_full_name for t in (1, 8)}
"""GetDataArraysResponse, GetDataSubarraysResponse"""
_PUT_LAYOUT = {t: message_class(ARRAY_PROTOCOL, t).etp_full_name for t in (4, 5)}
"""PutDataArrays, PutDataSubarrays"""
_VARINT_BYTES = {"arrayOfLong": 10, "arrayOfInt": 5}
"""Transports of zig-zag varints, with the most bytes one takes."""
_PLACEABLE = {
    "double": "arrayOfDouble",
    "float": "arrayOfFloat",
    "bytes": "bytes",
    "long": "arrayOfLong",
    "int": "arrayOfInt",
}
"""The transport of the values of each Avro item kind that can be placed."""
_UNPLACEABLE = MessageFlags.COMPRESSED | MessageFlags.HEADER_EXTENSION
_EMPTY_BYTES = b"\x00"  # the length of an empty ``bytes``
Empty = Callable[[int, np.dtype[Any]], np.ndarray[Any, Any]]
"""An allocator of uninitialised arrays, ``empty(size, dtype)`` (like ``np.empty``); it may
refuse the values with ETPDecodeError (its code is the frame's answer)."""


class _Located:
    """Where the values of a frame lie: the branch's transport, the start of their count or
    length (``cut_at``), the start of their bytes (``offset``) and how many there are
    (``size``: values, or bytes for ``bytes``)."""

    __slots__ = ("cut_at", "offset", "size", "transport")

    def __init__(self, transport: str, cut_at: int, offset: int, size: int) -> None:
        self.transport = transport
        self.cut_at = cut_at
        self.offset = offset
        self.size = size


def _locate(buf: memoryview, layouts: dict[int, str]) -> _Located | None:
    """The values of a one-entry message of ``layouts`` in the frame starting with ``buf``."""
    (protocol, message_type, _correlation, _message_id, flags), pos = read_header(buf)
    body = layouts.get(message_type) if protocol == ARRAY_PROTOCOL else None
    if body is None or flags & _UNPLACEABLE:
        return None
    count, _after = read_varint(buf, pos)  # map block: exactly one entry
    if abs(count) != 1:
        return None
    found = locate_values(buf, pos, body)  # read by the codec up to the entry's values
    transport = None if found is None else _PLACEABLE.get(found[0])
    if found is None or transport is None:
        return None
    cut_at = found[1]
    size, pos = read_varint(buf, cut_at)  # values count (one block) or bytes length
    if size <= 0:
        return None
    return _Located(transport, cut_at, pos, size)


_SCRATCH = BufferPool(160 << 20, grow=0.25, allocate=lambda n: fresh_empty(n, np.uint8))
"""Byte buffers that varint payloads are received into, reused from frame to frame once nothing
refers to them (their bytes are dropped once decoded): a frame's rest is neither grown into a
buffer nor faulted in anew. Mapped on demand (only what is written takes memory), a quarter
bigger than the first frame's (room for slightly bigger frames); at most 160 MiB kept."""


class _ValuesTarget:
    """Memory for the values of one frame and the decoding of the rest of it (see the module
    docstring); subclasses say which messages they take and where the values go."""

    __slots__ = ("_at", "_dest", "_empty", "_raw", "_received", "_varints", "placed")

    _LAYOUTS: dict[int, str] = {}

    def __init__(self, empty: Empty | None = None) -> None:
        self._empty = empty
        self._at: _Located | None = None
        self._dest: np.ndarray[Any, Any] | None = None
        self._raw: memoryview | None = None
        self._varints: np.ndarray[Any, Any] | None = None  # the scratch varints arrive in
        self._received = 0
        self.placed = False

    @property
    def nbytes(self) -> int:
        """Bytes of the frame received into this target's memory."""
        return self._received

    def place(self, prefix: memoryview, length: int) -> tuple[int, memoryview] | None:
        """``(offset, memory)``: the frame's bytes ``offset .. offset + memory.nbytes`` go to
        ``memory``; None when this frame is not one to place (see the module docstring).

        ``prefix`` is the frame's first bytes (all of it, or at least :data:`PLACE_PEEK`),
        ``length`` the frame's size."""
        if self.placed:
            return None
        try:
            at = _locate(prefix, self._LAYOUTS)
        except (ETPDecodeError, IndexError):
            return None
        if at is None:
            return None
        try:
            raw = self._memory(at, length)
        except ETPDecodeError:  # refused by the allocator: decoded (and refused) the usual way
            return None
        if raw is None:
            return None
        self._at, self._raw, self._received, self.placed = at, raw, raw.nbytes, True
        return at.offset, raw

    def _memory(self, at: _Located, length: int) -> memoryview | None:
        """The memory the located values go to, or None to decline (sets ``_dest``)."""
        raise NotImplementedError

    def _varint_memory(self, at: _Located, length: int, tail: int) -> memoryview | None:
        """Scratch memory for the rest of a frame of varints (from the first one to the end,
        at least ``tail`` bytes following them), or None when that rest cannot hold them."""
        nbytes = length - at.offset
        if nbytes < at.size + tail:  # every varint takes a byte at least
            return None
        self._varints = _SCRATCH.take(nbytes)
        return memoryview(self._varints[:nbytes])  # type: ignore[arg-type]

    def _tail_fits(self, after: bytes | bytearray | memoryview) -> bool:
        """Whether the frame's bytes after the values are what this target accepts."""
        return True

    def _fill(self, at: _Located, varints: np.ndarray[Any, Any]) -> int:
        """Decode the ``at.size`` varints at the start of ``varints`` into the values' memory
        (allocated now when it is the target's own); where they end."""
        dest = self._dest
        if dest is None:
            # Without an allocator np.empty, not fresh_empty: a server that replaces arrays
            # reuses the memory the replaced blocks freed (~20-25 ms less CPU per 64 MiB put).
            dest = self._dest = (self._empty or np.empty)(at.size, TRANSPORT_DTYPES[at.transport])
        flat = dest.reshape(-1).view(TRANSPORT_DTYPES[at.transport])
        _values, end = decode_zigzag_varints(
            varints.data,
            0,
            at.size,
            dtype=flat.dtype,
            max_bytes_per_value=_VARINT_BYTES[at.transport],
            out=flat,
        )
        return end

    def decode(self, rest: bytes | bytearray | memoryview) -> tuple[Any, Any]:
        """``(header, body)`` of the placed frame from ``rest``, its bytes outside the values:
        decoded as if the values were empty, then given the values in ``dest``."""
        at, raw = self._at, self._raw
        varints, self._varints = self._varints, None
        try:
            if at is None or raw is None:
                raise ETPDecodeError("no DataArray values were placed")
            offset = at.offset
            if varints is not None:
                if len(rest) != offset:
                    raise ETPDecodeError("a placed DataArray message does not end where it should")
                end = self._fill(at, varints[: raw.nbytes])
                after: bytes | bytearray | memoryview = bytes(varints[end : raw.nbytes])
            else:
                after = rest[offset:]
            if not after or not self._tail_fits(after):
                raise ETPDecodeError("a placed DataArray message does not end where it should")
            if at.transport == "bytes":
                empty = _EMPTY_BYTES
            elif after[0] == 0:
                empty = b""  # the block's end follows the values: the array reads as empty
            else:  # another block of values (valid Avro, unusual): the whole frame, decoded
                if varints is not None:
                    whole = bytes(rest[:offset]) + bytes(varints[: raw.nbytes])
                else:
                    whole = bytes(rest[:offset]) + bytes(raw) + bytes(after)
                self._dest = None
                return decode_message(whole)
            header, body = decode_message(bytes(rest[: at.cut_at]) + empty + bytes(after))
        finally:
            if varints is not None:
                self._raw = None  # the scratch serves other frames once ``varints`` is gone
        entries: Any = next(
            (
                getattr(body, name)
                for name in ("data_subarrays", "data_arrays")
                if hasattr(body, name)
            ),
            {},
        )
        if len(entries) != 1:
            raise ETPDecodeError("a placed DataArray message lost its entry")
        (entry,) = entries.values()
        data = entry.array.data if hasattr(entry, "array") else entry.data
        if at.transport == "bytes":
            object.__setattr__(data, "item", raw)
        else:
            assert self._dest is not None
            object.__setattr__(data.item, "values", self._dest.reshape(-1))
        return header, body


def takes_varints(dtype: np.dtype[Any], transport: str) -> bool:
    """Whether an array of ``dtype`` takes the decoded ``transport`` varints bit for bit (the
    transport's own dtype, or its unsigned twin: values above the signed range travel as
    negative numbers)."""
    wire = TRANSPORT_DTYPES[transport]
    return dtype.kind in "iu" and dtype.itemsize == wire.itemsize and dtype.byteorder in "<="


class ArrayReplyTarget(_ValuesTarget):
    """Where the values of the one-entry DataArray reply to a request go: ``dest``.

    ``dest`` must be C-contiguous and its dtype the one the values arrive with: ``<f8`` for
    ``arrayOfDouble``, ``<f4`` for ``arrayOfFloat``, any dtype for ``bytes`` (their raw
    elements), int64 or uint64 for ``arrayOfLong``, int32 or uint32 for ``arrayOfInt`` (their
    varints decoded into it). Replies carrying anything else are decoded the ordinary way.
    """

    __slots__ = ("_transport", "_want")

    _LAYOUTS = _REPLY_LAYOUT

    def __init__(self, dest: np.ndarray[Any, Any], transport: str) -> None:
        if transport not in _PLACEABLE.values() or not dest.flags.c_contiguous:
            raise ValueError(f"cannot place {transport} values into this array")
        if transport in _VARINT_BYTES:
            if not takes_varints(dest.dtype, transport):
                raise ValueError(f"{transport} values are not {dest.dtype}")
        elif transport != "bytes" and dest.dtype != TRANSPORT_DTYPES[transport]:
            raise ValueError(f"{transport} values are not {dest.dtype}")
        super().__init__()
        self._dest = dest
        self._want = memoryview(dest.reshape(-1)).cast("B")  # type: ignore[arg-type]
        self._transport = transport

    @classmethod
    def for_values(cls, dest: np.ndarray[Any, Any], transport: str) -> ArrayReplyTarget | None:
        """A target for ``dest``, or None when its values cannot be received in place."""
        if dest.size == 0:
            return None
        try:
            return cls(dest, transport)
        except ValueError:
            return None

    @property
    def _tail(self) -> bytes:
        """The frame's bytes after the values: the end of the values block (not for bytes),
        the end of the map block."""
        return b"\x00" if self._transport == "bytes" else b"\x00\x00"

    def _memory(self, at: _Located, length: int) -> memoryview | None:
        want = self._want
        if at.transport != self._transport:
            return None
        if at.transport in _VARINT_BYTES:
            if self._dest is None or at.size != self._dest.size:
                return None
            return self._varint_memory(at, length, len(self._tail))
        if at.offset + want.nbytes + len(self._tail) != length:
            return None
        itemsize = 1 if at.transport == "bytes" else TRANSPORT_DTYPES[at.transport].itemsize
        return want if at.size * itemsize == want.nbytes else None

    def _tail_fits(self, after: bytes | bytearray | memoryview) -> bool:
        return bytes(after) == self._tail


class IncomingValues(_ValuesTarget):
    """The values of an arriving one-entry PutDataArrays or PutDataSubarrays, received into a
    fresh array of their wire dtype (``<f8``, ``<f4``, ``uint8``, or int64 / int32 decoded from
    varints) and size, which is only allocated once the frame is known to hold them (never more
    than the frame's length; for varints, once they all arrived, eight bytes per varint).

    ``empty(size, dtype)`` allocates that array (e.g. in memory the server recycles: it must
    return all of the memory the array lies in, uninitialised); :func:`fresh_empty` without.
    When it refuses (ETPDecodeError), raw values are received and decoded the ordinary way, and
    varints are refused with its error by :meth:`decode`, before they take 4 or 8 bytes each."""

    __slots__ = ()

    _LAYOUTS = _PUT_LAYOUT

    def _memory(self, at: _Located, length: int) -> memoryview | None:
        if at.transport in _VARINT_BYTES:
            return self._varint_memory(at, length, 1)
        dtype = TRANSPORT_DTYPES[at.transport]
        if at.offset + at.size * dtype.itemsize >= length:  # the tail takes a byte at least
            return None
        self._dest = (self._empty or fresh_empty)(at.size, dtype)
        return memoryview(self._dest).cast("B")  # type: ignore[arg-type]
