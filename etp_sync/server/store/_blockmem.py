"""Memory for the values of arriving puts, recycled from store blocks that are gone.

A put's values are received straight into an array that then becomes a store block (see
:mod:`etp_sync.codec._placement` and :meth:`~._chunked.ChunkedArray.write`). Fresh memory costs
the kernel a page fault and a zeroed page per 4 KiB as the values land in it, and the unmapping
when the block goes: for a 256 MiB put, most of the server's CPU. A put that replaces an array
frees as many blocks as it then needs, so :class:`BlockMemory` keeps the memory of blocks that
died (nobody holds a view of them any more) and receives the next values into it: pages already
mapped and written, no fault. Idle memory of the same size is taken first; otherwise the
closest size is resized to fit (``mremap``: the pages it keeps stay in place), so that clients
of other block sizes reuse each other's memory instead of each mapping its own and pushing the
other's out (pyetp's blocks of a 16 MiB message are 15 MiB, etp_sync's 15.06: receiving a
256 MiB put of etp_sync's blocks into the memory of pyetp's took 0.14 s in fresh memory and
takes 0.03 s). Fresh memory (nothing idle, or what a resize adds) is populated in one call as
it is made (:func:`~etp_sync.codec.arrays.populate`), which costs less than a fault per page as
the values land: a 256 MiB put into a server whose memory is cold took 0.27 s and takes 0.21 s
(medians of 10 fresh servers each, a 2-core VM). What is populated is the memory of one
message's values, which the receive writes whole anyway.

Bounded: the memory kept idle is at most ``keep_bytes`` (the oldest goes first); memory in use
is the store's blocks (counted against ``max_store_bytes``) and values in flight. A block is
recycled only once its array and every view of it are gone (a finalizer on the array that owns
the memory: numpy views keep that array alive), so values lent to a send, kept by a transaction
until its rollback or still read by anybody are never overwritten.
"""

from __future__ import annotations

import logging
import math
import mmap
import threading
import weakref
from typing import Any

import numpy as np

from etp_sync.codec.arrays import FRESH_MAP_BYTES, anonymous_mapping, fresh_empty, populate

__all__ = ["BlockMemory"]

log = logging.getLogger("etp_sync.server.store")


class BlockMemory:
    """Uninitialised arrays for received values (:meth:`empty`), in recycled memory when
    some is idle; at most ``keep_bytes`` idle (see the module docstring).
    Thread-safe: arrays die, and give their memory back, in any thread."""

    def __init__(self, keep_bytes: int) -> None:
        self.keep_bytes = max(0, int(keep_bytes))
        self._idle: list[mmap.mmap] = []  # oldest first
        self._idle_bytes = 0
        # Re-entrant: a collection inside a locked section may finalize a block (_back).
        self._lock = threading.RLock()

    @property
    def idle_bytes(self) -> int:
        """Bytes of memory kept for the next values."""
        return self._idle_bytes

    def empty(self, shape: int | tuple[int, ...], dtype: Any) -> np.ndarray[Any, Any]:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``, all of the memory
        it lies in (so the store may keep it as a block); small ones and ``object`` arrays
        come from :func:`~etp_sync.codec.arrays.fresh_empty`."""
        dt = np.dtype(dtype)
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        nbytes = math.prod(dims) * dt.itemsize
        if nbytes < FRESH_MAP_BYTES or dt.hasobject or not self.keep_bytes:
            return fresh_empty(dims, dt)
        memory, written = self._take(nbytes)
        if memory is None:
            memory, written = anonymous_mapping(nbytes), 0
        owner = np.frombuffer(memory, dtype=dt)
        if written < nbytes:
            populate(owner[written // dt.itemsize :])
        # The finalizer holds the memory, not the array: when the array (and so every view of
        # it) is gone, the memory comes back.
        weakref.finalize(owner, self._back, memory).atexit = False
        return owner.reshape(dims)

    def _take(self, nbytes: int) -> tuple[mmap.mmap | None, int]:
        """Idle memory made exactly ``nbytes`` long, and how many of its first bytes were
        written before; (None, 0) when there is none. The most recently given back of that
        size, else the smallest longer one (shrunk), else the longest (grown)."""
        with self._lock:
            idle = self._idle
            if not idle:
                return None, 0
            exact = [i for i, m in enumerate(idle) if len(m) == nbytes]
            longer = [i for i, m in enumerate(idle) if len(m) > nbytes]
            if exact:
                at = exact[-1]
            elif longer:
                at = min(longer, key=lambda i: len(idle[i]))
            else:
                at = max(range(len(idle)), key=lambda i: len(idle[i]))
            memory = idle.pop(at)
            self._idle_bytes -= len(memory)
        written = min(len(memory), nbytes)
        if len(memory) != nbytes:
            try:
                memory.resize(nbytes)
            except (BufferError, OSError, SystemError, ValueError) as exc:
                # A dying array's buffer not yet released, or no mremap here: not reused.
                log.debug("idle memory of %d bytes not resized: %s", len(memory), exc)
                self._back(memory)
                return None, 0
        return memory, written

    def _back(self, memory: mmap.mmap) -> None:
        """Keep the memory of an array that died, dropping the oldest beyond ``keep_bytes``
        (unmapped outside the lock, when the last reference goes)."""
        dropped: list[mmap.mmap] = []
        with self._lock:
            if len(memory) > self.keep_bytes:
                return
            self._idle.append(memory)
            self._idle_bytes += len(memory)
            while self._idle_bytes > self.keep_bytes:
                old = self._idle.pop(0)
                self._idle_bytes -= len(old)
                dropped.append(old)
        del dropped

    def clear(self) -> None:
        """Unmap all idle memory."""
        with self._lock:
            dropped, self._idle, self._idle_bytes = self._idle, [], 0
        del dropped
