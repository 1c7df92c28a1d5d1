"""The varint array kernels' public face: encoding and decoding whole int64 / int32 arrays of
Avro zig-zag varints (the items of ``array<long>`` and ``array<int>``).

The work is split by job: :mod:`._varint_encode` (int64 values to bytes, and their size),
:mod:`._varint_decode` (bytes to values), :mod:`._varint_bits` (the bit layout, input checks
and scratch memory they share) and :mod:`._pool` (the buffer pool behind their scratch and
output memory).
"""

from __future__ import annotations

from ._varint_bits import BufferLike, as_int64, byte_buffer
from ._varint_decode import decode_varints
from ._varint_encode import encode_varints, varint_array_size

__all__ = [
    "BufferLike",
    "as_int64",
    "byte_buffer",
    "decode_varints",
    "encode_varints",
    "varint_array_size",
]
