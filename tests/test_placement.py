"""DataArray replies received straight into the caller's array (etp_sync.codec._placement).

The frame is cut the way the transport cuts it (prefix, values into the target's memory, rest),
and the message rebuilt from the rest must be what ``decode_message`` makes of the whole frame,
its values a view of the target. Replies that cannot be placed are declined. Through a server:
gets of float64, float32 and uint8 arrays in blocks are received in place and equal the source.
"""

from __future__ import annotations

import mmap
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _helpers import minor_faults
from conftest import Harness

from etp_sync import ETPSession
from etp_sync.codec import MessageFlags, MessageHeader, _placement, decode_message, encode_message
from etp_sync.codec import arrays as arrays_module
from etp_sync.codec._placement import PLACE_PEEK, ArrayReplyTarget, IncomingValues
from etp_sync.codec._pool import BufferPool
from etp_sync.codec.arrays import (
    FRESH_MAP_BYTES,
    ArrayTypes,
    fresh_empty,
    populate,
    to_any_array,
)
from etp_sync.errors import ErrorCode, ETPDecodeError
from etp_sync.schema import datatypes, messages
from etp_sync.uri import DataObjectURI

RNG = np.random.default_rng(7)
_DAT = datatypes.DataArrayTypes


def _reply(
    values: np.ndarray, *, subarrays: bool = True, entries: int = 1, flags: int = 2
) -> bytes:
    data, _ = to_any_array(values)
    array = _DAT.DataArray(dimensions=list(values.shape), data=data)
    items = {str(i): array for i in range(entries)}
    body: Any = (
        messages.DataArray.GetDataSubarraysResponse(data_subarrays=items)
        if subarrays
        else messages.DataArray.GetDataArraysResponse(data_arrays=items)
    )
    return _frame(body, flags, correlation_id=4)


def _frame(body: Any, flags: int, correlation_id: int) -> bytes:
    """``body`` encoded as a protocol 9 message with these flags (compressed when they say so)."""
    header = MessageHeader(
        protocol=9,
        message_type=body.etp_message_type,
        correlation_id=correlation_id,
        message_id=7,
        message_flags=flags,
    )
    return encode_message(header, body, compress=bool(flags & MessageFlags.COMPRESSED))


def _receive(target: ArrayReplyTarget | IncomingValues, frame: bytes) -> tuple[Any, Any] | None:
    """What the transport and engine do with ``frame``: offer its start, cut the hole out."""
    spot = target.place(memoryview(frame)[:PLACE_PEEK], len(frame))
    if spot is None:
        return None
    offset, memory = spot
    memory[:] = frame[offset : offset + memory.nbytes]
    return target.decode(frame[:offset] + frame[offset + memory.nbytes :])


def _decoded_like_the_whole_frame(target: Any, frame: bytes) -> Any:
    """The body ``target`` decodes from ``frame`` received in place, checked to be what
    ``decode_message`` makes of the whole frame."""
    got = _receive(target, frame)
    assert got is not None
    header, body = got
    want_header, want_body = decode_message(frame)
    assert header == want_header
    assert body == want_body
    return body


@pytest.mark.parametrize(
    ("values", "transport"),
    [
        (RNG.random((30, 40)), "arrayOfDouble"),
        (RNG.random(1000).astype("<f4"), "arrayOfFloat"),
        (RNG.integers(0, 255, (17, 3), dtype=np.uint8), "bytes"),
        (RNG.integers(0, 2**63, 100, dtype=np.uint64), "bytes"),
        (RNG.integers(-(2**63), 2**63 - 1, (40, 25), dtype=np.int64), "arrayOfLong"),
        (RNG.integers(0, 1000, 5000, dtype=np.int64), "arrayOfLong"),
        (RNG.integers(-(2**31), 2**31 - 1, 300, dtype=np.int32), "arrayOfInt"),
    ],
)
@pytest.mark.parametrize("subarrays", [True, False])
def test_placed_reply_decodes_like_the_whole_frame(
    values: np.ndarray, transport: str, subarrays: bool
) -> None:
    frame = _reply(values, subarrays=subarrays)
    dest = np.empty_like(values)
    target = ArrayReplyTarget.for_values(dest, transport)
    assert target is not None
    body = _decoded_like_the_whole_frame(target, frame)
    np.testing.assert_array_equal(dest, values)
    entries = body.data_subarrays if subarrays else body.data_arrays
    item = entries["0"].data.item
    placed = np.frombuffer(item, dtype=np.uint8) if transport == "bytes" else item.values
    assert np.shares_memory(placed, dest)
    assert target.place(memoryview(frame)[:PLACE_PEEK], len(frame)) is None  # one frame only


def test_replies_that_cannot_be_placed_are_declined() -> None:
    values = RNG.random(64)
    dest = np.empty_like(values)

    def declined(frame: bytes, into: np.ndarray = dest, transport: str = "arrayOfDouble") -> bool:
        target = ArrayReplyTarget.for_values(into, transport)
        assert target is not None
        return _receive(target, frame) is None

    assert not declined(_reply(values))
    assert declined(_reply(values, entries=2))  # several entries
    assert declined(_reply(values[:63]))  # another count
    assert declined(_reply(values.astype("<f4")))  # another branch
    assert declined(_reply(np.arange(64, dtype=np.int64)))  # varints for doubles
    longs = np.arange(64, dtype=np.int64)
    assert not declined(_reply(longs), np.empty_like(longs), "arrayOfLong")
    assert declined(_reply(longs[:63]), np.empty_like(longs), "arrayOfLong")  # another count
    assert declined(_reply(longs.astype(np.int32)), np.empty_like(longs), "arrayOfLong")
    assert declined(_reply(values, flags=2 | MessageFlags.COMPRESSED))
    frame = _reply(values)
    assert declined(frame + b"\x00")  # the frame does not end after the values
    assert declined(frame[:40])  # cut short
    ping = encode_message(
        MessageHeader(protocol=0, message_type=8, correlation_id=0, message_id=9, message_flags=2),
        messages.Core.Ping(current_date_time=1),
    )
    assert declined(ping)


def test_targets_are_only_made_for_memory_that_takes_the_values_as_they_are() -> None:
    assert ArrayReplyTarget.for_values(np.empty(8), "arrayOfDouble") is not None
    assert ArrayReplyTarget.for_values(np.empty(8, ">f8"), "arrayOfDouble") is None
    assert ArrayReplyTarget.for_values(np.empty(8, "<f4"), "arrayOfDouble") is None
    assert ArrayReplyTarget.for_values(np.empty(8, np.int64), "arrayOfLong") is not None
    assert ArrayReplyTarget.for_values(np.empty(8, np.uint64), "arrayOfLong") is not None
    assert ArrayReplyTarget.for_values(np.empty(8, np.uint32), "arrayOfInt") is not None
    assert ArrayReplyTarget.for_values(np.empty(8, ">i8"), "arrayOfLong") is None
    assert ArrayReplyTarget.for_values(np.empty(8, np.int32), "arrayOfLong") is None
    assert ArrayReplyTarget.for_values(np.empty(8, np.int16), "arrayOfInt") is None
    assert ArrayReplyTarget.for_values(np.empty(8, np.float64), "arrayOfLong") is None
    assert ArrayReplyTarget.for_values(np.empty((4, 4))[:, :2], "arrayOfDouble") is None
    assert ArrayReplyTarget.for_values(np.empty(0), "arrayOfDouble") is None


def test_a_wrong_rest_is_a_decode_error() -> None:
    values = RNG.random(64)
    frame = _reply(values)
    target = ArrayReplyTarget(np.empty_like(values), "arrayOfDouble")
    spot = target.place(memoryview(frame), len(frame))
    assert spot is not None
    offset, _memory = spot
    with pytest.raises(ETPDecodeError):
        target.decode(frame[:offset] + b"\x01\x00")


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: f[:-3] + bytes([f[-3] | 0x80]) + f[-2:],  # the last value runs on
        lambda f: f[:-2] + b"\x02\x04\x00\x00",  # another block after the values
        lambda f: f[:-1],  # no end of the map
        lambda f: f[: len(f) // 2] + b"\x00\x00",  # values missing
    ],
)
def test_placed_varints_that_do_not_add_up_are_a_decode_error(
    damage: Callable[[bytes], bytes],
) -> None:
    values = RNG.integers(-(2**40), 2**40, 1000, dtype=np.int64)
    frame = damage(_reply(values))
    target = ArrayReplyTarget(np.empty_like(values), "arrayOfLong")
    with pytest.raises(ETPDecodeError):
        assert _receive(target, frame) is not None, "declined"


def test_unsigned_values_on_a_signed_transport_are_placed_bit_for_bit() -> None:
    """uint64 values sent as arrayOfLong (above 2**63 as negative longs) land unchanged."""
    values = RNG.integers(0, 2**64 - 1, 2000, dtype=np.uint64, endpoint=True)
    data, _ = to_any_array(values, ArrayTypes("arrayOfLong", "arrayOfUInt64LE"))
    array = _DAT.DataArray(dimensions=[values.size], data=data)
    frame = _frame(messages.DataArray.GetDataSubarraysResponse(data_subarrays={"0": array}), 2, 4)
    dest = np.empty_like(values)
    target = ArrayReplyTarget.for_values(dest, "arrayOfLong")
    assert target is not None and _receive(target, frame) is not None
    np.testing.assert_array_equal(dest, values)


def test_varint_scratch_is_reused_from_frame_to_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of a varint frame goes to a pooled buffer, the same one frame after frame."""
    # A pool of its own: the process-wide one may hold buffers of earlier tests.
    monkeypatch.setattr(_placement, "_SCRATCH", BufferPool(1 << 24, grow=0.25))
    values = RNG.integers(0, 1000, 1 << 16, dtype=np.int64)
    frame = _reply(values)
    seen = set()
    for _ in range(3):
        dest = np.empty_like(values)
        target = ArrayReplyTarget(dest, "arrayOfLong")
        spot = target.place(memoryview(frame)[:PLACE_PEEK], len(frame))
        assert spot is not None
        offset, memory = spot
        seen.add(np.frombuffer(memory, np.uint8).ctypes.data)
        memory[:] = frame[offset:]
        del spot, memory  # as the transport, which holds the memory only while receiving
        target.decode(frame[:offset])
        np.testing.assert_array_equal(dest, values)
    assert len(seen) == 1


def test_varint_scratch_is_held_by_one_frame_and_its_pool_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scratch buffer is nobody else's while a frame uses it (also when the frame's decode
    fails, until the decode is over); the pool keeps at most its bound in bytes."""
    pool = BufferPool(1 << 16, grow=0.25)
    monkeypatch.setattr(_placement, "_SCRATCH", pool)
    values = RNG.integers(0, 1000, 1 << 10, dtype=np.int64)
    frame = _reply(values)
    target = ArrayReplyTarget(np.empty_like(values), "arrayOfLong")
    spot = target.place(memoryview(frame)[:PLACE_PEEK], len(frame))
    assert spot is not None
    offset, memory = spot
    held = np.frombuffer(memory, np.uint8).ctypes.data
    # Taken while the frame arrives: another frame gets other memory.
    other = pool.take(memory.nbytes)
    assert other.ctypes.data != held
    del other
    memory[:] = b"\xff" * memory.nbytes  # varints that never end
    del spot, memory
    with pytest.raises(ETPDecodeError):
        target.decode(frame[:offset])
    assert pool.take(100).ctypes.data == held  # free again all the same (the smallest that fits)
    big = pool.take(1 << 17)  # over the bound: its user's alone
    assert big.base is None and pool.pooled_bytes <= 1 << 16


DS = "placement/test"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "9f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6"
)


@pytest.fixture()
def session(harness: Harness) -> ETPSession:
    srv = harness.server(max_message_size=1 << 20, dataspaces=[DS])
    result: ETPSession = harness.session(srv, timeout=30)
    return result


def _count_placed(kind: type[Any], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the values each target of ``kind`` receives in place, from now on."""
    placed: list[int] = []
    decode = kind.decode

    def counting(self: Any, rest: Any) -> Any:
        placed.append(self.nbytes)
        return decode(self, rest)

    monkeypatch.setattr(kind, "decode", counting)
    return placed


@pytest.mark.parametrize(
    "make",
    [
        lambda: RNG.random((700, 1000)),
        lambda: RNG.random((300, 2000)).astype(np.float32),
        lambda: RNG.integers(0, 255, (2000, 1500), dtype=np.uint8),
        lambda: RNG.random((3, 2, 300_000)),  # blocks cut along the last axis
        lambda: RNG.integers(-(2**63), 2**63 - 1, (300, 1000), dtype=np.int64),
        lambda: RNG.integers(0, 1000, (3, 2, 200_000), dtype=np.int64),
        lambda: RNG.integers(-(2**31), 2**31 - 1, (300, 1000), dtype=np.int32),
    ],
)
def test_gets_in_blocks_are_received_in_place(
    session: ETPSession, make: Callable[[], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = make()
    session.put_data_array(EPC, "/placed", values)
    placed = _count_placed(ArrayReplyTarget, monkeypatch)
    got = session.get_data_array(EPC, "/placed")
    np.testing.assert_array_equal(got, values)
    assert got.dtype == values.dtype
    assert len(placed) >= 2  # several blocks, each received in place
    if values.dtype.kind == "f" or values.dtype == np.uint8:
        assert sum(placed) == values.nbytes
    else:  # varints: the bytes of each message after the values' count
        assert sum(placed) >= values.size


def _put(values: np.ndarray, *, subarrays: bool = True, entries: int = 1, flags: int = 2) -> bytes:
    """A PutDataSubarrays (or PutDataArrays) frame carrying ``values`` (as the client sends)."""
    body: Any
    if subarrays:
        body = messages.DataArray.PutDataSubarrays(data_subarrays=_put_entries(values, entries))
    else:
        data, _ = to_any_array(values)
        uid = _DAT.DataArrayIdentifier(uri=str(EPC), path_in_resource="/a/b")
        put = _DAT.PutDataArraysType(
            uid=uid, array=_DAT.DataArray(dimensions=list(values.shape), data=data)
        )
        body = messages.DataArray.PutDataArrays(data_arrays={str(i): put for i in range(entries)})
    return _frame(body, flags, correlation_id=0)


def _put_entries(values: np.ndarray, entries: int = 1) -> dict[str, Any]:
    """``entries`` PutDataSubarraysType entries writing ``values`` at starts 3, 3, ..."""
    data, _ = to_any_array(values)
    uid = _DAT.DataArrayIdentifier(uri=str(EPC), path_in_resource="/a/b")
    sub = _DAT.PutDataSubarraysType(
        uid=uid, data=data, starts=[3] * values.ndim, counts=list(values.shape)
    )
    return {str(i): sub for i in range(entries)}


@pytest.mark.parametrize(
    "values",
    [
        RNG.random((30, 40)),
        RNG.random(1000).astype("<f4"),
        RNG.integers(0, 255, (17, 3), dtype=np.uint8),
        RNG.random(1 << 20),  # big: a mapping of its own
        RNG.integers(-(2**63), 2**63 - 1, (30, 40), dtype=np.int64),
        RNG.integers(0, 1000, 1 << 20, dtype=np.int64),
        RNG.integers(-(2**31), 2**31 - 1, 1000, dtype=np.int32),
    ],
)
@pytest.mark.parametrize("subarrays", [True, False])
def test_incoming_puts_are_received_into_arrays_of_their_own(
    values: np.ndarray, subarrays: bool
) -> None:
    frame = _put(values, subarrays=subarrays)
    target = IncomingValues()
    body = _decoded_like_the_whole_frame(target, frame)
    entries = body.data_subarrays if subarrays else body.data_arrays
    entry = entries["0"]
    item = entry.data.item if subarrays else entry.array.data.item
    placed = np.frombuffer(item, dtype=np.uint8) if values.dtype == np.uint8 else item.values
    np.testing.assert_array_equal(placed, values.reshape(-1))
    assert placed.flags.writeable and placed.flags.c_contiguous
    assert placed.ctypes.data % 16 == 0  # aligned, unlike a view into the frame
    assert target.place(memoryview(frame)[:PLACE_PEEK], len(frame)) is None  # one frame only


def test_incoming_puts_that_cannot_be_placed_are_declined() -> None:
    values = RNG.random(64)

    def declined(frame: bytes) -> bool:
        return _receive(IncomingValues(), frame) is None

    assert not declined(_put(values))
    assert declined(_put(values, entries=2))
    assert not declined(_put(np.arange(64, dtype=np.int64)))  # varints
    assert declined(_put(values, flags=2 | MessageFlags.COMPRESSED))
    assert declined(_reply(values))  # a reply is not a put
    assert declined(_put(values)[:40])  # cut short


@pytest.mark.parametrize("kind", ["double", "long"])
def test_a_put_whose_values_come_in_two_blocks_decodes_like_the_whole_frame(kind: str) -> None:
    # Valid Avro (any encoder may split an array into blocks): the placed first block is
    # followed by another, and the frame is decoded whole, not refused.
    from etp_sync.codec._numeric import encode_avro_array_numeric

    values = np.arange(1000, dtype=np.float64 if kind == "double" else np.int64) * 1000

    def blocks(v: np.ndarray) -> bytes:
        return b"".join(bytes(p) for p in encode_avro_array_numeric(v, kind)[:-1])

    one = _put(values, subarrays=False)
    single = blocks(values)
    at = one.index(single)
    two = one[:at] + blocks(values[:400]) + blocks(values[400:]) + one[at + len(single) :]
    target = IncomingValues()
    body = _decoded_like_the_whole_frame(target, two)
    np.testing.assert_array_equal(body.data_arrays["0"].array.data.item.values, values)


def test_a_placed_put_with_a_wrong_rest_is_a_decode_error() -> None:
    values = RNG.random(64)
    frame = _put(values)
    target = IncomingValues()
    spot = target.place(memoryview(frame), len(frame))
    assert spot is not None
    offset, memory = spot
    rest = bytearray(frame[:offset] + frame[offset + memory.nbytes :])
    rest[offset] = 2  # another block after the values
    with pytest.raises(ETPDecodeError):
        target.decode(rest)


def test_puts_in_blocks_are_received_in_place_by_the_server(
    session: ETPSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Masked client frames: the server unmasks the placed values and the rest in place."""
    values = RNG.random((700, 1000))
    placed = _count_placed(IncomingValues, monkeypatch)
    session.put_data_array(EPC, "/put-placed", values)
    assert len(placed) >= 2
    assert sum(placed) == values.nbytes
    np.testing.assert_array_equal(session.get_data_array(EPC, "/put-placed"), values)


@pytest.mark.parametrize(
    "values",
    [
        RNG.integers(-(2**63), 2**63 - 1, (300, 1000), dtype=np.int64),
        RNG.integers(0, 1000, (300, 1000), dtype=np.int64),
    ],
)
def test_varint_puts_in_blocks_are_decoded_in_place_by_the_server(
    session: ETPSession, monkeypatch: pytest.MonkeyPatch, values: np.ndarray
) -> None:
    placed = _count_placed(IncomingValues, monkeypatch)
    session.put_data_array(EPC, "/put-varints", values)
    assert len(placed) >= 2
    assert sum(placed) >= values.size  # a byte per value at least
    got = session.get_data_array(EPC, "/put-varints")
    np.testing.assert_array_equal(got, values)
    assert got.dtype == values.dtype


@pytest.mark.parametrize("shape", [(10, 10), (1 << 10, 1 << 10)])
def test_fresh_arrays_take_values_and_populating_leaves_them_alone(shape: tuple[int, int]) -> None:
    values = RNG.random(shape)
    fresh = fresh_empty(shape, "<f8")
    assert fresh.shape == shape and fresh.dtype == np.dtype("<f8")
    assert fresh.flags.writeable and fresh.flags.c_contiguous
    fresh[: shape[0] // 2] = values[: shape[0] // 2]
    populate(fresh[shape[0] // 4 :])  # half written already, from an unaligned start
    faults = minor_faults()
    fresh[shape[0] // 2 :] = values[shape[0] // 2 :]
    faulted = minor_faults() - faults
    np.testing.assert_array_equal(fresh, values)
    if fresh.nbytes >= FRESH_MAP_BYTES and sys.platform.startswith("linux"):
        # the populated pages were mapped already: writing them took (almost) no fault
        assert faulted < fresh.nbytes // 2 // mmap.PAGESIZE // 4


@pytest.mark.parametrize("how", ["libc", "mmap.madvise", "not linux"])
def test_populating_fails_safe_whatever_the_platform_offers(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Without libc's madvise (mmap.madvise instead), or off Linux (nothing to do), populate
    still leaves every byte alone and raises nothing; arrays that are no fresh mapping (heap,
    a bytearray, strided views, a mapping at an unaligned offset) are left alone too."""
    if how != "libc":
        monkeypatch.setattr(arrays_module, "_MADVISE", None)
    if how == "not linux":
        monkeypatch.setattr(arrays_module, "_MADV_POPULATE_WRITE", None)
        assert arrays_module._libc_madvise() is None
    values = RNG.random(1 << 20)
    fresh = fresh_empty(values.size, "<f8")
    fresh[:] = values
    populate(fresh[1000:])
    np.testing.assert_array_equal(fresh, values)
    mapped = mmap.mmap(-1, 1 << 22)
    others = [
        values,
        np.frombuffer(bytearray(values.tobytes()), "<f8"),
        fresh[::2],
        np.frombuffer(mapped, np.uint8, offset=100),
    ]
    for other in others:
        before = other.copy()
        populate(other[10:])
        np.testing.assert_array_equal(other, before)


def test_a_put_before_the_session_is_open_is_refused_by_name(harness: Harness) -> None:
    """The server places no values before its handshake: a placeable put as the first message
    is decoded whole, and refused as not being a RequestSession (not as undecodable)."""
    from _hostile import RawWebSocket

    srv = harness.server()
    with RawWebSocket.open(srv.port) as ws:
        ws.send_etp(
            messages.DataArray.PutDataSubarrays(data_subarrays=_put_entries(RNG.random(1 << 14)))
        )
        error: Any = decode_message(ws.recv_message())[1]
        assert error.error.code == ErrorCode.EINVALID_STATE
        assert "PutDataSubarrays" in error.error.message
