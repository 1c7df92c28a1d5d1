"""The encoder decides per chunk whether values take the 1-2 byte path
(codec/_varint_encode._encode_narrow), from the chunk's own extremes, and hands the rest of the
array to the general path at the first chunk holding a longer varint. Checked byte for byte
against the plain reference encoder: a longer varint first, last, alone in a middle chunk, at
either edge of a chunk, 1-byte chunks among 2-byte ones, and the buffer the narrow path filled
staying intact while the general path writes after it."""

from __future__ import annotations

import numpy as np
import pytest
from _varint_ref import check_round_trip, ref_encode

from etp_sync.codec import _varint_encode

# These are the numpy kernels' tests (the compiled loops: test_varint_compiled.py).
pytestmark = pytest.mark.usefixtures("numpy_varints")

CHUNK = _varint_encode._ENCODE_CHUNK


_check = check_round_trip


def _narrow(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(-1000, 1001, n, dtype=np.int64)


@pytest.mark.parametrize(
    "at",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5000, 3 * CHUNK + 4321 - 1],
)
@pytest.mark.parametrize("value", [8192, -8193, 1 << 40, -(1 << 63), (1 << 63) - 1])
def test_one_longer_varint_anywhere(at: int, value: int) -> None:
    """One value of 3+ bytes among 1-2 byte ones: the chunks before it narrow, the rest (its
    chunk included) general, the bytes the same as the reference's."""
    rng = np.random.default_rng(at + 7)
    v = _narrow(rng, 3 * CHUNK + 4321)
    v[at] = value
    _check(v)


def test_longer_varints_in_several_chunks_then_narrow_ones() -> None:
    rng = np.random.default_rng(3)
    v = _narrow(rng, 5 * CHUNK)
    v[2 * CHUNK + 10] = 1 << 20  # chunk 2 is general; chunks 3 and 4 narrow again
    v[4 * CHUNK - 1] = -(1 << 50)
    _check(v)


def test_chunks_of_one_byte_among_two_byte_ones() -> None:
    rng = np.random.default_rng(5)
    parts = [
        rng.integers(-64, 64, CHUNK),  # every varint 1 byte
        _narrow(rng, CHUNK),
        rng.integers(-64, 64, CHUNK // 2),
        np.full(CHUNK, 63),
        np.full(100, -8192),
    ]
    _check(np.concatenate(parts).astype(np.int64))


def test_wide_array_and_small_arrays() -> None:
    rng = np.random.default_rng(9)
    _check(rng.integers(-(1 << 62), 1 << 62, 3 * CHUNK + 17, dtype=np.int64))
    for n in (1, 2, 63, CHUNK - 1, CHUNK + 1):
        _check(_narrow(rng, n))
    _check(np.array([8191, -8192, 8192, -8193], dtype=np.int64))


def test_narrow_bytes_survive_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes the narrow path wrote before a longer varint are kept (copied into the
    bigger buffer) even when the output pool hands out memory full of garbage."""

    class Dirty(_varint_encode.BufferPool):
        def take(self, nbytes: int) -> np.ndarray:
            buf = super().take(nbytes)
            buf[:] = 0xAB
            return buf

    monkeypatch.setattr(_varint_encode, "OUTPUT_POOL", Dirty(1 << 30, min_bytes=1))
    rng = np.random.default_rng(11)
    v = _narrow(rng, 4 * CHUNK)
    v[3 * CHUNK + 3] = 1 << 30
    _check(v)


@pytest.mark.parametrize("dtype", [">i8", ">i4", "<i2", "u1", ">u8"])
def test_any_integer_dtype_is_encoded_by_value(dtype: str) -> None:
    """The encoder and its size count take an array of any integer dtype by its values: a
    big-endian int64 array was once encoded from its raw bytes."""
    info = np.iinfo(np.dtype(dtype))
    low, high = max(int(info.min), -(2**62)), min(int(info.max), 2**62)
    values = np.array([0, 1, low, high, low // 3, high // 7], dtype=dtype)
    native = values.astype(np.int64)
    expected = ref_encode(native)
    assert _varint_encode.encode_varints(values).tobytes() == expected
    assert _varint_encode.varint_array_size(values) == len(expected)
