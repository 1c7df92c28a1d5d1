"""Wire sizing and block planning for DataArray calls.

Blocks are budgeted by the worst-case wire size of their values (varint ints take up to 5
bytes, longs up to 10), so they always fit the negotiated message size. A block is
``(starts, counts)``: a C-order hyperslab of the array (or of the box being read or written).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..codec._numeric import write_varint
from ..codec.arrays import STRING_ITEM_GUESS, wire_item_bounds
from ..errors import ETPMessageTooLarge

Block = tuple[tuple[int, ...], tuple[int, ...]]  # (starts, counts)

# Bytes kept for everything around the values: header, map key, identifier, starts/counts.
ENVELOPE_MARGIN = 1024


def block_budget(max_message_size: int, uri: str, path_in_resource: str, ndim: int) -> int:
    """Bytes of values a DataArray message of ``max_message_size`` may carry for the array at
    ``uri`` and ``path_in_resource`` (of ``ndim`` axes): the size less the envelope."""
    envelope = (
        ENVELOPE_MARGIN
        + 2 * (len(uri.encode("utf-8")) + len(path_in_resource.encode("utf-8")))
        + 32 * ndim
    )
    return max_message_size - envelope


def wire_item_size(transport: str, dtype: np.dtype[Any], values: np.ndarray | None = None) -> int:
    """Worst-case bytes per element on the wire for values of ``dtype`` sent as ``transport``.

    Strings: the longest UTF-8 encoding among ``values`` plus its length prefix, or
    :data:`STRING_ITEM_GUESS` when the values are not known.
    """
    if transport == "arrayOfString":
        if values is None:
            return STRING_ITEM_GUESS
        longest = max((len(str(s).encode("utf-8")) for s in values.flat), default=0)
        return longest + len(write_varint(longest))
    return wire_item_bounds(transport, dtype.itemsize)[1]


def plan_blocks(shape: Sequence[int], item_size: int, budget: int) -> Iterator[Block]:
    """Cover an array of ``shape`` with C-order blocks of at most ``budget`` bytes.

    Blocks are split along the slowest axis; when a single slice of that axis is too big, each
    slice is split along the next axis, and so on. Yields ``(starts, counts)`` in C order.
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    if item_size > budget:
        raise ETPMessageTooLarge(
            f"one array element needs up to {item_size} bytes on the wire, more than the "
            f"{budget} bytes a message can carry"
        )
    if ndim == 0:
        yield (), ()
        return
    if math.prod(shape) == 0:
        yield (0,) * ndim, shape
        return

    def walk(prefix: tuple[int, ...]) -> Iterator[Block]:
        axis = len(prefix)
        n = shape[axis]
        tail = shape[axis + 1 :]
        per_index = item_size * math.prod(tail)
        if per_index <= budget:
            step = max(1, budget // per_index)
            pieces = -(-n // step)
            step = -(-n // pieces)  # even out the blocks
            ones = (1,) * axis
            zeros = (0,) * len(tail)
            for start in range(0, n, step):
                yield (*prefix, start, *zeros), (*ones, min(step, n - start), *tail)
        else:
            for i in range(n):
                yield from walk((*prefix, i))

    yield from walk(())


def read_block_bytes(size: int, item_size: int, max_in_flight: int) -> int:
    """Wire bytes per block of a read of ``size`` elements of ``item_size`` (at most, before
    the message budget): the responses in flight plus the one being decoded stay about a third
    of the result (never below :data:`MIN_READ_BLOCK`)."""
    return max(MIN_READ_BLOCK, (size * item_size) // (3 * (max(1, max_in_flight) + 1)))


MIN_READ_BLOCK = 256 << 10
"""Blocks of a read are not made smaller than this (a third of a small result would be tiny)."""
READ_IN_FLIGHT = 4
"""The default ``max_in_flight`` of reads, whose plan a put's blocks are aligned with."""


def plan_put_blocks(shape: Sequence[int], item_size: int, budget: int) -> Iterator[Block]:
    """The blocks of a put of an array of ``shape`` (see :func:`plan_blocks`), cut along the
    slowest axis at multiples of the blocks a default read of the same array asks for, when
    they are that axis's cut too (so that every block read lies inside one block written: a
    server keeping the put's blocks, as etp_sync's does, lends them to the read instead of
    copying the ones that straddle two). Otherwise, or when a read block is as big as a put
    block may be, the plan of :func:`plan_blocks`."""
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0 or math.prod(shape) == 0 or item_size > budget:
        return plan_blocks(shape, item_size, budget)
    per_index = item_size * math.prod(shape[1:])
    size = math.prod(shape)
    cap = min(budget, read_block_bytes(size, item_size, READ_IN_FLIGHT))
    if per_index > cap:
        return plan_blocks(shape, item_size, budget)
    _starts, read_counts = next(plan_blocks(shape, item_size, cap))
    step = read_counts[0]
    put_step = (budget // per_index) // step * step
    if put_step <= step or put_step >= shape[0]:
        return plan_blocks(shape, item_size, budget)
    # Aligned blocks may be up to a read block smaller than a message allows: not at the
    # price of more than one message more than the plain plan (each costs the server more
    # than the copies alignment saves).
    aligned = -(-shape[0] // put_step)
    if sum(1 for _ in itertools.islice(plan_blocks(shape, item_size, budget), aligned - 1)) < (
        aligned - 1
    ):
        return plan_blocks(shape, item_size, budget)
    tail = shape[1:]
    zeros = (0,) * len(tail)
    return (
        ((start, *zeros), (min(put_step, shape[0] - start), *tail))
        for start in range(0, shape[0], put_step)
    )


def split_block(block: Block) -> list[Block]:
    """Halve a block along its first axis with a count above 1 (for adaptive retries)."""
    starts, counts = block
    for axis, n in enumerate(counts):
        if n > 1:
            half = n // 2
            first = (starts, (*counts[:axis], half, *counts[axis + 1 :]))
            second_starts = (*starts[:axis], starts[axis] + half, *starts[axis + 1 :])
            second = (second_starts, (*counts[:axis], n - half, *counts[axis + 1 :]))
            return [first, second]
    return []


def offset(block: Block, origin: Sequence[int]) -> Block:
    """``block`` moved by ``origin`` (from the box's coordinates to the stored array's)."""
    starts, counts = block
    return tuple(s + o for s, o in zip(starts, origin, strict=True)), counts


def slices(starts: Sequence[int], counts: Sequence[int]) -> tuple[slice, ...]:
    """The numpy index of the block ``starts``/``counts``."""
    return tuple(slice(s, s + c) for s, c in zip(starts, counts, strict=True))


__all__ = [
    "ENVELOPE_MARGIN",
    "MIN_READ_BLOCK",
    "READ_IN_FLIGHT",
    "Block",
    "block_budget",
    "offset",
    "plan_blocks",
    "plan_put_blocks",
    "read_block_bytes",
    "slices",
    "split_block",
    "wire_item_size",
]
