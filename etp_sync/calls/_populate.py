"""Faulting in a fresh result's pages ahead of the replies received into it.

A read of several blocks receives each reply straight into its place in one fresh result (see
:mod:`._array_read`). Each 4 KiB page of that memory costs the kernel a fault and a zeroed page
when first written; in a virtual machine, where the host backs guest memory lazily, that is
most of a big read's CPU (about 60-400 ms per 256 MiB measured here). A :class:`Populator`
faults the blocks in, in order, from a thread of its own (``madvise`` through ctypes releases
the GIL), while the calling thread sends requests and the connection's reader receives:
measured on a 2-core VM, a cold 256 MiB float64 get took 0.176-0.179 s against 0.208 s with the
pages faulted in by the calling thread as each block's request went out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from ..codec.arrays import populate

__all__ = ["Populator"]

log = logging.getLogger("etp_sync.arrays")


class Populator:
    """Fault in ``parts`` (C-contiguous parts of one :func:`~etp_sync.codec.arrays.fresh_empty`
    result, in the order their replies are expected) from a daemon thread, until done or
    :meth:`stop`. Nothing waits for it: a part it has not reached yet is faulted in by whoever
    writes it first, as without it."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self._parts = list(parts)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etp_sync-populate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the part being faulted in (the read ended, or failed): the thread then
        drops its references to the result."""
        self._stopped.set()

    def _run(self) -> None:
        parts, self._parts = self._parts, []
        try:
            for part in parts:
                if self._stopped.is_set():
                    return
                populate(part)
        except Exception:  # an accelerator only: the writes fault the pages in anyway
            log.debug("pages not populated ahead", exc_info=True)
