"""What the varint kernels share: the layout of a zig-zag varint as bit masks, input checks,
and their pooled scratch memory.

Integer arrays travel as one zig-zag varint per value (1 to 10 bytes, little-endian groups of 7
bits, high bit set on every byte but the last). The encoder (:mod:`._varint_encode`) and the
decoders (:mod:`._varint_decode`, :mod:`._varint_words`) move between a value and its bytes
with the shift-and-mask steps below, eight bytes at a time in uint64 words.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from etp_sync.errors import ETPDecodeError, ETPEncodeError

from ._pool import BufferPool, Carving

BufferLike: TypeAlias = "bytes | bytearray | memoryview"

INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1

U1: Final = np.uint64(1)
HIGH_BITS: Final = np.uint64(0x8080808080808080)
LOW7: Final = np.uint64(0x7F7F7F7F7F7F7F7F)
BYTE_ONES: Final = np.uint64(0x0101010101010101)
# Shift-and-mask steps between 56 contiguous bits and eight 7-bit groups, one per byte: each
# step moves the upper half of every lane up (spread) or down (squeeze) by ``shift`` bits.
STEPS: Final = (
    (np.uint64(4), np.uint64(0x00FFFFFFF0000000), np.uint64(0x000000000FFFFFFF)),
    (np.uint64(2), np.uint64(0x0FFFC0000FFFC000), np.uint64(0x00003FFF00003FFF)),
    (np.uint64(1), np.uint64(0x3F803F803F803F80), np.uint64(0x007F007F007F007F)),
)
# Per varint length L: the 7-bit groups of its first min(L, 8) bytes.
GROUP_MASKS: Final = np.array(
    [((1 << 8 * min(n, 8)) - 1) & 0x7F7F7F7F7F7F7F7F for n in range(11)], dtype=np.uint64
)
# Per varint length L: its groups 8 and 9 in bytes 8 and 9 (as bits 0..6 and 8..15).
HIGH_GROUP_MASKS: Final = np.array([0] * 9 + [0x7F, 0xFF7F], dtype=np.uint64)

_POOLED_SCRATCH: Final = 1 << 16
SCRATCH_POOL: Final = BufferPool(16 << 20, min_bytes=_POOLED_SCRATCH)
"""Scratch memory of the kernels (2-4 MB per call in flight; reused from call to call)."""


def scratch_arrays(layout: Carving) -> list[npt.NDArray[Any]]:
    """Uninitialised arrays of ``layout``, carved from one pooled buffer (it returns to the
    pool when the last of them is gone), or, for small ones, of their own."""
    if layout.nbytes < _POOLED_SCRATCH:
        return layout.empty()
    return layout.carve(SCRATCH_POOL.take(layout.nbytes))


def squeeze(x: npt.NDArray[np.uint64], t: npt.NDArray[np.uint64]) -> None:
    """Eight 7-bit groups, one per byte of ``x``, made 56 contiguous bits (``t``: scratch)."""
    for sh, hi_mask, lo_mask in reversed(STEPS):
        np.right_shift(x, sh, out=t)
        t &= hi_mask
        x &= lo_mask
        x |= t


def byte_buffer(buf: BufferLike) -> bytes | bytearray | memoryview:
    """Return ``buf`` so that indexing yields byte values (casts non-'B' memoryviews)."""
    if isinstance(buf, memoryview) and (buf.format != "B" or buf.ndim != 1):
        try:
            return buf.cast("B")
        except TypeError as exc:  # non-contiguous memoryview
            raise ETPDecodeError(f"cannot decode from a non-contiguous buffer: {exc}") from None
    return buf


def as_int64(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Validate an integer array and return it as a flat int64 array (no copy if possible)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise ETPEncodeError(f"expected an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size and arr.max() > INT64_MAX:
        raise ETPEncodeError("uint64 value does not fit in an Avro long")
    return arr.reshape(-1).astype(np.int64, copy=False)


def max_width(v: npt.NDArray[np.int64]) -> int:
    """Bytes of the longest varint among ``v`` (non-empty), from its extremes."""
    zmax = max(2 * int(v.max()), -2 * int(v.min()) - 1)
    return max(1, -(-zmax.bit_length() // 7))
