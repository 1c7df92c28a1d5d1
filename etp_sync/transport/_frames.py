"""Websocket frames (RFC 6455): opcodes, close codes, masking, header building, splitting.

No I/O here: :mod:`._frame_writer` and :mod:`._frame_reader` move the bytes. Masking is the hot
part: outgoing client payloads are XOR-masked by numpy straight into the send buffer (each byte
copied once), short ones with one Python int.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

import numpy as np

from etp_sync.errors import ETPInvalidArgument

if TYPE_CHECKING:
    from typing_extensions import Buffer

    BytesLike: TypeAlias = Buffer | np.ndarray[Any, Any]
    """Anything exporting a contiguous buffer: bytes, bytearray, memoryview, numpy arrays, ..."""

# Opcodes (RFC 6455 section 5.2).
OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
FIN: Final = 0x80
"""The bit of a frame's first byte that marks the last frame of a message."""

# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_NO_STATUS: Final = 1005
CLOSE_INVALID_PAYLOAD: Final = 1007
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_TOO_BIG: Final = 1009


# --------------------------------------------------------------------------------------------
# Masking

SMALL_MASK: Final = 512
"""Below this many bytes, masking with Python ints beats numpy's per-call overhead (measured)."""


def byte_view(obj: BytesLike) -> memoryview:
    """A flat, C-contiguous, unsigned-byte view of ``obj`` (copies only non-contiguous input)."""
    if isinstance(obj, (bytes, bytearray)):
        return memoryview(obj)
    mv = obj if isinstance(obj, memoryview) else memoryview(cast("Buffer", obj))
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def address_of(view: memoryview) -> int:
    """Where ``view``'s first byte is in memory (numpy masks 8-aligned memory fastest)."""
    return int(np.frombuffer(view, dtype=np.uint8).__array_interface__["data"][0])


def _xor_small(dst: memoryview, offset: int, src: memoryview, key: bytes) -> None:
    """Mask a short ``src`` (key phase 0 = ``key[0]``) into ``dst[offset:]`` via one big int."""
    dst[offset : offset + src.nbytes] = xor_small(src, key)


def mask_into(dst: BytesLike, dst_offset: int, src: BytesLike, key: bytes, phase: int = 0) -> int:
    """XOR ``src`` with the websocket mask ``key`` into ``dst[dst_offset:]``; return the next phase.

    Byte ``i`` of ``src`` is XORed with ``key[(phase + i) % 4]``, so a payload split over several
    parts is masked by calling this once per part, passing the phase returned by the previous
    call (start with 0). Each byte is read once and written once, no temporaries proportional to
    the size. ``dst`` may be the very same memory as ``src`` (unmasking in place) but must not
    otherwise overlap it. Masking and unmasking are the same operation.
    """
    if len(key) != 4:
        raise ETPInvalidArgument("a websocket mask key is exactly 4 bytes")
    p = phase & 3
    s = byte_view(src)
    n = s.nbytes
    if n == 0:
        return p
    d = byte_view(dst)
    if d.readonly:
        raise ETPInvalidArgument("mask_into needs a writable destination")
    if dst_offset < 0 or dst_offset + n > d.nbytes:
        raise ETPInvalidArgument("destination too small for the masked bytes")
    k = bytes(key[p:]) + bytes(key[:p])
    if n < SMALL_MASK:
        _xor_small(d, dst_offset, s, k)
    else:
        m = n & ~7
        key64 = np.frombuffer(k * 2, dtype=np.uint64)[0]
        np.bitwise_xor(
            np.frombuffer(s, dtype=np.uint64, count=m >> 3),
            key64,
            out=np.frombuffer(d[dst_offset : dst_offset + m], dtype=np.uint64),
        )
        if m < n:  # m is a multiple of 4, so the tail starts at key phase 0 again
            _xor_small(d, dst_offset + m, s[m:], k)
    return (p + n) & 3


_HEAD2 = struct.Struct("!BB").pack
_HEAD4 = struct.Struct("!BBH").pack


def xor_small(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """``data`` (a few hundred bytes at most; a memoryview of bytes) XORed with the mask
    ``key`` from phase 0, as one Python int (faster than numpy for short payloads)."""
    n = len(data)
    keys = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")


def unmask(data: memoryview, key: bytes) -> bytearray:
    """A received payload ``data`` XORed with its mask ``key``, as a new bytearray (short ones
    with one Python int, longer ones by numpy in place)."""
    if data.nbytes < SMALL_MASK:
        return bytearray(xor_small(data, key))
    payload = bytearray(data)
    mask_into(payload, 0, payload, key)
    return payload


def small_frame(first: int, payload: bytes | bytearray | memoryview, key: bytes | None) -> bytes:
    """One whole frame of a payload shorter than 64 KiB (at most :data:`SMALL_MASK` bytes when
    masked): header, mask key and (masked) payload as one ``bytes``, ready for one send."""
    n = len(payload)
    if key is None:
        return (_HEAD2(first, n) if n < 126 else _HEAD4(first, 126, n)) + payload
    head = _HEAD2(first, 0x80 | n) if n < 126 else _HEAD4(first, 0xFE, n)
    if not n:
        return head + key
    keys = (key * ((n >> 2) + 1))[:n]  # xor_small, inline
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")
    return head + key + masked.to_bytes(n, "little")


def header_len(length: int, masked: bool) -> int:
    """Size of a frame header for a payload of ``length`` bytes."""
    base = 2 if length < 126 else 4 if length < 65536 else 10
    return base + 4 if masked else base


def write_header(buf: memoryview, pos: int, first: int, length: int, key: bytes | None) -> int:
    """Write a frame header at ``buf[pos:]`` (``first`` = FIN|opcode byte); return its size."""
    mask_bit = 0x80 if key is not None else 0
    if length < 126:
        struct.pack_into("!BB", buf, pos, first, mask_bit | length)
        size = 2
    elif length < 65536:
        struct.pack_into("!BBH", buf, pos, first, mask_bit | 126, length)
        size = 4
    else:
        struct.pack_into("!BBQ", buf, pos, first, mask_bit | 127, length)
        size = 10
    if key is not None:
        buf[pos + size : pos + size + 4] = key
        size += 4
    return size


def sendable_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame we send (RFC 6455 section 7.4)."""
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


def split_frames(
    opcode: int, views: list[memoryview], sizes: list[int]
) -> Iterator[tuple[int, int, list[memoryview]]]:
    """Split the concatenation of ``views`` into frames of ``sizes`` bytes.

    Yields ``(first header byte, payload size, payload chunks)`` per frame; the chunks are
    slices of the views, nothing is copied.
    """
    part, offset = 0, 0
    last = len(sizes) - 1
    for index, size in enumerate(sizes):
        first = (FIN if index == last else 0) | (opcode if index == 0 else OP_CONT)
        chunks: list[memoryview] = []
        remaining = size
        while remaining:
            view = views[part]
            take = min(remaining, view.nbytes - offset)
            if take:
                chunks.append(view[offset : offset + take])
                offset += take
                remaining -= take
            if offset == view.nbytes:
                part, offset = part + 1, 0
        yield first, size, chunks
