"""DataArray calls (etp_sync.calls.arrays), end to end against an EmbeddedServer over a socket."""

from __future__ import annotations

import logging
import math
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from conftest import Harness

from etp_sync import ETPSession
from etp_sync.calls import ArrayMetadata
from etp_sync.calls._array_read import MIN_BLOCK_BYTES
from etp_sync.calls._blocks import plan_blocks
from etp_sync.errors import ErrorCode, ETPEncodeError, ETPInvalidArgument, ETPRemoteError
from etp_sync.server import EmbeddedServer
from etp_sync.uri import DataObjectURI

DS = "arrays/test"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "9f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6"
)
MIB = 1 << 20


@pytest.fixture()
def make_session(harness: Harness) -> Callable[..., ETPSession]:
    """Start an embedded server (EmbeddedServer keywords), create DS, return a connected session."""

    def make(**server_kwargs: Any) -> ETPSession:
        srv = harness.server(dataspaces=[DS], **server_kwargs)
        session: ETPSession = harness.session(srv, timeout=30, max_message_size=64 * MIB)
        return session

    return make


@pytest.fixture(scope="module")
def shared() -> Iterator[ETPSession]:
    """One server and session for the many small round trips."""
    with EmbeddedServer(port=0) as srv:
        srv.store.put_dataspace(f"eml:///dataspace('{DS}')")
        with ETPSession(srv.url, timeout=30) as session:
            yield session


@pytest.fixture()
def small(make_session: Callable[..., ETPSession]) -> ETPSession:
    """A session whose server allows 1 MiB messages: big arrays go as many blocks."""
    session = make_session(max_message_size=MIB)
    assert session.server.max_message_size == MIB
    return session


def round_trip(session: ETPSession, array: Any, path: str, **kwargs: Any) -> np.ndarray:
    session.put_data_array(EPC, path, array, **kwargs)
    return session.get_data_array(EPC, path, **kwargs)


def assert_same(got: np.ndarray, want: Any) -> None:
    want = np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


# -- round trips -------------------------------------------------------------------------------

RNG = np.random.default_rng(1234)
DTYPES = [
    "bool",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    ">i4",
    ">u2",
    ">f8",
    ">i8",
    ">u8",
]


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    dt = np.dtype(dtype)
    n = math.prod(shape)
    if dt.kind == "b":
        values = RNG.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        values = RNG.integers(info.min, info.max, n, dtype=dt.newbyteorder("="), endpoint=True)
    else:
        values = RNG.standard_normal(n) * 1e6
    return values.astype(dt).reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips(shared: ETPSession, dtype: str) -> None:
    array = sample(dtype, (3, 4, 5))
    assert_same(round_trip(shared, array, f"/dtype/{dtype}"), array)
    meta = shared.get_data_array_metadata(EPC, f"/dtype/{dtype}")
    assert meta.dimensions == (3, 4, 5) and meta.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5),
        np.array(7, dtype=np.int16),
        np.zeros((0,)),
        np.zeros((0, 3), dtype=np.int32),
        np.zeros((4, 0, 2), dtype=bool),
        np.zeros((0, 2), dtype=np.uint8),
        np.array(9, dtype=">u2"),
        np.arange(7, dtype=np.uint8),
        np.arange(60.0).reshape(3, 4, 5),
        np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)),
        np.arange(100.0).reshape(10, 10)[::3, 1::2],
        np.arange(30, dtype=np.int64).reshape(5, 6).T,
    ],
    ids=[
        "0d-float",
        "0d-int16",
        "empty",
        "empty-2d",
        "empty-3d",
        "empty-uint8",
        "0d-be",
        "1d",
        "3d",
        "fortran",
        "sliced",
        "T",
    ],
)
def test_shapes_and_layouts(shared: ETPSession, array: np.ndarray, request: Any) -> None:
    assert_same(round_trip(shared, array, f"/shape/{request.node.callspec.id}"), array)


def test_extreme_integers(shared: ETPSession) -> None:
    i64 = np.array([np.iinfo(np.int64).min, -1, 0, 1, np.iinfo(np.int64).max], dtype=np.int64)
    u64 = np.array([0, 2**63, 2**63 + 12345, 2**64 - 1], dtype=np.uint64)
    u32 = np.array([0, 2**31, 2**32 - 1], dtype=np.uint32)
    i32 = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max], dtype=np.int32)
    for name, array in {"i64": i64, "u64": u64, "u32": u32, "i32": i32}.items():
        assert_same(round_trip(shared, array, f"/extreme/{name}"), array)


def test_bool_and_strings(shared: ETPSession) -> None:
    flags = np.array([[True, False, True], [False, False, True]])
    assert_same(round_trip(shared, flags, "/flags"), flags)
    words = np.array([["a", "héllo wörld", ""], ["日本語", "x" * 50, "z"]])
    got = round_trip(shared, words, "/words")
    assert got.shape == words.shape and got.dtype.kind == "U"
    assert got.tolist() == words.tolist()
    as_list = round_trip(shared, ["one", "two"], "/list")
    assert as_list.tolist() == ["one", "two"]


def test_unsupported_dtype_is_refused_before_sending(shared: ETPSession) -> None:
    with pytest.raises(ETPEncodeError, match="complex"):
        shared.put_data_array(EPC, "/complex", np.zeros(3, dtype=np.complex128))


def test_missing_array(shared: ETPSession) -> None:
    with pytest.raises(ETPRemoteError) as info:
        shared.get_data_array(EPC, "/no/such/array")
    assert info.value.code == ErrorCode.ENOT_FOUND


def test_metadata(shared: ETPSession) -> None:
    shared.put_data_array(EPC, "/meta", np.zeros((4, 6), dtype=">f4"))
    meta = shared.get_data_array_metadata(str(EPC), "/meta")
    assert isinstance(meta, ArrayMetadata)
    assert meta.dimensions == meta.shape == (4, 6)
    assert meta.dtype == np.dtype(">f4")
    assert (meta.transport_type, meta.logical_type) == ("arrayOfFloat", "arrayOfFloat32BE")
    assert meta.size == 24 and meta.nbytes == 96
    assert meta.store_created > 0 and meta.store_last_write >= meta.store_created


# -- subarrays ---------------------------------------------------------------------------------


def test_uninitialized_then_subarrays(shared: ETPSession) -> None:
    shared.put_uninitialized_data_array(EPC, "/sub", (6, 8), np.int32)
    meta = shared.get_data_array_metadata(EPC, "/sub")
    assert meta.dimensions == (6, 8) and meta.dtype == np.int32
    full = np.arange(48, dtype=np.int32).reshape(6, 8)
    shared.put_data_subarray(EPC, "/sub", (0, 0), full[:3])
    shared.put_data_subarray(EPC, "/sub", (3, 0), full[3:, :5])
    shared.put_data_subarray(EPC, "/sub", (3, 5), np.asfortranarray(full[3:, 5:]))
    assert_same(shared.get_data_array(EPC, "/sub"), full)
    assert_same(shared.get_data_subarray(EPC, "/sub", (1, 2), (3, 4)), full[1:4, 2:6])
    assert_same(shared.get_data_subarray(EPC, "/sub", (5, 7), (1, 1)), full[5:, 7:])
    with pytest.raises(ValueError):
        shared.put_data_subarray(EPC, "/sub", (0,), full)


def test_big_subarrays_are_split(small: ETPSession) -> None:
    shape = (400, 1000)  # 3.2 MB float64, 1 MiB messages
    small.put_uninitialized_data_array(EPC, "/bigsub", shape, np.float64)
    values = RNG.standard_normal(shape)
    seen: list[tuple[int, int]] = []
    small.put_data_subarray(
        EPC, "/bigsub", (0, 0), values, progress=lambda d, t: seen.append((d, t))
    )
    assert len(seen) > 3 and seen[-1] == (values.nbytes, values.nbytes)
    part = small.get_data_subarray(EPC, "/bigsub", (50, 10), (300, 990))
    assert_same(part, values[50:350, 10:])


def test_a_planned_chunk_of_the_budget_is_one_request_without_metadata(
    small: ETPSession, caplog: pytest.LogCaptureFixture
) -> None:
    budget = small.array_block_budget(EPC, "/chunk", 1)
    n = budget // 8  # float64: 8 wire bytes each
    values = RNG.standard_normal(n + 1)
    small.put_data_array(EPC, "/chunk", values)
    meta = small.get_data_array_metadata(EPC, "/chunk")

    def received(read: Callable[[], np.ndarray], want: np.ndarray) -> tuple[int, int]:
        """(GetDataSubarrays, GetDataArrayMetadata) the server received during ``read()``."""
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="etp_sync.server"):
            assert_same(read(), want)
        lines = [r.getMessage() for r in caplog.records if r.name == "etp_sync.server"]
        return (
            sum("-> GetDataSubarrays id=" in line for line in lines),
            sum("-> GetDataArrayMetadata id=" in line for line in lines),
        )

    def planned(count: int) -> Callable[[], np.ndarray]:
        return lambda: small.get_data_subarray(
            EPC, "/chunk", [0], [count], metadata=meta, block_bytes=budget
        )

    assert received(planned(n), values[:n]) == (1, 0)
    # One element more than a message: two requests.
    assert received(planned(n + 1), values)[0] == 2
    # Without a plan: the metadata first, then memory-capped blocks.
    default = len(list(plan_blocks((n,), 8, MIN_BLOCK_BYTES)))
    assert default > 1
    blocks, metadata = received(
        lambda: small.get_data_subarray(EPC, "/chunk", [0], [n]), values[:n]
    )
    assert blocks == default and metadata >= 1
    with pytest.raises(ETPInvalidArgument, match="2-axis"):
        small.get_data_subarray(EPC, "/chunk", [0, 0], [1, 1], metadata=meta)
    with pytest.raises(ETPInvalidArgument, match="block_bytes"):
        small.get_data_subarray(EPC, "/chunk", [0], [1], block_bytes=0)


# -- large arrays through small messages -------------------------------------------------------


def test_large_float64_array_goes_in_blocks(small: ETPSession) -> None:
    array = RNG.random((3000, 1000))  # 24 MB
    put_progress: list[tuple[int, int]] = []
    get_progress: list[tuple[int, int]] = []
    small.put_data_array(
        EPC, "/large", array, progress=lambda d, t: put_progress.append((d, t)), max_in_flight=4
    )
    got = small.get_data_array(EPC, "/large", progress=lambda d, t: get_progress.append((d, t)))
    assert_same(got, array)
    for progress in (put_progress, get_progress):
        assert len(progress) >= 24  # one call per block of at most 1 MiB
        assert progress[-1] == (array.nbytes, array.nbytes)
        done = [d for d, _ in progress]
        assert done == sorted(done)


def test_large_arrays_recurse_into_the_next_axis(small: ETPSession) -> None:
    array = RNG.random((2, 3, 70_000))  # one slice along axis 0 is 1.7 MB: split further
    assert_same(round_trip(small, array, "/recurse"), array)
    fortran = np.asfortranarray(RNG.random((300, 700)))
    assert_same(round_trip(small, fortran, "/fortran"), fortran)
    sliced = RNG.random((1200, 800))[::2, ::3]
    assert_same(round_trip(small, sliced, "/sliced"), sliced)


def test_large_int_arrays_budget_the_varint_worst_case(small: ETPSession) -> None:
    i64 = RNG.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 300_000, dtype=np.int64)
    i64[:2] = [np.iinfo(np.int64).min, np.iinfo(np.int64).max]
    u64 = RNG.integers(0, 2**64 - 1, 200_000, dtype=np.uint64, endpoint=True)
    u64[:2] = [2**63, 2**64 - 1]
    i32 = RNG.integers(-(2**31), 2**31 - 1, (500, 700), dtype=np.int32)
    flags = RNG.integers(0, 2, 3_000_000).astype(bool)
    for name, array in {"i64": i64, "u64": u64, "i32": i32, "bool": flags}.items():
        assert_same(round_trip(small, array, f"/big/{name}"), array)


@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_int64_read_replaced_between_blocks_is_read_again_whole(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    """A get of several requests whose varint blocks are decoded straight into the result,
    while another session replaces the array between two blocks: it reads the new version
    again into a result of its own (no block of the old version is left in it)."""
    srv = harness.server(dataspaces=[DS], max_message_size=MIB)
    reader: ETPSession = harness.session(srv, timeout=30, max_message_size=MIB)
    writer: ETPSession = harness.session(srv, timeout=30)
    info = np.iinfo(dtype)
    old = RNG.integers(info.min, info.max, 400_000, dtype=dtype, endpoint=True)
    new = RNG.integers(info.min, info.max, 400_000, dtype=dtype, endpoint=True)
    writer.put_data_array(EPC, "/replaced", old)
    serve = srv.store.get_subarray
    served: list[int] = []

    def hooked(*args: Any, **kwargs: Any) -> np.ndarray:
        values = serve(*args, **kwargs)
        served.append(len(values))
        if len(served) == 2:  # after the first block, before the rest
            writer.put_data_array(EPC, "/replaced", new)
        return values

    monkeypatch.setattr(srv.store, "get_subarray", hooked)
    got = reader.get_data_array(EPC, "/replaced")
    assert_same(got, new)
    assert len(served) > 2, served  # several requests
    assert sum(served) > 400_000, served  # the first attempt's blocks, then the whole again


@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_int64_read_resumes_after_a_drop(harness: Harness, dtype: str) -> None:
    """A get of several requests whose varint blocks are decoded straight into the result,
    dropped half way (a reply cut mid-frame): it reconnects, asks again for what was not
    answered whole and returns the stored array exactly."""
    from _faults import FaultProxy

    srv = harness.server(dataspaces=[DS])
    info = np.iinfo(dtype)
    values = RNG.integers(info.min, info.max, 1_000_000, dtype=dtype, endpoint=True)
    harness.session(srv, timeout=30).put_data_array(EPC, "/dropped", values)
    proxy = FaultProxy(srv).start()
    try:
        reader: ETPSession = harness.session(proxy, timeout=30, max_message_size=MIB)
        dropped = proxy.drop_after(values.nbytes // 2, "down")
        got = reader.get_data_array(EPC, "/dropped")
        assert dropped.is_set(), "the proxy never dropped the connection"
        assert proxy.accepted >= 2
        assert_same(got, values)
    finally:
        proxy.stop()


def test_large_string_array(small: ETPSession, caplog: pytest.LogCaptureFixture) -> None:
    words = np.array([f"word {i} é" for i in range(120_000)])  # ~1.7 MB on the wire
    got = round_trip(small, words, "/strings")
    assert got.tolist() == words.tolist()
    # Long strings: reads guess a size per string, and halve the blocks the server refuses.
    long_words = np.array([f"{i:06d}" + "ü" * 150 for i in range(8_000)])  # ~2.5 MB
    with caplog.at_level(logging.DEBUG, logger="etp_sync.arrays"):
        got = round_trip(small, long_words, "/long-strings")
    assert got.tolist() == long_words.tolist()
    assert "too big for the server" in caplog.text


def test_max_in_flight(small: ETPSession) -> None:
    array = RNG.random((300, 1000))
    small.put_data_array(EPC, "/one-at-a-time", array, max_in_flight=1)
    assert_same(small.get_data_array(EPC, "/one-at-a-time", max_in_flight=1), array)
    with pytest.raises(ValueError):
        small.get_data_array(EPC, "/one-at-a-time", max_in_flight=0)


def test_get_memory_stays_below_one_and_a_half_times_the_array(small: ETPSession) -> None:
    array = RNG.random((2000, 1000))  # 16 MB
    small.put_data_array(EPC, "/mem", array)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        got = small.get_data_array(EPC, "/mem")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert_same(got, array)
    # The server runs in this process: its per-block copies are counted too.
    assert peak < 1.5 * array.nbytes, peak / array.nbytes


# -- transactions ------------------------------------------------------------------------------


def test_put_on_a_server_that_demands_transactions(
    make_session: Callable[..., ETPSession],
) -> None:
    session = make_session(require_transactions=True, max_message_size=MIB)
    small_array = np.arange(10.0)
    session.put_data_array(EPC, "/tx/small", small_array)
    assert session.active_transaction is None
    assert_same(session.get_data_array(EPC, "/tx/small"), small_array)
    big = RNG.random((500, 1000))  # 4 MB: uninitialized + blocks inside one transaction
    session.put_data_array(EPC, "/tx/big", big)
    assert session.active_transaction is None
    assert_same(session.get_data_array(EPC, "/tx/big"), big)
    session.put_uninitialized_data_array(EPC, "/tx/sub", (4,), np.int16)
    session.put_data_subarray(EPC, "/tx/sub", (1,), np.array([5, 6], dtype=np.int16))
    assert session.get_data_array(EPC, "/tx/sub").tolist() == [0, 5, 6, 0]
    with session.transaction(DS):
        session.put_data_array(EPC, "/tx/explicit", big[:10])
    assert_same(session.get_data_array(EPC, "/tx/explicit"), big[:10])


def test_writes_inside_a_rolled_back_transaction_are_gone(shared: ETPSession) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), shared.transaction(DS):
        shared.put_data_array(EPC, "/rolled/back", np.arange(5))
        raise Boom
    with pytest.raises(ETPRemoteError):
        shared.get_data_array(EPC, "/rolled/back")


# -- block planning ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "item", "budget"),
    [((10,), 8, 24), ((7, 5), 8, 100), ((3, 4, 5), 10, 45), ((2, 3, 4), 1, 1000), ((9,), 8, 8)],
)
def test_plan_blocks_cover_the_array_once_within_budget(
    shape: tuple[int, ...], item: int, budget: int
) -> None:
    covered = np.zeros(shape, dtype=int)
    for starts, counts in plan_blocks(shape, item, budget):
        assert math.prod(counts) * item <= budget
        covered[tuple(slice(s, s + c) for s, c in zip(starts, counts, strict=True))] += 1
    assert (covered == 1).all()


def test_plan_blocks_edge_cases() -> None:
    assert list(plan_blocks((), 8, 100)) == [((), ())]
    assert list(plan_blocks((0, 5), 8, 100)) == [((0, 0), (0, 5))]
    assert list(plan_blocks((4, 5), 8, 1000)) == [((0, 0), (4, 5))]
    with pytest.raises(Exception, match="more than"):
        list(plan_blocks((4,), 10, 5))


def test_200_mb_array_round_trip(make_session: Callable[..., ETPSession]) -> None:
    """A 200 MB float64 array goes out and comes back as many subarray blocks, bit for bit."""
    session = make_session(max_message_size=16 * MIB)
    array = np.random.default_rng(7).random((5000, 5000))  # 200 MB
    done: list[tuple[int, int]] = []
    session.put_data_array(EPC, "/big", array, progress=lambda d, t: done.append((d, t)))
    assert done[-1] == (array.nbytes, array.nbytes) and len(done) > 12
    got = session.get_data_array(EPC, "/big")
    assert got.shape == array.shape and got.dtype == array.dtype
    assert np.array_equal(got, array)
