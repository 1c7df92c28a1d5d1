"""Chunk grids aligned to the server's message size (``ETPSession.array_block_budget``), so that
each chunk travels in one request."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ETPMessageTooLarge

Chunks = tuple[tuple[int, ...], ...]


def _even(length: int, step: int) -> tuple[int, ...]:
    """``length`` cut into the fewest near-equal pieces of at most ``step``."""
    if length == 0:
        return (0,)
    pieces = -(-length // step)
    base, extra = divmod(length, pieces)
    return (base + 1,) * extra + (base,) * (pieces - extra)


def aligned_chunks(chunks: Sequence[Sequence[int]], item_size: int, budget: int) -> Chunks:
    """Split a chunk grid so that no chunk holds more than ``budget`` wire bytes.

    Chunks are only ever subdivided (each new chunk lies inside one old chunk, so rechunking to
    the result moves no data between workers). The first axis whose chunks, times the largest
    chunks of the later axes, fit the budget is cut into near-equal pieces; the axes before it
    are cut into single slices, the later ones kept. ``item_size`` is the worst-case size of
    one element on the wire.
    """
    grid = [tuple(int(c) for c in axis) for axis in chunks]
    if item_size > budget:
        raise ETPMessageTooLarge(
            f"one array element needs up to {item_size} bytes on the wire, more than the "
            f"{budget} bytes a message can carry"
        )
    out: list[tuple[int, ...]] = []
    for axis, sizes in enumerate(grid):
        later = math.prod(max(axis_sizes, default=1) for axis_sizes in grid[axis + 1 :])
        per_index = item_size * max(later, 1)
        if per_index <= budget:
            out.append(tuple(piece for size in sizes for piece in _even(size, budget // per_index)))
            out.extend(grid[axis + 1 :])
            return tuple(out)
        out.append(tuple(piece for size in sizes for piece in _even(size, 1)))
    return tuple(out)  # no axes (a 0-d array): one chunk


__all__ = ["Chunks", "aligned_chunks"]
