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

A target reads the prefix of an arriving frame and says at which offset the values start and
where their bytes go (``place``); the transport then receives those bytes into that memory and
the rest of the frame into an ordinary buffer, and ``decode`` turns the rest into the same
``(header, body)`` :func:`~etp_sync.codec.decode_message` would give, whose values are a view of
that memory.

Anything unexpected in the prefix (another message, several entries, another branch or count,
compression, header extension, varint values) makes ``place`` decline, and the frame is received
and decoded the ordinary way. Only the receiving thread calls ``place`` and ``decode``; a target
serves at most one frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ETPDecodeError
from ..schema import model
from ..schema._parse import UnionType
from . import MessageFlags, decode_message
from ._numeric import read_header, read_varint
from .arrays import TRANSPORT_DTYPES, fresh_empty

__all__ = ["PLACE_PEEK", "ArrayReplyTarget", "IncomingValues"]

PLACE_PEEK = 512
"""Bytes of a frame's start that ``place`` needs to see (or the whole frame when shorter); a
prefix longer than that (over-long key or identifier, absurd dimensions) declines."""

_ARRAY_PROTOCOL = 9
# message type -> what lies between an entry's key and its AnyArray branch
_REPLY_LAYOUT: dict[int, tuple[str, ...]] = {
    1: ("dims",),
    8: ("dims",),
}  # GetDataArraysResponse, GetDataSubarraysResponse
_PUT_LAYOUT: dict[int, tuple[str, ...]] = {
    4: ("uid", "dims"),
    5: ("uid",),
}  # PutDataArrays, PutDataSubarrays
_ITEM = model.types["Energistics.Etp.v12.Datatypes.AnyArray"].fields[0].type
assert isinstance(_ITEM, UnionType)
_BRANCHES = tuple(str(b).rsplit(".", 1)[-1] for b in _ITEM.branches)
_FIXED = {"ArrayOfFloat": "arrayOfFloat", "ArrayOfDouble": "arrayOfDouble", "bytes": "bytes"}
_UNPLACEABLE = MessageFlags.COMPRESSED | MessageFlags.HEADER_EXTENSION
_EMPTY_BYTES = b"\x00"  # the length of an empty ``bytes``


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


def _skip_string(buf: memoryview, pos: int) -> int | None:
    length, pos = read_varint(buf, pos)
    return pos + length if 0 <= length <= PLACE_PEEK else None


def _locate(buf: memoryview, layouts: dict[int, tuple[str, ...]]) -> _Located | None:
    """The values of a one-entry message of ``layouts`` in the frame starting with ``buf``."""
    (protocol, message_type, _correlation, _message_id, flags), pos = read_header(buf)
    layout = layouts.get(message_type) if protocol == _ARRAY_PROTOCOL else None
    if layout is None or flags & _UNPLACEABLE:
        return None
    count, pos = read_varint(buf, pos)  # map block: exactly one entry
    if count < 0:
        count = -count
        _size, pos = read_varint(buf, pos)
    if count != 1:
        return None
    skipped = _skip_string(buf, pos)  # the key
    for part in layout:
        if skipped is None:
            return None
        pos = skipped
        if part == "uid":  # DataArrayIdentifier: uri, pathInResource
            uri_end = _skip_string(buf, pos)
            skipped = None if uri_end is None else _skip_string(buf, uri_end)
            continue
        while True:  # DataArray.dimensions: array<long>
            count, pos = read_varint(buf, pos)
            if count == 0:
                break
            if count < 0:
                count = -count
                _size, pos = read_varint(buf, pos)
            if count > PLACE_PEEK:
                return None
            for _ in range(count):
                _dim, pos = read_varint(buf, pos)
        skipped = pos
    if skipped is None:
        return None
    branch, pos = read_varint(buf, skipped)  # AnyArray.item
    transport = _FIXED.get(_BRANCHES[branch]) if 0 <= branch < len(_BRANCHES) else None
    if transport is None:
        return None
    cut_at = pos
    size, pos = read_varint(buf, pos)  # values count (one block) or bytes length
    if size <= 0:
        return None
    return _Located(transport, cut_at, pos, size)


class _ValuesTarget:
    """Memory for the values of one frame and the decoding of the rest of it (see the module
    docstring); subclasses say which messages they take and where the values go."""

    __slots__ = ("_at", "_dest", "_raw", "placed")

    _LAYOUTS: dict[int, tuple[str, ...]] = {}

    def __init__(self) -> None:
        self._at: _Located | None = None
        self._dest: np.ndarray[Any, Any] | None = None
        self._raw: memoryview | None = None
        self.placed = False

    @property
    def nbytes(self) -> int:
        """Bytes of the values."""
        return 0 if self._raw is None else self._raw.nbytes

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
        raw = self._memory(at, length)
        if raw is None:
            return None
        self._at, self._raw, self.placed = at, raw, True
        return at.offset, raw

    def _memory(self, at: _Located, length: int) -> memoryview | None:
        """The memory the located values go to, or None to decline (sets ``_dest``)."""
        raise NotImplementedError

    def _rest_fits(self, rest: bytes | bytearray | memoryview) -> bool:
        """Whether the frame's bytes after the values are what this target accepts."""
        return True

    def decode(self, rest: bytes | bytearray | memoryview) -> tuple[Any, Any]:
        """``(header, body)`` of the placed frame from ``rest``, its bytes outside the values:
        decoded as if the values were empty, then given the values in ``dest``."""
        at, dest, raw = self._at, self._dest, self._raw
        if at is None or dest is None or raw is None:
            raise ETPDecodeError("no DataArray values were placed")
        offset = at.offset
        if len(rest) <= offset or not self._rest_fits(rest):
            raise ETPDecodeError("a placed DataArray message does not end where it should")
        if at.transport == "bytes":
            empty = _EMPTY_BYTES
        elif rest[offset] == 0:
            empty = b""  # the block's end follows the values: the array reads as empty
        else:
            raise ETPDecodeError("placed DataArray values are not followed by the block's end")
        header, body = decode_message(bytes(rest[: at.cut_at]) + empty + bytes(rest[offset:]))
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
            object.__setattr__(data.item, "values", dest.reshape(-1))
        return header, body


class ArrayReplyTarget(_ValuesTarget):
    """Where the values of the one-entry DataArray reply to a request go: ``dest``.

    ``dest`` must be C-contiguous and its dtype the one the values arrive with: ``<f8`` for
    ``arrayOfDouble``, ``<f4`` for ``arrayOfFloat``, any dtype for ``bytes`` (their raw
    elements). Replies carrying anything else are decoded the ordinary way.
    """

    __slots__ = ("_transport", "_want")

    _LAYOUTS = _REPLY_LAYOUT

    def __init__(self, dest: np.ndarray[Any, Any], transport: str) -> None:
        if transport not in _FIXED.values() or not dest.flags.c_contiguous:
            raise ValueError(f"cannot place {transport} values into this array")
        if transport != "bytes" and dest.dtype != TRANSPORT_DTYPES[transport]:
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
    def nbytes(self) -> int:
        """Bytes of the values."""
        return self._want.nbytes

    @property
    def _tail(self) -> bytes:
        """The frame's bytes after the values: the end of the values block (not for bytes),
        the end of the map block."""
        return b"\x00" if self._transport == "bytes" else b"\x00\x00"

    def _memory(self, at: _Located, length: int) -> memoryview | None:
        want = self._want
        if at.transport != self._transport or at.offset + want.nbytes + len(self._tail) != length:
            return None
        itemsize = 1 if at.transport == "bytes" else TRANSPORT_DTYPES[at.transport].itemsize
        return want if at.size * itemsize == want.nbytes else None

    def _rest_fits(self, rest: bytes | bytearray | memoryview) -> bool:
        offset = self._at.offset if self._at is not None else 0
        return len(rest) == offset + len(self._tail) and bytes(rest[offset:]) == self._tail


class IncomingValues(_ValuesTarget):
    """The values of an arriving one-entry PutDataArrays or PutDataSubarrays, received into a
    fresh array of their wire dtype (``<f8``, ``<f4`` or ``uint8``) and size, which is only
    allocated once the frame is known to hold them (never more than the frame's length)."""

    __slots__ = ()

    _LAYOUTS = _PUT_LAYOUT

    def _memory(self, at: _Located, length: int) -> memoryview | None:
        dtype = TRANSPORT_DTYPES[at.transport]
        if at.offset + at.size * dtype.itemsize >= length:  # the tail takes a byte at least
            return None
        self._dest = fresh_empty(at.size, dtype)
        return memoryview(self._dest).cast("B")  # type: ignore[arg-type]
