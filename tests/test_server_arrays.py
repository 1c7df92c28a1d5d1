"""The server and the client agree on every dtype: one table (etp_sync.codec.arrays) for both.

For each dtype ETP carries, an array put by the client is stored by the server with the dtype and
type names the client codec gives, and an array put on the server side (Store) reads back in the
client exactly as the codec's own round trip does. Strings are the one deliberate difference: the
store keeps them as ``object`` arrays (same values).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from test_server import RawClient, errors_of

from etp_sync._value_casts import cast_within_range
from etp_sync.calls._array_decode import decode
from etp_sync.calls._array_meta import ArrayMetadata, metadata_from_record
from etp_sync.codec.arrays import (
    IMPLIED_LOGICAL,
    LOGICAL_ARRAY_TYPES,
    TRANSPORT_ARRAY_TYPES,
    array_types,
    dtype_for,
    from_any_array,
    to_any_array,
)
from etp_sync.errors import (
    ErrorCode,
    ETPDecodeError,
    ETPProtocolError,
    ETPRemoteError,
    StoreError,
)
from etp_sync.schema import datatypes, messages
from etp_sync.server import EmbeddedServer, Store
from etp_sync.server.store import default_array_types

DS = "eml:///dataspace('dtype/check')"
EPC = f"{DS}/eml20.obj_EpcExternalPartReference({uuid.UUID(int=11)})"


def sample(dtype: str) -> np.ndarray:
    """A 3x4 array of ``dtype`` that reaches the extremes of integer types (uint64 > 2**63)."""
    dt = np.dtype(dtype)
    if dt.kind == "U":
        return np.array([f"v{i}-é" for i in range(12)]).reshape(3, 4)
    if dt.kind == "b":
        return (np.arange(12) % 3 == 0).reshape(3, 4)
    values = np.arange(12).astype(dt).reshape(3, 4)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        values.flat[-1] = info.max
        values.flat[0] = info.min
    else:
        values.flat[-1] = 1.5e30 if dt.itemsize == 4 else 1e300
    return values


# Every dtype the codec table produces for some (transport, logical) pair.
DTYPES = sorted(
    {dtype_for(t, logical).str for t in TRANSPORT_ARRAY_TYPES for logical in LOGICAL_ARRAY_TYPES}
)


def codec_round_trip(values: np.ndarray) -> tuple[np.ndarray, Any]:
    """What the client codec alone makes of ``values``: decoded array and its types."""
    any_array, types = to_any_array(values)
    return from_any_array(any_array, values.shape, types.logical, copy=True), types


def assert_same_as_codec(got: np.ndarray, expected: np.ndarray) -> None:
    if expected.dtype.kind == "U":
        assert got.dtype.kind in "OU"
        assert got.tolist() == expected.tolist()
        return
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got, expected)


@pytest.fixture()
def server(harness: Any) -> EmbeddedServer:
    srv: EmbeddedServer = harness.server()
    srv.store.put_dataspace(DS)
    return srv


@pytest.mark.parametrize("dtype", DTYPES)
def test_server_and_client_codec_agree(harness: Any, server: EmbeddedServer, dtype: str) -> None:
    values = sample(dtype)
    expected, types = codec_round_trip(values)
    session = harness.session(server)
    # Client put: stored with the dtype and type names the codec gives.
    session.put_data_array(EPC, "/a", values)
    assert_same_as_codec(server.store.get_array(EPC, "/a"), expected)
    meta = server.store.get_array_metadata(EPC, "/a")
    assert (meta.transport_type, meta.logical_type) == (types.transport, types.logical)
    assert_same_as_codec(session.get_data_array(EPC, "/a"), expected)
    # Server-side put: reads back in the client as the codec's own round trip.
    server.store.put_array(EPC, "/s", values)
    assert default_array_types(values.dtype) == (types.transport, types.logical)
    client_meta = session.get_data_array_metadata(EPC, "/s")
    assert (client_meta.transport_type, client_meta.logical_type) == (
        types.transport,
        types.logical,
    )
    assert client_meta.dtype == dtype_for(types.transport, types.logical)
    assert_same_as_codec(session.get_data_array(EPC, "/s"), expected)
    block = session.get_data_subarray(EPC, "/s", [1, 1], [2, 3])
    assert_same_as_codec(block, expected[1:3, 1:4])


def test_uint64_travels_exact_both_ways(harness: Any, server: EmbeddedServer) -> None:
    values = np.array([0, 2**63, 2**64 - 1, 12345], dtype=np.uint64)
    server.store.put_array(EPC, "/u64", values)
    meta = server.store.get_array_metadata(EPC, "/u64")
    assert (meta.transport_type, meta.logical_type) == ("bytes", "arrayOfUInt64LE")
    session = harness.session(server)
    got = session.get_data_array(EPC, "/u64")
    assert got.dtype == np.uint64 and got.tolist() == values.tolist()
    session.put_data_array(EPC, "/u64b", values[::-1])
    assert server.store.get_array(EPC, "/u64b").tolist() == values[::-1].tolist()


@pytest.mark.parametrize(
    ("stored", "values"),
    [
        ("int8", np.array([1, 300], dtype=np.uint16)),
        ("uint16", np.array([-1, 70000], dtype=np.int32)),
        ("uint32", np.array([-1, 2**33], dtype=np.int64)),
        ("int16", np.array([7, 40000], dtype=np.int32)),
        ("float32", np.array([1e300, 2.0])),  # was stored as inf (review)
        ("float32", np.array([2.0, -1e39])),
    ],
)
def test_a_block_of_values_its_array_cannot_hold_is_refused(
    harness: Any, server: EmbeddedServer, stored: str, values: np.ndarray
) -> None:
    """PutDataSubarrays carries no logical type: its values were read as the stored array's
    dtype and wrapped (300 stored in an int8 array as 44). They are refused now
    (EINVALID_ARGUMENT) and the array keeps its values; values that fit are stored."""
    session = harness.session(server)
    session.put_data_array(EPC, "/narrow", np.zeros(4, dtype=stored))
    with pytest.raises(ETPRemoteError) as info:
        session.put_data_subarray(EPC, "/narrow", [1], values)
    assert info.value.code == ErrorCode.EINVALID_ARGUMENT
    assert "do not fit" in str(info.value)
    assert server.store.get_array(EPC, "/narrow").tolist() == [0, 0, 0, 0]
    session.put_data_subarray(EPC, "/narrow", [1], np.array([1, 2], dtype=values.dtype))
    got = session.get_data_array(EPC, "/narrow")
    assert got.dtype == np.dtype(stored) and got.tolist() == [0, 1, 2, 0]


def test_floats_a_narrower_float_array_can_hold_are_stored(
    harness: Any, server: EmbeddedServer
) -> None:
    """Only finite values beyond float32's range are refused: infinities and NaN have a
    float32 of their own, and float64 precision is lost as any such cast loses it."""
    session = harness.session(server)
    session.put_data_array(EPC, "/f32", np.zeros(4, dtype=np.float32))
    session.put_data_subarray(EPC, "/f32", [0], np.array([np.inf, -np.inf, np.nan, 0.1]))
    got = session.get_data_array(EPC, "/f32")
    assert got.dtype == np.float32
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])
    assert got[3] == np.float32(0.1)


def test_a_cast_to_a_narrower_type_refuses_values_it_cannot_hold() -> None:
    """What the server's writes and the client's reads cast with (codec/arrays.py)."""
    f32 = np.dtype(np.float32)
    assert "do not fit float32" in str(cast_within_range(np.array([1.5, 1e300]), f32))
    fits = cast_within_range(np.array([1.5, -np.inf, np.nan]), f32)
    assert isinstance(fits, np.ndarray) and fits.dtype == f32 and fits[1] == -np.inf
    assert "do not fit int8" in str(cast_within_range(np.array([1, 300]), np.dtype(np.int8)))
    assert cast_within_range(np.array([1, -128]), np.dtype(np.int8)).tolist() == [1, -128]


def test_a_read_refuses_reply_values_its_array_cannot_hold() -> None:
    """Doubles for a float32 array (or longs for an int8 one) beyond its range: the client
    made them inf (or wrapped them) without a word; now the reply is refused."""
    meta = ArrayMetadata(
        dimensions=(2,),
        dtype=np.dtype(np.float32),
        transport_type="arrayOfDouble",
        logical_type="arrayOfFloat32LE",
    )
    any_array, _ = to_any_array(np.array([1.5, 1e300]))
    with pytest.raises(ETPProtocolError, match="do not fit float32"):
        decode(any_array, [2], [2], meta)
    fits, _ = to_any_array(np.array([1.5, 2.5]))
    assert decode(fits, [2], [2], meta).tolist() == [1.5, 2.5]


def test_reading_int32_values_as_a_narrower_dtype_refuses_values_it_cannot_hold() -> None:
    """from_any_array narrows integers only when every value fits (server and client alike)."""
    any_array, _ = to_any_array(np.array([7, 40000], dtype=np.int32))
    assert from_any_array(any_array, [2], "arrayOfInt32LE").tolist() == [7, 40000]
    with pytest.raises(ETPDecodeError, match="do not fit int16"):
        from_any_array(any_array, [2], "arrayOfInt16LE")
    fits, _ = to_any_array(np.array([7, -8], dtype=np.int32))
    assert from_any_array(fits, [2], "arrayOfInt16LE").dtype == np.int16


def test_a_0d_string_array_round_trips(harness: Any, server: EmbeddedServer) -> None:
    """A 0-d string array is stored (its one element counted as any string) and read back,
    whole or as its one block; it was an internal server error (EREQUEST_DENIED)."""
    session = harness.session(server)
    session.put_data_array(EPC, "/s0", np.array("héllo"))
    got = session.get_data_array(EPC, "/s0")
    assert got.shape == () and got[()] == "héllo"
    assert session.get_data_subarray(EPC, "/s0", (), ())[()] == "héllo"


def _put_whole(client: RawClient, path: str, item: Any, dims: list[int]) -> Any:
    uid = datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource=path)
    put = datatypes.DataArrayTypes.PutDataArraysType(
        uid=uid, array=datatypes.DataArrayTypes.DataArray(dimensions=dims, data=item)
    )
    [reply] = client.bodies(messages.DataArray.PutDataArrays(data_arrays={"k": put}))
    return reply


def test_put_data_arrays_without_logical_type(server: EmbeddedServer) -> None:
    """Raw bytes of a new array are uint8 (as the client reads them); a replaced array with the
    same transport keeps its logical type (a peer's int8 stays int8)."""
    client = RawClient(server.url)
    try:
        raw = bytes([0, 1, 200, 255])
        reply = _put_whole(client, "/raw", datatypes.AnyArray(item=raw), [4])
        assert reply.success == {"k": ""}
        stored = server.store.get_array(EPC, "/raw")
        assert stored.dtype == dtype_for("bytes") == np.uint8
        assert stored.tolist() == [0, 1, 200, 255]
        meta = server.store.get_array_metadata(EPC, "/raw")
        assert meta.logical_type == IMPLIED_LOGICAL["bytes"] == "arrayOfUInt8"

        server.store.put_uninitialized_array(EPC, "/i8", [4], np.int8)
        _put_whole(client, "/i8", datatypes.AnyArray(item=raw), [4])
        assert server.store.get_array(EPC, "/i8").tolist() == [0, 1, -56, -1]
        assert server.store.get_array_metadata(EPC, "/i8").logical_type == "arrayOfInt8"

        # uint32 on arrayOfInt (as open-etp-server sends it): bit for bit into a uint32 array.
        server.store.put_uninitialized_array(EPC, "/u32", [2], np.uint32)
        uid = datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource="/u32")
        sub = datatypes.DataArrayTypes.PutDataSubarraysType(
            uid=uid,
            data=datatypes.AnyArray(item=datatypes.ArrayOfInt(values=np.array([-1, 7], "<i4"))),
            starts=[0],
            counts=[2],
        )
        [ok] = client.bodies(messages.DataArray.PutDataSubarrays(data_subarrays={"s": sub}))
        assert ok.success == {"s": ""}
        assert server.store.get_array(EPC, "/u32").tolist() == [2**32 - 1, 7]
    finally:
        client.close()


def test_store_refuses_dtypes_the_codec_cannot_carry() -> None:
    store = Store(allow_default_dataspace=True)
    uri = f"eml:///eml20.obj_EpcExternalPartReference({uuid.UUID(int=1)})"
    for bad in (np.zeros(2, np.complex128), np.zeros(2, "S3"), np.array([1, "a"], object)):
        with pytest.raises(StoreError) as info:
            store.put_array(uri, "/x", bad)
        assert info.value.code == ErrorCode.EINVALID_ARGUMENT
    with pytest.raises(StoreError) as info:
        store.put_array(uri, "/x", np.zeros(2), transport_type="arrayOfString")
    assert info.value.code == ErrorCode.EINVALID_ARGUMENT
    assert array_types(np.float64).transport == "arrayOfDouble"


@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("key", ["0", "k" * 300])
def test_a_reply_is_never_bigger_than_its_values_at_their_longest_and_the_envelope(
    key: str, ndim: int
) -> None:
    """A GetDataSubarrays reply is sent unsized when its values at their longest plus the
    envelope fit: the envelope must bound everything else the body takes."""
    from etp_sync.codec import encoded_body_size
    from etp_sync.server._h_dataarray import _envelope

    count = 1000
    dims = [count] + [1] * (ndim - 1)
    values = np.full(dims, np.iinfo(np.int64).min, dtype=np.int64)  # 10-byte varints
    data, _ = to_any_array(values)
    array = datatypes.DataArrayTypes.DataArray(dimensions=[2**62] * ndim, data=data)
    for body in (
        messages.DataArray.GetDataSubarraysResponse(data_subarrays={key: array}),
        messages.DataArray.GetDataArraysResponse(data_arrays={key: array}),
    ):
        assert encoded_body_size(body) <= count * 10 + _envelope(key, ndim)


# Dimensions numpy cannot shape: an int64 product that wraps (to 1: x * y * z = 1 mod 2**64),
# an empty array with axes whose product overflows, an empty array whose other axis spans
# more bytes than numpy allows.
_X, _Y = 3 * 2**60 + 1, 2**61 + 3
WRAPPING = [_X, _Y, pow(_X * _Y, -1, 2**64)]
HUGE_DIMENSIONS = [WRAPPING, [2**32, 2**32, 0], [0, 2**62]]


def _double_metadata(dims: list[int]) -> Any:
    """The DataArrayMetadata record of a float64 array of ``dims``."""
    return datatypes.DataArrayTypes.DataArrayMetadata(
        dimensions=dims,
        transport_array_type="arrayOfDouble",
        logical_array_type="arrayOfDouble64LE",
        store_last_write=0,
        store_created=0,
    )


def test_wrapping_dimensions_wrap_in_int64() -> None:
    assert int(np.prod(np.array(WRAPPING, dtype=np.uint64))) == 1  # what the old check saw


@pytest.mark.parametrize("dims", HUGE_DIMENSIONS)
def test_dimensions_numpy_cannot_shape_are_a_decode_error(dims: list[int]) -> None:
    """The codec (the client's too) checks dimensions as Python ints before numpy sees them:
    ETPDecodeError, never numpy's ValueError."""
    count = 1 if dims is WRAPPING else 0
    any_array, _ = to_any_array(np.ones(count))
    with pytest.raises(ETPDecodeError):
        from_any_array(any_array, dims, "arrayOfDouble64LE")
    meta = ArrayMetadata(tuple(dims), np.dtype("<f8"), "arrayOfDouble", "arrayOfDouble64LE")
    with pytest.raises(ETPDecodeError):  # what a hostile server's reply gives the client
        decode(any_array, dims, dims, meta)
    with pytest.raises(ETPDecodeError):
        metadata_from_record(_double_metadata(dims))


def test_huge_dimensions_are_refused_per_key(server: EmbeddedServer) -> None:
    """Dimensions numpy cannot shape were a ValueError: the whole request was answered
    EREQUEST_DENIED ("internal server error") after the keys before them were written. Each
    is refused for its own key (EINVALID_ARGUMENT); the others get their own results."""
    client = RawClient(server.url)
    try:
        good = datatypes.AnyArray(item=datatypes.ArrayOfDouble(values=np.arange(4.0)))
        puts = {"good": ([2, 2], good)}
        for n, dims in enumerate(HUGE_DIMENSIONS):
            values = np.ones(1 if dims is WRAPPING else 0)
            puts[f"bad{n}"] = (dims, to_any_array(values)[0])
        arrays = {
            key: datatypes.DataArrayTypes.PutDataArraysType(
                uid=datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource=key),
                array=datatypes.DataArrayTypes.DataArray(dimensions=dims, data=item),
            )
            for key, (dims, item) in puts.items()
        }
        bodies = client.bodies(messages.DataArray.PutDataArrays(data_arrays=arrays))
        assert [b.success for b in bodies if b.etp_name == "PutDataArraysResponse"] == [
            {"good": ""}
        ]
        assert errors_of(bodies) == {f"bad{n}": 5 for n in range(len(HUGE_DIMENSIONS))}
        assert server.store.get_array(EPC, "good").tolist() == [[0, 1], [2, 3]]

        uninit = {
            f"u{n}": datatypes.DataArrayTypes.PutUninitializedDataArrayType(
                uid=datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource=f"u{n}"),
                metadata=_double_metadata(dims),
            )
            for n, dims in enumerate([[2, 2], [0, 2**62], [0, 2**40]])
        }
        bodies = client.bodies(messages.DataArray.PutUninitializedDataArrays(data_arrays=uninit))
        assert [
            b.success for b in bodies if b.etp_name == "PutUninitializedDataArraysResponse"
        ] == [{"u0": ""}]
        # numpy's range, and (an empty array's axis too) the store's max_array_bytes
        assert errors_of(bodies) == {"u1": 5, "u2": 5}
    finally:
        client.close()


@pytest.mark.parametrize("limit", [None, 1 << 20])
def test_the_store_refuses_an_empty_array_with_an_axis_numpy_cannot_shape(
    limit: int | None,
) -> None:
    """put_uninitialized_array accepted [0, 2**62]: every later read of it was a ValueError."""
    store = Store(allow_default_dataspace=True, max_array_bytes=limit)
    uri = f"eml:///eml20.obj_EpcExternalPartReference({uuid.UUID(int=1)})"
    for dims in ([0, 2**62], [2**32, 2**32, 0], [-1, 2]):
        with pytest.raises(StoreError) as info:
            store.put_uninitialized_array(uri, "/x", dims, np.float64)
        assert info.value.code == ErrorCode.EINVALID_ARGUMENT
    store.put_uninitialized_array(uri, "/x", [0, 2**16], np.float64)
    assert store.get_array(uri, "/x").shape == (0, 2**16)
