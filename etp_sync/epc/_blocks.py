"""Arrays streamed between a file and the store block by block, whatever holds them on disk
(an HDF5 dataset, a memory-mapped ``.npy``): at most ``block_bytes`` of values in memory.

Blocks are C-order hyperslabs planned by :func:`etp_sync.calls._blocks.plan_blocks`. Upward, an
array that fits one block goes whole (PutDataArrays); a larger one is created with
PutUninitializedDataArrays and filled with PutDataSubarrays. Downward, GetDataSubarrays per block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..calls._array_meta import ArrayMetadata
from ..calls._blocks import plan_blocks
from ..uri import DataObjectURI

if TYPE_CHECKING:
    from ..session import ETPSession

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "STRING_ITEM_BYTES",
    "Block",
    "ByteMeter",
    "Progress",
    "blocks",
    "slices",
    "stream_in",
    "stream_out",
]

DEFAULT_BLOCK_BYTES = 32 << 20
STRING_ITEM_BYTES = 64  # assumed size of one string value, only to size blocks
Progress = Callable[[int, int], None]
Block = tuple[tuple[int, ...], tuple[int, ...]]


class ByteMeter:
    """Sums bytes moved by several arrays into one ``progress(done, total)`` stream."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self._progress = progress
        self.add(0)

    def add(self, nbytes: int) -> None:
        self.done += nbytes
        if self._progress is not None:
            self._progress(min(self.done, self.total), self.total)


def blocks(shape: tuple[int, ...], itemsize: int, block_bytes: int) -> Iterator[Block]:
    """``(starts, counts)`` of the non-empty blocks covering an array of ``shape``."""
    if shape and math.prod(shape) == 0:
        return
    yield from plan_blocks(shape, max(1, itemsize), max(block_bytes, itemsize, 1))


def slices(starts: tuple[int, ...], counts: tuple[int, ...]) -> tuple[slice, ...]:
    """The index of one block (``()`` for a scalar)."""
    return tuple(slice(s, s + c) for s, c in zip(starts, counts, strict=True))


def _itemsize(dtype: np.dtype[Any]) -> int:
    return STRING_ITEM_BYTES if dtype.kind in "UOS" else dtype.itemsize


def stream_in(
    session: ETPSession,
    uri: DataObjectURI,
    path: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    read: Callable[[tuple[int, ...], tuple[int, ...]], np.ndarray],
    meter: ByteMeter,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> None:
    """Store the array that ``read(starts, counts)`` yields block by block."""
    itemsize = _itemsize(dtype)
    nbytes = math.prod(shape) * itemsize
    if nbytes <= block_bytes:
        session.put_data_array(uri, path, read((0,) * len(shape), shape))
        meter.add(nbytes)
        return
    session.put_uninitialized_data_array(uri, path, shape, dtype)
    for starts, counts in blocks(shape, itemsize, block_bytes):
        session.put_data_subarray(uri, path, starts, read(starts, counts))
        meter.add(math.prod(counts) * itemsize)


def stream_out(
    session: ETPSession,
    uri: DataObjectURI,
    path: str,
    meta: ArrayMetadata,
    write: Callable[[tuple[int, ...], tuple[int, ...], np.ndarray], None],
    meter: ByteMeter,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> None:
    """Read a stored array block by block and hand each block to ``write(starts, counts,
    values)``; ``meter`` counts ``meta.nbytes`` in all."""
    shape = tuple(meta.dimensions)
    itemsize = _itemsize(meta.dtype)
    if math.prod(shape) * itemsize <= block_bytes:
        write((0,) * len(shape), shape, session.get_data_array(uri, path))
        meter.add(meta.nbytes)
        return
    for starts, counts in blocks(shape, itemsize, block_bytes):
        write(starts, counts, session.get_data_subarray(uri, path, starts, counts))
        meter.add(math.prod(counts) * meta.dtype.itemsize if meta.nbytes else 0)
