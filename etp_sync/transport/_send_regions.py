"""How a big message is laid out for sending, one region at a time; no I/O.

A client masks every payload byte it sends, so a big message is copied (masked) into a send
buffer before it goes out. :func:`regions` builds the frames of one message in that buffer one
region of at most :data:`SEND_PIECE` bytes at a time and yields each: the caller sends it before
asking for the next, which is built over it. The buffer stays one region whatever the message,
and the bytes go out while still in cache. Regions are cut so that numpy masks aligned 8-byte
words (:func:`region_skew`). Unmasked frames (a server's) need no buffer: :func:`first_bytes`
cuts what one ``sendmsg`` is offered from the parts' own memory.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Final

from ._frames import address_of, header_len, mask_into, split_frames, write_header

__all__ = [
    "IOV_MAX",
    "PAYLOAD_ALIGN",
    "REGION_BUFFER",
    "SEND_PIECE",
    "first_bytes",
    "region_skew",
    "regions",
]

PAYLOAD_ALIGN: Final = 16
"""Offset of the first payload byte in the send buffer, so numpy XORs an aligned destination."""
ALIGN_MIN: Final = 64 << 10
"""Payload parts at least this big are masked at an address aligned like their own."""
SEND_PIECE: Final = 1 << 20
"""The most bytes one ``send`` (or ``sendmsg``) of a big message is offered, and a client
masks ahead of sending. 256 MiB one way over loopback, offered per 1 MiB against per 16 MiB:
2,300-3,500 against 1,400-1,900 MiB/s (measured, 2-core VM); built per 1 MiB, masked bytes
also go out while still in cache."""
HEADER_ROOM: Final = 14
"""The biggest frame header (masked, 64-bit length): a region ends when less room is left."""
REGION_BUFFER: Final = PAYLOAD_ALIGN + 8 + SEND_PIECE
"""The biggest send buffer: alignment room and one region (headers included)."""
IOV_MAX: Final = 512
"""Buffers per ``sendmsg`` call (POSIX guarantees at least 1024)."""


def region_skew(address: int, lead: int, parts: Sequence[memoryview], offset: int) -> int:
    """Bytes (0-7) to start a send-buffer region at, after :data:`PAYLOAD_ALIGN` (``address``:
    the buffer's), so that the first payload part of at least :data:`ALIGN_MIN` bytes it
    will hold lands at the same address modulo 8 as its own memory: numpy then masks it in
    aligned 8-byte words (measured 1.4-2x faster than unaligned; an array's values follow a
    message prefix of any length). ``lead``: bytes placed before ``parts[0][offset:]`` (a
    frame header)."""
    ahead = lead
    for part in parts:
        left = part.nbytes - offset
        if left >= ALIGN_MIN:
            return (address_of(part) + offset - address - PAYLOAD_ALIGN - ahead) % 8
        ahead += left
        offset = 0
        if ahead >= SEND_PIECE:
            break
    return 0


def first_bytes(buffers: list[memoryview], index: int, count: int) -> list[memoryview]:
    """``buffers[index:]`` cut after their first ``count`` bytes (and :data:`IOV_MAX`
    buffers): what one ``sendmsg`` is offered."""
    batch: list[memoryview] = []
    for buffer in buffers[index : index + IOV_MAX]:
        if buffer.nbytes >= count:
            batch.append(buffer[:count])
            break
        batch.append(buffer)
        count -= buffer.nbytes
    return batch


def regions(
    buf: memoryview,
    address: int,
    opcode: int,
    views: list[memoryview],
    sizes: list[int],
    mask_key: Callable[[], bytes] | None,
) -> Generator[memoryview, None, None]:
    """The frames of one message (payload ``views``, frame payload ``sizes``) built in ``buf``
    (at ``address``, at least :data:`REGION_BUFFER` bytes or the whole message with its
    headers and alignment room), one region at a time: each yielded region must be sent
    before the next is asked for, since the next is built over it. ``mask_key()`` gives each
    frame's key (None: unmasked frames)."""
    masked = mask_key is not None
    start = pos = limit = 0  # the region being built: buf[start:pos], up to limit
    for first, size, chunks in split_frames(opcode, views, sizes):
        key = mask_key() if mask_key is not None else None
        head = header_len(size, masked)
        phase = 0
        index, offset = 0, 0  # the next payload byte: chunks[index][offset]
        while head or index < len(chunks):
            if pos == start:  # a new region
                start = pos = PAYLOAD_ALIGN + region_skew(address, head, chunks[index:], offset)
                limit = start + SEND_PIECE
            if head:
                pos += write_header(buf, pos, first, size, key)
                head = 0
                continue
            chunk = chunks[index]
            take = min(chunk.nbytes - offset, limit - pos)
            if take < chunk.nbytes - offset and take > 8:
                # The region ends inside the part: where its next byte is 8-aligned in memory,
                # so that the next region (its start skewed alike) masks in aligned 8-byte
                # words, not through numpy's copies of unaligned ones.
                take -= (address_of(chunk) + offset + take) % 8
            piece = chunk[offset : offset + take]
            if key is not None:
                phase = mask_into(buf, pos, piece, key, phase)
            else:
                buf[pos : pos + take] = piece
            pos += take
            offset += take
            if offset == chunk.nbytes:
                index, offset = index + 1, 0
            if pos >= limit - HEADER_ROOM:
                yield buf[start:pos]
                pos = start
    if pos > start:
        yield buf[start:pos]
