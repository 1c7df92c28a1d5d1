"""The varint array kernels' public face: encoding and decoding whole int64 / int32 arrays of
Avro zig-zag varints (the items of ``array<long>`` and ``array<int>``).

Two implementations give the same results. The compiled loops of ``_varint_c`` (built with the
package where a C compiler is found; about five times faster on 64-bit values) run when they
are importable; the numpy kernels always can: :mod:`._varint_encode` (int64 values to bytes,
and their size), :mod:`._varint_decode` (bytes to values), with :mod:`._varint_bits` (the bit
layout, input checks and scratch memory they share) and :mod:`._pool` (the buffer pool behind
their scratch and output memory). The numpy decoder is the reference: it alone explains a
decoding error, so bytes the compiled loop refuses are decoded again by it. Setting the
environment variable ``ETP_SYNC_NO_COMPILED`` (to anything but empty) before import keeps the
compiled loops off.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from .._native import load_native
from . import _varint_decode, _varint_encode
from ._varint_bits import BufferLike, as_int64, byte_buffer
from ._varint_encode import OUTPUT_POOL

__all__ = [
    "BufferLike",
    "as_int64",
    "byte_buffer",
    "compiled",
    "decode_varints",
    "encode_varints",
    "varint_array_size",
]


_NATIVE = (np.dtype(np.int64), np.dtype(np.int32))
_MAX_VARINT = 10  # bytes of the longest varint of a 64-bit value


KERNEL: ModuleType | None = load_native("etp_sync.codec._varint_c", "the numpy kernels")
"""The compiled loops in use (None: the numpy kernels); tests set it to run either."""


def compiled() -> bool:
    """Whether integer arrays are encoded and decoded by the compiled loops."""
    return KERNEL is not None


def varint_array_size(v: npt.ArrayLike) -> int:
    """Bytes of the varints of the values of an integer array, without producing them."""
    v = as_int64(v)  # flat and native; strided when a 1-D view was
    kernel = KERNEL
    if kernel is None or not v.flags.c_contiguous:
        return _varint_encode.varint_array_size(v)
    size: int = kernel.size(v)
    return size


def encode_varints(v: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """The varint bytes of the values of a non-empty integer array, as one uint8 array (a view
    of a pooled buffer for big arrays: its memory is reused once nothing refers to it)."""
    v = as_int64(v)  # flat and native; strided when a 1-D view was
    kernel = KERNEL
    if kernel is None or not v.flags.c_contiguous:  # the numpy kernels read it chunk by chunk
        return _varint_encode.encode_varints(v)
    # Room for the longest varints, not a pass over the values for their size: the pages
    # past the bytes written are never touched (memory comes as it is written).
    out = OUTPUT_POOL.take(_MAX_VARINT * v.size)
    return out[: kernel.encode(v, out)]


def decode_varints(
    data: npt.NDArray[np.uint8],
    offset: int,
    count: int,
    out_dtype: np.dtype[Any],
    max_bytes: int,
    out: npt.NDArray[Any] | None = None,
) -> tuple[npt.NDArray[Any], int]:
    """Decode ``count`` varints of ``data`` from ``offset`` (arguments already checked) into
    ``out`` (a flat contiguous array of ``count`` items of ``out_dtype``) or a new array; the
    values and the end offset. Bytes that are not ``count`` valid varints raise
    :class:`~etp_sync.errors.ETPDecodeError`, as the numpy decoder explains them."""
    kernel = KERNEL
    if kernel is not None and count and out_dtype in _NATIVE and data.flags.c_contiguous:
        if out is None:
            out = np.empty(count, dtype=out_dtype)
        if out.dtype == out_dtype and out.flags.c_contiguous:
            end: int = kernel.decode(data, offset, count, out, max_bytes)
            if end >= 0:
                return out, end
    return _varint_decode.decode_varints(data, offset, count, out_dtype, max_bytes, out)
