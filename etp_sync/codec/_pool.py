"""One pool of reusable byte buffers for the codec's big temporaries.

Big temporaries (a varint kernel's scratch arrays, an encoded message, the bytes of a frame
being received) cost about as much to fault in as the work done in them when they are fresh
memory for every message. :class:`BufferPool` keeps a few of them, with a single reuse rule: a
pooled buffer is handed out again only when nothing but the pool refers to it. Everything
handed out is a view of the pooled buffer (and so is everything made from it: slices, dtype
views, memoryviews), so a buffer is never reused while any of its bytes are still in use,
whether its user gives it back explicitly or simply drops it. The buffers it keeps add up to
at most ``max_bytes``; requests outside ``min_bytes .. max_bytes`` get memory of their own.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["BufferPool", "Carving"]

Allocate = Callable[[int], npt.NDArray[np.uint8]]
"""Allocator of a fresh, uninitialised uint8 array of ``nbytes``."""


def _empty(nbytes: int) -> npt.NDArray[np.uint8]:
    return np.empty(nbytes, np.uint8)


def _refs_when_free() -> int:
    """What ``sys.getrefcount`` says of a pooled buffer that nothing else refers to."""
    bufs = [np.empty(1, np.uint8)]
    return sys.getrefcount(bufs[0])


_FREE_REFS = _refs_when_free()


def _viewed_array(new: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """The array that views of ``new`` refer to (numpy makes a view of a view refer to the
    first array of the chain whose base is not an array: for ``np.frombuffer(...).reshape(n)``
    the ``frombuffer`` array, not ``new``), so that its reference count tells whether the
    memory is in use; None when that array is not a flat uint8 array of the same bytes."""
    while isinstance(new.base, np.ndarray) and not new.flags.owndata:
        new = new.base
    if new.dtype != np.uint8 or new.ndim != 1:
        return None
    return new


class BufferPool:
    """Reusable uint8 buffers, at most ``max_bytes`` of them in all; thread-safe.

    :meth:`take` returns a view of ``nbytes`` of a free pooled buffer big enough (the smallest
    such), or of a new one, which the pool keeps if it fits in the bound (replacing free buffers
    too small for today's requests, smallest first) or else leaves to its user alone. Buffers
    are checked and views made under a lock: a view exists, and so the buffer is in use, before
    another thread can look at it. ``grow`` is the fraction added to a new pooled buffer, so that
    slightly bigger requests later find it big enough.
    """

    def __init__(
        self,
        max_bytes: int,
        *,
        min_bytes: int = 1,
        grow: float = 0.0,
        allocate: Allocate = _empty,
    ) -> None:
        self.max_bytes = max_bytes
        self._min = min_bytes
        self._grow = grow
        self._allocate = allocate
        self._lock = threading.Lock()
        self._bufs: list[npt.NDArray[np.uint8]] = []

    @property
    def pooled_bytes(self) -> int:
        """Bytes of the buffers the pool keeps (in use or free)."""
        with self._lock:
            return sum(b.nbytes for b in self._bufs)

    def take(self, nbytes: int) -> npt.NDArray[np.uint8]:
        """An uninitialised uint8 array of ``nbytes``; its memory returns to the pool once
        nothing refers to it any more."""
        if not self._min <= nbytes <= self.max_bytes:
            return self._allocate(nbytes)
        with self._lock:
            bufs = self._bufs
            best = -1
            for i in range(len(bufs)):
                size = bufs[i].nbytes
                if (
                    size >= nbytes
                    and (best < 0 or size < bufs[best].nbytes)
                    and sys.getrefcount(bufs[i]) <= _FREE_REFS
                ):
                    best = i
            if best >= 0:
                return bufs[best][:nbytes]
            size = min(self.max_bytes, nbytes + int(nbytes * self._grow))
            new = _viewed_array(self._allocate(size))
            if new is None:
                return self._allocate(nbytes)
            self._keep(new)
            return new[:nbytes]

    def _keep(self, new: npt.NDArray[np.uint8]) -> None:
        """Keep ``new`` if it fits, dropping free buffers (smallest first) to make room."""
        bufs = self._bufs
        room = self.max_bytes - sum(b.nbytes for b in bufs)
        if room < new.nbytes:
            free = sorted(
                (i for i in range(len(bufs)) if sys.getrefcount(bufs[i]) <= _FREE_REFS),
                key=lambda i: bufs[i].nbytes,
            )
            dropped: list[int] = []
            for i in free:
                if room >= new.nbytes:
                    break
                room += bufs[i].nbytes
                dropped.append(i)
            if room < new.nbytes:
                return  # the pool is full of buffers in use: the new one is its user's alone
            for i in sorted(dropped, reverse=True):
                del bufs[i]
        bufs.append(new)


_STAGGER = 320
"""Bytes (five cache lines) between carved arrays, each of which starts 64-byte aligned."""


class Carving:
    """Arrays of ``(size, dtype)`` laid out one after the other in one buffer, each on a 64-byte
    boundary (what the vectorised loops prefer) and a few cache lines past the one before:
    worked out once (callers keep the carvings they use again), carved per buffer (runs of
    arrays of the same size and dtype as the rows of one 2-d view: fewer numpy calls)."""

    __slots__ = ("_parts", "nbytes")

    def __init__(self, layout: list[tuple[int, Any]]) -> None:
        at = 0
        parts: list[list[Any]] = []  # [size, dtype, offset, rows, row stride] per run
        for size, dtype in layout:
            dt = np.dtype(dtype)
            # Rounded up to 64 bytes, plus a few cache lines: arrays whose sizes are powers of
            # two would otherwise start at addresses 4 KiB apart, and an operation reading one
            # and writing another would stall on the loads and stores that look alike.
            step = ((size * dt.itemsize + 63) & ~63) + _STAGGER
            last = parts[-1] if parts else None
            if last is not None and last[0] == size and last[1] == dt:
                last[3] += 1
            else:
                parts.append([size, dt, at, 1, step])
            at += step
        self._parts = tuple(tuple(part) for part in parts)
        self.nbytes = at + 64
        """Bytes the arrays take in all (each starts on a 64-byte boundary of memory)."""

    def carve(self, buf: npt.NDArray[np.uint8]) -> list[npt.NDArray[Any]]:
        """The arrays in ``buf``, as views: they keep ``buf`` in use for as long as they live."""
        out: list[npt.NDArray[Any]] = []
        first = -buf.__array_interface__["data"][0] % 64
        for size, dt, at, rows, step in self._parts:
            if rows == 1:
                out.append(np.frombuffer(buf, dt, size, first + at))  # its base is ``buf``
            else:
                out.extend(np.ndarray((rows, size), dt, buf, first + at, (step, dt.itemsize)))
        return out

    def empty(self) -> list[npt.NDArray[Any]]:
        """The arrays, each in memory of its own."""
        out: list[npt.NDArray[Any]] = []
        for size, dt, _, rows, _ in self._parts:
            out.extend(np.empty((rows, size), dt) if rows > 1 else (np.empty(size, dt),))
        return out
