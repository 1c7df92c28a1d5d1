"""The 1-2 byte varint path of the decoder (codec/_varint_decode._narrow_window) against a plain
reference codec: all 1-byte, all 2-byte, mixed and negative values, windows cut inside a
varint, a longer varint among short ones (the general path takes over), counts that stop
inside a window, and hostile bytes, whose errors must read exactly as with the path disabled."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _varint_ref import ref_encode

from etp_sync.codec import _varint_decode
from etp_sync.codec._varint_arrays import decode_varints, encode_varints
from etp_sync.errors import ETPDecodeError

# These are the numpy kernels' tests (the compiled loops: test_varint_compiled.py).
pytestmark = pytest.mark.usefixtures("numpy_varints")


def decode(data: bytes, offset: int, count: int, dtype: Any = np.int64) -> tuple[list[int], int]:
    max_bytes = 10 if dtype == np.int64 else 5
    buf = np.frombuffer(data, np.uint8)
    out, end = decode_varints(buf, offset, count, np.dtype(dtype), max_bytes)
    assert out.dtype == dtype
    return out.tolist(), end


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int] | None]:
    """Record what every call of the narrow path returned."""
    seen: list[tuple[int, int] | None] = []
    real = _varint_decode._narrow_window

    def spy(*args: Any) -> tuple[int, int] | None:
        got = real(*args)
        seen.append(got)
        return got

    monkeypatch.setattr(_varint_decode, "_narrow_window", spy)
    return seen


def _values(rng: np.random.Generator, kind: str, n: int) -> list[int]:
    lo, hi = {"1-byte": (-64, 64), "2-byte": (64, 8192), "mixed": (-8192, 8192)}[kind]
    v = rng.integers(lo, hi, n)
    if kind == "2-byte":
        v[rng.random(n) < 0.5] *= -1
    return v.tolist()


@pytest.mark.parametrize("kind", ["1-byte", "2-byte", "mixed"])
@pytest.mark.parametrize("window", [None, 37, 64, 1001])
def test_narrow_matches_reference(
    monkeypatch: pytest.MonkeyPatch,
    windows: list[tuple[int, int] | None],
    kind: str,
    window: int | None,
) -> None:
    if window is not None:  # many windows, most of them ending inside a 2-byte varint
        monkeypatch.setattr(_varint_decode, "_NARROW_BYTES", window)
    rng = np.random.default_rng(len(kind) + (window or 0))
    values = _values(rng, kind, 5000)
    data = b"\xff\x81" + ref_encode(values) + b"\x80\x80\x80"  # continued bytes around it
    for dtype in (np.int64, np.int32):
        assert decode(data, 2, len(values), dtype) == (values, len(data) - 3)
    assert windows and all(w is not None for w in windows)
    if window is not None:
        assert len(windows) >= 2 * len(data) // window
        if kind != "1-byte":
            assert any(n + 1 != used for n, used in windows if n)  # type: ignore[misc]


def test_narrow_edge_values(windows: list[tuple[int, int] | None]) -> None:
    edges = [0, -1, 1, 63, -64, 64, -65, 8191, -8192] * 40
    data = ref_encode(edges)
    assert decode(data, 0, len(edges)) == (edges, len(data))
    # Non-canonical 2-byte spellings decode like the general path: 0x80 0x00 is 0.
    odd = b"\x80\x00\x81\x00\xff\x00" * 100
    assert decode(odd, 0, 300) == ([0, -1, -64] * 100, 600)
    assert windows and None not in windows


def test_count_stops_inside_a_window(windows: list[tuple[int, int] | None]) -> None:
    values = list(range(-3000, 3000, 7))
    data = ref_encode(values)
    for count in (256, 257, 300, len(values) - 1):
        expect = ref_encode(values[:count])
        assert decode(data, 0, count) == (values[:count], len(expect))
    ones = [(i % 128) - 64 for i in range(1000)]  # all 1-byte: no terminator search
    for count in (256, 999, 1000):
        assert decode(ref_encode(ones), 0, count) == (ones[:count], count)
    assert windows and None not in windows


@pytest.mark.parametrize("at", [0, 1, 499, 998, 999])
def test_one_long_varint_falls_back(windows: list[tuple[int, int] | None], at: int) -> None:
    values = [((i * 37) % 2000) - 1000 for i in range(1000)]
    values[at] = 1 << 40 if at % 2 else -9000  # 6 bytes, or 3
    data = ref_encode(values)
    assert decode(data, 0, len(values)) == (values, len(data))
    assert None in windows  # the window holding it went to the general path


def _error(data: bytes, offset: int, count: int, dtype: Any) -> str:
    with pytest.raises(ETPDecodeError) as info:
        decode(data, offset, count, dtype)
    return str(info.value)


@pytest.mark.parametrize(
    "data, count",
    [
        (ref_encode(list(range(400))) + b"\x80", 401),  # truncated in the last varint
        (ref_encode(list(range(400))), 401),  # one varint missing
        (ref_encode(list(range(300))) + b"\x80\x80", 301),  # truncated, two bytes in
        (ref_encode(list(range(300))) + b"\x80" * 10 + b"\x01", 301),  # over-long
        (ref_encode(list(range(300))) + b"\xff" * 9 + b"\x03", 301),  # overflows 64 bits
        (b"\x80" * 600, 300),  # no terminator at all
    ],
)
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_errors_read_as_without_the_narrow_path(
    monkeypatch: pytest.MonkeyPatch, data: bytes, count: int, dtype: Any
) -> None:
    with_path = _error(data, 0, count, dtype)
    monkeypatch.setattr(_varint_decode, "_NARROW_MIN", 1 << 62)
    assert _error(data, 0, count, dtype) == with_path


def test_int32_out_of_range_reads_as_without_the_narrow_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = ref_encode([*range(300), 1 << 31])
    with_path = _error(data, 0, 301, np.int32)
    assert "out of range for an Avro int" in with_path
    monkeypatch.setattr(_varint_decode, "_NARROW_MIN", 1 << 62)
    assert _error(data, 0, 301, np.int32) == with_path


@pytest.mark.parametrize(
    "dtype, first, second, expected",
    [
        (np.int32, ref_encode([1 << 31]), b"\x80" * 5 + b"\x00", "out of range for an Avro int"),
        (np.int64, b"\xff" * 9 + b"\x03", b"\x80" * 10 + b"\x00", "overflows 64 bits"),
    ],
)
def test_error_precedence_keeps_the_chunks_after_the_narrow_path(
    monkeypatch: pytest.MonkeyPatch, dtype: Any, first: bytes, second: bytes, expected: str
) -> None:
    # 40,000 narrow varints fill the first 64 KiB window, so the general path starts off the
    # 32,768-varint chunk grid; a bad value at 60,000 (chunk 1) and an over-long varint at
    # 70,000 (chunk 2) must still be told apart chunk by chunk: the value first.
    toks = [ref_encode([100])] * 25_536 + [ref_encode([1])] * 74_464
    toks[60_000] = first
    toks[70_000] = second
    data = b"".join(toks)
    with_path = _error(data, 0, len(toks), dtype)
    assert expected in with_path
    monkeypatch.setattr(_varint_decode, "_NARROW_MIN", 1 << 62)
    assert _error(data, 0, len(toks), dtype) == with_path


def test_big_array_round_trip(windows: list[tuple[int, int] | None]) -> None:
    rng = np.random.default_rng(7)
    v = rng.integers(-1000, 1001, 300_000)
    data = encode_varints(v)
    out, end = decode_varints(data, 0, v.size, np.dtype(np.int64), 10)
    assert end == data.size and np.array_equal(out, v)
    assert len(windows) >= data.size // _varint_decode._NARROW_BYTES


def test_narrow_encoding_of_every_1_2_byte_value() -> None:
    """Every value with a 1- or 2-byte varint, over more than one encoder chunk, in order and
    shuffled (runs of 1-byte values, lone ones, none), against the reference bytes."""
    every = np.arange(-8192, 8192, dtype=np.int64)
    rng = np.random.default_rng(11)
    two = every[(every >= 64) | (every < -64)]  # every 2-byte one
    for v in (np.concatenate([every, every[::-1], rng.permutation(every)]), two):
        data = encode_varints(v)
        assert data.tobytes() == ref_encode(v.tolist())
        out, end = decode_varints(data, 0, v.size, np.dtype(np.int64), 10)
        assert end == data.size and np.array_equal(out, v)
