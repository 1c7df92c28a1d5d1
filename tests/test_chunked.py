"""ChunkedArray blocks are allocated without zero-filling where a write covers them whole and a
read copies without filling first: what was never written must still read as the fill value."""

from __future__ import annotations

import numpy as np

from etp_sync.server.store._chunked import ChunkedArray


def _dirty_heap() -> None:
    """Free blocks full of non-zero bytes, so uninitialised memory is unlikely to be zero."""
    junk = [np.full(1 << 17, 7.5) for _ in range(32)]
    del junk


def test_unwritten_regions_read_as_the_fill_value() -> None:
    _dirty_heap()
    shape = (64, 8192)  # blocks of 16 x 8192 doubles
    arr = ChunkedArray(shape, np.dtype("<f8"))
    assert arr.chunk == (16, 8192)
    want = np.zeros(shape)
    whole = np.arange(16 * 8192, dtype="<f8").reshape(16, 8192)
    arr.write((slice(16, 32), slice(0, 8192)), whole)  # one block covered whole
    want[16:32] = whole
    part = np.full((3, 100), -1.0)
    arr.write((slice(40, 43), slice(5, 105)), part)  # part of a block: the rest stays 0
    want[40:43, 5:105] = part
    _dirty_heap()
    np.testing.assert_array_equal(arr.whole(), want)
    np.testing.assert_array_equal(arr.read((slice(10, 50), slice(0, 200))), want[10:50, :200])


def test_strings_are_filled_even_when_written_whole() -> None:
    arr = ChunkedArray((3,), np.dtype(object))
    arr.write((slice(0, 2),), np.array(["a", "b"], dtype=object))
    assert arr.whole().tolist() == ["a", "b", ""]


def _received(shape: tuple[int, ...]) -> np.ndarray:
    """Values in memory of their own, as a server receives a put's values."""
    return np.random.default_rng(3).random(shape)


def test_the_first_big_write_sets_the_grid_and_whole_blocks_are_kept_as_they_come() -> None:
    shape = (1000, 8192)
    arr = ChunkedArray(shape, np.dtype("<f8"))
    first = _received((241, 8192))  # a client's block: 241 rows
    arr.fit_grid((slice(0, 241), slice(0, 8192)))
    assert arr.chunk == (241, 8192)
    assert arr.write((slice(0, 241), slice(0, 8192)), first, adopt=True) == first.nbytes
    second = _received((241, 8192))
    arr.write((slice(241, 482), slice(0, 8192)), second, adopt=True)
    copied = _received((241, 8192))
    arr.write((slice(482, 723), slice(0, 8192)), copied)  # not given up: copied
    assert arr.nbytes == arr.held == 3 * first.nbytes
    got = arr.lend((slice(241, 482), slice(0, 8192)))
    assert got is not None and np.shares_memory(got, second)  # kept, not copied
    assert not np.shares_memory(arr.read((slice(482, 723), slice(0, 8192))), copied)
    np.testing.assert_array_equal(arr.read((slice(0, 723), slice(0, 8192)))[:241], first)
    arr.fit_grid((slice(0, 10), slice(0, 8192)))  # blocks exist: the grid stays
    assert arr.chunk == (241, 8192)


def test_small_or_offset_first_writes_keep_the_default_grid() -> None:
    arr = ChunkedArray((1000, 8192), np.dtype("<f8"))
    arr.fit_grid((slice(0, 8), slice(0, 8192)))  # under CHUNK_BYTES
    arr.fit_grid((slice(16, 257), slice(0, 8192)))  # not from the origin
    assert arr.chunk == (16, 8192)
    strings = ChunkedArray((1 << 20,), np.dtype(object))
    strings.fit_grid((slice(0, 1 << 19),))
    assert strings.chunk == (1 << 17,)


def test_values_that_share_bigger_memory_are_copied_not_kept() -> None:
    arr = ChunkedArray((64, 8192), np.dtype("<f8"))
    frame = _received((20, 8192))
    part = frame[:16]  # a view into bigger memory (a received frame, say)
    arr.write((slice(0, 16), slice(0, 8192)), part, adopt=True)
    assert not np.shares_memory(arr.read((slice(0, 16), slice(0, 8192))), frame)
    assert arr.held == part.nbytes


def test_a_lent_block_keeps_its_values_when_the_array_is_written() -> None:
    arr = ChunkedArray((64, 8192), np.dtype("<f8"))
    arr.write((slice(0, 16), slice(0, 8192)), np.ones((16, 8192)))
    rows = arr.lend((slice(0, 8), slice(0, 8192)))  # rows of a block: contiguous, lent too
    assert rows is not None and rows.shape == (8, 8192) and not rows.flags.writeable
    assert arr.lend((slice(0, 8), slice(0, 100))) is None  # not contiguous in it: copied
    assert arr.lend((slice(8, 24), slice(0, 8192))) is None  # across blocks: copied
    assert arr.lend((slice(16, 32), slice(0, 8192))) is None  # never written
    lent = arr.lend((slice(0, 16), slice(0, 8192)))
    assert lent is not None and not lent.flags.writeable
    held = arr.held
    arr.write((slice(2, 3), slice(0, 10)), np.full((1, 10), 5.0))  # part of the lent block
    assert (lent == 1.0).all()  # the views still have the values they were lent with
    assert (rows == 1.0).all()
    assert arr.read((slice(2, 3), slice(0, 10))).tolist() == [[5.0] * 10]
    assert arr.read((slice(3, 4), slice(0, 10))).tolist() == [[1.0] * 10]
    assert arr.held == held  # replaced, not grown
    again = arr.lend((slice(0, 16), slice(0, 8192)))
    assert again is not None
    arr.write((slice(0, 16), slice(0, 8192)), np.zeros((16, 8192)))  # the whole lent block
    assert (again[3] == 1.0).all() and again[2, 0] == 5.0
    assert not arr.read((slice(0, 16), slice(0, 8192))).any()


def test_a_block_lent_by_one_version_is_not_written_in_place_by_another() -> None:
    base = ChunkedArray((64, 8192), np.dtype("<f8"))
    base.write((slice(0, 16), slice(0, 8192)), np.ones((16, 8192)))
    fork = base.fork()
    lent = base.lend((slice(0, 16), slice(0, 8192)))
    assert lent is not None
    fork.adopt()  # the fork replaced its origin at a commit: the block is its own now
    fork.write((slice(0, 1), slice(0, 4)), np.zeros((1, 4)))
    assert (lent == 1.0).all()


def test_a_lent_block_stays_read_only_after_a_rolled_back_version_replaced_it() -> None:
    base = ChunkedArray((64, 8192), np.dtype("<f8"))
    base.write((slice(0, 16), slice(0, 8192)), np.ones((16, 8192)))
    lent = base.lend((slice(0, 16), slice(0, 8192)))
    assert lent is not None and not lent.flags.writeable
    fork = base.fork()  # a transaction's version: its write replaces its share of the block
    fork.write((slice(0, 1), slice(0, 4)), np.zeros((1, 4)))
    del fork  # rolled back; the committed version is written next
    held = base.held
    base.write((slice(0, 1), slice(0, 4)), np.full((1, 4), 7.0))
    assert (lent == 1.0).all()  # the lent view was not written through
    assert base.read((slice(0, 1), slice(0, 4))).tolist() == [[7.0] * 4]
    assert base.held == held  # replaced, not grown
