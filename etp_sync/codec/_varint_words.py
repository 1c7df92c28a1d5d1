"""Long varints (random 64-bit values: mostly 9 and 10 bytes) decoded 8 bytes at a time.

When varints are long, an aligned 8-byte word of the input holds at most one terminator (a
byte with its high bit clear) but rarely, so terminators are found word by word: the words that
have one (one index per word, not per byte), and the byte of the lowest from a multiplication
(:func:`word_ends`). :func:`decode_long` goes further and never turns those into a gather per
varint: a varint starts right after the terminator word of the one before and ends in its own,
so its first 8 bytes are the previous terminator word shifted down joined with the word after
it shifted up, and its bytes 8 and 9 are that word shifted down joined with its own terminator
word: one gather per varint (the word after the previous terminator), the rest are words
already loaded by the scan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from ._pool import Carving
from ._varint_bits import GROUP_MASKS, HIGH_BITS, U1, scratch_arrays, squeeze

MAX_MULTI_WORDS: Final = 64
"""Most words with several terminators a window may have for the word scans to go on ..."""
TOO_FEW: Final = -1
"""What :func:`decode_long` returns when the window holds fewer varints than asked for."""
MIN_LONG: Final = 16384
"""Fewest varints :func:`decode_long` takes on (its fixed cost is higher than the general
decoder's)."""
MAX_SPLICED: Final = 16
"""... and for :func:`decode_long` (each costs it a few numpy calls; over that many, the general
decoder is quicker)."""

# Multiplying 2**(8k) (a lone terminator bit shifted down to bit 8k) by this puts k + 1 in the
# top byte: the bytes of a word up to and including its lowest terminator ...
_BYTE_COUNT: Final = np.uint64(0x0102030405060708)
# ... and by this, 8 (k + 1): the bits of those bytes.
_BIT_COUNT: Final = np.uint64(0x0810182028303840)
_U3, _U7, _U56, _U64 = np.uint64(3), np.uint64(7), np.uint64(56), np.uint64(64)
# Bytes 8 and 9 of a varint of 9 or 10 bytes, on 16 bits: keep group 8, and byte 9 only when
# byte 8 is continued (its bit 7 times this gives 0xFF00).
_BYTE9: Final = np.uint16(0x1FE)

Decoder = Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.int64]], None]
"""``decode(ends, lens, dest)``: the varints of the window ending at ``ends`` into ``dest``."""


@functools.lru_cache(maxsize=32)
def _layout(size: int, max_bytes: int) -> Carving:
    """The arrays of :class:`WordScratch`."""
    nwords = (size * max_bytes + 56) // 8
    return Carving(
        [(nwords, np.uint64)] * 4 + [(nwords + 8 * MAX_MULTI_WORDS, np.intp), (nwords, np.bool_)]
    )


@functools.lru_cache(maxsize=32)
def _long_layout(size: int) -> Carving:
    """The arrays of :class:`_LongScratch`."""
    u64, intp, n1 = np.uint64, np.intp, size + 1
    return Carving(
        [(n1, u64)] * 2
        + [(n1, intp)]
        + [(size, u64)] * 5
        + [(size, np.int64), (size, intp), (size, np.bool_)]
        + [(size, np.uint16)] * 2
    )


class _LongScratch:
    """Scratch arrays of :func:`decode_long`, for chunks of ``size`` varints."""

    def __init__(self, size: int) -> None:
        arrays = scratch_arrays(_long_layout(size))
        self.d, self.ra, self.e = arrays[:3]
        self.g, self.x, self.a, self.rb, self.t = arrays[3:8]
        self.vals, self.lens, self.short, self.h16, self.c16 = arrays[8:]


class WordScratch:
    """Scratch arrays of the word scans, for chunks of ``size`` varints of up to ``max_bytes``:
    the window is copied to ``pw`` (aligned, with room for reads past its end)."""

    def __init__(self, size: int, max_bytes: int) -> None:
        arrays = scratch_arrays(_layout(size, max_bytes))
        self.pw, self.tw, self.bits, self.low, self.ends, self.hw = arrays
        self.padded = self.pw.view(np.uint8)
        self.found: npt.NDArray[np.intp] | None = None  # see _terminator_words
        self._size = size
        self._long: _LongScratch | None = None

    @property
    def long(self) -> _LongScratch:
        """:func:`decode_long`'s arrays, made when first needed."""
        if self._long is None:
            self._long = _LongScratch(self._size)
        return self._long

    def copy_window(self, win: npt.NDArray[np.uint8]) -> None:
        """Copy ``win`` to the aligned buffer, followed by 8 non-terminator bytes."""
        n = win.size
        self.padded[:n] = win
        self.padded[n : n + 8] = 0xFF
        self.found = None


def _terminator_words(s: WordScratch, wlen: int) -> npt.NDArray[np.intp]:
    """Indices of the words of the copied window of ``wlen`` bytes holding a terminator (found
    once per window: :func:`word_ends` takes over what :func:`decode_long` found)."""
    if s.found is not None:
        return s.found
    nw = (wlen + 7) // 8  # the words holding window bytes (the last one padded with 0xFF)
    t, has = s.tw[:nw], s.hw[:nw]
    np.bitwise_and(s.pw[:nw], HIGH_BITS, out=t)
    np.not_equal(t, HIGH_BITS, out=has)
    s.found = np.flatnonzero(has)
    return s.found


def word_ends(s: WordScratch, wlen: int) -> npt.NDArray[np.intp] | None:
    """End offsets (exclusive) of the varints ending in the window copied by ``copy_window``.

    Words holding several terminators (varints shorter than 8 bytes) are rare when this is
    used; their extra terminators are spliced in after the first one. None if they are not rare.
    """
    words = _terminator_words(s, wlen)
    bits, low = s.bits[: words.size], s.low[: words.size]
    np.take(s.pw, words, out=bits, mode="clip")
    bits &= HIGH_BITS
    bits ^= HIGH_BITS
    np.negative(bits, out=low)
    low &= bits
    bits ^= low  # the word's other terminators
    low >>= _U7
    low *= _BYTE_COUNT
    low >>= _U56
    ends = low.view(np.intp)
    words <<= 3
    ends += words  # exclusive ends, as offsets in the window
    if not np.any(bits):
        return ends
    multi = np.flatnonzero(bits)
    if multi.size > MAX_MULTI_WORDS:
        return None
    out = s.ends
    done = filled = 0
    for j, extra in _extra_ends(multi, bits, words):
        out[filled : filled + j + 1 - done] = ends[done : j + 1]
        filled += j + 1 - done
        done = j + 1
        out[filled : filled + len(extra)] = extra
        filled += len(extra)
    tail = ends.size - done
    out[filled : filled + tail] = ends[done:]
    return out[: filled + tail]


def _extra_ends(
    multi: npt.NDArray[np.intp], bits: npt.NDArray[np.uint64], starts: npt.NDArray[np.intp]
) -> list[tuple[int, list[int]]]:
    """For each word ``j`` of ``multi``: the ends of the varints ending at its terminators
    ``bits[j]`` other than the lowest, the word starting at offset ``starts[j]``."""
    found = []
    for j, rest in zip(multi.tolist(), bits[multi].tolist(), strict=True):
        base = int(starts[j])
        extra = []
        while rest:
            low = rest & -rest
            rest ^= low
            extra.append(base + low.bit_length() // 8)
        found.append((j, extra))
    return found


def decode_long(
    s: WordScratch, wlen: int, m: int, dest: npt.NDArray[np.int64], decode: Decoder
) -> int | None:
    """Decode ``m`` varints from the window of ``wlen`` bytes copied by ``copy_window`` into
    ``dest`` (int64) and return where they end; :data:`TOO_FEW` when the window holds fewer;
    None to leave the window to the general decoder (too many short varints, any of over 10
    bytes or overflowing: its error messages say which).

    Per varint i, with ``w`` the word of the lowest terminator of varint i - 1 and ``k`` its
    byte (the window's start: w = -1, k = 7): x = pw[w] >> 8 (k + 1) | pw[w + 1] << 8 (7 - k)
    are its bytes 0..7, and pw[w + 1] >> 8 (k + 1) | pw[w'] << 8 (7 - k), with ``w'`` its own
    terminator word, its bytes 8.. (when it reaches past pw[w + 1], pw[w'] is pw[w + 2]; when it
    does not, bytes past its end are masked off). Words with more terminators than the lowest
    hold whole short varints: those are decoded by ``decode`` and spliced in, and the varint
    after them starts after the last one.
    """
    words = _terminator_words(s, wlen)
    n = min(words.size, m)
    if n == 0:
        return TOO_FEW
    words = words[:n]
    w = s.long
    d = w.d[: n + 1]  # d[i + 1]: the terminator word of varint i; d[0]: before the window
    d[0] = 0
    np.take(s.pw, words, out=d[1:], mode="clip")
    t, rest = w.t[:n], w.a[:n]
    np.bitwise_and(d[1:], HIGH_BITS, out=t)
    t ^= HIGH_BITS
    np.subtract(t, U1, out=rest)
    rest &= t  # the word's other terminators
    extras = None
    if rest.max():  # (a reduction of its own: any() casts the words to booleans first)
        multi = np.flatnonzero(rest)
        if multi.size > MAX_SPLICED:
            return None
        t ^= rest
        np.left_shift(words, 3, out=w.e[:n])
        extras = _extra_ends(multi, rest, w.e[:n])
        if n + sum(len(extra) for _, extra in extras) < m:
            return TOO_FEW
    elif n < m:
        return TOO_FEW
    ra = w.ra[: n + 1]  # ra[i]: 8 (k + 1) of the terminator word before varint i
    ra[0] = 64
    np.right_shift(t, _U7, out=ra[1:])
    ra[1:] *= _BIT_COUNT
    ra[1:] >>= _U56
    e = w.e[: n + 1]  # e[i + 1]: the end of varint i
    e[0] = 0
    ends = e[1:]
    np.left_shift(words, 3, out=ends)
    np.right_shift(ra[1:], _U3, out=t)
    ends += t.view(np.intp)
    lens = w.lens[:n]
    np.subtract(ends, e[:n], out=lens)
    if extras is not None:
        for j, extra in extras:  # the varint after the short ones starts after the last
            if j + 1 < n:
                last = extra[-1]
                ra[j + 1] = 8 * (last - 8 * int(words[j]))
                lens[j + 1] = int(ends[j + 1]) - last
    if int(lens.max()) > 10:
        return None
    g, rb, x, a = w.g[:n], w.rb[:n], w.x[:n], w.a[:n]
    g[0] = s.pw[0]
    np.take(s.pw[1:], words[:-1], out=g[1:], mode="clip")
    np.subtract(_U64, ra[:n], out=rb)
    np.right_shift(d[:n], ra[:n], out=x)
    np.left_shift(g, rb, out=t)
    x |= t
    np.right_shift(g, ra[:n], out=a)
    np.left_shift(d[1:], rb, out=t)
    a |= t
    if not _assemble(x, a, lens, w):
        return None
    if extras is None:
        np.bitwise_xor(x, t, out=dest.view(np.uint64))
        return int(ends[-1])
    vals = w.vals[:n]
    np.bitwise_xor(x, t, out=vals.view(np.uint64))
    return _splice(vals, ends, extras, dest, decode)


def _assemble(
    x: npt.NDArray[np.uint64],
    a: npt.NDArray[np.uint64],
    lens: npt.NDArray[np.intp],
    s: _LongScratch,
) -> bool:
    """Turn the bytes 0..7 ``x`` and 8.. ``a`` of varints of ``lens`` bytes into their zig-zag
    value shifted down one (in ``x``) and its sign mask (in ``s.t``); False on overflow."""
    n = x.size
    t = s.t[:n]
    short = s.short[:n]
    np.less(lens, 9, out=short)  # varints without a byte 8: their bytes 8.. are the next one's
    few = int(np.count_nonzero(short))
    at = None
    if few > n // 16:
        np.take(GROUP_MASKS, lens, out=t, mode="clip")
        x &= t
    elif few:
        at = np.flatnonzero(short)
        below = at[lens[at] < 8]
        x[below] &= GROUP_MASKS[lens[below]]
    squeeze(x, t)  # masks the continuation bits off too
    # Bytes 8 and 9 on 16 bits: group 8, and byte 9 (group 9) where byte 8 is continued.
    h, c = s.h16[:n], s.c16[:n]
    np.copyto(h, a, casting="unsafe")
    np.bitwise_and(h, 0x80, out=c)
    c *= _BYTE9
    c |= 0x7F
    h &= c
    if at is not None:
        h[at] = 0
    elif few:
        h[short] = 0
    if int(h.max()) > 0x1FF:  # group 9 over 1: more than 64 bits
        return False
    np.right_shift(h, 8, out=c)  # group 9's bit, as bit 63 with group 8 under it
    c <<= 7
    h -= c
    np.left_shift(h, _U56, out=t, casting="unsafe")
    x |= t
    # Un-zig-zag: (z >> 1) ^ -(z & 1).
    np.bitwise_and(x, U1, out=t)
    np.negative(t.view(np.int64), out=t.view(np.int64))
    x >>= U1
    return True


def _splice(
    vals: npt.NDArray[np.int64],
    ends: npt.NDArray[np.intp],
    extras: list[tuple[int, list[int]]],
    dest: npt.NDArray[np.int64],
    decode: Decoder,
) -> int | None:
    """Fill ``dest`` with the values ``vals`` (ending at ``ends``), each word's short varints
    (``extras``, all decoded by one call) put after the value ending at its lowest terminator;
    where the last value put ends, or None if there are fewer than ``dest.size``."""
    m, n = dest.size, vals.size
    short_ends: list[int] = []
    short_lens: list[int] = []
    for j, extra in extras:
        start = int(ends[j])
        for end in extra:
            short_ends.append(end)
            short_lens.append(end - start)
            start = end
    del short_ends[m:], short_lens[m:]  # never more values than asked for
    shorts = np.empty(len(short_ends), np.int64)
    decode(np.array(short_ends, np.intp), np.array(short_lens, np.intp), shorts)
    o = v = end = done = 0
    for j, extra in extras:
        k = min(j + 1 - v, m - o)
        dest[o : o + k] = vals[v : v + k]
        o, v = o + k, v + k
        if k:
            end = int(ends[v - 1])
        k = min(len(extra), m - o)
        if k:
            dest[o : o + k] = shorts[done : done + k]
            o, end, done = o + k, extra[k - 1], done + len(extra)
    k = min(n - v, m - o)
    dest[o : o + k] = vals[v : v + k]
    if k:
        end = int(ends[v + k - 1])
    return end if o + k == m else None
