"""BufferPool (etp_sync/codec/_pool.py): the one pool behind the varint kernels' scratch and
output memory and the placement scratch. A buffer is handed out again only once nothing but
the pool refers to it; what it keeps stays within its bound in bytes; threads share it."""

from __future__ import annotations

import threading

import numpy as np

from etp_sync.codec._pool import BufferPool, Carving


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def test_buffers_are_reused_only_once_nothing_refers_to_them() -> None:
    pool = BufferPool(2 * 8192, min_bytes=1 << 10)
    first = pool.take(4096)
    second = pool.take(4096)
    assert _address(first) != _address(second)  # the first is still referred to
    where = _address(first)
    view = first.data.cast("B")[10:]  # what a transport may hold while sending
    typed = first[:64].view(np.uint64)  # a dtype view of a slice: refers to it as well
    del first
    third = pool.take(4096)
    assert _address(third) != where  # still referred to through the memoryview
    del view, third
    assert _address(pool.take(4096)) != where  # ... and through the uint64 view
    del typed
    assert _address(pool.take(4096)) == where  # nothing refers to it any more: reused
    assert pool.pooled_bytes <= 2 * 8192


def test_a_bigger_request_replaces_free_buffers_within_the_bound() -> None:
    pool = BufferPool(3 * 4096, min_bytes=1 << 10)
    a, b = pool.take(4096), pool.take(4096)
    del a, b  # both free now: 8 KiB kept
    big = pool.take(8192)  # nothing free is big enough, no room: a free one is dropped
    assert pool.pooled_bytes <= 3 * 4096
    assert big.base is not None and big.base.nbytes == 8192  # pooled
    small = pool.take(2000)  # the smallest free buffer that fits
    assert small.base is not None and small.base.nbytes == 4096
    assert all(pool.take(100 + i).base is None for i in range(3))  # small: never pooled
    huge = pool.take(1 << 16)  # bigger than the bound: its user's alone
    assert huge.base is None and pool.pooled_bytes <= 3 * 4096


def test_a_pool_full_of_buffers_in_use_hands_out_memory_of_its_own() -> None:
    pool = BufferPool(8192)
    held = [pool.take(4096) for _ in range(4)]
    assert len({_address(b) for b in held}) == 4
    assert pool.pooled_bytes == 8192  # two pooled, two the users' own
    del held
    again = [pool.take(4096) for _ in range(2)]
    assert pool.pooled_bytes == 8192 and len({_address(b) for b in again}) == 2


def test_grow_leaves_room_for_slightly_bigger_requests() -> None:
    pool = BufferPool(1 << 20, grow=0.25)
    where = _address(pool.take(1000))
    assert _address(pool.take(1200)) == where


def test_threads_never_share_a_buffer_and_the_bound_holds() -> None:
    pool = BufferPool(4 * 4096, min_bytes=1)
    start = threading.Barrier(16)
    errors: list[str] = []
    owners: dict[int, int] = {}
    lock = threading.Lock()

    def work(me: int) -> None:
        start.wait()
        for _ in range(300):
            buf = pool.take(4096)
            at = _address(buf)
            with lock:
                if owners.get(at) is not None:
                    errors.append(f"{at:#x} handed to {me} while {owners[at]} held it")
                owners[at] = me
            buf[:8] = me
            if int(buf[0]) != me:
                errors.append("written over by another thread")
            with lock:
                owners[at] = None  # type: ignore[assignment]
            del buf

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert pool.pooled_bytes <= 4 * 4096


def test_carved_arrays_keep_their_buffer_in_use() -> None:
    # Two arrays of one size and dtype are carved as rows of one view: each still its own.
    layout = Carving([(3, np.uint64), (3, np.uint64), (5, np.bool_), (4, np.uint16)])
    n = layout.nbytes
    pool = BufferPool(n, min_bytes=n)  # room for this one buffer only
    buf = pool.take(n)
    where = _address(buf)
    a, a2, b, c = layout.carve(buf)
    del buf
    assert [(x.dtype, x.shape) for x in (a, a2, b, c)] == [
        (np.dtype(np.uint64), (3,)),
        (np.dtype(np.uint64), (3,)),
        (np.dtype(np.bool_), (5,)),
        (np.dtype(np.uint16), (4,)),
    ]
    assert all(_address(x) % 64 == 0 for x in (a, a2, b, c))  # and never 4 KiB apart:
    assert len({(_address(x) - _address(a)) % 4096 for x in (a, a2, b, c)}) == 4
    a[:] = 1
    a2[:] = 2
    b[:] = True
    c[:] = 7
    assert a.sum() == 3 and a2.sum() == 6 and b.sum() == 5 and c.sum() == 28  # no overlap
    assert [x.shape for x in layout.empty()] == [(3,), (3,), (5,), (4,)]
    assert _address(pool.take(n)) != where
    del a, b
    assert _address(pool.take(n)) != where  # ``a2`` and ``c`` still use it
    del a2
    assert _address(pool.take(n)) != where  # ``c`` still uses it
    del c
    assert _address(pool.take(n)) == where


def test_buffers_of_an_allocator_returning_views_are_not_handed_out_twice() -> None:
    # The placement scratch's allocator returns np.frombuffer(mmap).reshape(n) for big sizes: a
    # view whose own views refer to the frombuffer array, not to it. The pool must count
    # references where numpy puts them, or it hands out memory still in use.
    from etp_sync.codec.arrays import FRESH_MAP_BYTES, fresh_empty

    pool = BufferPool(4 * FRESH_MAP_BYTES, allocate=lambda n: fresh_empty(n, np.uint8))
    first = pool.take(FRESH_MAP_BYTES)
    second = pool.take(FRESH_MAP_BYTES)
    assert not np.shares_memory(first, second)
    where = _address(first)
    del first
    assert _address(pool.take(FRESH_MAP_BYTES)) == where  # free again: reused
    assert pool.pooled_bytes <= 4 * FRESH_MAP_BYTES
