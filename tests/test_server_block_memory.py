"""The server's recycled memory for arriving puts (etp_sync.server.store._blockmem): memory comes
back only when its array and every view of it are gone, idle memory stays within its bound, and
the store's blocks received into it survive transactions, rollbacks and lent views."""

from __future__ import annotations

import mmap
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _helpers import minor_faults

from etp_sync.codec.arrays import FRESH_MAP_BYTES
from etp_sync.server import EmbeddedServer
from etp_sync.server.store import Store
from etp_sync.server.store import _blockmem as blockmem
from etp_sync.server.store._blockmem import BlockMemory

MB = 1 << 20
DS = "eml:///dataspace('recycle/test')"
EPC = f"{DS}/eml20.obj_EpcExternalPartReference({uuid.UUID(int=11)})"


def address(values: np.ndarray) -> int:
    return int(values.__array_interface__["data"][0])


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Sizes of the fresh mappings made (memory that was not recycled)."""
    made: list[int] = []
    mapping = blockmem.anonymous_mapping

    def counting(nbytes: int) -> Any:
        made.append(nbytes)
        return mapping(nbytes)

    monkeypatch.setattr(blockmem, "anonymous_mapping", counting)
    yield made


def test_memory_comes_back_only_when_the_array_and_its_views_are_gone(fresh: list[int]) -> None:
    memory = BlockMemory(64 * MB)
    first = memory.empty((1024, 1024), np.float64)  # 8 MiB
    first[:] = 1.0
    where = address(first)
    view = first[10:20]
    del first
    assert memory.idle_bytes == 0  # the view still reads it
    second = memory.empty((1024, 1024), np.float64)
    assert address(second) != where and len(fresh) == 2
    np.testing.assert_array_equal(view, 1.0)
    del view
    assert memory.idle_bytes == 8 * MB
    third = memory.empty(MB, np.float64)  # same size, another shape and the same memory
    assert address(third) == where and memory.idle_bytes == 0 and len(fresh) == 2
    assert third.shape == (MB,) and third.flags.writeable and third.flags.c_contiguous
    assert second.base is not None  # (kept alive until here)


def test_idle_memory_stays_within_its_bound_oldest_dropped_first(fresh: list[int]) -> None:
    memory = BlockMemory(16 * MB)
    arrays = [memory.empty(MB, np.float64) for _ in range(3)]  # 8 MiB each
    places = [address(a) for a in arrays]
    while arrays:
        arrays.pop(0)  # given back in the order they were made
    assert memory.idle_bytes == 16 * MB  # the first one given back was dropped
    again = [memory.empty(MB, np.float64) for _ in range(3)]
    assert sorted(address(a) for a in again[:2]) == sorted(places[1:])
    assert len(fresh) == 4
    too_big = memory.empty(3 * MB, np.float64)  # 24 MiB: never kept
    del too_big, again
    assert memory.idle_bytes <= 16 * MB
    memory.clear()
    assert memory.idle_bytes == 0


def test_small_arrays_are_never_recycled_and_an_unbounded_memory_keeps_nothing(
    fresh: list[int],
) -> None:
    memory = BlockMemory(64 * MB)
    small = memory.empty(FRESH_MAP_BYTES // 8 - 1, np.float64)
    del small
    assert memory.idle_bytes == 0 and fresh == []
    off = BlockMemory(0)
    unkept = off.empty(MB, np.float64)
    del unkept
    assert off.idle_bytes == 0 and fresh == []  # without a bound, plain fresh memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mremap: Linux")
def test_idle_memory_of_another_size_is_resized_to_fit_keeping_its_pages(
    fresh: list[int],
) -> None:
    """pyetp's blocks of a 16 MiB message are 15 MiB, etp_sync's 15.06 MiB: a put of one
    client's blocks reuses the memory the other's left instead of mapping its own."""
    memory = BlockMemory(64 * MB)
    pyetp = [memory.empty(15 * MB // 8, np.float64) for _ in range(2)]
    for block in pyetp:
        block[:] = 1.0
    del pyetp, block
    assert memory.idle_bytes == 30 * MB and len(fresh) == 2
    before = minor_faults()
    ours = [memory.empty(241 * 8192, np.float64) for _ in range(2)]  # 15.06 MiB each
    for block in ours:
        block[:] = 2.0
    grown = minor_faults() - before
    assert len(fresh) == 2 and memory.idle_bytes == 0  # both recycled: nothing mapped anew
    assert grown < 15 * MB // mmap.PAGESIZE // 4  # their pages were in already
    assert all(b.nbytes == 241 * 8192 * 8 and len(b.base.base) == b.nbytes for b in ours)
    np.testing.assert_array_equal(ours[0], 2.0)
    del ours, block
    shrunk = memory.empty(MB, np.float64)  # 8 MiB: the smallest longer one, cut to fit
    shrunk[:] = 3.0
    assert len(fresh) == 2 and memory.idle_bytes == 241 * 8192 * 8
    assert len(shrunk.base.base) == 8 * MB
    del shrunk
    again = memory.empty(MB, np.float64)  # the same size idle: taken before a longer one
    assert memory.idle_bytes == 241 * 8192 * 8 and len(fresh) == 2
    np.testing.assert_array_equal(again, 3.0)  # the same memory, its bytes untouched


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mremap: Linux")
def test_idle_memory_still_exported_is_not_resized_but_kept(fresh: list[int]) -> None:
    memory = BlockMemory(64 * MB)
    block = memory.empty(MB, np.float64)
    del block
    (idle,) = memory._idle
    held = memoryview(idle)  # as a dying array's buffer before it is released
    other = memory.empty(MB // 2, np.float64)
    assert len(fresh) == 2 and memory.idle_bytes == 8 * MB  # fresh; the idle one kept
    other[:] = 1.0
    held.release()
    del other
    assert memory.idle_bytes == 12 * MB


def _received(store: Store, values: np.ndarray) -> np.ndarray:
    """``values`` as the server receives them: in the store's memory for incoming values."""
    out = store.incoming_values(values.size, values.dtype).reshape(values.shape)
    out[...] = values
    return out


def test_a_rolled_back_transactions_blocks_come_back_and_the_committed_array_stays(
    fresh: list[int],
) -> None:
    store = Store(max_store_bytes=None)
    store.put_dataspace(DS)
    rng = np.random.default_rng(5)
    committed = rng.random((2048, 1024))  # 16 MiB, two blocks of 8 MiB as the client sends
    store.put_uninitialized_array(EPC, "/a", committed.shape, np.float64)
    for row in (0, 1024):
        block = _received(store, committed[row : row + 1024])
        store.put_subarray(EPC, "/a", [row, 0], [1024, 1024], block, adopt=True)
    assert len(fresh) == 2 and store.block_memory.idle_bytes == 0  # kept as blocks
    tx = store.start_transaction("writer", [DS])
    staged = rng.random((2048, 1024))
    store.put_uninitialized_array(EPC, "/a", staged.shape, np.float64, tx=tx)
    for row in (0, 1024):
        block = _received(store, staged[row : row + 1024])
        store.put_subarray(EPC, "/a", [row, 0], [1024, 1024], block, tx=tx, adopt=True)
    del block
    np.testing.assert_array_equal(store.get_array(EPC, "/a", tx=tx), staged)
    assert store.block_memory.idle_bytes == 0 and len(fresh) == 4
    store.rollback_transaction(tx)
    assert store.block_memory.idle_bytes == 16 * MB  # the staged blocks, given back
    np.testing.assert_array_equal(store.get_array(EPC, "/a"), committed)
    lent = store.get_subarray(EPC, "/a", [0, 0], [1024, 1024], lend=True)
    # A put that replaces the array at once: its old blocks come back, but the lent one only
    # when its view is gone; the new blocks take the idle memory first.
    store.put_uninitialized_array(EPC, "/a", committed.shape, np.float64)
    assert store.block_memory.idle_bytes == 24 * MB
    again = rng.random((2048, 1024))
    made = len(fresh)
    for row in (0, 1024):
        block = _received(store, again[row : row + 1024])
        store.put_subarray(EPC, "/a", [row, 0], [1024, 1024], block, adopt=True)
    del block
    assert len(fresh) == made == 4  # nothing mapped anew
    np.testing.assert_array_equal(lent, committed[:1024])  # never overwritten
    np.testing.assert_array_equal(store.get_array(EPC, "/a"), again)
    del lent
    assert store.block_memory.idle_bytes == 16 * MB


def test_a_stopped_server_keeps_no_idle_memory(fresh: list[int]) -> None:
    store = Store(max_store_bytes=None)
    unused = Store(max_store_bytes=None)
    with EmbeddedServer(store=unused):
        pass
    assert "block_memory" not in vars(unused)  # none made just to be emptied
    with EmbeddedServer(store=store):
        store.put_dataspace(DS)
        store.put_uninitialized_array(EPC, "/a", (1024, 1024), np.float64)
        block = _received(store, np.ones((1024, 1024)))
        store.put_subarray(EPC, "/a", [0, 0], [1024, 1024], block, adopt=True)
        del block
        store.put_uninitialized_array(EPC, "/a", (1024, 1024), np.float64)  # replaced
        assert store.block_memory.idle_bytes == 8 * MB
    assert store.block_memory.idle_bytes == 0  # the store outlives its server, idle memory not
    np.testing.assert_array_equal(store.get_array(EPC, "/a"), 0.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="populated on Linux only")
def test_fresh_memory_comes_populated_and_recycled_memory_needs_no_fault() -> None:
    """Values land in memory whose pages are in already: fresh memory is populated in one call
    (cheaper than a fault per page as the values arrive: a cold 256 MiB put 0.27 -> 0.21 s
    measured), recycled memory was written before."""
    memory = BlockMemory(64 * MB)
    pages = 16 * MB // mmap.PAGESIZE
    fresh = memory.empty(2 * MB, np.float64)  # 16 MiB, a fresh mapping
    before = minor_faults()
    fresh[:] = 2.0
    assert minor_faults() - before < pages // 4  # populated when it was made
    del fresh
    again = memory.empty(2 * MB, np.float64)
    before = minor_faults()
    again[:] = 3.0
    assert minor_faults() - before < pages // 4


def test_puts_of_other_block_sizes_over_a_socket_reuse_each_others_memory(
    fresh: list[int],
) -> None:
    """Two clients whose message sizes cut a 48 MiB array into blocks of different sizes: the
    second one's put is received into the memory the first one's array left (resized), and
    every value reads back."""
    from etp_sync import ETPSession

    store = Store(max_store_bytes=None)
    rng = np.random.default_rng(7)
    first, second = rng.random((768, 8192)), rng.random((768, 8192))  # 48 MiB each
    with EmbeddedServer(store=store, max_message_size=32 * MB) as server:
        for mms, values in ((8 * MB, first), (12 * MB, second)):
            with ETPSession(server.url, max_message_size=mms) as session:
                session.put_dataspace(DS)
                made = len(fresh)
                session.put_data_array(EPC, "/v", values)
                np.testing.assert_array_equal(session.get_data_array(EPC, "/v"), values)
                session.delete_dataspace(DS)
            blocks = [n for n in fresh[made:] if n >= FRESH_MAP_BYTES]
            if values is first:
                assert len(blocks) >= 6  # 8 MiB messages: blocks of a little under 8 MiB
                after_first = store.block_memory.idle_bytes
                assert after_first >= 40 * MB  # the deleted array's blocks, kept idle
            else:
                assert blocks == []  # blocks of about 10 MiB, received into the others, grown
                assert store.block_memory.idle_bytes >= 40 * MB
