"""Receiving a DataArray reply's values straight into the caller's array (no second copy).

A ``GetDataArraysResponse`` or ``GetDataSubarraysResponse`` with one entry is, on the wire,
a short prefix (header, map count, key, dimensions, AnyArray branch, value count), the values
as raw bytes (doubles, floats, or a ``bytes`` payload), then end-of-block zeros. When the
values have exactly the dtype and size of the place the caller will copy them to, there is no
reason to receive them anywhere else: :class:`ArrayReplyTarget` reads the prefix of an arriving
frame, says at which offset the values start and where their bytes go
(:meth:`ArrayReplyTarget.place`); the transport then receives those bytes into that memory and
the rest of the frame into an ordinary buffer, and :meth:`ArrayReplyTarget.decode` turns the
rest into the same ``(header, body)`` :func:`~etp_sync.codec.decode_message` would give, whose
values are a view of the caller's memory.

Anything unexpected in the prefix (another message, several entries, another branch or count,
compression, header extension, varint values) makes :meth:`~ArrayReplyTarget.place` decline,
and the frame is received and decoded the ordinary way. Only the reader thread calls
``place`` and ``decode``; a target serves at most one frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ETPDecodeError
from ..schema import model
from ..schema._parse import UnionType
from . import MessageFlags, decode_message
from ._numeric import read_header, read_varint
from .arrays import TRANSPORT_DTYPES

__all__ = ["PLACE_PEEK", "ArrayReplyTarget"]

PLACE_PEEK = 512
"""Bytes of a frame's start that :meth:`ArrayReplyTarget.place` needs to see (or the whole
frame when shorter); a prefix longer than that (over-long key, absurd dimensions) declines."""

_ARRAY_PROTOCOL = 9
_REPLIES = frozenset((1, 8))  # GetDataArraysResponse, GetDataSubarraysResponse
_ITEM = model.types["Energistics.Etp.v12.Datatypes.AnyArray"].fields[0].type
assert isinstance(_ITEM, UnionType)
_BRANCHES = tuple(str(b).rsplit(".", 1)[-1] for b in _ITEM.branches)
_FIXED = {"ArrayOfFloat": "arrayOfFloat", "ArrayOfDouble": "arrayOfDouble", "bytes": "bytes"}
_UNPLACEABLE = MessageFlags.COMPRESSED | MessageFlags.HEADER_EXTENSION
_END = b"\x00\x00"  # an empty values block (or empty bytes) and the end of the map block


class ArrayReplyTarget:
    """Where the values of the one-entry DataArray reply to a request go: ``dest``.

    ``dest`` must be C-contiguous and its dtype the one the values arrive with: ``<f8`` for
    ``arrayOfDouble``, ``<f4`` for ``arrayOfFloat``, any dtype for ``bytes`` (their raw
    elements). Replies carrying anything else are decoded the ordinary way.
    """

    __slots__ = ("_cut", "_dest", "_raw", "_transport", "placed")

    def __init__(self, dest: np.ndarray[Any, Any], transport: str) -> None:
        if transport not in _FIXED.values() or not dest.flags.c_contiguous:
            raise ValueError(f"cannot place {transport} values into this array")
        if transport != "bytes" and dest.dtype != TRANSPORT_DTYPES[transport]:
            raise ValueError(f"{transport} values are not {dest.dtype}")
        self._dest = dest
        self._raw = memoryview(dest.reshape(-1)).cast("B")  # type: ignore[arg-type]
        self._transport = transport
        self._cut: tuple[int, int] = (0, 0)  # (start, end) in the frame of the length prefix
        self.placed = False

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

    @property
    def nbytes(self) -> int:
        """Bytes of the values."""
        return self._raw.nbytes

    def place(self, prefix: memoryview, length: int) -> tuple[int, memoryview] | None:
        """``(offset, memory)``: the frame's bytes ``offset .. offset + memory.nbytes`` go to
        ``memory``; None when this frame is not one to place (see the module docstring).

        ``prefix`` is the frame's first bytes (all of it, or at least :data:`PLACE_PEEK`),
        ``length`` the frame's size."""
        if self.placed:
            return None
        try:
            spot = self._locate(prefix)
        except (ETPDecodeError, IndexError):
            return None
        if spot is None:
            return None
        cut_at, offset = spot
        if offset + self.nbytes + len(self._tail) != length:
            return None
        self._cut = (cut_at, offset)
        self.placed = True
        return offset, self._raw

    def _locate(self, buf: memoryview) -> tuple[int, int] | None:
        """(start of the values' count or length, start of the values) in the frame."""
        (protocol, message_type, _correlation, _message_id, flags), pos = read_header(buf)
        if protocol != _ARRAY_PROTOCOL or message_type not in _REPLIES or flags & _UNPLACEABLE:
            return None
        count, pos = read_varint(buf, pos)  # map block: exactly one entry
        if count < 0:
            count = -count
            _size, pos = read_varint(buf, pos)
        if count != 1:
            return None
        key_len, pos = read_varint(buf, pos)
        if not 0 <= key_len <= PLACE_PEEK:
            return None
        pos += key_len
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
        branch, pos = read_varint(buf, pos)  # AnyArray.item
        if not 0 <= branch < len(_BRANCHES) or _FIXED.get(_BRANCHES[branch]) != self._transport:
            return None
        cut_at = pos
        size, pos = read_varint(buf, pos)  # values count (one block) or bytes length
        if self._transport == "bytes":
            return (cut_at, pos) if size == self.nbytes else None
        if size <= 0 or size * self._dest.itemsize != self.nbytes:
            return None
        return cut_at, pos

    def decode(self, rest: bytes | bytearray | memoryview) -> tuple[Any, Any]:
        """``(header, body)`` of the placed frame from ``rest``, its bytes outside the values:
        decoded as if the values were empty, then given the values in ``dest``."""
        cut_at, offset = self._cut
        if len(rest) != offset + len(self._tail) or bytes(rest[offset:]) != self._tail:
            raise ETPDecodeError("a placed DataArray reply does not end where it should")
        # The values' count or length replaced by an empty array or empty bytes.
        header, body = decode_message(bytes(rest[:cut_at]) + _END)
        entries: Any = getattr(body, "data_subarrays", None) or getattr(body, "data_arrays", {})
        if len(entries) != 1:
            raise ETPDecodeError("a placed DataArray reply lost its entry")
        (array,) = entries.values()
        if self._transport == "bytes":
            object.__setattr__(array.data, "item", self._raw)
        else:
            object.__setattr__(array.data.item, "values", self._dest.reshape(-1))
        return header, body
