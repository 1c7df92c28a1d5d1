"""The long-varint decoder (codec/_varint_words.decode_long) against a plain reference codec:
random 64-bit values (9 and 10 bytes) with a few short varints among them (several
terminators in one aligned word), every length 1..10, edge values, tiny and default chunks,
and hostile bytes (overflow, over-long, truncated), which must raise ETPDecodeError."""

from __future__ import annotations

import numpy as np
import pytest
from _varint_ref import ref_encode

from etp_sync.codec import _varint_decode, _varint_words
from etp_sync.codec._varint_arrays import decode_varints
from etp_sync.errors import ETPDecodeError

# These are the numpy kernels' tests (the compiled loops: test_varint_compiled.py).
pytestmark = pytest.mark.usefixtures("numpy_varints")

I64 = np.iinfo(np.int64)


def ref_decode(buf: bytes, count: int) -> tuple[list[int], int]:
    values, pos = [], 0
    for _ in range(count):
        z = shift = 0
        while True:
            b = buf[pos]
            pos += 1
            z |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        values.append((z >> 1) ^ -(z & 1))
    return values, pos


EDGE = np.array(
    [0, -1, 1, I64.min, I64.max, I64.min + 1, I64.max - 1]
    + [s * (1 << (7 * k - 1)) + d for k in range(1, 10) for s in (1, -1) for d in (-1, 0, 1)],
    dtype=np.int64,
)


def _values(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    v = rng.integers(I64.min, I64.max, n, dtype=np.int64, endpoint=True)
    if kind == "few tiny":  # 1-byte varints among long ones: words with several terminators
        at = rng.integers(0, n, max(1, n // 200))
        v[at] = rng.integers(-3, 3, at.size)
    elif kind == "some short":
        at = rng.integers(0, n, max(1, n // 50))
        v[at] = rng.integers(-(1 << 40), 1 << 40, at.size)
    elif kind == "many short":  # too many for the word scans: the byte scan takes over
        at = rng.integers(0, n, n // 3)
        v[at] = rng.integers(-1000, 1000, at.size)
    elif kind == "edges":
        v = rng.choice(EDGE, n)
    elif kind == "every length":
        v = (v >> rng.integers(0, 64, n)).astype(np.int64)
    return v


KINDS = ["full", "few tiny", "some short", "many short", "edges", "every length"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk", [5, 64, 1 << 15])
def test_long_decoder_matches_the_reference(
    monkeypatch: pytest.MonkeyPatch, kind: str, chunk: int
) -> None:
    monkeypatch.setattr(_varint_decode, "_DECODE_CHUNK", chunk)
    monkeypatch.setattr(_varint_decode, "MIN_LONG", 1)  # the word path for small chunks too
    rng = np.random.default_rng(KINDS.index(kind) * 100_000 + chunk)
    for n in (1, 2, 9, 200, 3001):
        values = _values(rng, kind, n)
        buf = ref_encode(values)
        assert ref_decode(buf, n) == (values.tolist(), len(buf))
        junk = bytes(rng.integers(0, 256, 13, dtype=np.uint8))
        got, end = decode_varints(np.frombuffer(buf + junk, np.uint8), 0, n, np.dtype(np.int64), 10)
        assert end == len(buf)
        np.testing.assert_array_equal(got, values)


def test_the_word_path_serves_random_64_bit_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random 64-bit values (a few short ones among them) go through decode_long, whole."""
    calls: list[bool] = []
    real = _varint_decode.decode_long

    def spy(*args: object) -> int | None:
        used = real(*args)  # type: ignore[arg-type]
        calls.append(used is not None)
        return used

    monkeypatch.setattr(_varint_decode, "decode_long", spy)
    rng = np.random.default_rng(3)
    values = _values(rng, "full", 1 << 17)
    values[rng.integers(0, values.size, 40)] = 1  # 1-byte varints: about 10 per chunk
    buf = ref_encode(values)
    got, end = decode_varints(np.frombuffer(buf, np.uint8), 0, values.size, np.dtype(np.int64), 10)
    np.testing.assert_array_equal(got, values)
    assert end == len(buf) and calls.count(True) >= 3


def _starts(buf: bytes) -> list[int]:
    return [0, *[i + 1 for i, b in enumerate(buf) if b < 0x80][:-1]]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_hostile_long_varints_raise(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    monkeypatch.setattr(_varint_decode, "MIN_LONG", 1)
    rng = np.random.default_rng(11)
    values = rng.integers(I64.min, -(1 << 62), 4000, dtype=np.int64)  # all 10 bytes
    buf = ref_encode(values)
    starts = _starts(buf)
    i = {"first": 0, "middle": 2000, "last": 3999}[where]
    at = starts[i]

    def decode(data: bytes, count: int = values.size) -> None:
        decode_varints(np.frombuffer(data, np.uint8), 0, count, np.dtype(np.int64), 10)

    overflow = bytearray(buf)
    overflow[at + 9] = 0x02  # group 9 over 1: more than 64 bits
    with pytest.raises(ETPDecodeError, match="overflows 64 bits"):
        decode(bytes(overflow))
    overlong = bytearray(buf)
    overlong[at + 9] |= 0x80
    overlong.insert(at + 10, 0)
    with pytest.raises(ETPDecodeError, match="longer than 10 bytes"):
        decode(bytes(overlong))
    with pytest.raises(ETPDecodeError, match="truncated"):
        decode(buf[: at + 5], i + 1)


def test_a_window_with_too_many_short_words_is_left_to_the_general_decoder() -> None:
    """More words with several terminators than decode_long splices: it declines."""
    rng = np.random.default_rng(5)
    values = rng.integers(I64.min, I64.max, 4096, dtype=np.int64, endpoint=True)
    values[::40] = 0  # about 100 words with two terminators
    buf = ref_encode(values)
    s = _varint_words.WordScratch(values.size, 10)
    s.copy_window(np.frombuffer(buf, np.uint8))
    dest = np.empty(values.size, np.int64)
    assert values[::40].size > _varint_words.MAX_SPLICED
    assert _varint_words.decode_long(s, len(buf), values.size, dest, _unused) is None
    got, _ = decode_varints(np.frombuffer(buf, np.uint8), 0, values.size, np.dtype(np.int64), 10)
    np.testing.assert_array_equal(got, values)


def _unused(*_args: object) -> None:
    raise AssertionError("no short varints should be decoded here")
