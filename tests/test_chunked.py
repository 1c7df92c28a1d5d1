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
