"""The encoder's pair path (codec/_varint_encode._put_pairs): varints of mostly 9 and 10 bytes
written two at a time, the pairs holding a shorter one rebuilt for any lengths
(_short_pairs). Checked byte for byte against a plain reference encoder (canonical varints):
random 64-bit values, every pair of lengths 1..10, edge values, shorter values among long ones
(below and above the share the path takes), odd chunk ends and chunk boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _varint_ref import check_round_trip, ref_encode

from etp_sync.codec import _varint_decode, _varint_encode
from etp_sync.codec._varint_arrays import decode_varints, encode_varints

# These are the numpy kernels' tests (the compiled loops: test_varint_compiled.py).
pytestmark = pytest.mark.usefixtures("numpy_varints")

I64 = np.iinfo(np.int64)


def of_length(rng: np.random.Generator, length: int, n: int) -> np.ndarray:
    """``n`` random values whose varints take ``length`` bytes (either sign)."""
    lo = 0 if length == 1 else 1 << (7 * (length - 1))
    hi = min(1 << (7 * length), 1 << 64) - 1
    z = np.array([int(rng.integers(lo, hi, endpoint=True, dtype=np.uint64)) for _ in range(n)])
    return np.array([(q >> 1) ^ -(q & 1) for q in z.tolist()], dtype=np.int64)


def _full(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(I64.min, I64.max, n, dtype=np.int64, endpoint=True)


_check = check_round_trip


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the calls of the pair path and of its rebuilding of short pairs."""
    calls = {"pairs": 0, "short": 0}
    put, short = _varint_encode._put_pairs, _varint_encode._short_pairs

    def counted_put(*args: Any) -> int:
        calls["pairs"] += 1
        return put(*args)

    def counted_short(*args: Any) -> None:
        calls["short"] += 1
        short(*args)

    monkeypatch.setattr(_varint_encode, "_put_pairs", counted_put)
    monkeypatch.setattr(_varint_encode, "_short_pairs", counted_short)
    return calls


def test_random_64_bit_values_take_the_pair_path(spy: dict[str, int]) -> None:
    rng = np.random.default_rng(7)
    v = _full(rng, 3 * 32768 + 1000)
    v[::4096] = rng.integers(-3, 3, v[::4096].size)  # a few short ones in every chunk
    _check(v)
    assert spy["pairs"] == 4
    assert spy["short"] == 4


def test_every_pair_of_lengths(spy: dict[str, int]) -> None:
    """Both varints of a pair, each of 1 to 10 bytes, among 9 and 10 byte ones."""
    rng = np.random.default_rng(8)
    v = _full(rng, 4096)
    at = 0
    for la in range(1, 11):
        for lb in range(1, 11):
            v[at : at + 2] = [of_length(rng, la, 1)[0], of_length(rng, lb, 1)[0]]
            at += 40
    _check(v)
    assert spy["pairs"] == 1 and spy["short"] == 1


@pytest.mark.parametrize("offset", [0, 1])
def test_edge_values_in_pairs(spy: dict[str, int], offset: int) -> None:
    """0, -1, the extremes and both sides of every length boundary 2**(7k), as the first and
    as the second varint of a pair."""
    rng = np.random.default_rng(9)
    edge = [0, -1, 1, I64.min, I64.max, I64.min + 1, I64.max - 1]
    edge += [s * (1 << (7 * k - 1)) + d for k in range(1, 10) for s in (1, -1) for d in (-1, 0)]
    v = _full(rng, 2048)
    v[offset : offset + 40 * len(edge) : 40] = edge
    _check(v)
    assert spy["pairs"] == 1


def test_only_long_values_and_only_ten_or_nine_bytes(spy: dict[str, int]) -> None:
    rng = np.random.default_rng(10)
    _check(of_length(rng, 10, 5000))
    _check(of_length(rng, 9, 5000))
    mixed = np.where(rng.random(5000) < 0.5, of_length(rng, 9, 5000), of_length(rng, 10, 5000))
    _check(mixed)
    assert spy["pairs"] == 3 and spy["short"] == 0


def test_too_many_short_values_take_the_general_path(spy: dict[str, int]) -> None:
    rng = np.random.default_rng(11)
    v = _full(rng, 20000)
    v[::8] = rng.integers(-(1 << 40), 1 << 40, v[::8].size)  # 1 in 8: over the path's share
    _check(v)
    assert spy["pairs"] == 0


def test_chunk_ends_and_odd_chunks(spy: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 64 values: pairs never straddle chunks, an odd last chunk takes the general
    path, and the output runs on across chunk boundaries with every length mixed in."""
    monkeypatch.setattr(_varint_encode, "_ENCODE_CHUNK", 64)
    rng = np.random.default_rng(12)
    for n in (63, 64, 65, 127, 128, 1001):
        v = _full(rng, n)
        v[rng.integers(0, n, max(1, n // 40))] = of_length(rng, 3, max(1, n // 40))
        _check(v)
    assert spy["pairs"] > 0 and spy["short"] > 0


def test_short_pair_records_for_any_lengths() -> None:
    """The rebuilding of a pair holds for any two lengths, two long varints included."""
    rng = np.random.default_rng(13)
    v = np.concatenate([of_length(rng, n, 40) for n in range(1, 11)])
    rng.shuffle(v)
    z = ((v.view(np.uint64) << np.uint64(1)) ^ (v >> 63).view(np.uint64)).astype(np.uint64)
    k = v.size // 2
    pairs, plen = np.zeros((k, 3), np.uint64), np.zeros(k, np.intp)
    _varint_encode._short_pairs(z, np.ones(v.size, np.bool_), pairs, plen)
    raw = pairs.view(np.uint8).reshape(k, 24)
    for i in range(k):
        want = ref_encode(v[2 * i : 2 * i + 2])
        assert plen[i] == len(want)
        assert raw[i, : plen[i]].tobytes() == want
        assert not raw[i, plen[i] :].any()


@pytest.mark.parametrize("share", [0.0, 1 / 128, 1 / 10, 0.5, 1.0])
def test_long_decoder_with_eight_byte_varints(
    monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    """The long decoder's assembly masks the bytes past the end of varints of 8 bytes or
    fewer (a few of them, or so many that every varint is masked), each share of 8-byte
    varints among 9 and 10 byte ones, a few shorter ones too."""
    calls = []
    decode_long = _varint_decode.decode_long

    def counted(*args: Any) -> int | None:
        calls.append(1)
        return decode_long(*args)

    monkeypatch.setattr(_varint_decode, "decode_long", counted)
    rng = np.random.default_rng(14)
    n = 40000
    v = np.where(rng.random(n) < share, of_length(rng, 8, n), _full(rng, n))
    v[rng.integers(0, n, 20)] = of_length(rng, 3, 20)
    buf = encode_varints(v)
    assert buf.tobytes() == ref_encode(v)
    back, end = decode_varints(buf, 0, n, np.dtype(np.int64), 10)
    assert end == buf.size
    assert np.array_equal(back, v)
    assert calls
