"""Vectorised encoding of int64 arrays into Avro zig-zag varints (the items of ``array<long>``).

Whole-array numpy operations, chunk by chunk, tuned for the two shapes bulk data takes: values
whose varints all fit in 1 or 2 bytes (counts, indices, codes, small measurements) are built on
16-bit lanes, and everything else assembles each value's first 8 bytes as one uint64 word with
shifts and masks (random 64-bit values, 9 and 10 bytes each, have their own shortcuts there).

Speed rules followed throughout (measured on numpy 2.x, 2-core VM):

* every temporary of a chunk lives in scratch arrays written with ``out=``, carved from pooled
  memory (:data:`~._varint_bits.SCRATCH_POOL`): fresh arrays of a few hundred KB per operation
  cost more in page faults than the arithmetic;
* gathers and scatters (``take``/fancy indexing) cost several times an element-wise operation,
  and unaligned ones several times an aligned one, so they are few and aligned where possible;
* chunks are small enough that the scratch arrays stay in the CPU caches.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._pool import BufferPool, Carving
from ._varint_bits import BYTE_ONES, HIGH_BITS, LOW7, STEPS, U1, as_int64, max_width, scratch_arrays

# Values per chunk: the scratch arrays (a few dozen bytes per value) stay in the L2 cache, and
# chunks are still large enough to amortise the ~1 µs fixed cost of each numpy call.
_ENCODE_CHUNK: Final = 1 << 15

OUTPUT_POOL: Final = BufferPool(128 << 20, min_bytes=1 << 20)
"""Output buffers of :func:`encode_varints`. An encoded message lives until it is written out; a
fresh buffer per message means fresh pages, and faulting those in costs as much as the encoding
itself (~100 ms per 64 MiB of random 64-bit values in a new process)."""


def _zigzag(v: npt.NDArray[np.int64], z: npt.NDArray[np.uint64], t: npt.NDArray[np.uint64]) -> None:
    """``z = (v << 1) ^ (v >> 63)`` as uint64, with ``t`` as scratch."""
    np.left_shift(v.view(np.uint64), U1, out=z)
    np.right_shift(v, 63, out=t.view(np.int64))
    z ^= t


@functools.lru_cache(maxsize=32)
def _layout(size: int) -> Carving:
    """The arrays of :class:`_EncodeScratch`."""
    return Carving(
        [(size, np.uint64)] * 5
        + [(size, np.int64), (size, np.intp), (size, np.bool_), (size * 12, np.uint8)]
        + [(2 * size, np.bool_)]
    )


class _EncodeScratch:
    """Scratch arrays of the encoders (the narrow one uses 16-bit views of the same memory)."""

    def __init__(self, size: int) -> None:
        arrays = scratch_arrays(_layout(size))
        self.z, self.x, self.t, self.y, self.top = arrays[:5]
        self.lens, self.offs, self.short, self.table, mask = arrays[5:]
        self.mask = mask.reshape(size, 2)


def _encode_narrow(
    v: npt.NDArray[np.int64], out: npt.NDArray[np.uint8], s: _EncodeScratch
) -> tuple[int, int]:
    """Encode the values of ``v`` chunk by chunk into ``out`` as long as each chunk's varints
    all fit in 2 bytes; ``(bytes written, values encoded)``: fewer values than ``v`` holds when
    a chunk has a longer varint (it and the rest are left to the caller).

    Each chunk's width comes from its extremes, read while the chunk is in the cache anyway
    (one pass over the values from memory, not three). Works on int16: two bytes per value are
    built as one uint16 (low group | continuation bit, high group), and only values that fit in
    one byte need their second byte dropped (a boolean compaction of long runs, or none at all
    when every value takes two bytes).
    """
    n = v.size
    size = min(n, _ENCODE_CHUNK)
    s16, z, t, mask = s.z.view(np.int16), s.x.view(np.uint16), s.t.view(np.uint16), s.mask
    y = s.y.view(np.uint16)
    mask16 = mask.view(np.uint16).reshape(-1)
    pos = 0
    for i in range(0, n, size):
        m = min(size, n - i)
        chunk = v[i : i + m]
        width = max_width(chunk)
        if width > 2:
            return pos, i
        v16, zc, tc, yc = s16[:m], z[:m], t[:m], y[:m]
        np.copyto(v16, chunk, casting="unsafe")  # |v| < 2**13: exact
        np.left_shift(v16, 1, out=zc.view(np.int16))
        np.right_shift(v16, 15, out=tc.view(np.int16))
        zc ^= tc
        if width == 1:
            np.copyto(out[pos : pos + m], zc, casting="unsafe")
            pos += m
            continue
        # Two-byte form, little-endian: (z & 0x7F) | 0x80 if z >= 128, then z >> 7; as one
        # uint16 that is z + (z & 0x3F80) + 0x80 if z >= 128. (z >> 7) + 127 has its bit 7 set
        # iff z >= 128 (z < 2**14), so bit 7 of (z + 0x3F80) >> 7 is that 0x80.
        np.add(zc, 0x3F80, out=tc)
        tc >>= 7
        tc &= 0x80
        longs = int(np.count_nonzero(tc))
        if longs != m:
            # Bytes to keep, two booleans per value written as one uint16 (little-endian):
            # byte 0 always, byte 1 where the value is long (contiguous, unlike a strided test).
            keep = mask16[:m]
            np.left_shift(tc, 1, out=keep)
            keep |= 1
        np.bitwise_and(zc, 0x3F80, out=yc)
        zc += yc
        zc += tc
        pair = zc.view(np.uint8)
        if longs == m:
            out[pos : pos + 2 * m] = pair
            pos += 2 * m
            continue
        kept = pair[mask[:m].reshape(-1)]
        out[pos : pos + kept.size] = kept
        pos += kept.size
    return pos, n


# The low 56 bits of a value, and the bits each spreading step moves up (by 4, 2 and 1 bits).
_LOW56: Final = np.uint64((1 << 56) - 1)
_SPREAD: Final = tuple((hi_mask, np.uint64((1 << int(sh)) - 1)) for sh, hi_mask, _ in STEPS)


def _spread(
    z: npt.NDArray[np.uint64], x: npt.NDArray[np.uint64], t: npt.NDArray[np.uint64]
) -> None:
    """``x`` = the low 56 bits of ``z`` as eight 7-bit groups, one per byte (``t``: scratch).

    A step moving the bits ``t = x & hi`` up by ``sh`` adds ``(t << sh) - t``, that is
    ``t * (2**sh - 1)`` (a plain ``x += t`` for the last, one-bit step): nine numpy calls in
    all, against twelve for separate masks, shift and or."""
    np.bitwise_and(z, _LOW56, out=x)
    for hi_mask, factor in _SPREAD:
        np.bitwise_and(x, hi_mask, out=t)
        if factor != 1:
            t *= factor
        x += t


def _continue_any(
    x: npt.NDArray[np.uint64],
    top: npt.NDArray[np.uint64],
    lens: npt.NDArray[np.uint64],
    t: npt.NDArray[np.uint64],
    y: npt.NDArray[np.uint64],
) -> None:
    """Add the continuation bits to the spread words ``x`` and set ``lens``, for any lengths.

    ``top`` is each value's top byte (groups 8 and 9). A byte-wise "non-zero" test smeared
    downwards marks every byte at or below the highest non-zero group; shifted down one byte,
    these are the continuation bits, and counting them gives the length.
    """
    np.add(x, LOW7, out=y)  # bit 7 of each byte set iff its group is non-zero
    y &= HIGH_BITS
    y |= np.uint64(0x80)  # byte 0 always exists
    for sh in (8, 16, 32):
        np.right_shift(y, np.uint64(sh), out=t)
        y |= t
    np.minimum(top, U1, out=t)  # 1 where the value is longer than 8 bytes ...
    t *= HIGH_BITS  # ... then all of its first 8 bytes are continued
    y |= t
    y >>= np.uint64(8)
    y |= t
    x |= y
    # Length = continuation bits among bytes 0..7, + 1, + 1 if bit 63 is set.
    y >>= np.uint64(7)
    y *= BYTE_ONES
    np.right_shift(y, np.uint64(56), out=lens)
    lens += U1
    np.right_shift(top, np.uint64(7), out=t)
    lens += t


def _continue_long(
    x: npt.NDArray[np.uint64],
    top: npt.NDArray[np.uint64],
    lens: npt.NDArray[np.uint64],
    t: npt.NDArray[np.uint64],
) -> None:
    """:func:`_continue_any` for values that all take at least 8 bytes (fewer operations)."""
    x |= HIGH_BITS >> np.uint64(8)  # bytes 0..6 are continued
    np.minimum(top, U1, out=lens)  # 1 where the value is longer than 8 bytes
    np.left_shift(lens, np.uint64(63), out=t)
    x |= t
    lens += np.uint64(8)
    np.right_shift(top, np.uint64(7), out=t)
    lens += t


# Values below this take at most 7 bytes (the general length computation is needed for them).
_SEVEN_BYTES: Final = np.uint64(1 << 49)
# Values below this take at most 8 bytes (:func:`_put_pairs` builds them the general way).
_NINE_BYTES: Final = np.uint64(1 << 56)
_PAIR: Final = 24
"""Bytes of a record of :func:`_put_pairs`: two varints of up to 10 bytes, as three words."""


def _put_pairs(
    z: npt.NDArray[np.uint64],
    short: npt.NDArray[np.bool_],
    few: int,
    slots: npt.NDArray[Any],
    pos: int,
    s: _EncodeScratch,
) -> int:
    """Write the varints of the zig-zag values ``z`` (an even number, all but ``few`` of them,
    flagged in ``short``, taking 9 or 10 bytes) at ``pos`` of the output, whose 24-byte slots
    at every offset are ``slots``; where they end.

    Random 64-bit values take 9 or 10 bytes: bytes 0..7 are the spread groups with every
    continuation bit set, byte 8 is the top byte of the value as it is (its bit 7, bit 63 of
    the value, is the continuation bit of a 10-byte varint) and byte 9, when there is one, is 1.
    Two consecutive varints are joined into one record of three words (the second one shifted
    by the length of the first, 9 or 10 bytes: by 8 or 16 bits past the first word) with a few
    whole-array operations, so the records written at their offsets (a running sum of their
    lengths) are half as many as the varints: the scattered write of a record costs several
    times the operations that build it. Pairs holding a shorter varint are built apart.
    """
    m = z.size
    k = m // 2
    x, t, h, c = s.x[:m], s.t[:m], s.y[:m], s.top[:m]
    _spread(z, x, t)
    x |= HIGH_BITS
    np.right_shift(z, np.uint64(63), out=c)  # 1 where the varint takes 10 bytes
    np.right_shift(z, np.uint64(56), out=h)
    np.left_shift(c, np.uint64(8), out=t)
    h |= t  # bytes 8 and 9
    pairs = s.table[: k * _PAIR].view(np.uint64).reshape(k, 3)
    sa, ra, tmp = t[:k], t[k:m], s.lens[k:m].view(np.uint64)
    xb, ca, cb = x[1::2], c[0::2], c[1::2]
    np.left_shift(ca, np.uint64(3), out=sa)
    sa += np.uint64(8)  # where the second varint starts in word 1, in bits
    np.subtract(np.uint64(64), sa, out=ra)
    np.copyto(pairs[:, 0], x[0::2])
    np.left_shift(xb, sa, out=pairs[:, 1])
    pairs[:, 1] |= h[0::2]
    np.right_shift(xb, ra, out=pairs[:, 2])
    np.left_shift(h[1::2], sa, out=tmp)
    pairs[:, 2] |= tmp
    plen = s.lens[:k]
    np.add(ca, cb, out=plen, casting="unsafe")
    plen += 18
    if few:
        _short_pairs(z, short, pairs, plen)
    offs = s.offs[:k]
    np.cumsum(plen, out=offs)
    end = pos + int(offs[-1])
    offs -= plen
    offs += pos
    slots[offs] = pairs.view(f"V{_PAIR}").reshape(k)
    return end


# A varint is longer than k bytes iff its zig-zag value is at least 2**(7k).
_LONGER: Final = np.array([1 << 7 * k for k in range(1, 10)], dtype=np.uint64)
# Per varint length L: the continuation bits of its bytes 0..7 (bytes 0..L-2).
_CONTINUED: Final = np.array(
    [0] + [0x8080808080808080 & ((1 << 8 * (n - 1)) - 1) for n in range(1, 11)], dtype=np.uint64
)


def _short_pairs(
    z: npt.NDArray[np.uint64],
    short: npt.NDArray[np.bool_],
    pairs: npt.NDArray[np.uint64],
    plen: npt.NDArray[np.intp],
) -> None:
    """Rebuild the records ``pairs`` (and their lengths ``plen``) of the pairs of values ``z``
    holding a value ``short`` (of 8 bytes or fewer), for any lengths: the second varint
    shifted by ``sa`` = 8 to 80 bits, as 192 bits over three words. Shifts by 64 bits or more
    (also the negative ones, wrapped around as uint64) give 0, so each word is the or of every
    part that may land in it."""
    j = np.flatnonzero(short.view(np.uint16) != 0)  # the two flags of a pair as one number
    zs = z.reshape(-1, 2)[j]
    lens = np.searchsorted(_LONGER, zs, side="right")
    lens += 1
    x, t = np.empty_like(zs), np.empty_like(zs)
    _spread(zs, x, t)
    x |= _CONTINUED[lens]
    top = zs >> np.uint64(56)
    h = top | (top >> np.uint64(7)) << np.uint64(8)  # bytes 8 and 9
    xa, xb, ha, hb = x[:, 0], x[:, 1], h[:, 0], h[:, 1]
    sa = lens[:, 0].astype(np.uint64) << np.uint64(3)
    down, up = np.uint64(64) - sa, sa - np.uint64(64)
    pairs[j, 0] = xa | xb << sa
    pairs[j, 1] = ha | xb >> down | xb << up | hb << sa
    pairs[j, 2] = xb >> (np.uint64(128) - sa) | hb >> down | hb << up
    plen[j] = lens.sum(axis=1)


def _encode_wide(
    v: npt.NDArray[np.int64], out: npt.NDArray[np.uint8], width: int, s: _EncodeScratch
) -> int:
    """Encode values of any length (``width`` >= 3: the longest) into ``out``; bytes written.

    Per value: the low 56 bits are spread into eight 7-bit groups of a uint64 word; the
    continuation bits and the length follow (from a cheaper formula when nearly all values take
    8 bytes or more, as random 64-bit data does, and fixing the few others afterwards); bytes 9
    and 10 come straight from the top byte. Each value's bytes then form one fixed-size record of
    a table, and one fancy assignment writes the records at their offsets (a running sum of the
    lengths) in index order, so the tail bytes of a record past its length are overwritten by
    the next record. Chunks of values nearly all of 9 or 10 bytes are written two varints per
    record instead (:func:`_put_pairs`). ``out`` needs 24 spare bytes.
    """
    n = v.size
    size = min(n, _ENCODE_CHUNK)
    rec = 10 if width > 8 else 8
    z, x, t, y, top, short, lens, offs = s.z, s.x, s.t, s.y, s.top, s.short, s.lens, s.offs
    table = s.table[: size * rec].reshape(size, rec)
    words = np.ndarray((size,), "<u8", buffer=table, strides=(rec,))
    records = table.view(f"V{rec}").reshape(size)
    slots = np.ndarray((out.size - rec + 1,), f"V{rec}", buffer=out, strides=(1,))
    pairs = None
    if width >= 9:
        pairs = np.ndarray((out.size - _PAIR + 1,), f"V{_PAIR}", buffer=out, strides=(1,))
    pos = 0
    for i in range(0, n, size):
        m = min(size, n - i)
        zc, xc, tc, yc, hc, lc = z[:m], x[:m], t[:m], y[:m], top[:m], lens[:m].view(np.uint64)
        _zigzag(v[i : i + m], zc, tc)
        if pairs is not None and not m & 1:
            np.less(zc, _NINE_BYTES, out=short[:m])
            few = int(np.count_nonzero(short[:m]))
            if few <= m // 16:
                pos = _put_pairs(zc, short[:m], few, pairs, pos, s)
                continue
        _spread(zc, xc, tc)
        np.right_shift(zc, np.uint64(56), out=hc)
        few = 0
        if width >= 8:
            np.less(zc, _SEVEN_BYTES, out=short[:m])
            few = int(np.count_nonzero(short[:m]))
        if width < 8 or few > m // 16:
            _continue_any(xc, hc, lc, tc, yc)
        else:
            _continue_long(xc, hc, lc, tc)
            if few:
                at = np.flatnonzero(short[:m])
                xs = np.take(zc, at)
                ts, ys, ls = np.empty_like(xs), np.empty_like(xs), np.empty_like(xs)
                _spread(xs.copy(), xs, ts)
                _continue_any(xs, np.zeros_like(xs), ls, ts, ys)
                xc[at] = xs
                lc[at] = ls
        words[:m] = xc
        if rec == 10:
            table[:m, 8] = hc  # group 8 and, as its continuation bit, bit 63
            np.right_shift(hc, np.uint64(7), out=tc)
            table[:m, 9] = tc  # group 9: bit 63
        oc = offs[:m]
        np.cumsum(lens[:m], out=oc)
        end = pos + int(oc[-1])
        oc -= lens[:m]
        oc += pos
        slots[oc] = records[:m]
        pos = end
    return pos


def varint_array_size(v: npt.NDArray[np.int64]) -> int:
    """Bytes of the varints of a flat int64 array, without producing them.

    A value's varint is longer than k bytes iff its zig-zag form is at least 2**(7k), i.e. iff
    ``v ^ (v >> 63)`` (v for v >= 0, -v - 1 below) is at least 2**(7k - 1): per chunk, one
    comparison and one count per length that occurs; far cheaper than building the bytes.
    Any integer array is taken (as :func:`as_int64` reads it).
    """
    v = as_int64(v)
    n = v.size
    size = max(1, min(n, _ENCODE_CHUNK))
    a = np.empty(size, np.int64)
    flags = np.empty(size, np.bool_)
    total = n
    for i in range(0, n, size):
        m = min(size, n - i)
        ac, fc = a[:m], flags[:m]
        np.right_shift(v[i : i + m], 63, out=ac)
        ac ^= v[i : i + m]
        for k in range(1, 10):
            np.greater_equal(ac, 1 << (7 * k - 1), out=fc)
            longer = int(np.count_nonzero(fc))
            if not longer:
                break
            total += longer
    return total


def encode_varints(v: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """The varint bytes of a flat, non-empty int64 array, as one uint8 array (a view of a
    pooled buffer for big arrays: its memory is reused once every reference to it is gone).
    Any integer array is taken (as :func:`as_int64` reads it: a big-endian one was once
    encoded from its raw bytes)."""
    v = as_int64(v)
    n = v.size
    s = _EncodeScratch(min(n, _ENCODE_CHUNK))
    if max_width(v[:_ENCODE_CHUNK]) <= 2:
        # Values of 1-2 byte varints as far as the first chunk tells: chunk by chunk, each
        # checked as it is encoded (no pass over the whole array for its extremes first).
        out = OUTPUT_POOL.take(2 * n + _PAIR)
        used, done = _encode_narrow(v, out, s)
        if done == n:
            return out[:used]
        # A longer varint further on: the rest the general way, after the bytes done.
        rest = v[done:]
        width = max_width(rest)
        wide = OUTPUT_POOL.take(used + rest.size * width + _PAIR)
        wide[:used] = out[:used]
        del out
        return wide[: used + _encode_wide(rest, wide[used:], width, s)]
    width = max_width(v)
    out = OUTPUT_POOL.take(n * width + _PAIR)
    return out[: _encode_wide(v, out, width, s)]
