"""Vectorised numpy kernels for Avro binary numbers and numeric arrays.

ETP moves bulk data (``DataArray`` values, channel data) as Avro ``array<T>`` of booleans, ints,
longs, floats or doubles. Encoding or decoding those one Python object at a time is far too slow
for arrays of millions of values, so this module works on whole numpy arrays: zig-zag varints are
encoded and decoded with array operations (no Python loop per element; the kernels are in
:mod:`._varint_arrays`) and IEEE floats are read as zero-copy views of the input buffer wherever
possible.

Every decoding failure (truncation, over-long varint, value out of range, bogus block count) is an
:class:`~etp_sync.errors.ETPDecodeError`; untrusted counts are always checked against the bytes
actually left in the buffer before anything is allocated for them. Work is done in chunks so that
temporary memory stays bounded whatever the input size.
"""

from __future__ import annotations

import operator
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from etp_sync.errors import ETPDecodeError, ETPEncodeError, ETPInvalidArgument

from ._varint_arrays import (
    BufferLike,
    as_int64,
    byte_buffer,
    decode_varints,
    encode_varints,
    varint_array_size,
)
from ._varint_bits import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN

__all__ = [
    "BufferLike",
    "decode_avro_array_numeric",
    "decode_numeric_block",
    "decode_zigzag_varints",
    "encode_avro_array_numeric",
    "encode_zigzag_varints",
    "read_varint",
    "write_varint",
]

# Zig-zag varints of -64..63 are one byte; cache them for the scalar writer.
_SMALL_VARINTS: Final = tuple(bytes([(n << 1) ^ (n >> 63)]) for n in range(-64, 64))
# Larger values met lately (a message's timestamps, sizes and ids recur): at most this many.
_RECENT_VARINTS: dict[int, bytes] = {}
_RECENT_WINDOWS: dict[bytes, tuple[int, int]] = {}
_RECENT_LIMIT: Final = 4096
# Bit offsets of a varint's third to tenth bytes.
_VARINT_SHIFTS: Final = (14, 21, 28, 35, 42, 49, 56, 63)

# Avro primitive -> (numpy dtype, fixed item size in bytes or 0 for varint-encoded kinds).
_KINDS: Final[dict[str, tuple[np.dtype[Any], int]]] = {
    "boolean": (np.dtype(np.bool_), 1),
    "int": (np.dtype(np.int32), 0),
    "long": (np.dtype(np.int64), 0),
    "float": (np.dtype("<f4"), 4),
    "double": (np.dtype("<f8"), 8),
}


def _check_kind(kind: str) -> tuple[np.dtype[Any], int]:
    try:
        return _KINDS[kind]
    except KeyError:
        raise ETPInvalidArgument(
            f"unsupported Avro array item kind {kind!r}; expected one of {sorted(_KINDS)}"
        ) from None


# --------------------------------------------------------------------------------------------
# Scalar varints (headers, counts, sizes)
# --------------------------------------------------------------------------------------------


def read_varint(buf: BufferLike, offset: int) -> tuple[int, int]:
    """Decode one Avro zig-zag long at ``offset``; return ``(value, new_offset)``.

    Plain Python for speed on the short values found in headers, counts and union indices.
    ``buf`` must index to byte values (bytes, bytearray or a format-'B' memoryview). Raises
    ETPDecodeError if the buffer ends inside the varint or it is longer than 10 bytes / overflows
    64 bits.
    """
    if offset < 0:
        raise ETPDecodeError(f"negative offset {offset}")
    try:
        b = buf[offset]
        if b < 0x80:  # fast path: one byte
            return (b >> 1) ^ -(b & 1), offset + 1
        z = b & 0x7F
        b = buf[offset + 1]
        z |= (b & 0x7F) << 7
        pos = offset + 2
        if b >= 0x80:  # three bytes or more (lengths over 8 KiB, times, large ids)
            for shift in _VARINT_SHIFTS:
                b = buf[pos]
                pos += 1
                z |= (b & 0x7F) << shift
                if b < 0x80:
                    break
            else:
                raise ETPDecodeError(f"varint at offset {offset} is longer than 10 bytes")
    except IndexError:
        raise ETPDecodeError(
            f"buffer truncated inside a varint at offset {offset} (buffer length {len(buf)})"
        ) from None
    if z >> 64:
        raise ETPDecodeError(f"varint at offset {offset} overflows 64 bits")
    return (z >> 1) ^ -(z & 1), pos


def read_recurring_varint(buf: BufferLike, offset: int) -> tuple[int, int]:
    """:func:`read_varint` for ``bytes`` holding values that recur, such as the times of a
    thousand resources: the last few thousand varints of up to 8 bytes are remembered by the 8
    bytes starting at them (equal windows hold equal varints, whatever follows them). Other
    buffers than ``bytes`` are read by :func:`read_varint`."""
    if type(buf) is not bytes:
        return read_varint(buf, offset)
    window = buf[offset : offset + 8]
    found = _RECENT_WINDOWS.get(window)
    if found is not None:
        return found[0], offset + found[1]
    value, end = read_varint(buf, offset)
    if end - offset <= len(window):
        if len(_RECENT_WINDOWS) >= _RECENT_LIMIT:
            _RECENT_WINDOWS.clear()
        _RECENT_WINDOWS[window] = (value, end - offset)
    return value, end


def read_header(buf: BufferLike) -> tuple[tuple[int, int, int, int, int], int]:
    """The five varints every ETP frame starts with, ``(protocol, messageType, correlationId,
    messageId, messageFlags)``, and the offset just after them (ETPDecodeError if truncated)."""
    protocol, pos = read_varint(buf, 0)
    message_type, pos = read_varint(buf, pos)
    correlation_id, pos = read_varint(buf, pos)
    message_id, pos = read_varint(buf, pos)
    flags, pos = read_varint(buf, pos)
    return (protocol, message_type, correlation_id, message_id, flags), pos


def write_varint(n: int) -> bytes:
    """Encode ``n`` as an Avro zig-zag long (1 to 10 bytes).

    Raises ETPEncodeError if ``n`` is not in the signed 64-bit range.
    """
    if -64 <= n < 64:
        return _SMALL_VARINTS[n + 64]
    if type(n) is int:
        found = _RECENT_VARINTS.get(n)
        if found is not None:
            return found
    n = operator.index(n)  # numpy integers would overflow silently in the shifts below
    if not INT64_MIN <= n <= INT64_MAX:
        raise ETPEncodeError(f"value {n} does not fit in an Avro long")
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    if len(_RECENT_VARINTS) >= _RECENT_LIMIT:
        _RECENT_VARINTS.clear()
    found = _RECENT_VARINTS[n] = bytes(out)
    return found


# --------------------------------------------------------------------------------------------
# Vectorised varints (kernels in _varint_arrays)
# --------------------------------------------------------------------------------------------


def encode_zigzag_varints(values: npt.ArrayLike) -> bytes:
    """Encode integers as concatenated Avro zig-zag varints (the items of an ``array<long>``).

    Accepts any integer dtype of at most 64 bits (treated as int64; uint64 values above the int64
    range raise ETPEncodeError). Vectorised and processed in chunks, so temporary memory stays a
    few MB whatever the input size.
    """
    v = as_int64(values)
    if v.size == 0:
        return b""
    return encode_varints(v).tobytes()


def decode_zigzag_varints(
    buf: BufferLike,
    offset: int,
    count: int,
    *,
    dtype: npt.DTypeLike = np.int64,
    max_bytes_per_value: int = 10,
    out: npt.NDArray[Any] | None = None,
) -> tuple[npt.NDArray[Any], int]:
    """Decode ``count`` consecutive Avro zig-zag varints starting at ``offset``.

    Returns ``(values, new_offset)`` with values of ``dtype`` int64 or int32. Vectorised: locates
    the terminator bytes (high bit clear) and assembles all values of a chunk at once (see
    :mod:`._varint_arrays`). ``out``, a writeable C-contiguous array of ``count`` items of
    ``dtype`` (any shape), receives the values instead of a new array and is returned: a reader
    can decode straight into its result, without a temporary array to fault in and copy. It may
    hold part of the values when an error is raised.

    Raises ETPDecodeError if the buffer ends before ``count`` values are complete, a varint is
    longer than ``max_bytes_per_value`` (10 for long, 5 for int) or overflows 64 bits, or an int32
    value is out of range. ``count`` is checked against the remaining bytes before any allocation.
    ETPInvalidArgument for a bad ``dtype``, ``max_bytes_per_value`` or ``out``.
    """
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
        raise ETPInvalidArgument(f"dtype must be int64 or int32, not {out_dtype}")
    if not 1 <= max_bytes_per_value <= 10:
        raise ETPInvalidArgument(f"max_bytes_per_value must be in 1..10, not {max_bytes_per_value}")
    flat = None
    if out is not None:
        if not (
            isinstance(out, np.ndarray)
            and out.dtype == out_dtype
            and out.size == count
            and out.flags.c_contiguous
            and out.flags.writeable
        ):
            raise ETPInvalidArgument(
                f"out must be a writeable C-contiguous {out_dtype} array of {count} items"
            )
        flat = out.reshape(-1)
    data = np.frombuffer(byte_buffer(buf), dtype=np.uint8)
    size = data.size
    if not 0 <= offset <= size:
        raise ETPDecodeError(f"offset {offset} outside buffer of length {size}")
    if count < 0:
        raise ETPDecodeError(f"negative varint count {count}")
    if count > size - offset:
        raise ETPDecodeError(
            f"{count} varints cannot fit in the {size - offset} bytes left at offset {offset}"
        )
    values, end = decode_varints(data, offset, count, out_dtype, max_bytes_per_value, flat)
    return (values if out is None else out), end


# --------------------------------------------------------------------------------------------
# Whole Avro arrays
# --------------------------------------------------------------------------------------------


def decode_avro_array_numeric(
    buf: BufferLike, offset: int, kind: str, *, max_items: int | None = None
) -> tuple[npt.NDArray[Any], int]:
    """Decode an Avro ``array<kind>`` at ``offset``; return ``(values, new_offset)``.

    ``kind`` is "boolean", "int", "long", "float" or "double", giving dtype bool, int32, int64,
    '<f4' or '<f8'. All Avro block forms are accepted (several blocks; negative counts followed by
    a block byte size, which must match the items). Non-zero boolean bytes are read as True.

    Read by the generated reader of the ``ArrayOf*`` record of ``kind`` (the one reader of
    array blocks, :mod:`._compiled`), whose blocks are :func:`decode_numeric_block`'s: float
    values held in a single block are a zero-copy view of ``buf``. Multi-block arrays are
    concatenated into a new array. Raises ETPDecodeError on truncation, bogus counts or sizes,
    or more than ``max_items`` items in total.
    """
    _check_kind(kind)
    data = byte_buffer(buf)
    if not 0 <= offset <= len(data):
        raise ETPDecodeError(f"offset {offset} outside buffer of length {len(data)}")
    # Imported here: the generated codec is built on this module.
    from ._arraycodec import decode_numeric_array

    values, end = decode_numeric_array(memoryview(data), offset, kind)
    if max_items is not None and values.size > max_items:
        raise ETPDecodeError(
            f"array at offset {offset} has more than the allowed {max_items} items"
        )
    return values, end


def decode_numeric_block(
    data: BufferLike, block_at: int, pos: int, count: int, block_size: int | None, kind: str
) -> tuple[npt.NDArray[Any], int]:
    """The ``count`` (> 0) items at ``pos`` of the block of an Avro ``array<kind>`` that starts at
    ``block_at``, and where they end; ``block_size`` is the byte size a negative count announced
    (None without), which must match them. ``data`` holds bytes (bytes, bytearray or a format
    ``B`` memoryview).

    For float/double items the result is a zero-copy ``np.frombuffer`` view of ``data`` (read-only
    if ``data`` is; it keeps ``data`` alive and sees later changes to it). Where the payload does
    not start on an item boundary in memory the view is unaligned: numpy reads it correctly, and
    ``np.require(a, requirements="A")`` gives an aligned copy when a consumer needs one. Copying
    instead would cost a fresh allocation per message (measured: put+get through the embedded
    server 0.54-0.56x of the loopback reference with the copy, 0.61-0.62x without). Varints are
    decoded into a new array (:func:`decode_zigzag_varints`). ``count`` is checked against the
    bytes left before anything is allocated; ETPDecodeError when the items do not fit them or do
    not match ``block_size``.
    """
    dtype, itemsize = _check_kind(kind)
    remaining = len(data) - pos
    if block_size is not None and not 0 <= block_size <= remaining:
        raise ETPDecodeError(
            f"array block at offset {block_at}: byte size {block_size} is negative or "
            f"exceeds the {remaining} bytes left"
        )
    if itemsize:
        nbytes = count * itemsize
        if nbytes > remaining:
            raise ETPDecodeError(
                f"array block at offset {block_at}: {count} {kind} items need {nbytes} bytes, "
                f"only {remaining} left"
            )
        if block_size is not None and block_size != nbytes:
            raise ETPDecodeError(
                f"array block at offset {block_at}: byte size {block_size} does not match "
                f"{count} {kind} items ({nbytes} bytes)"
            )
        if kind == "boolean":
            return np.frombuffer(data, np.uint8, count, pos) != 0, pos + nbytes
        return np.frombuffer(data, dtype, count, pos), pos + nbytes
    max_bytes = 5 if kind == "int" else 10
    few = _few_varints(data, pos, count, max_bytes) if count <= _FEW else None
    if few is not None:
        part, end = np.array(few[0], dtype=dtype), few[1]
    else:
        part, end = decode_zigzag_varints(
            data, pos, count, dtype=dtype, max_bytes_per_value=max_bytes
        )
    if block_size is not None and block_size != end - pos:
        raise ETPDecodeError(
            f"array block at offset {block_at}: byte size {block_size} does not match "
            f"the {end - pos} bytes of its {count} {kind} items"
        )
    return part, end


# Blocks of at most this many varints are read one value at a time: the vectorised kernels cost
# ~30-40 us per call, so an array sent as many one-item blocks (valid Avro; a hostile peer's
# cheapest way to make a frame expensive) would cost that per item.
_FEW: Final = 8


def _few_varints(
    data: BufferLike, pos: int, count: int, max_bytes: int
) -> tuple[list[int], int] | None:
    """The ``count`` zig-zag varints at ``pos`` and where they end, read one by one; None when
    any is truncated, longer than ``max_bytes``, overflows or (``max_bytes`` 5) is out of int32
    range: the vectorised decoder then reads them and words the error."""
    values = []
    try:
        for _ in range(count):
            value, end = read_varint(data, pos)
            if end - pos > max_bytes or (max_bytes == 5 and not INT32_MIN <= value <= INT32_MAX):
                return None
            values.append(value)
            pos = end
    except ETPDecodeError:
        return None
    return values, pos


def encode_avro_array_numeric(values: npt.ArrayLike, kind: str) -> list[bytes | memoryview]:
    """Encode ``values`` as a one-block Avro ``array<kind>``; return the pieces to concatenate.

    The pieces are the count varint, the payload and the ``b"\\x00"`` end marker (an empty array is
    just ``[b"\\x00"]``). Multi-dimensional input is flattened in C order. For float/double/boolean
    the payload is a byte-format memoryview of a contiguous little-endian array: zero-copy when the
    input already is a contiguous '<f8'/'<f4'/bool array, otherwise after one conversion copy, so
    callers can write it into their output buffer with a single copy. For int/long the payload is
    the zig-zag varint bytes. Raises ETPEncodeError for values that do not fit ``kind``.
    """
    dtype, itemsize = _check_kind(kind)
    arr = np.asarray(values)
    n = arr.size
    if n == 0:
        return [b"\x00"]
    payload: bytes | memoryview
    if itemsize:
        if kind != "boolean" and arr.dtype.kind not in "biuf":
            raise ETPEncodeError(f"cannot encode dtype {arr.dtype} as Avro {kind}")
        if kind == "boolean" and arr.dtype != np.bool_:
            if arr.dtype.kind not in "biu":
                raise ETPEncodeError(f"cannot encode dtype {arr.dtype} as Avro boolean")
            arr = arr != 0
        flat = np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
        payload = flat.data.cast("B")
    else:
        ints = as_int64(arr)
        if kind == "int" and (int(ints.min()) < INT32_MIN or int(ints.max()) > INT32_MAX):
            raise ETPEncodeError("value out of range for an Avro int")
        payload = encode_varints(ints).data
    return [write_varint(n), payload, b"\x00"]


def avro_array_numeric_size(values: npt.ArrayLike, kind: str) -> int:
    """Bytes :func:`encode_avro_array_numeric` would produce, without producing them.

    Fixed-size kinds are a multiplication; int/long count each value's varint bytes by comparing
    its zig-zag form with the powers of 2**7 (a few vectorised comparisons per chunk, far cheaper
    than building the bytes). Used to check message sizes before encoding once for real.
    """
    _dtype, itemsize = _check_kind(kind)
    arr = np.asarray(values)
    n = arr.size
    if n == 0:
        return 1
    if itemsize:
        return len(write_varint(n)) + n * itemsize + 1
    return len(write_varint(n)) + varint_array_size(as_int64(arr)) + 1
