"""Tests of the vectorised Avro numeric kernels, checked against fastavro."""

from __future__ import annotations

import io
import threading
import tracemalloc
from typing import Any

import fastavro
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from etp_sync.codec import _numeric, _varint_arrays, _varint_decode, _varint_encode
from etp_sync.codec._numeric import (
    decode_avro_array_numeric,
    decode_zigzag_varints,
    encode_avro_array_numeric,
    encode_zigzag_varints,
    read_varint,
    write_varint,
)
from etp_sync.errors import ETPDecodeError, ETPEncodeError, ETPInvalidArgument

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
KINDS = ("boolean", "int", "long", "float", "double")
DTYPES: dict[str, Any] = {
    "boolean": np.bool_,
    "int": np.int32,
    "long": np.int64,
    "float": "<f4",
    "double": "<f8",
}

longs = st.integers(INT64_MIN, INT64_MAX)
ints = st.integers(INT32_MIN, INT32_MAX)
# Values clustered around the varint length boundaries as well as uniformly spread.
boundary_longs = st.sampled_from(
    sorted(
        {
            v
            for k in range(10)
            for base in (1 << (7 * k), -(1 << (7 * k)))
            for v in (base - 1, base, base + 1)
            if INT64_MIN <= v <= INT64_MAX
        }
        | {INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX, 0}
    )
)
any_long = st.one_of(longs, boundary_longs, st.integers(-300, 300))


def avro_write(kind: str, values: list[Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema({"type": "array", "items": kind}), values)
    return out.getvalue()


def avro_read(kind: str, data: bytes) -> list[Any]:
    schema = fastavro.parse_schema({"type": "array", "items": kind})
    result = fastavro.schemaless_reader(io.BytesIO(data), schema, None)
    assert isinstance(result, list)
    return result


def avro_long(n: int) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, "long", n)
    return out.getvalue()


def joined(pieces: list[bytes | memoryview]) -> bytes:
    return b"".join(pieces)


def block(count: int, payload: bytes, *, sized: bool = False) -> bytes:
    """One Avro array block; ``sized`` uses the negative-count form with a byte size."""
    if sized:
        return write_varint(-count) + write_varint(len(payload)) + payload
    return write_varint(count) + payload


def payload_of(kind: str, values: list[Any]) -> bytes:
    """Items of ``values`` without the array framing (fastavro encoding, count/terminator cut)."""
    data = avro_write(kind, values)
    _, start = read_varint(data, 0)
    return data[start:-1]


def aligned_bytearray(content: bytes, data_start: int, align: int) -> tuple[bytearray, int]:
    """A bytearray holding ``content`` at an offset where ``content[data_start:]`` is aligned."""
    ba = bytearray(len(content) + 2 * align)
    address = np.frombuffer(ba, np.uint8).ctypes.data
    pad = (-(address + data_start)) % align
    ba[pad : pad + len(content)] = content  # same size: no reallocation
    assert np.frombuffer(ba, np.uint8).ctypes.data == address
    return ba, pad


# --------------------------------------------------------------------------------------------
# Scalar varints
# --------------------------------------------------------------------------------------------

KNOWN = [
    (0, "00"),
    (-1, "01"),
    (1, "02"),
    (63, "7e"),
    (-64, "7f"),
    (64, "8001"),
    (300, "d804"),
    (2**31 - 1, "feffffff0f"),
    (-(2**31), "ffffffff0f"),
    (2**20, "80808001"),
    (INT64_MAX, "feffffffffffffffff01"),
    (INT64_MIN, "ffffffffffffffffff01"),
]


@pytest.mark.parametrize(("value", "hexa"), KNOWN)
def test_known_varints(value: int, hexa: str) -> None:
    encoded = bytes.fromhex(hexa)
    assert write_varint(value) == encoded
    assert read_varint(encoded, 0) == (value, len(encoded))
    assert read_varint(b"\xaa" + encoded + b"\xbb", 1) == (value, len(encoded) + 1)
    assert encode_zigzag_varints(np.array([value], dtype=np.int64)) == encoded


@given(any_long)
def test_scalar_varint_matches_fastavro(value: int) -> None:
    encoded = write_varint(value)
    assert encoded == avro_long(value)
    assert read_varint(encoded, 0) == (value, len(encoded))
    assert read_varint(memoryview(encoded), 0) == (value, len(encoded))
    assert write_varint(np.int64(value)) == encoded  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, 2**100])
def test_write_varint_out_of_range(value: int) -> None:
    with pytest.raises(ETPEncodeError):
        write_varint(value)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", b"\xff\xff", b"\xff" * 9],
    ids=["empty", "one-continuation", "two-continuations", "nine-continuations"],
)
def test_read_varint_truncated(data: bytes) -> None:
    with pytest.raises(ETPDecodeError, match="truncated"):
        read_varint(data, 0)


def test_read_varint_too_long_and_overflow() -> None:
    with pytest.raises(ETPDecodeError, match="longer than 10"):
        read_varint(b"\x80" * 10 + b"\x00", 0)
    with pytest.raises(ETPDecodeError, match="overflows"):
        read_varint(b"\xff" * 9 + b"\x02", 0)
    with pytest.raises(ETPDecodeError):
        read_varint(b"\x00", -1)
    with pytest.raises(ETPDecodeError):
        read_varint(b"\x00", 1)


# --------------------------------------------------------------------------------------------
# Vectorised varints
# --------------------------------------------------------------------------------------------


@given(st.lists(any_long, max_size=200))
def test_encode_zigzag_matches_fastavro(values: list[int]) -> None:
    expected = b"".join(avro_long(v) for v in values)
    arr = np.array(values, dtype=np.int64)
    assert encode_zigzag_varints(arr) == expected
    decoded, end = decode_zigzag_varints(b"\x01\x02" + expected + b"\x03", 2, len(values))
    assert end == 2 + len(expected)
    assert decoded.dtype == np.int64
    assert decoded.tolist() == values


@given(st.lists(ints, max_size=200))
def test_int32_roundtrip(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int32)
    encoded = encode_zigzag_varints(arr)
    assert encoded == b"".join(avro_long(v) for v in values)
    decoded, end = decode_zigzag_varints(encoded, 0, len(values), dtype=np.int32)
    assert decoded.dtype == np.int32 and end == len(encoded)
    assert decoded.tolist() == values


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.uint64, ">i8", "<i4"]
)
def test_encode_any_integer_dtype(dtype: Any) -> None:
    info = np.iinfo(dtype)
    hi = min(int(info.max), INT64_MAX)
    values = [int(info.min), 0, 1, hi, hi // 3]
    arr = np.array(values, dtype=dtype)
    assert encode_zigzag_varints(arr) == b"".join(avro_long(v) for v in values)


def test_encode_rejects_bad_input() -> None:
    with pytest.raises(ETPEncodeError):
        encode_zigzag_varints(np.array([2**63], dtype=np.uint64))
    with pytest.raises(ETPEncodeError):
        encode_zigzag_varints(np.array([1.5]))
    assert encode_zigzag_varints(np.array([], dtype=np.int64)) == b""


def test_many_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values spread over many (deliberately tiny) chunks, lengths varying inside each chunk."""
    rng = np.random.default_rng(42)
    bits = rng.integers(0, 64, size=5000)
    values = (rng.integers(INT64_MIN, INT64_MAX, size=5000, dtype=np.int64, endpoint=True)) >> bits
    values[:3] = [INT64_MIN, INT64_MAX, 0]
    expected = b"".join(avro_long(int(v)) for v in values)
    assert encode_zigzag_varints(values) == expected  # default chunk
    decoded, end = decode_zigzag_varints(expected, 0, values.size)
    assert end == len(expected) and np.array_equal(decoded, values)
    for chunk in (1, 3, 7, 64):
        monkeypatch.setattr(_varint_encode, "_ENCODE_CHUNK", chunk)
        monkeypatch.setattr(_varint_decode, "_DECODE_CHUNK", chunk)
        assert encode_zigzag_varints(values) == expected
        decoded, end = decode_zigzag_varints(expected + b"\x7f" * 30, 0, values.size)
        assert end == len(expected) and np.array_equal(decoded, values)


def test_large_random_roundtrip() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(INT64_MIN, INT64_MAX, size=300_000, dtype=np.int64, endpoint=True)
    values >>= rng.integers(0, 64, size=values.size)
    encoded = encode_zigzag_varints(values)
    decoded, end = decode_zigzag_varints(encoded, 0, values.size)
    assert end == len(encoded) and np.array_equal(decoded, values)
    # Spot check against fastavro.
    assert avro_read("long", avro_write("long", values[:2000].tolist())) == values[:2000].tolist()
    assert encoded.startswith(b"".join(avro_long(int(v)) for v in values[:2000]))


def test_decode_count_zero_and_offsets() -> None:
    assert decode_zigzag_varints(b"", 0, 0)[1] == 0
    arr, end = decode_zigzag_varints(b"\x02\x04", 2, 0)
    assert arr.size == 0 and end == 2
    with pytest.raises(ETPDecodeError):
        decode_zigzag_varints(b"\x02", 2, 0)
    with pytest.raises(ETPDecodeError):
        decode_zigzag_varints(b"\x02", -1, 1)
    with pytest.raises(ETPDecodeError):
        decode_zigzag_varints(b"\x02", 0, -1)


def test_decode_errors() -> None:
    with pytest.raises(ETPDecodeError, match="truncated"):
        decode_zigzag_varints(b"\x02\x80\x80", 0, 2)
    with pytest.raises(ETPDecodeError, match="longer than 10"):
        decode_zigzag_varints(b"\x02" + b"\x80" * 10 + b"\x00", 0, 2)
    with pytest.raises(ETPDecodeError, match="longer than 5"):
        decode_zigzag_varints(b"\x80" * 5 + b"\x00", 0, 1, dtype=np.int32, max_bytes_per_value=5)
    with pytest.raises(ETPDecodeError, match="overflows"):
        decode_zigzag_varints(b"\x00" + b"\xff" * 9 + b"\x03", 0, 2)
    with pytest.raises(ETPDecodeError, match="out of range"):
        decode_zigzag_varints(write_varint(2**31) + b"\x00", 0, 2, dtype=np.int32)
    with pytest.raises(ETPDecodeError, match="out of range"):
        decode_zigzag_varints(write_varint(-(2**31) - 1), 0, 1, dtype=np.int32)
    with pytest.raises(ETPInvalidArgument):
        decode_zigzag_varints(b"\x00", 0, 1, dtype=np.float64)


@given(st.binary(max_size=60), st.integers(0, 70), st.sampled_from([np.int64, np.int32]))
def test_decode_garbage_raises_only_decode_errors(data: bytes, count: int, dtype: Any) -> None:
    try:
        arr, end = decode_zigzag_varints(data, 0, count, dtype=dtype)
    except ETPDecodeError:
        return
    assert arr.size == count and 0 <= end <= len(data)
    assert encode_zigzag_varints(arr) == b"".join(avro_long(int(v)) for v in arr)


# --------------------------------------------------------------------------------------------
# Kernel paths: narrow (1-2 bytes) and wide, fast and general length formulas, byte and word
# terminator scans, chunk boundaries
# --------------------------------------------------------------------------------------------

# Boundaries of every varint length class and of the zig-zag mapping.
BOUNDARY_VALUES = sorted(
    {
        v
        for k in range(1, 10)
        for edge in (1 << (7 * k - 1), -(1 << (7 * k - 1)))  # zig-zag 2**(7k) - 1 / 2**(7k)
        for v in (edge - 2, edge - 1, edge, edge + 1)
        if INT64_MIN <= v <= INT64_MAX
    }
    | {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0, -1, 1, 63, 64, -64, -65}
    | {8191, 8192, -8192, -8193, 1000, 16383, 16384}
)


def long_bytes(values: Any) -> bytes:
    return b"".join(avro_long(int(v)) for v in values)


def values_of(rng: np.random.Generator, size: int, shape: str) -> np.ndarray:
    """Random int64 values: every length class mixed, or shaped like bulk data."""
    if shape == "narrow":  # 1-2 byte varints only
        return rng.integers(-8192, 8192, size=size, dtype=np.int64)
    if shape == "one-byte":
        return rng.integers(-64, 64, size=size, dtype=np.int64)
    if shape == "full":  # 9-10 bytes, a few shorter
        return rng.integers(INT64_MIN, INT64_MAX, size=size, dtype=np.int64, endpoint=True)
    full = rng.integers(INT64_MIN, INT64_MAX, size=size, dtype=np.int64, endpoint=True)
    if shape == "full+short":  # 9-10 bytes with short ones sprinkled in
        full[rng.integers(0, size, size=max(1, size // 50))] = rng.integers(-300, 300)
        return full
    return full >> rng.integers(0, 64, size=size)  # "mixed": every bit length


SHAPES = ("narrow", "one-byte", "full", "full+short", "mixed")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("chunk", [None, 1, 5, 64, 1000])
@pytest.mark.parametrize("word_scan", [2, 6, 11])
def test_kernels_match_fastavro(
    monkeypatch: pytest.MonkeyPatch, shape: str, chunk: int | None, word_scan: int
) -> None:
    """Every path of the kernels gives fastavro's bytes and reads them back, at any chunking.

    ``word_scan`` 2 forces the 8-bytes-at-a-time terminator scan from the start, 11 never uses
    it; chunk sizes make values straddle chunk and window boundaries.
    """
    if chunk is not None:
        monkeypatch.setattr(_varint_encode, "_ENCODE_CHUNK", chunk)
        monkeypatch.setattr(_varint_decode, "_DECODE_CHUNK", chunk)
    monkeypatch.setattr(_varint_decode, "_WORD_SCAN_GUESS", word_scan)
    rng = np.random.default_rng(sum(map(ord, shape)) + (chunk or 0))
    values = values_of(rng, 3001, shape)
    if shape in ("full", "full+short", "mixed"):
        values[::97] = rng.choice(BOUNDARY_VALUES, size=values[::97].size)
    expected = long_bytes(values)
    assert encode_zigzag_varints(values) == expected
    assert _numeric.avro_array_numeric_size(values, "long") == len(avro_write("long", values))
    decoded, end = decode_zigzag_varints(b"\x05" + expected + b"\x7f" * 12, 1, values.size)
    assert end == 1 + len(expected) and np.array_equal(decoded, values)
    if shape in ("narrow", "one-byte"):
        decoded32, _ = decode_zigzag_varints(expected, 0, values.size, dtype=np.int32)
        assert decoded32.dtype == np.int32 and np.array_equal(decoded32, values)


@pytest.mark.parametrize("word_scan", [2, 11])
@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
def test_kernels_random_lengths(
    monkeypatch: pytest.MonkeyPatch, word_scan: int, data: st.DataObject
) -> None:
    monkeypatch.setattr(_varint_decode, "_WORD_SCAN_GUESS", word_scan)
    monkeypatch.setattr(_varint_encode, "_ENCODE_CHUNK", data.draw(st.sampled_from([3, 16, 4096])))
    monkeypatch.setattr(_varint_decode, "_DECODE_CHUNK", data.draw(st.sampled_from([2, 17, 4096])))
    values = data.draw(
        st.lists(st.one_of(longs, st.sampled_from(BOUNDARY_VALUES), st.integers(-9000, 9000)))
    )
    arr = np.array(values, dtype=np.int64)
    expected = long_bytes(values)
    assert encode_zigzag_varints(arr) == expected
    decoded, end = decode_zigzag_varints(expected, 0, len(values))
    assert end == len(expected) and decoded.tolist() == values


def test_every_boundary_value_alone_and_together() -> None:
    for v in BOUNDARY_VALUES:
        one = np.array([v], dtype=np.int64)
        assert encode_zigzag_varints(one) == avro_long(v), v
        assert decode_zigzag_varints(avro_long(v), 0, 1)[0].tolist() == [v]
    arr = np.array(BOUNDARY_VALUES * 3, dtype=np.int64)
    expected = long_bytes(arr)
    assert encode_zigzag_varints(arr) == expected
    assert np.array_equal(decode_zigzag_varints(expected, 0, arr.size)[0], arr)


@pytest.mark.parametrize("word_scan", [2, 11])
def test_non_canonical_varints_decode_like_fastavro(
    monkeypatch: pytest.MonkeyPatch, word_scan: int
) -> None:
    """Over-long but valid varints (padding groups of zeros) are accepted, on every path."""
    monkeypatch.setattr(_varint_decode, "_WORD_SCAN_GUESS", word_scan)
    pieces = [b"\x80\x00", b"\x81\x00", b"\xff\x80\x80\x00", b"\x80" * 9 + b"\x00", b"\x02"]
    data = b"".join(pieces * 50)
    expected = avro_read("long", write_varint(len(pieces) * 50) + data + b"\x00")
    for dtype in (np.int64, np.int32):
        decoded, end = decode_zigzag_varints(data, 0, len(pieces) * 50, dtype=dtype)
        assert end == len(data) and decoded.tolist() == expected
    narrow = b"\x80\x00\x02\xfe\x7f" * 40  # 2-byte, 1-byte, 2-byte
    decoded, end = decode_zigzag_varints(narrow, 0, 120)
    assert end == len(narrow)
    assert decoded.tolist() == avro_read("long", write_varint(120) + narrow + b"\x00")


@pytest.mark.parametrize("word_scan", [2, 11])
@pytest.mark.parametrize("at", [0, 1, 7, 8, 9, 500])
def test_wide_path_errors(monkeypatch: pytest.MonkeyPatch, word_scan: int, at: int) -> None:
    """Overflow, over-long and truncated varints among long ones fail at the right offset."""
    monkeypatch.setattr(_varint_decode, "_WORD_SCAN_GUESS", word_scan)
    rng = np.random.default_rng(at)
    values = rng.integers(INT64_MIN, INT64_MAX, size=600, dtype=np.int64, endpoint=True)
    before = encode_zigzag_varints(values[:at])
    after = encode_zigzag_varints(values[at:])
    overflow = b"\xff" * 9 + b"\x02"
    with pytest.raises(ETPDecodeError, match=f"offset {len(before)} overflows"):
        decode_zigzag_varints(before + overflow + after, 0, 601)
    too_long = b"\x80" * 10 + b"\x00"
    with pytest.raises(ETPDecodeError, match=f"offset {len(before)} is longer than 10"):
        decode_zigzag_varints(before + too_long + after, 0, 601)
    with pytest.raises(ETPDecodeError, match="truncated"):
        decode_zigzag_varints(before + b"\x80\x80", 0, at + 1)
    small = encode_zigzag_varints(values[:at] >> 33)  # int32 range, up to 5 bytes
    big = write_varint(INT32_MAX + 1)
    with pytest.raises(ETPDecodeError, match=f"offset {len(small)} is out of range"):
        decode_zigzag_varints(
            small + big + encode_zigzag_varints(values[at:] >> 33),
            0,
            601,
            dtype=np.int32,
            max_bytes_per_value=5,
        )


def test_narrow_decoding_respects_max_bytes() -> None:
    data = encode_zigzag_varints(np.array([1, 300, -2, 8000, 5] * 20))
    assert (
        decode_zigzag_varints(data, 0, 100, max_bytes_per_value=2)[0].tolist()
        == [
            1,
            300,
            -2,
            8000,
            5,
        ]
        * 20
    )
    with pytest.raises(ETPDecodeError, match="offset 1 is longer than 1 bytes"):
        decode_zigzag_varints(data, 0, 100, max_bytes_per_value=1)
    three = data[:35] + write_varint(9000) + data[35:]
    with pytest.raises(ETPDecodeError, match="offset 35 is longer than 2 bytes"):
        decode_zigzag_varints(three, 0, 101, max_bytes_per_value=2)
    assert decode_zigzag_varints(three, 0, 101)[0][25] == 9000


def test_pooled_scratch_is_never_shared_between_threads() -> None:
    """Threads encoding and decoding at once (scratch sets come from a shared pool) each get
    their own values back, whatever the kernel path."""
    rng = np.random.default_rng(11)
    arrays = [values_of(rng, 40_000, shape) for shape in SHAPES for _ in range(2)]
    encoded = [encode_zigzag_varints(a) for a in arrays]
    errors: list[BaseException] = []
    start = threading.Barrier(len(arrays))

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                assert encode_zigzag_varints(arrays[i]) == encoded[i]
                decoded, end = decode_zigzag_varints(encoded[i], 0, arrays[i].size)
                assert end == len(encoded[i]) and np.array_equal(decoded, arrays[i])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


@pytest.mark.parametrize("shape", ["narrow", "full+short"])
def test_decode_into_a_given_array(shape: str) -> None:
    """Values land in the caller's array (e.g. a block of a result), which is returned."""
    rng = np.random.default_rng(5)
    values = values_of(rng, 6000, shape).reshape(100, 60)
    data = encode_zigzag_varints(values[30:70])
    result = np.zeros((100, 60), np.int64)
    place = result[30:70]
    got, end = decode_zigzag_varints(data, 0, place.size, out=place)
    assert got is place and end == len(data)
    assert np.array_equal(result[30:70], values[30:70])
    assert not result[:30].any() and not result[70:].any()
    small = np.empty(40, np.int32)
    ints = encode_zigzag_varints(np.arange(-20, 20))
    assert decode_zigzag_varints(ints, 0, 40, dtype=np.int32, out=small)[0].tolist() == list(
        range(-20, 20)
    )
    bad_outs = [
        np.empty(39, np.int64),  # size
        np.empty(40, np.int32),  # dtype
        np.empty(80, np.int64)[::2],  # not contiguous
        np.zeros(40, np.int64).view(np.int64),
    ]
    bad_outs[-1].flags.writeable = False
    for bad in bad_outs:
        with pytest.raises(ETPInvalidArgument):
            decode_zigzag_varints(ints, 0, 40, out=bad)


def test_encode_output_is_exactly_the_varints() -> None:
    """The payload piece holds the varint bytes only (no spare bytes of the work buffer)."""
    for values in (np.array([5, -3, 100]), np.array([INT64_MIN, 0, INT64_MAX]), np.zeros(7, int)):
        count, payload, end = encode_avro_array_numeric(values, "long")
        assert bytes(payload) == long_bytes(values)
        assert count + bytes(payload) + end == avro_write("long", values.tolist())


# --------------------------------------------------------------------------------------------
# Whole arrays
# --------------------------------------------------------------------------------------------

VALUES: dict[str, st.SearchStrategy[list[Any]]] = {
    "boolean": st.lists(st.booleans(), max_size=100),
    "int": st.lists(st.one_of(ints, st.sampled_from([INT32_MIN, INT32_MAX, 0, -1])), max_size=100),
    "long": st.lists(any_long, max_size=100),
    "float": st.lists(st.floats(width=32, allow_nan=False), max_size=100),
    "double": st.lists(st.floats(allow_nan=False), max_size=100),
}


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_array_matches_fastavro(kind: str, data: st.DataObject) -> None:
    values = data.draw(VALUES[kind])
    expected = avro_write(kind, values)
    arr = np.array(values, dtype=DTYPES[kind])
    assert joined(encode_avro_array_numeric(arr, kind)) == expected
    decoded, end = decode_avro_array_numeric(expected, 0, kind)
    assert end == len(expected)
    assert decoded.dtype == np.dtype(DTYPES[kind])
    assert decoded.tolist() == avro_read(kind, expected)
    # Also from inside a larger bytearray / memoryview.
    buf = bytearray(b"xyz" + expected + b"tail")
    for source in (buf, memoryview(buf), bytes(buf)):
        decoded, end = decode_avro_array_numeric(source, 3, kind)
        assert end == 3 + len(expected)
        assert decoded.tolist() == values


@pytest.mark.parametrize("kind", ["float", "double"])
def test_float_special_values_bitwise(kind: str) -> None:
    dtype = np.dtype(DTYPES[kind])
    udtype = np.uint32 if kind == "float" else np.uint64
    values = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3.4e38], dtype=dtype)
    values = np.concatenate([values, np.array([1, 0x7FC00001], dtype=udtype).view(dtype)])
    encoded = joined(encode_avro_array_numeric(values, kind))
    assert encoded[1:-1] == values.tobytes()
    decoded, _ = decode_avro_array_numeric(encoded, 0, kind)
    assert decoded.view(udtype).tolist() == values.view(udtype).tolist()


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_multi_block_arrays(kind: str, data: st.DataObject) -> None:
    chunks = data.draw(st.lists(VALUES[kind].filter(bool), min_size=1, max_size=5))
    sized = data.draw(st.lists(st.booleans(), min_size=len(chunks), max_size=len(chunks)))
    encoded = b"".join(
        block(len(c), payload_of(kind, c), sized=s) for c, s in zip(chunks, sized, strict=True)
    )
    encoded += b"\x00"
    flat = [v for c in chunks for v in c]
    assert avro_read(kind, encoded) == avro_read(kind, avro_write(kind, flat))  # fastavro agrees
    decoded, end = decode_avro_array_numeric(b"\x05" + encoded + b"\x06", 1, kind)
    assert end == 1 + len(encoded)
    assert decoded.dtype == np.dtype(DTYPES[kind])
    assert decoded.tolist() == avro_read(kind, encoded)


@pytest.mark.parametrize("kind", KINDS)
def test_block_size_mismatch(kind: str) -> None:
    values = [True, False] if kind == "boolean" else [1, 2]
    payload = payload_of(kind, values)
    bad = write_varint(-2) + write_varint(len(payload) + 1) + payload + b"\x00\x00"
    with pytest.raises(ETPDecodeError, match="byte size"):
        decode_avro_array_numeric(bad, 0, kind)
    bad = write_varint(-2) + write_varint(-1) + payload + b"\x00"
    with pytest.raises(ETPDecodeError, match="byte size"):
        decode_avro_array_numeric(bad, 0, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_arrays(kind: str) -> None:
    empty = np.array([], dtype=DTYPES[kind])
    assert encode_avro_array_numeric(empty, kind) == [b"\x00"]
    decoded, end = decode_avro_array_numeric(b"\x00", 0, kind)
    assert decoded.size == 0 and decoded.dtype == np.dtype(DTYPES[kind]) and end == 1


def small_encodings() -> list[tuple[str, bytes]]:
    cases = []
    samples: list[tuple[str, list[Any]]] = [
        ("boolean", [True, False, True]),
        ("int", [0, -1, INT32_MAX, INT32_MIN, 300]),
        ("long", [INT64_MIN, 5, INT64_MAX, -300]),
        ("float", [1.5, -2.0]),
        ("double", [1.0, -0.5]),
    ]
    for kind, values in samples:
        cases.append((kind, avro_write(kind, values)))
        half = len(values) // 2
        multi = (
            block(half, payload_of(kind, values[:half]))
            + block(len(values) - half, payload_of(kind, values[half:]), sized=True)
            + b"\x00"
        )
        cases.append((kind, multi))
    return cases


@pytest.mark.parametrize(("kind", "encoded"), small_encodings())
def test_every_truncation_raises(kind: str, encoded: bytes) -> None:
    _, end = decode_avro_array_numeric(encoded, 0, kind)
    assert end == len(encoded)
    for cut in range(len(encoded)):
        with pytest.raises(ETPDecodeError):
            decode_avro_array_numeric(encoded[:cut], 0, kind)
        with pytest.raises(ETPDecodeError):
            decode_avro_array_numeric(bytearray(encoded[:cut]), 0, kind)


@pytest.mark.parametrize("kind", KINDS)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=80))
def test_garbage_arrays_raise_only_decode_errors(kind: str, data: bytes) -> None:
    try:
        decoded, end = decode_avro_array_numeric(data, 0, kind, max_items=1000)
    except ETPDecodeError:
        return
    assert 0 < end <= len(data)
    assert decoded.size <= 1000


BOGUS_COUNTS = [2**62, INT64_MAX, 10**9, INT64_MIN, -(2**62)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("count", BOGUS_COUNTS)
def test_huge_bogus_counts_fail_without_allocating(kind: str, count: int) -> None:
    """How fast they fail: bench/timing.py."""
    size = write_varint(16) if count < 0 else b""
    data = write_varint(count) + size + b"\x02" * 16 + b"\x00"
    tracemalloc.start()
    try:
        with pytest.raises(ETPDecodeError):
            decode_avro_array_numeric(data, 0, kind)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_huge_count_direct() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ETPDecodeError):
            decode_zigzag_varints(b"\x02" * 100, 0, 10**15)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_max_items() -> None:
    encoded = block(3, payload_of("long", [1, 2, 3])) + block(2, payload_of("long", [4, 5])) + b"\0"
    assert decode_avro_array_numeric(encoded, 0, "long", max_items=5)[0].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(ETPDecodeError, match="more than"):
        decode_avro_array_numeric(encoded, 0, "long", max_items=4)


def test_int_array_limits() -> None:
    out_of_range = block(1, write_varint(INT32_MAX + 1)) + b"\x00"
    assert decode_avro_array_numeric(out_of_range, 0, "long")[0].tolist() == [INT32_MAX + 1]
    with pytest.raises(ETPDecodeError, match="out of range"):
        decode_avro_array_numeric(out_of_range, 0, "int")
    too_long = block(1, b"\x80\x80\x80\x80\x80\x00") + b"\x00"
    assert decode_avro_array_numeric(too_long, 0, "long")[0].tolist() == [0]  # non-canonical ok
    with pytest.raises(ETPDecodeError, match="longer than 5"):
        decode_avro_array_numeric(too_long, 0, "int")
    with pytest.raises(ETPEncodeError):
        encode_avro_array_numeric(np.array([INT32_MAX + 1]), "int")
    with pytest.raises(ETPEncodeError):
        encode_avro_array_numeric(np.array([1.0]), "long")


def test_boolean_nonzero_bytes_are_true() -> None:
    decoded, _ = decode_avro_array_numeric(b"\x08\x00\x01\x02\xff\x00", 0, "boolean")
    assert decoded.dtype == np.bool_ and decoded.tolist() == [False, True, True, True]
    pieces = encode_avro_array_numeric(np.array([0, 5, 1]), "boolean")
    assert joined(pieces) == b"\x06\x00\x01\x01\x00"


def test_unknown_kind() -> None:
    with pytest.raises(ETPInvalidArgument):
        decode_avro_array_numeric(b"\x00", 0, "string")
    with pytest.raises(ETPInvalidArgument):
        encode_avro_array_numeric(np.array([1]), "bytes")


# --------------------------------------------------------------------------------------------
# Zero copy and alignment
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "n"), [("double", 1000), ("float", 1001), ("double", 100)])
def test_decode_is_zero_copy_aligned_or_not(kind: str, n: int) -> None:
    values = np.arange(n, dtype=DTYPES[kind]) * 1.5
    encoded = joined(encode_avro_array_numeric(values, kind))
    header = len(write_varint(n))
    ba, pad = aligned_bytearray(encoded, header, values.itemsize)
    decoded, end = decode_avro_array_numeric(ba, pad, kind)
    assert end == pad + len(encoded)
    assert np.array_equal(decoded, values)
    assert np.shares_memory(decoded, np.frombuffer(ba, np.uint8))
    assert decoded.flags.aligned
    # Unaligned: still a zero-copy view (numpy reads unaligned data correctly).
    ba2, pad2 = aligned_bytearray(encoded, header + 1, values.itemsize)
    decoded2, _ = decode_avro_array_numeric(ba2, pad2, kind)
    assert np.array_equal(decoded2, values)
    assert not decoded2.flags.aligned and np.shares_memory(decoded2, np.frombuffer(ba2, np.uint8))
    assert np.require(decoded2, requirements="A").flags.aligned


@given(
    hnp.arrays(np.float64, st.integers(0, 50), elements=st.floats(allow_nan=False)),
    st.integers(0, 15),
)
def test_unaligned_views(values: np.ndarray, shift: int) -> None:
    encoded = joined(encode_avro_array_numeric(values, "double"))
    raw = bytearray(b"\xee" * shift + encoded)
    view = memoryview(raw)[shift:]
    decoded, end = decode_avro_array_numeric(view, 0, "double")
    assert end == len(encoded) and decoded.tolist() == values.tolist()
    decoded, end = decode_avro_array_numeric(bytes(raw), shift, "double")
    assert decoded.tolist() == values.tolist()


def test_non_byte_memoryview() -> None:
    values = np.array([1.0, 2.0, 3.0])
    encoded = joined(encode_avro_array_numeric(values, "double"))
    padded = encoded + b"\x00" * (-len(encoded) % 8)
    view: Any = memoryview(bytearray(padded)).cast("d")
    decoded, end = decode_avro_array_numeric(view, 0, "double")
    assert decoded.tolist() == [1.0, 2.0, 3.0] and end == len(encoded)
    ints = encode_zigzag_varints(np.array([1, -2, 3])) + b"\0"
    assert decode_zigzag_varints(memoryview(bytearray(ints)).cast("h"), 0, 3)[0].tolist() == [
        1,
        -2,
        3,
    ]


@pytest.mark.parametrize(("kind", "dtype"), [("double", "<f8"), ("float", "<f4"), ("boolean", "?")])
def test_encode_zero_copy(kind: str, dtype: str) -> None:
    values = np.ones(10, dtype=dtype)
    count, payload, end = encode_avro_array_numeric(values, kind)
    assert count == b"\x14" and end == b"\x00"
    assert isinstance(payload, memoryview) and payload.format == "B"
    assert payload.nbytes == values.nbytes
    assert np.shares_memory(np.frombuffer(payload, np.uint8), values)


def test_encode_converts_when_needed() -> None:
    strided = np.arange(20, dtype=np.float64)[::2]
    assert joined(encode_avro_array_numeric(strided, "double")) == avro_write(
        "double", strided.tolist()
    )
    big_endian = np.arange(5, dtype=">f8")
    assert joined(encode_avro_array_numeric(big_endian, "double")) == avro_write(
        "double", big_endian.tolist()
    )
    as_float = np.array([0.5, 1.25, 3.0])
    assert joined(encode_avro_array_numeric(as_float, "float")) == avro_write(
        "float", [0.5, 1.25, 3]
    )
    matrix = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert joined(encode_avro_array_numeric(matrix, "long")) == avro_write("long", list(range(6)))
    assert joined(encode_avro_array_numeric(np.array([1, 2], np.int8), "double")) == avro_write(
        "double", [1.0, 2.0]
    )


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def test_encoding_into_a_reused_buffer_gives_the_same_bytes() -> None:
    rng = np.random.default_rng(7)
    for values in (
        rng.integers(0, 1000, 1 << 18),
        rng.integers(-(1 << 62), 1 << 62, 1 << 17),
        rng.integers(0, 1000, 1 << 17),  # shorter than the buffer left by the first
    ):
        want = encode_zigzag_varints(values)
        held = _varint_arrays.encode_varints(values)
        assert held.tobytes() == want
        again = _varint_arrays.encode_varints(values)  # the first is still held: another one
        assert _address(again) != _address(held) and again.tobytes() == want
        del held, again


# ------------------------------------------------------------------------------------------
# Arrays sent as many small blocks (valid Avro; a hostile peer's cheapest expensive frame)


def _one_item_blocks(kind: str, values: np.ndarray) -> bytes:
    """``values`` as an Avro ``array<kind>`` of one-item blocks (fastavro writes one block)."""
    out = bytearray()
    for v in values.tolist():
        out += b"\x02"  # a block of one item
        out += b"".join(bytes(p) for p in encode_avro_array_numeric(np.array([v]), kind))[1:-1]
    out += b"\x00"
    return bytes(out)


@pytest.mark.parametrize("kind", ["long", "int", "double"])
def test_one_item_blocks_decode_like_one_block(kind: str) -> None:
    rng = np.random.default_rng(7)
    if kind == "double":
        values = rng.random(3000)
    else:
        info = np.iinfo(np.int32 if kind == "int" else np.int64)
        values = rng.integers(info.min, info.max, 3000, endpoint=True)
    data = _one_item_blocks(kind, values)
    got, end = decode_avro_array_numeric(data, 0, kind)
    assert end == len(data) and got.dtype == np.dtype(_numeric._check_kind(kind)[0])
    assert np.array_equal(got, values)


@pytest.mark.parametrize("kind", ["long", "double"])
def test_memory_of_many_small_blocks_stays_near_the_values(kind: str) -> None:
    """One numpy array per block cost ~80 (long) / ~37 (double) bytes per input byte: the parts
    are now joined as they come, so the peak stays a small multiple of the values' bytes."""
    n = 40_000
    values = np.arange(n, dtype=np.float64 if kind == "double" else np.int64) % 50
    data = _one_item_blocks(kind, values)
    tracemalloc.start()
    try:
        got, _end = decode_avro_array_numeric(data, 0, kind)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, values)
    assert peak < 8 * values.nbytes, (peak, values.nbytes)


def test_small_blocks_keep_the_vector_decoders_errors() -> None:
    """A bad varint in a small block is reported with the kernels' words and offsets."""
    too_long = b"\x02" + b"\xff" * 10 + b"\x01" + b"\x00"
    with pytest.raises(ETPDecodeError, match="offset 1 is longer than 10"):
        decode_avro_array_numeric(too_long, 0, "long")
    out_of_int = b"\x02" + b"\x80\x80\x80\x80\x10" + b"\x00"  # 2**32 zig-zag: 2**31
    with pytest.raises(ETPDecodeError, match="offset 1 is out of range"):
        decode_avro_array_numeric(out_of_int, 0, "int")
    with pytest.raises(ETPDecodeError, match="truncated"):
        decode_avro_array_numeric(b"\x04\x02\x82", 0, "long")


def test_small_varint_blocks_skip_the_vector_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few varints are read one value at a time (the kernels' fixed cost of tens
    of µs per call would otherwise be paid per item)."""
    values = np.arange(-500, 500, dtype=np.int64)
    data = _one_item_blocks("long", values)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("vector kernel called for a one-item block")

    monkeypatch.setattr(_numeric, "decode_zigzag_varints", refuse)
    got, _end = decode_avro_array_numeric(data, 0, "long")
    assert np.array_equal(got, values)
