"""The plain reference Avro long encoder the varint tests compare the numpy codec with:
zigzag, then 7 bits per byte, low group first, high bit set on every byte but the last."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MASK64 = (1 << 64) - 1


def ref_encode(values: np.ndarray | Iterable[int]) -> bytes:
    """The canonical varint bytes of ``values`` (64-bit signed integers) one after another."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    out = bytearray()
    for x in items:
        z = ((x << 1) ^ (x >> 63)) & MASK64
        while z >= 0x80:
            out.append(z & 0x7F | 0x80)
            z >>= 7
        out.append(z)
    return bytes(out)
