"""Vectorised numpy kernels for arrays of Avro zig-zag varints (the items of ``array<long>``).

Integer arrays travel as one zig-zag varint per value (1 to 10 bytes, little-endian groups of 7
bits, high bit set on every byte but the last). These kernels encode, decode and size millions
of them with whole-array numpy operations, chunk by chunk, and are tuned for the two shapes bulk
data takes: values whose varints all fit in 1 or 2 bytes (counts, indices, codes, small
measurements) get dedicated kernels on 16-bit lanes, and everything else goes through kernels
that assemble each value's first 8 bytes as one uint64 word with shifts and masks (random 64-bit
values, 9 and 10 bytes each, have their own shortcuts there).

Speed rules followed throughout (measured on numpy 2.x, 2-core VM):

* every temporary of a chunk lives in scratch arrays written with ``out=``, and the scratch sets
  are pooled across calls: fresh arrays of a few hundred KB per operation cost more in page
  faults (the allocator hands such blocks back to the kernel on free) than the arithmetic;
* gathers and scatters (``take``/fancy indexing) cost several times an element-wise operation,
  and unaligned ones several times an aligned one, so they are few and aligned where possible;
* chunks are small enough that the scratch arrays stay in the CPU caches.

Every decoding failure (truncation, over-long varint, overflow, int32 out of range) is an
:class:`~etp_sync.errors.ETPDecodeError`; callers check the count against the bytes left before
anything is allocated for it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Final, Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from etp_sync.errors import ETPDecodeError, ETPEncodeError

BufferLike: TypeAlias = "bytes | bytearray | memoryview"

_INT64_MAX: Final = (1 << 63) - 1
_INT32_MIN: Final = -(1 << 31)
_INT32_MAX: Final = (1 << 31) - 1

# Values per chunk: the scratch arrays (a few dozen bytes per value) stay in the L2 cache, and
# chunks are still large enough to amortise the ~1 µs fixed cost of each numpy call.
_ENCODE_CHUNK: Final = 1 << 15
_DECODE_CHUNK: Final = 1 << 15
# Average bytes per varint (plus one) from which terminators are searched 8 bytes at a time,
# and how many words with several terminators a window may have for that scan to go on.
_WORD_SCAN_GUESS: Final = 6
_MAX_MULTI_WORDS: Final = 64

_U1: Final = np.uint64(1)
_HIGH_BITS: Final = np.uint64(0x8080808080808080)
_LOW7: Final = np.uint64(0x7F7F7F7F7F7F7F7F)
_BYTE_ONES: Final = np.uint64(0x0101010101010101)
# Shift-and-mask steps between 56 contiguous bits and eight 7-bit groups, one per byte: each
# step moves the upper half of every lane up (spread) or down (squeeze) by ``shift`` bits.
_STEPS: Final = (
    (np.uint64(4), np.uint64(0x00FFFFFFF0000000), np.uint64(0x000000000FFFFFFF)),
    (np.uint64(2), np.uint64(0x0FFFC0000FFFC000), np.uint64(0x00003FFF00003FFF)),
    (np.uint64(1), np.uint64(0x3F803F803F803F80), np.uint64(0x007F007F007F007F)),
)
# Per varint length L: the 7-bit groups of its first min(L, 8) bytes.
_GROUP_MASKS: Final = np.array(
    [((1 << 8 * min(n, 8)) - 1) & 0x7F7F7F7F7F7F7F7F for n in range(11)], dtype=np.uint64
)
# Per varint length L: its groups 8 and 9 in bytes 8 and 9 (as bits 0..6 and 8..15).
_HIGH_GROUP_MASKS: Final = np.array([0] * 9 + [0x7F, 0xFF7F], dtype=np.uint64)


def byte_buffer(buf: BufferLike) -> bytes | bytearray | memoryview:
    """Return ``buf`` so that indexing yields byte values (casts non-'B' memoryviews)."""
    if isinstance(buf, memoryview) and (buf.format != "B" or buf.ndim != 1):
        try:
            return buf.cast("B")
        except TypeError as exc:  # non-contiguous memoryview
            raise ETPDecodeError(f"cannot decode from a non-contiguous buffer: {exc}") from None
    return buf


def as_int64(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Validate an integer array and return it as a flat int64 array (no copy if possible)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise ETPEncodeError(f"expected an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size and arr.max() > _INT64_MAX:
        raise ETPEncodeError("uint64 value does not fit in an Avro long")
    return arr.reshape(-1).astype(np.int64, copy=False)


def _max_width(v: npt.NDArray[np.int64]) -> int:
    """Bytes of the longest varint among ``v`` (non-empty), from its extremes."""
    zmax = max(2 * int(v.max()), -2 * int(v.min()) - 1)
    return max(1, -(-zmax.bit_length() // 7))


class _Scratch:
    """Scratch arrays for chunks of up to ``size`` values of up to ``width`` bytes each."""

    def __init__(self, size: int, width: int) -> None:
        self.size = size
        self.width = width


_S = TypeVar("_S", bound=_Scratch)
# Scratch sets for chunks of at least this many values are kept for reuse.
_POOLED_VALUES: Final = 1 << 12


class _ScratchPool(Generic[_S]):
    """A couple of reusable scratch sets (one per core is plenty).

    Scratch of a full chunk is a few MB; allocating it for every message means fresh pages, and
    faulting those in costs about as much as the arithmetic done in them. ``list.pop`` and
    ``list.append`` are atomic, so threads share the pool without a lock (a set popped is
    nobody else's); a thread that finds it empty allocates its own set, and at most ``keep``
    sets are kept once the threads giving sets back are done (a give trims what others added).
    """

    def __init__(self, make: Callable[[int, int], _S], keep: int = 2) -> None:
        self._make = make
        self._keep = keep
        self._free: list[_S] = []

    def take(self, size: int, width: int) -> _S:
        """A scratch set for chunks of ``size`` values of ``width`` bytes."""
        if size >= _POOLED_VALUES:
            try:
                scratch = self._free.pop()
            except IndexError:
                pass
            else:
                if scratch.size >= size and scratch.width >= width:
                    return scratch
        return self._make(size, width)

    def give(self, scratch: _S) -> None:
        """Return a set taken with :meth:`take` (kept if large and the pool is not full)."""
        if scratch.size >= _POOLED_VALUES:
            free = self._free
            free.append(scratch)
            while len(free) > self._keep:  # a test then an append could overfill it
                try:
                    free.pop(0)
                except IndexError:  # another thread trimmed it meanwhile
                    break


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _zigzag(v: npt.NDArray[np.int64], z: npt.NDArray[np.uint64], t: npt.NDArray[np.uint64]) -> None:
    """``z = (v << 1) ^ (v >> 63)`` as uint64, with ``t`` as scratch."""
    np.left_shift(v.view(np.uint64), _U1, out=z)
    np.right_shift(v, 63, out=t.view(np.int64))
    z ^= t


class _EncodeScratch(_Scratch):
    """Scratch arrays of the encoders (the narrow one uses 16-bit views of the same memory)."""

    def __init__(self, size: int, width: int) -> None:
        super().__init__(size, width)
        self.z, self.x, self.t, self.y, self.top = (np.empty(size, np.uint64) for _ in range(5))
        self.short = np.empty(size, np.bool_)
        self.lens = np.empty(size, np.int64)
        self.offs = np.empty(size, np.intp)
        self.table = np.empty(size * 10, np.uint8)
        self.mask = np.empty((size, 2), np.bool_)


_ENCODE_POOL: Final = _ScratchPool(_EncodeScratch)


def _encode_narrow(
    v: npt.NDArray[np.int64], out: npt.NDArray[np.uint8], width: int, s: _EncodeScratch
) -> int:
    """Encode values whose varints all fit in ``width`` <= 2 bytes into ``out``; bytes written.

    Works on int16: two bytes per value are built as one uint16 (low group | continuation bit,
    high group), and only values that fit in one byte need their second byte dropped (a boolean
    compaction of long runs, or none at all when every value takes two bytes).
    """
    n = v.size
    size = min(n, _ENCODE_CHUNK)
    s16, z, t, mask = s.z.view(np.int16), s.x.view(np.uint16), s.t.view(np.uint16), s.mask
    mask16 = mask.view(np.uint16).reshape(-1)
    pos = 0
    for i in range(0, n, size):
        m = min(size, n - i)
        v16, zc, tc = s16[:m], z[:m], t[:m]
        np.copyto(v16, v[i : i + m], casting="unsafe")  # |v| < 2**13: exact
        np.left_shift(v16, 1, out=zc.view(np.int16))
        np.right_shift(v16, 15, out=tc.view(np.int16))
        zc ^= tc
        if width == 1:
            np.copyto(out[pos : pos + m], zc, casting="unsafe")
            pos += m
            continue
        # Two-byte form: (z & 0x7F) | 0x80 if z >= 128, then z >> 7.
        np.add(zc, 0x3F80, out=tc)
        tc >>= 14  # 1 where the value needs a second byte (z < 2**14)
        longs = int(np.count_nonzero(tc))
        if longs != m:
            # Bytes to keep, two booleans per value written as one uint16 (little-endian):
            # byte 0 always, byte 1 where the value is long (contiguous, unlike a strided test).
            keep = mask16[:m]
            np.left_shift(tc, 8, out=keep)
            keep |= 1
        tc <<= 7
        tc |= zc
        zc <<= 1
        zc &= 0x7F00
        np.bitwise_and(tc, 0x00FF, out=tc)
        zc |= tc  # little-endian: first byte, second byte
        pair = zc.view(np.uint8)
        if longs == m:
            out[pos : pos + 2 * m] = pair
            pos += 2 * m
            continue
        kept = pair[mask[:m].reshape(-1)]
        out[pos : pos + kept.size] = kept
        pos += kept.size
    return pos


def _spread(
    z: npt.NDArray[np.uint64], x: npt.NDArray[np.uint64], t: npt.NDArray[np.uint64]
) -> None:
    """``x`` = the low 56 bits of ``z`` as eight 7-bit groups, one per byte (``t``: scratch)."""
    (sh, hi_mask, lo_mask), *rest = _STEPS
    np.bitwise_and(z, hi_mask, out=t)
    t <<= sh
    np.bitwise_and(z, lo_mask, out=x)
    x |= t
    for sh, hi_mask, lo_mask in rest:
        np.bitwise_and(x, hi_mask, out=t)
        t <<= sh
        x &= lo_mask
        x |= t


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
    np.add(x, _LOW7, out=y)  # bit 7 of each byte set iff its group is non-zero
    y &= _HIGH_BITS
    y |= np.uint64(0x80)  # byte 0 always exists
    for sh in (8, 16, 32):
        np.right_shift(y, np.uint64(sh), out=t)
        y |= t
    np.minimum(top, _U1, out=t)  # 1 where the value is longer than 8 bytes ...
    t *= _HIGH_BITS  # ... then all of its first 8 bytes are continued
    y |= t
    y >>= np.uint64(8)
    y |= t
    x |= y
    # Length = continuation bits among bytes 0..7, + 1, + 1 if bit 63 is set.
    y >>= np.uint64(7)
    y *= _BYTE_ONES
    np.right_shift(y, np.uint64(56), out=lens)
    lens += _U1
    np.right_shift(top, np.uint64(7), out=t)
    lens += t


def _continue_long(
    x: npt.NDArray[np.uint64],
    top: npt.NDArray[np.uint64],
    lens: npt.NDArray[np.uint64],
    t: npt.NDArray[np.uint64],
) -> None:
    """:func:`_continue_any` for values that all take at least 8 bytes (fewer operations)."""
    x |= _HIGH_BITS >> np.uint64(8)  # bytes 0..6 are continued
    np.minimum(top, _U1, out=lens)  # 1 where the value is longer than 8 bytes
    np.left_shift(lens, np.uint64(63), out=t)
    x |= t
    lens += np.uint64(8)
    np.right_shift(top, np.uint64(7), out=t)
    lens += t


# Values below this take at most 7 bytes (the general length computation is needed for them).
_SEVEN_BYTES: Final = np.uint64(1 << 49)


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
    the next record. ``out`` needs 10 spare bytes.
    """
    n = v.size
    size = min(n, _ENCODE_CHUNK)
    rec = 10 if width > 8 else 8
    z, x, t, y, top, short, lens, offs = s.z, s.x, s.t, s.y, s.top, s.short, s.lens, s.offs
    table = s.table[: size * rec].reshape(size, rec)
    words = np.ndarray((size,), "<u8", buffer=table, strides=(rec,))
    records = table.view(f"V{rec}").reshape(size)
    slots = np.ndarray((out.size - rec + 1,), f"V{rec}", buffer=out, strides=(1,))
    pos = 0
    for i in range(0, n, size):
        m = min(size, n - i)
        zc, xc, tc, yc, hc, lc = z[:m], x[:m], t[:m], y[:m], top[:m], lens[:m].view(np.uint64)
        _zigzag(v[i : i + m], zc, tc)
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


def _refs_when_free() -> int:
    """References to a pooled buffer nobody else holds, as :meth:`_OutputPool.take` counts."""
    bufs = [np.empty(1, np.uint8)]
    return sys.getrefcount(bufs[0])


class _OutputPool:
    """Output buffers of :func:`encode_varints`, reused once nothing refers to them any more.

    An encoded message lives until it is written out; a fresh buffer per message means fresh
    pages, and faulting those in costs as much as the encoding itself (~100 ms per 64 MiB of
    random 64-bit values in a new process). A buffer is handed out again only when the pool
    holds the sole reference to it (every view, memoryview or slice of the bytes handed out
    refers to it), checked and handed out under a lock. At most ``keep`` buffers of at most
    ``max_bytes`` each are kept: idle memory stays bounded whatever the message sizes.
    """

    def __init__(self, keep: int = 4, min_bytes: int = 1 << 20, max_bytes: int = 1 << 25) -> None:
        self._keep, self._min, self._max = keep, min_bytes, max_bytes
        self._free_refs = _refs_when_free()
        self._lock = threading.Lock()
        self._bufs: list[npt.NDArray[np.uint8]] = []

    def take(self, nbytes: int) -> npt.NDArray[np.uint8]:
        """A uint8 array of ``nbytes`` (uninitialised)."""
        if not self._min <= nbytes <= self._max:
            return np.empty(nbytes, np.uint8)
        with self._lock:
            spare = -1
            bufs = self._bufs
            for i in range(len(bufs)):
                if sys.getrefcount(bufs[i]) <= self._free_refs:
                    if bufs[i].size >= nbytes:
                        return bufs[i][:nbytes]  # a view made under the lock: now referenced
                    spare = i
            new = np.empty(nbytes, np.uint8)
            if spare >= 0:  # a free buffer too small for this: replaced by the new one
                self._bufs[spare] = new
            elif len(self._bufs) < self._keep:
                self._bufs.append(new)
            return new[:nbytes]


_OUTPUT_POOL: Final = _OutputPool()


def encode_varints(v: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """The varint bytes of a flat, non-empty int64 array, as one uint8 array (a view of a
    pooled buffer for big arrays: its memory is reused once every reference to it is gone)."""
    width = _max_width(v)
    out = _OUTPUT_POOL.take(v.size * width + 10)
    s = _ENCODE_POOL.take(min(v.size, _ENCODE_CHUNK), width)
    try:
        used = (_encode_narrow if width <= 2 else _encode_wide)(v, out, width, s)
    finally:
        _ENCODE_POOL.give(s)
    return out[:used]


def varint_array_size(v: npt.NDArray[np.int64]) -> int:
    """Bytes of the varints of a flat int64 array, without producing them.

    A value's varint is longer than k bytes iff its zig-zag form is at least 2**(7k), i.e. iff
    ``v ^ (v >> 63)`` (v for v >= 0, -v - 1 below) is at least 2**(7k - 1): per chunk, one
    comparison and one count per length that occurs; far cheaper than building the bytes.
    """
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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


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


class _DecodeScratch(_Scratch):
    """Scratch arrays of the decoder, for chunks of ``size`` varints of up to ``max_bytes``."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(size, max_bytes)
        wmax = size * max_bytes + 16
        self.term = np.empty(wmax, np.bool_)
        self.lens = np.empty(size, np.intp)
        self.idx = np.empty(size, np.intp)
        self.x = np.empty(size, np.uint64)
        self.t = np.empty(size, np.uint64)
        self.u0 = np.empty(size, np.uint16)
        self.u1 = np.empty(size, np.uint16)
        self.pairs = np.empty(2 * size, np.bool_)
        self.p16, self.c16, self.g16 = (np.empty(2 * size, np.uint16) for _ in range(3))
        # Aligned copy of the window with room for reads past its end (see _decode_wide).
        self.a = np.empty(size, np.uint64)
        self.r = np.empty(size, np.uint64)
        nwords = (wmax + 40) // 8
        self.pw = np.zeros(nwords, np.uint64)
        self.padded = self.pw.view(np.uint8)
        self.r2 = np.empty(size, np.uint64)
        self.flag = np.empty(size, np.bool_)
        self.tw = np.empty(nwords, np.uint64)
        self.hw = np.empty(nwords, np.bool_)
        self.bits = np.empty(nwords, np.uint64)
        self.low = np.empty(nwords, np.uint64)
        self.ends = np.empty(nwords + 8 * _MAX_MULTI_WORDS, np.intp)

    def copy_window(self, win: npt.NDArray[np.uint8]) -> None:
        """Copy ``win`` to the aligned buffer, followed by 8 non-terminator bytes."""
        n = win.size
        self.padded[:n] = win
        self.padded[n : n + 8] = 0xFF


_DECODE_POOL: Final = _ScratchPool(_DecodeScratch)

# Multiplying 2**(8k) (a lone terminator bit shifted down to bit 8k) by this puts k + 1 in the
# top byte: the bytes of a word up to and including its lowest terminator.
_BYTE_COUNT: Final = np.uint64(0x0102030405060708)


def _word_ends(s: _DecodeScratch, wlen: int) -> npt.NDArray[np.intp] | None:
    """End offsets (exclusive) of the varints ending in the window copied by ``copy_window``.

    Tests 8 bytes at a time: the terminator bits (clear high bits) of every aligned word, one
    index per word that has any, and the byte position of its lowest one from a multiplication.
    Cheaper than one index per byte when varints are long (at most one terminator per word);
    words holding several terminators (varints shorter than 8 bytes) are rare then, and their
    extra terminators are spliced in afterwards. None if they are not rare.
    """
    nw = (wlen + 7) // 8  # the words holding window bytes (the last one padded with 0xFF)
    t, has = s.tw[:nw], s.hw[:nw]
    np.bitwise_and(s.pw[:nw], _HIGH_BITS, out=t)
    t ^= _HIGH_BITS
    np.not_equal(t, 0, out=has)
    words = np.flatnonzero(has)
    bits, low = s.bits[: words.size], s.low[: words.size]
    np.take(t, words, out=bits, mode="clip")
    np.negative(bits, out=low)
    low &= bits
    bits ^= low  # the word's other terminators
    ends = _lowest_byte(low)
    words <<= 3
    ends += words  # exclusive ends, as offsets in the window
    if not np.any(bits):
        return ends
    # Rare: words with several terminators (varints of 1 to 7 bytes). Their other terminators
    # are spliced in after the first one, into scratch; too many of them: scan bytes instead.
    multi = np.flatnonzero(bits)
    if multi.size > _MAX_MULTI_WORDS:
        return None
    out = s.ends
    done = filled = 0
    for j, rest in zip(multi.tolist(), bits[multi].tolist(), strict=True):
        filled += j + 1 - done
        out[filled - (j + 1 - done) : filled] = ends[done : j + 1]
        done = j + 1
        base = int(words[j])
        while rest:
            low = rest & -rest
            rest ^= low
            out[filled] = base + low.bit_length() // 8
            filled += 1
    tail = ends.size - done
    out[filled : filled + tail] = ends[done:]
    return out[: filled + tail]


def _lowest_byte(low: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
    """Byte index + 1 (1..8) of the single terminator bit of each word in ``low``."""
    low >>= np.uint64(7)
    low *= _BYTE_COUNT
    low >>= np.uint64(56)
    return low.view(np.intp)


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
                x[at] &= _GROUP_MASKS[lens[at]]
            return
    np.take(_GROUP_MASKS, lens, out=t, mode="clip")
    x &= t


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
    for sh, hi_mask, lo_mask in reversed(_STEPS):
        np.right_shift(x, sh, out=t)
        t &= hi_mask
        x &= lo_mask
        x |= t
    if longest > 8:
        # Bytes 8.. of each varint: the rest of the second word, then the third one.
        a >>= r
        np.take(s.pw[2:], q, out=t, mode="clip")
        t <<= r2
        a |= t
        np.take(_HIGH_GROUP_MASKS, lens, out=t, mode="clip")
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
    np.bitwise_and(x, _U1, out=t)
    np.negative(t.view(np.int64), out=t.view(np.int64))
    x >>= _U1
    if dest.dtype == np.int64:
        np.bitwise_xor(x, t, out=dest.view(np.uint64))
        return
    x ^= t
    values = x.view(np.int64)
    if int(values.min()) < _INT32_MIN or int(values.max()) > _INT32_MAX:
        bad = int(np.flatnonzero((values < _INT32_MIN) | (values > _INT32_MAX))[0])
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
    s = _DECODE_POOL.take(min(count, _DECODE_CHUNK), max_bytes)
    try:
        return out, _decode_chunks(data, offset, count, max_bytes, out, s)
    finally:
        _DECODE_POOL.give(s)


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
    guess = 2  # expected bytes per value; adapted to the data as chunks are decoded
    while done < count:
        m = min(count - done, _DECODE_CHUNK)
        cap = min(size - pos, m * max_bytes)
        # Scan a window of guessed size for m terminators, widening it if too few were found.
        while True:
            wlen = min(cap, m * guess + 16)
            win = data[pos : pos + wlen]
            copied = guess >= _WORD_SCAN_GUESS
            found = None
            if copied:
                s.copy_window(win)
                found = _word_ends(s, wlen)
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
        ends = ends[:m]
        used = int(ends[-1])
        dest = out[done : done + m]
        narrow = False
        if found is None and max_bytes >= 2 and used <= 2 * m:
            # Byte scan: 1-2 byte varints only iff no two bytes in a row are continued.
            pairs = s.pairs[: used - 1]
            np.logical_or(term[: used - 1], term[1:used], out=pairs)
            narrow = bool(pairs.all())
        if not narrow:
            lens = s.lens[:m]
            lens[0] = ends[0]
            np.subtract(ends[1:], ends[:-1], out=lens[1:])
            longest = int(lens.max())
            if longest > max_bytes:
                raise _varint_error(win, ends, pos, max_bytes, False)
            narrow = longest <= 2
        if narrow:
            _decode_narrow(win, ends, s, dest)
        else:
            _decode_wide(win, ends, lens, longest, s, dest, pos, copied)
        done += m
        pos += used
        guess = min(max_bytes, -(-used // m) + 1)
    return pos
