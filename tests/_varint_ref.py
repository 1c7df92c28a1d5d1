"""The plain reference Avro long encoder the varint tests compare the numpy codec with:
zigzag, then 7 bits per byte, low group first, high bit set on every byte but the last; and
the round trip of an array through the codec checked against it."""

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


def check_round_trip(v: np.ndarray) -> None:
    """``v`` (int64) encodes to the reference bytes and decodes back to itself."""
    from etp_sync.codec._varint_arrays import decode_varints, encode_varints

    got = encode_varints(v)
    assert got.tobytes() == ref_encode(v)
    back, end = decode_varints(got, 0, v.size, np.dtype(np.int64), 10)
    assert end == got.size
    assert np.array_equal(back, v)
