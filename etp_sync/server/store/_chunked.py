"""Arrays kept in blocks: allocated only where written, copied per block between versions.

A :class:`ChunkedArray` cuts its shape into a regular grid of blocks of about
:data:`CHUNK_BYTES` (trailing axes kept whole while they fit, so blocks follow C order). A block
is allocated on its first write; reading a block never written gives the fill value (0, or ``""``
for strings) without allocating it. So an uninitialised array costs nothing until written, and a
write costs the blocks it touches, never the whole array.

Versions: :meth:`ChunkedArray.fork` makes a version sharing every block with its origin; its
first write to a shared block copies that block only (copy on write). A transaction stages a
fork; the committed version is not written while the transaction is open (it write-locks the
dataspace), and at commit the fork replaces it and :meth:`ChunkedArray.adopt` makes the fork
the sole owner of its blocks.

Sizes: :attr:`ChunkedArray.nbytes` is what all its blocks take, :attr:`ChunkedArray.held` what
only this version holds (everything, or the blocks a fork copied or allocated). Strings count
8 bytes per element plus their length.

Big blocks as they arrive: an array with no block yet takes the block of its first big write
from the origin as its grid block (:meth:`ChunkedArray.fit_grid`), so the writes of a client's
plan that follow each fill one block whole. A whole-block write of values the caller gives up
(``adopt``: e.g. values just received, in memory of their own) keeps them as the block, no
copy; a read inside one block (contiguous there) may lend it out as a read-only
view (:meth:`ChunkedArray.lend`), after which the block is never written in place again (the next
write replaces or copies it), so the view keeps the values it had.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["CHUNK_BYTES", "ChunkedArray", "Index"]

CHUNK_BYTES = 1 << 20
MAX_GRID_BYTES = 64 << 20
"""The largest grid block a first write sets (:meth:`ChunkedArray.fit_grid`): a later write
into part of a block copies at most this much."""

Index = tuple[slice, ...]
Key = tuple[int, ...]


def chunk_shape(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Block shape of about CHUNK_BYTES: trailing axes whole while they fit, leading ones cut."""
    budget = max(1, CHUNK_BYTES // max(itemsize, 1))
    out: list[int] = []
    for n in reversed(shape):
        take = max(1, min(n, budget))
        out.append(take)
        budget = max(1, budget // take)
    return tuple(reversed(out))


def _fill(dtype: np.dtype[Any]) -> Any:
    return "" if dtype.kind == "O" else 0


def _adoptable(values: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> bool:
    """Whether ``values`` can be kept as a block: writable, C-contiguous, of ``dtype``, and
    all of the memory it lies in (an array's own, or the buffer under it: a block never keeps
    more memory alive than it is counted for)."""
    if values.dtype != dtype or not values.flags.c_contiguous or not values.flags.writeable:
        return False
    owner = values if values.base is None else values.base
    if not isinstance(owner, np.ndarray):
        return False
    under: Any = owner.base
    if under is None:
        return owner.nbytes == values.nbytes
    try:
        with memoryview(under) as memory:
            return memory.nbytes == values.nbytes
    except TypeError:  # not a buffer: nothing says how much memory it holds
        return False


def _cost(values: np.ndarray[Any, Any] | str) -> int:
    """Bytes a block of values takes (strings: 8 per element plus their length); a 0-d index
    of a string array gives its one element."""
    if isinstance(values, str):
        return 8 + len(values)
    if values.dtype.kind != "O":
        return int(values.nbytes)
    return 8 * values.size + sum(len(v) for v in values.flat)


class ChunkedArray:
    """An N-d array of one dtype stored as lazily allocated blocks (see the module docstring)."""

    __slots__ = ("_blocks", "_owned", "chunk", "dtype", "held", "nbytes", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.chunk = chunk_shape(self.shape, self.dtype.itemsize)
        self._blocks: dict[Key, np.ndarray[Any, Any]] = {}
        self._owned: set[Key] | None = None  # None: every block is this version's own
        self.nbytes = 0
        self.held = 0

    @classmethod
    def from_array(cls, data: np.ndarray[Any, Any]) -> ChunkedArray:
        """A chunked copy of ``data`` (every block allocated)."""
        arr = cls(data.shape, data.dtype)
        arr.write(tuple(slice(0, n) for n in arr.shape), data)
        return arr

    def fork(self) -> ChunkedArray:
        """A version sharing every block with this one; its writes copy the blocks they touch."""
        other = ChunkedArray.__new__(ChunkedArray)
        other.shape, other.dtype, other.chunk = self.shape, self.dtype, self.chunk
        other._blocks = dict(self._blocks)
        other._owned = set()
        other.nbytes = self.nbytes
        other.held = 0
        return other

    def adopt(self) -> None:
        """This version replaced its origin: every block it refers to is now its own."""
        self._owned = None
        self.held = self.nbytes

    def _parts(self, index: Index) -> Iterator[tuple[Key, Index, Index]]:
        """(block key, index inside the block, index inside the request) of each block touched."""
        ranges = []
        for sl, c in zip(index, self.chunk, strict=True):
            if sl.stop <= sl.start:
                return
            ranges.append(range(sl.start // c, (sl.stop - 1) // c + 1))
        for key in itertools.product(*ranges):
            inner: list[slice] = []
            outer: list[slice] = []
            for k, sl, c in zip(key, index, self.chunk, strict=True):
                lo, hi = max(sl.start, k * c), min(sl.stop, (k + 1) * c)
                inner.append(slice(lo - k * c, hi - k * c))
                outer.append(slice(lo - sl.start, hi - sl.start))
            yield key, tuple(inner), tuple(outer)

    def fit_grid(self, index: Index) -> None:
        """Before a write to an array with no block yet (a new array, or a version of one):
        when the write starts at the origin, is of numbers and takes CHUNK_BYTES to
        MAX_GRID_BYTES, its block becomes the grid's block (the writes of the same plan that
        follow then each fill one block whole)."""
        if self._blocks or self.dtype.kind == "O":
            return
        counts = tuple(sl.stop - sl.start for sl in index)
        if len(counts) != len(self.shape) or any(sl.start for sl in index) or 0 in counts:
            return
        if CHUNK_BYTES <= math.prod(counts) * self.dtype.itemsize <= MAX_GRID_BYTES:
            self.chunk = counts

    def _block_shape(self, key: Key) -> tuple[int, ...]:
        return tuple(min(c, n - k * c) for k, c, n in zip(key, self.chunk, self.shape, strict=True))

    def _is_own(self, key: Key) -> bool:
        return self._owned is None or key in self._owned

    def write_cost(self, index: Index, values: np.ndarray[Any, Any]) -> int:
        """Bytes a write would add at most: blocks to allocate or copy, plus string lengths."""
        cost = 0
        for key, _inner, _outer in self._parts(index):
            block = self._blocks.get(key)
            if block is None:
                cost += int(np.prod(self._block_shape(key))) * self.dtype.itemsize
            elif not self._is_own(key):
                cost += _cost(block)
        if self.dtype.kind == "O":
            cost += sum(len(v) for v in values.flat)
        return cost

    def write(self, index: Index, values: np.ndarray[Any, Any], *, adopt: bool = False) -> int:
        """Write ``values`` (shaped like ``index``, of this dtype); returns how much
        :attr:`held` grew (blocks allocated or copied, string lengths). With ``adopt`` the
        caller gives ``values`` up: a part that fills a block whole and is all of the memory
        it lies in becomes the block itself (see :func:`_adoptable`)."""
        grown = copied = 0
        numeric = self.dtype.kind != "O"
        for key, inner, outer in self._parts(index):
            block = self._blocks.get(key)
            new = values[outer]
            # A block lent out (read-only, see :meth:`lend`) is replaced, never written.
            if block is None or not self._is_own(key) or not block.flags.writeable:
                whole = numeric and new.shape == self._block_shape(key)
                if whole and adopt and _adoptable(new, self.dtype):
                    fresh = new  # kept as it is: nothing allocated, nothing copied
                elif whole:
                    fresh = np.empty(new.shape, dtype=self.dtype)
                elif block is None:
                    fresh = self._new_block(key, inner)
                else:
                    fresh = block.copy()
                if block is None:
                    grown += _cost(fresh)
                elif not self._is_own(key):  # replaces the shared block: held grows
                    copied += _cost(fresh)
                block = fresh
            if self._owned is not None:
                self._owned.add(key)
            self._blocks[key] = block
            if block is new:
                continue
            if not numeric:
                grown += _cost(new) - _cost(block[inner])
            block[inner] = new
        self.nbytes += grown
        self.held += grown + copied
        return grown + copied

    def lend(self, index: Index) -> np.ndarray[Any, Any] | None:
        """A read-only view of ``index`` when it lies in one written block of numbers and is
        contiguous there in C order (the whole block, or rows of it: e.g. the blocks of a
        client's read plan inside the blocks its put plan wrote), None otherwise. The block
        is never written in place afterwards (a write replaces or copies it), so the view
        keeps the values it has now."""
        parts = list(itertools.islice(self._parts(index), 2))
        if len(parts) != 1 or self.dtype.kind == "O":
            return None
        key, inner, _outer = parts[0]
        block = self._blocks.get(key)
        if block is None:
            return None
        view = block[inner]
        if not view.flags.c_contiguous:
            return None
        # The mark is the block's own flag, not its key: every version sharing this block
        # sees it, and a version that replaces the block at that key leaves it on the block.
        block.flags.writeable = False
        return block[inner]  # read-only like the block

    def _new_block(self, key: Key, inner: Index) -> np.ndarray[Any, Any]:
        """A block to write ``inner`` of: filled only when the write leaves part of it (and
        never for numbers the write covers whole: no page is zeroed just to be overwritten)."""
        shape = self._block_shape(key)
        whole = all(sl.start == 0 and sl.stop == n for sl, n in zip(inner, shape, strict=True))
        if whole and self.dtype.kind != "O":
            return np.empty(shape, dtype=self.dtype)
        return np.full(shape, _fill(self.dtype), dtype=self.dtype)

    def read(self, index: Index) -> np.ndarray[Any, Any]:
        """A C-order copy of the block ``index``; regions never written read as the fill value
        (only they are filled: the rest is copied once, never zeroed first)."""
        shape = tuple(sl.stop - sl.start for sl in index)
        out = np.empty(shape, dtype=self.dtype)
        for key, inner, outer in self._parts(index):
            block = self._blocks.get(key)
            if block is not None:
                out[outer] = block[inner]
            else:
                out[outer] = _fill(self.dtype)
        return out

    def whole(self) -> np.ndarray[Any, Any]:
        """A copy of the whole array."""
        return self.read(tuple(slice(0, n) for n in self.shape))
