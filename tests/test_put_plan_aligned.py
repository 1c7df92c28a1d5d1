"""Puts of integer arrays (varints) are cut where a default read of the same array cuts too
(calls/_blocks.plan_put_blocks): every block the read asks for lies inside one block the put
wrote, so etp_sync's server, which keeps a put's blocks as its own, lends each to the read
instead of copying (and encoding again) the ones that straddle two. The plan still covers the
array exactly once, in C order, each block within the message budget; where no such cut exists
it is the plain plan (plan_blocks)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import Harness

from etp_sync import ETPSession
from etp_sync.calls._blocks import (
    READ_IN_FLIGHT,
    plan_blocks,
    plan_put_blocks,
    read_block_bytes,
)
from etp_sync.server.store._chunked import ChunkedArray
from etp_sync.uri import DataObjectURI

DS = "arrays/aligned"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "0b7c1d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b7"
)
MIB = 1 << 20


def _read_plan(shape: tuple[int, ...], item: int, budget: int) -> list[Any]:
    cap = read_block_bytes(math.prod(shape), item, READ_IN_FLIGHT)
    return list(plan_blocks(shape, item, min(budget, cap)))


def _covers_once(shape: tuple[int, ...], blocks: list[Any], item: int, budget: int) -> None:
    seen = np.zeros(shape, dtype=np.int32)
    for starts, counts in blocks:
        assert math.prod(counts) * item <= budget
        seen[tuple(slice(s, s + c) for s, c in zip(starts, counts, strict=True))] += 1
    assert (seen == 1).all()


def _inside(block: Any, plan: list[Any]) -> bool:
    starts, counts = block
    return any(
        all(
            ps <= s and s + c <= ps + pc
            for s, c, ps, pc in zip(starts, counts, pst, pco, strict=True)
        )
        for pst, pco in plan
    )


@pytest.mark.parametrize(
    ("shape", "item", "budget"),
    [
        ((1024, 8192), 10, (16 << 20) - 1200),  # the 64 MiB int64 of bench/compare.py
        ((1024, 256), 10, MIB - 1200),
        ((100_000,), 10, MIB),
        ((3000, 7), 5, 200_000),
        ((999, 3, 4), 10, 50_000),
    ],
)
def test_read_blocks_lie_inside_put_blocks(shape: tuple[int, ...], item: int, budget: int) -> None:
    put = list(plan_put_blocks(shape, item, budget))
    _covers_once(shape, put, item, budget)
    assert put == sorted(put)  # C order
    read = _read_plan(shape, item, budget)
    assert all(_inside(block, put) for block in read)
    assert len(put) <= len(list(plan_blocks(shape, item, budget))) + 1


def test_the_plain_plan_where_no_aligned_cut_exists() -> None:
    # One put block holds a single read block at most: nothing to align.
    shape, item = (4096, 8192), 8
    budget = (16 << 20) - 1200
    assert list(plan_put_blocks(shape, item, budget)) == list(plan_blocks(shape, item, budget))
    # Rows too big for a read block (split along the next axis): the plain plan.
    assert list(plan_put_blocks((4, 1 << 20), 10, 1 << 20)) == list(
        plan_blocks((4, 1 << 20), 10, 1 << 20)
    )
    # Aligned blocks would take two messages more than the plain plan (8 vs 6: a message
    # holds just under 3 read blocks of 6,250 rows): the plain plan (review).
    shape, budget = (100_000, 100), (16 << 20) - 1200
    assert list(plan_put_blocks(shape, 10, budget)) == list(plan_blocks(shape, 10, budget))
    assert list(plan_put_blocks((), 10, 100)) == [((), ())]
    assert list(plan_put_blocks((0, 5), 10, 100)) == [((0, 0), (0, 5))]


def test_an_int64_get_after_a_put_copies_no_block(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the server answers every block of the read with a view of a block the put
    wrote (ChunkedArray.read, its copy, is never called), and the values come back. (Blocks
    of at least CHUNK_BYTES, which the server takes as its grid: 4 MiB messages.)"""
    srv = harness.server(dataspaces=[DS], max_message_size=4 * MIB)
    session: ETPSession = harness.session(srv, timeout=30, max_message_size=4 * MIB)
    values = np.random.default_rng(3).integers(0, 1000, (1024, 1024), dtype=np.int64)
    session.put_data_array(EPC, "/aligned", values)
    copies: list[Any] = []
    real = ChunkedArray.read

    def counted(self: ChunkedArray, index: Any) -> np.ndarray:
        copies.append(index)
        return real(self, index)

    monkeypatch.setattr(ChunkedArray, "read", counted)
    got = session.get_data_array(EPC, "/aligned")
    assert np.array_equal(got, values)
    assert copies == []
