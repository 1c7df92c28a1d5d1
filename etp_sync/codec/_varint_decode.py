"""Vectorised decoding of Avro zig-zag varints (the items of ``array<long>`` and ``array<int>``)
into int64 or int32 arrays.

Chunk by chunk: the varints' ends are found (terminator bytes, high bit clear: one byte at a
time, or eight at a time when varints are long), then every value of the chunk is assembled at
once, on 16-bit lanes when all varints take 1 or 2 bytes, otherwise from the first 8 bytes of
each varint loaded as one uint64 word (see :mod:`._varint_encode` for the speed rules followed).

Every decoding failure (truncation, over-long varint, overflow, int32 out of range) is an
:class:`~etp_sync.errors.ETPDecodeError`; callers check the count against the bytes left before
anything is allocated for it.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from etp_sync.errors import ETPDecodeError

from ._pool import Carving
from ._varint_bits import (
    GROUP_MASKS,
    HIGH_GROUP_MASKS,
    INT32_MAX,
    INT32_MIN,
    U1,
    scratch_arrays,
    squeeze,
)
from ._varint_words import (
    MIN_LONG,
    TOO_FEW,
    Decoder,
    WordScratch,
    decode_long,
    word_ends,
)

_DECODE_CHUNK: Final = 1 << 15
# Bytes per window of the 1-2 byte path (:func:`_narrow_window`), and the fewest varints it
# takes on (below that, its fixed cost is not worth it).
_NARROW_BYTES: Final = 1 << 16
_NARROW_MIN: Final = 256
# Windows the general path takes after the 1-2 byte path found a longer varint.
_NARROW_BACKOFF: Final = 8
# Average bytes per varint (plus one) from which terminators are searched 8 bytes at a time.
_WORD_SCAN_GUESS: Final = 6


def _varint_error(
    win: npt.NDArray[np.uint8], ends: npt.NDArray[np.intp], base: int, max_bytes: int, at_eof: bool
) -> ETPDecodeError:
    """Explain why a window did not hold enough complete varints."""
    lens = np.diff(ends, prepend=0)
    bad = np.flatnonzero(lens > max_bytes)
    if bad.size:
        start = base + int(ends[bad[0]] - lens[bad[0]])
        return ETPDecodeError(f"varint at offset {start} is longer than {max_bytes} bytes")
    tail = win.size - (int(ends[-1]) if ends.size else 0)
    start = base + win.size - tail
    if tail >= max_bytes:
        return ETPDecodeError(f"varint at offset {start} is longer than {max_bytes} bytes")
    if at_eof:
        return ETPDecodeError(f"buffer truncated inside the varint array at offset {start}")
    return ETPDecodeError(f"malformed varint at offset {start}")  # not reachable in practice


@functools.lru_cache(maxsize=32)
def _layout(size: int, max_bytes: int) -> Carving:
    """The arrays of :class:`_DecodeScratch`."""
    wmax = size * max_bytes + 16
    u64, intp, u16, b = np.uint64, np.intp, np.uint16, np.bool_
    return Carving(
        [(wmax, b), (2 * size, b), (size, b)]
        + [(size, intp)] * 2
        + [(size, u64)] * 5
        + [(size, u16)] * 2
        + [(2 * size, u16)] * 3
    )


class _DecodeScratch:
    """Scratch arrays of the decoder, for chunks of ``size`` varints of up to ``max_bytes``."""

    def __init__(self, size: int, max_bytes: int) -> None:
        arrays = scratch_arrays(_layout(size, max_bytes))
        self.term, self.pairs, self.flag = arrays[:3]
        self.lens, self.idx, self.x, self.t, self.a, self.r, self.r2 = arrays[3:10]
        self.u0, self.u1, self.p16, self.c16, self.g16 = arrays[10:]
        self._size, self._max_bytes = size, max_bytes
        self._words: WordScratch | None = None

    @property
    def words(self) -> WordScratch:
        """The word scans' scratch, made when first needed (never for 1-2 byte varints)."""
        if self._words is None:
            self._words = WordScratch(self._size, self._max_bytes)
        return self._words

    @property
    def pw(self) -> npt.NDArray[np.uint64]:
        """The window, copied aligned with room for reads past its end (see _decode_wide)."""
        return self.words.pw

    @property
    def padded(self) -> npt.NDArray[np.uint8]:
        """``pw`` as bytes."""
        return self.words.padded


def _decode_narrow(
    win: npt.NDArray[np.uint8],
    ends: npt.NDArray[np.intp],
    s: _DecodeScratch,
    dest: npt.NDArray[Any],
) -> None:
    """Values of varints of 1 or 2 bytes ending at ``ends - 1``.

    Every byte of the window gets, in 16 bits, the value of a varint ending there (``byte << 7
    | previous & 0x7F`` after a continued byte, the byte alone otherwise); one gather at the
    terminators then picks the values.
    """
    m = ends.size
    used = int(ends[-1])
    w = win[:used]
    p, c, g = s.p16[:used], s.c16[:used], s.g16[:used]
    np.copyto(p, w)
    c[0] = g[0] = 0
    np.right_shift(p[:-1], 7, out=c[1:])  # 1 after a continued byte (16-bit lanes: no casts)
    np.bitwise_and(p[:-1], 0x7F, out=g[1:])
    g *= c
    c *= 7
    p <<= c
    p |= g
    idx, z, t = s.idx[:m], s.u0[:m], s.u1[:m]
    np.subtract(ends, 1, out=idx)
    np.take(p, idx, out=z, mode="clip")
    # Un-zig-zag in 16 bits: (z >> 1) ^ -(z & 1).
    np.bitwise_and(z, 1, out=t)
    np.negative(t.view(np.int16), out=t.view(np.int16))
    z >>= 1
    z ^= t
    np.copyto(dest, z.view(np.int16))


def _mask_groups(
    x: npt.NDArray[np.uint64],
    lens: npt.NDArray[np.intp],
    longest: int,
    s: _DecodeScratch,
    t: npt.NDArray[np.uint64],
) -> None:
    """Clear the bytes past the end of the varints shorter than 8 bytes in their words ``x``.

    When most varints are longer (random 64-bit values), only the few short ones are masked.
    """
    if longest > 8:
        short = s.flag[: x.size]
        np.less(lens, 8, out=short)
        few = int(np.count_nonzero(short))
        if few <= x.size // 16:
            if few:
                at = np.flatnonzero(short)
                x[at] &= GROUP_MASKS[lens[at]]
            return
    np.take(GROUP_MASKS, lens, out=t, mode="clip")
    x &= t


@functools.lru_cache(maxsize=4)
def _narrow_layout(size: int) -> Carving:
    """The arrays of :class:`_NarrowScratch`."""
    return Carving([(size, np.bool_)] + [(size, np.uint16)] * 4)


class _NarrowScratch:
    """Scratch arrays of :func:`_narrow_window`, for windows of ``size`` bytes."""

    def __init__(self, size: int) -> None:
        arrays = scratch_arrays(_narrow_layout(size))
        self.term, self.p, self.c, self.u, self.t = arrays


def _narrow_window(
    data: npt.NDArray[np.uint8], pos: int, dest: npt.NDArray[Any], s: _NarrowScratch
) -> tuple[int, int] | None:
    """Decode the varints of 1 or 2 bytes that end in the next window of ``data`` from ``pos``
    (at most ``dest.size``) into ``dest``; how many, and the bytes they take. None (nothing
    written) when the window holds no terminator or a varint longer than 2 bytes: the general
    path then decodes (and explains any error) from ``pos``.

    Works on the terminators only: each one's 16-bit lane (the byte before it, itself) is
    gathered and turned into a value; that the varints are 1 or 2 bytes long is checked from
    a count (the bytes up to the last terminator equal the varints plus those continued
    once), not byte by byte.
    """
    left = dest.size
    wlen = min(data.size - pos, s.term.size, 2 * left)
    win = data[pos : pos + wlen]
    term = s.term[:wlen]
    np.less(win, 0x80, out=term)
    if wlen and np.count_nonzero(term) == wlen:
        _one_byte(win[: min(wlen, left)], s, dest)
        return min(wlen, left), min(wlen, left)
    ends = np.flatnonzero(term)
    k = min(ends.size, left)
    if k == 0:
        return None
    ends = ends[:k]
    used = int(ends[-1]) + 1
    # c[i]: byte i - 1 in the low half, byte i in the high half (the window's start: 0).
    p, c = s.p[:used], s.c[:used]
    np.copyto(p, win[:used])
    np.left_shift(p, 8, out=c)
    c[1:] |= p[:-1]
    u, t, h = s.u[:k], s.t[:k], s.p[:k]
    np.take(c, ends, out=u, mode="clip")
    # mask: -1 where the byte before the terminator is continued (a 2-byte varint), else 0.
    m16 = s.c[:k].view(np.int16)
    np.left_shift(u, 8, out=m16.view(np.uint16))
    m16 >>= 15
    if used != k + int(np.count_nonzero(m16)):
        return None  # a varint of 3 bytes or more
    np.right_shift(u, 8, out=h)  # the terminator's group: the value of a 1-byte varint
    u &= 0xFF7F
    np.left_shift(h, 7, out=t)
    u -= t  # the value of a 2-byte varint
    u ^= h
    u &= m16.view(np.uint16)
    u ^= h  # z: the one or the other
    # Un-zig-zag in 16 bits: (z >> 1) ^ -(z & 1).
    np.bitwise_and(u, 1, out=t)
    np.negative(t.view(np.int16), out=t.view(np.int16))
    u >>= 1
    np.bitwise_xor(u.view(np.int16), t.view(np.int16), out=dest[:k], casting="unsafe")
    return k, used


def _one_byte(win: npt.NDArray[np.uint8], s: _NarrowScratch, dest: npt.NDArray[Any]) -> None:
    """Values of varints of 1 byte each (``win``, all terminators) into ``dest``, in 8 bits."""
    k = win.size
    z, t = s.u.view(np.uint8)[:k], s.t.view(np.int8)[:k]
    np.bitwise_and(win, 1, out=t.view(np.uint8))
    np.negative(t, out=t)
    np.right_shift(win, 1, out=z)
    t ^= z.view(np.int8)
    np.copyto(dest[:k], t)


def _decode_wide(
    win: npt.NDArray[np.uint8],
    ends: npt.NDArray[np.intp],
    lens: npt.NDArray[np.intp],
    longest: int,
    s: _DecodeScratch,
    dest: npt.NDArray[Any],
    base: int,
    copied: bool,
) -> None:
    """Values of varints of any length ending at ``ends - 1`` into ``dest`` (``base``: offset of
    the window, for error messages).

    Copies the window into an 8-byte aligned buffer (unless ``copied`` already), loads the first
    8 bytes of every varint from the two aligned words around it (two gathers and a shift of
    each), masks off bytes past its end and squeezes the eight 7-bit groups together with three
    shift-and-mask steps; bytes 9 and 10 come from the next aligned word the same way.
    """
    m = ends.size
    used = int(ends[-1])
    if not copied:
        s.padded[:used] = win[:used]
    q, x, t, a, r, r2 = s.idx[:m], s.x[:m], s.t[:m], s.a[:m], s.r[:m], s.r2[:m]
    np.subtract(ends, lens, out=q)  # start of each varint
    np.bitwise_and(q, 7, out=r.view(np.intp))
    r <<= np.uint64(3)  # bit offset of the varint in its first aligned word
    np.subtract(64, r, out=r2)
    q >>= 3
    np.take(s.pw, q, out=x, mode="clip")
    x >>= r
    np.take(s.pw[1:], q, out=a, mode="clip")
    np.left_shift(a, r2, out=t)  # shifts by 64 give 0
    x |= t
    _mask_groups(x, lens, longest, s, t)
    squeeze(x, t)
    if longest > 8:
        # Bytes 8.. of each varint: the rest of the second word, then the third one.
        a >>= r
        np.take(s.pw[2:], q, out=t, mode="clip")
        t <<= r2
        a |= t
        np.take(HIGH_GROUP_MASKS, lens, out=t, mode="clip")
        a &= t  # group 8 in bits 0..6, group 9 in bits 8..14
        if longest > 9 and int(a.max()) > 0x1FF:
            ten = np.flatnonzero(a > 0x1FF)
            start = base + int(ends[ten[0]] - lens[ten[0]])
            raise ETPDecodeError(f"varint at offset {start} overflows 64 bits")
        np.left_shift(a, np.uint64(56), out=t)  # group 8 -> bits 56..62 (group 9 falls off)
        x |= t
        a >>= np.uint64(8)
        a <<= np.uint64(63)
        x |= a
    # Un-zig-zag: (z >> 1) ^ -(z & 1).
    np.bitwise_and(x, U1, out=t)
    np.negative(t.view(np.int64), out=t.view(np.int64))
    x >>= U1
    if dest.dtype == np.int64:
        np.bitwise_xor(x, t, out=dest.view(np.uint64))
        return
    x ^= t
    values = x.view(np.int64)
    if int(values.min()) < INT32_MIN or int(values.max()) > INT32_MAX:
        bad = int(np.flatnonzero((values < INT32_MIN) | (values > INT32_MAX))[0])
        raise ETPDecodeError(
            f"value {int(values[bad])} at offset {base + int(ends[bad] - lens[bad])} "
            "is out of range for an Avro int"
        )
    np.copyto(dest, values, casting="unsafe")


def decode_varints(
    data: npt.NDArray[np.uint8],
    offset: int,
    count: int,
    out_dtype: np.dtype[Any],
    max_bytes: int,
    out: npt.NDArray[Any] | None = None,
) -> tuple[npt.NDArray[Any], int]:
    """Decode ``count`` varints of ``data`` from ``offset`` (arguments already checked) into
    ``out`` (a flat contiguous array of ``count`` items of ``out_dtype``) or a new array."""
    if out is None:
        out = np.empty(count, dtype=out_dtype)
    if count == 0:
        return out, offset
    s = _DecodeScratch(min(count, _DECODE_CHUNK), max_bytes)
    return out, _decode_chunks(data, offset, count, max_bytes, out, s)


def _decode_chunks(
    data: npt.NDArray[np.uint8],
    offset: int,
    count: int,
    max_bytes: int,
    out: npt.NDArray[Any],
    s: _DecodeScratch,
) -> int:
    """Decode ``count`` varints from ``offset`` into ``out``, chunk by chunk; the end offset."""
    size = data.size
    pos = offset
    done = 0
    guess = _first_guess(data[pos : pos + 256], max_bytes)  # then adapted chunk by chunk
    long_ok = max_bytes == 10 and out.dtype == np.int64
    narrow: _NarrowScratch | None = None
    skip = 0 if max_bytes >= 2 and count >= _NARROW_MIN else count
    while done < count:
        if guess <= 3 and skip <= 0:
            if narrow is None:
                narrow = _NarrowScratch(min(_NARROW_BYTES, 2 * count))
            got = _narrow_window(data, pos, out[done:], narrow)
            if got is not None:
                done += got[0]
                pos += got[1]
                continue
            skip = _NARROW_BACKOFF
        skip -= 1
        # Chunks stay on multiples of _DECODE_CHUNK varints after the 1-2 byte path: which
        # error a chunk reports (a varint too long before a value out of range) depends on them.
        m = min(count - done, _DECODE_CHUNK - done % _DECODE_CHUNK)
        dest = out[done : done + m]
        cap = min(size - pos, m * max_bytes)
        # Scan a window of guessed size for m terminators, widening it if too few were found.
        while True:
            wlen = min(cap, m * guess + 16)
            win = data[pos : pos + wlen]
            copied = guess >= _WORD_SCAN_GUESS
            found = None
            if copied:
                s.words.copy_window(win)
                if long_ok and m >= MIN_LONG:
                    used = decode_long(s.words, wlen, m, dest, _shorts(win, s, pos))
                    if used is not None and used >= 0:
                        break
                    if used == TOO_FEW and wlen < cap:
                        guess = min(max_bytes, guess * 2)
                        continue
                found = word_ends(s.words, wlen)
            used = None
            if found is not None:
                ends = found
            else:
                term = s.term[:wlen]
                np.less(win, 0x80, out=term)
                ends = np.flatnonzero(term)
                ends += 1
            if ends.size >= m:
                break
            if wlen == cap:
                raise _varint_error(win, ends, pos, max_bytes, cap == size - pos)
            guess = min(max_bytes, guess * 2)
        if used is None:
            used = _decode_ends(win, ends[:m], found is None, max_bytes, s, dest, pos, copied)
        done += m
        pos += used
        guess = min(max_bytes, -(-used // m) + 1)
    return pos


def _first_guess(sample: npt.NDArray[np.uint8], max_bytes: int) -> int:
    """Expected bytes per varint (at least 2), from the terminators of the first bytes: a
    first window too small is scanned for nothing."""
    ends = int(np.count_nonzero(sample < 0x80))
    return min(max_bytes, max(2, -(-sample.size * 11 // (10 * max(ends, 1)))))


def _shorts(win: npt.NDArray[np.uint8], s: _DecodeScratch, base: int) -> Decoder:
    """What decodes the few short varints :func:`decode_long` finds."""

    def decode(ends: npt.NDArray[np.intp], lens: npt.NDArray[np.intp], dest: Any) -> None:
        _decode_wide(win, ends, lens, int(lens.max()), s, dest, base, True)

    return decode


def _decode_ends(
    win: npt.NDArray[np.uint8],
    ends: npt.NDArray[np.intp],
    scanned: bool,
    max_bytes: int,
    s: _DecodeScratch,
    dest: npt.NDArray[Any],
    base: int,
    copied: bool,
) -> int:
    """Decode the varints of ``win`` ending at ``ends`` into ``dest``; the bytes they take.
    ``scanned``: the ends come from a byte scan (``s.term``)."""
    m = ends.size
    used = int(ends[-1])
    narrow = False
    if scanned and max_bytes >= 2 and used <= 2 * m:
        # Byte scan: 1-2 byte varints only iff no two bytes in a row are continued.
        term = s.term
        pairs = s.pairs[: used - 1]
        np.logical_or(term[: used - 1], term[1:used], out=pairs)
        narrow = bool(pairs.all())
    if not narrow:
        lens = s.lens[:m]
        lens[0] = ends[0]
        np.subtract(ends[1:], ends[:-1], out=lens[1:])
        longest = int(lens.max())
        if longest > max_bytes:
            raise _varint_error(win, ends, base, max_bytes, False)
        narrow = longest <= 2
    if narrow:
        _decode_narrow(win, ends, s, dest)
    else:
        _decode_wide(win, ends, lens, longest, s, dest, base, copied)
    return used
