"""DataArray (9) handlers: whole arrays, subarrays, uninitialized arrays and metadata.

Arrays are stored as numpy arrays with a transport type (the AnyArray branch used on the wire)
and a logical type (what the values mean), per the dtype mapping of
:func:`~etp_sync.server._store.default_array_types`. Conversions:

* incoming ``ArrayOf*`` values are taken as they are (``ArrayOfInt`` → int32, ``ArrayOfLong`` →
  int64, ...); incoming ``bytes`` are reinterpreted as the target array's dtype (its logical type,
  byte order included), int8 for a new array put whole;
* outgoing values are cast to the stored transport type (``bytes`` carries the raw elements in the
  logical byte order); ``dimensions`` are always the logical shape.

A whole array or subarray whose response would exceed the session's message size is refused for
its key with EMAXSIZE_EXCEEDED (17): clients then read it with GetDataSubarrays blocks.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from etp_sync.errors import ErrorCode
from etp_sync.schema import Record, datatypes, messages

from ._common import MESSAGE_MARGIN, Handler, Reply, SessionContext, fits, per_item_reply
from ._store import ArrayMeta, StoreError, default_array_types

_LOGICAL_DTYPES: dict[str, str] = {
    "arrayOfBoolean": "?",
    "arrayOfInt8": "i1",
    "arrayOfUInt8": "u1",
    "arrayOfCustom": "u1",
    "arrayOfString": "O",
}
for _name, _code in (
    ("Int16", "i2"),
    ("Int32", "i4"),
    ("Int64", "i8"),
    ("UInt16", "u2"),
    ("UInt32", "u4"),
    ("UInt64", "u8"),
    ("Float32", "f4"),
    ("Double64", "f8"),
):
    _LOGICAL_DTYPES[f"arrayOf{_name}LE"] = _code
    _LOGICAL_DTYPES[f"arrayOf{_name}BE"] = _code

_TRANSPORT_DTYPES: dict[str, str] = {
    "arrayOfBoolean": "?",
    "arrayOfInt": "<i4",
    "arrayOfLong": "<i8",
    "arrayOfFloat": "<f4",
    "arrayOfDouble": "<f8",
    "arrayOfString": "O",
    "bytes": "i1",
}
# Fewest wire bytes one element can take per transport type (string: its length varint).
_MIN_WIRE_BYTES = {
    "arrayOfBoolean": 1,
    "arrayOfInt": 1,
    "arrayOfLong": 1,
    "arrayOfFloat": 4,
    "arrayOfDouble": 8,
    "arrayOfString": 1,
}
# Most wire bytes one element can take (varints), for preferredSubarrayDimensions.
_MAX_WIRE_BYTES = {
    "arrayOfBoolean": 1,
    "arrayOfInt": 5,
    "arrayOfLong": 10,
    "arrayOfFloat": 4,
    "arrayOfDouble": 8,
    "arrayOfString": 64,
}


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _byte_order(logical: str) -> Literal[">", "<"]:
    return ">" if logical.endswith("BE") else "<"


def _wire_dtype(meta_dtype: np.dtype[Any], logical: str) -> np.dtype[Any]:
    """The dtype of raw ``bytes`` elements of an array (logical byte order)."""
    if meta_dtype.itemsize <= 1 or meta_dtype.kind in "bO":
        return meta_dtype
    return meta_dtype.newbyteorder(_byte_order(logical))


def anyarray_values(item: Any, raw_dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Flat numpy values of an ``AnyArray.item``; raw bytes are read as ``raw_dtype``."""
    if isinstance(item, bytes | bytearray | memoryview):
        raw = memoryview(item).cast("B")
        if raw_dtype.kind == "O":
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "bytes cannot carry strings")
        if raw.nbytes % raw_dtype.itemsize:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"{raw.nbytes} bytes are not a whole number of {raw_dtype} elements",
            )
        return np.frombuffer(raw, dtype=raw_dtype)
    values = getattr(item, "values", None)
    if values is None:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, "AnyArray without values")
    if isinstance(values, np.ndarray):
        return values.reshape(-1)
    return np.array(list(values), dtype=object)


def _transport_of(item: Any) -> str:
    if isinstance(item, bytes | bytearray | memoryview):
        return "bytes"
    name = type(item).etp_name  # ArrayOfDouble → arrayOfDouble
    return name[0].lower() + name[1:]


def anyarray(values: np.ndarray[Any, Any], transport: str, logical: str) -> Any:
    """``AnyArray`` carrying ``values`` (any shape, flattened C order) as ``transport``."""
    flat = np.ascontiguousarray(values).reshape(-1)
    if transport == "bytes":
        if flat.dtype.kind == "O":
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "strings cannot travel as bytes")
        wire = flat.astype(_wire_dtype(flat.dtype, logical), copy=False)
        return datatypes.AnyArray(item=wire.tobytes())
    if transport == "arrayOfString":
        return datatypes.AnyArray(item=datatypes.ArrayOfString(values=[str(v) for v in flat]))
    dtype = np.dtype(_TRANSPORT_DTYPES[transport])
    if flat.dtype.kind in "iu" and dtype.kind in "iu" and flat.dtype.itemsize == dtype.itemsize:
        cast = flat.view(dtype) if flat.dtype.isnative else flat.astype(dtype)
    else:
        cast = flat.astype(dtype, copy=False)
    cls = {
        "arrayOfBoolean": datatypes.ArrayOfBoolean,
        "arrayOfInt": datatypes.ArrayOfInt,
        "arrayOfLong": datatypes.ArrayOfLong,
        "arrayOfFloat": datatypes.ArrayOfFloat,
        "arrayOfDouble": datatypes.ArrayOfDouble,
    }[transport]
    return datatypes.AnyArray(item=cls(values=cast))


def _min_wire_size(meta: ArrayMeta, count: int) -> int:
    if meta.transport_type == "bytes":
        return count * max(1, meta.dtype.itemsize)
    return count * _MIN_WIRE_BYTES.get(meta.transport_type, 1)


def _too_big(what: str, limit: int) -> StoreError:
    return StoreError(
        ErrorCode.EMAXSIZE_EXCEEDED,
        f"{what} does not fit in one message of {limit} bytes: use GetDataSubarrays",
    )


def _array_reply(
    session: SessionContext,
    key: str,
    uid: Any,
    starts: list[int] | None,
    counts: list[int] | None,
    make: Any,
) -> Any:
    """DataArray for a key, or raise (17 when it cannot fit in one message)."""
    tx = session.transaction
    limit = session.max_message_size
    meta = session.store.get_array_metadata(uid.uri, uid.path_in_resource, tx=tx)
    shape = list(meta.dimensions) if counts is None else [int(c) for c in counts]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    what = f"array {uid.path_in_resource!r} of {uid.uri}" + (" block" if counts else "")
    if _min_wire_size(meta, count) + MESSAGE_MARGIN > limit:
        raise _too_big(what, limit)
    if counts is None:
        values = session.store.get_array(uid.uri, uid.path_in_resource, tx=tx)
    else:
        values = session.store.get_subarray(
            uid.uri, uid.path_in_resource, starts or [], counts, tx=tx
        )
    array = datatypes.DataArrayTypes.DataArray(
        dimensions=[int(d) for d in values.shape],
        data=anyarray(values, meta.transport_type, meta.logical_type),
    )
    if not fits(make({key: array}), limit):
        raise _too_big(what, limit)
    return array


def get_data_arrays(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataArrays → GetDataArraysResponse part(s) + per-key errors."""

    def make(part: dict[str, Any]) -> Record:
        return messages.DataArray.GetDataArraysResponse(data_arrays=part)

    return per_item_reply(
        session,
        body.data_arrays,
        lambda key, uid: _array_reply(session, key, uid, None, None, make),
        make,
    )


def get_data_subarrays(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataSubarrays → GetDataSubarraysResponse part(s) + per-key errors.

    Empty ``starts`` and ``counts`` read the whole array.
    """

    def make(part: dict[str, Any]) -> Record:
        return messages.DataArray.GetDataSubarraysResponse(data_subarrays=part)

    def read(key: str, sub: Any) -> Any:
        starts = [int(s) for s in sub.starts]
        counts = [int(c) for c in sub.counts]
        if not starts and not counts:
            return _array_reply(session, key, sub.uid, None, None, make)
        return _array_reply(session, key, sub.uid, starts, counts, make)

    return per_item_reply(session, body.data_subarrays, read, make)


def _check_count(values: np.ndarray[Any, Any], dims: list[int]) -> None:
    expected = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if values.size != expected:
        raise StoreError(
            ErrorCode.EINVALID_ARGUMENT,
            f"{values.size} values for dimensions {dims} ({expected} expected)",
        )


def put_data_arrays(session: SessionContext, header: Any, body: Any) -> Reply:
    """PutDataArrays: store whole arrays (dtype from the AnyArray branch; bytes → int8)."""

    def store(_key: str, put: Any) -> None:
        dims = [int(d) for d in put.array.dimensions]
        if any(d < 0 for d in dims):
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"negative dimension in {dims}")
        item = put.array.data.item
        transport = _transport_of(item)
        values = anyarray_values(item, np.dtype(_TRANSPORT_DTYPES[transport]))
        if transport == "arrayOfString":
            values = values.astype(object)
        _check_count(values, dims)
        _t, logical = default_array_types(values.dtype)
        session.store.put_array(
            put.uid.uri,
            put.uid.path_in_resource,
            values.reshape(dims),
            transport_type=transport,
            logical_type=logical,
            tx=session.transaction,
        )

    return per_item_reply(
        session,
        body.data_arrays,
        store,
        lambda part: messages.DataArray.PutDataArraysResponse(success=part),
    )


def _uninitialized_types(metadata: Any) -> tuple[np.dtype[Any], str, str]:
    """(dtype, transport, logical) of a PutUninitializedDataArrays entry.

    The logical type decides the dtype; a logical ``arrayOfBoolean`` with a non-boolean transport
    (what open-etp-server reports for every array) falls back to the transport's dtype.
    """
    transport = _enum_value(metadata.transport_array_type)
    logical = _enum_value(metadata.logical_array_type)
    if transport not in _TRANSPORT_DTYPES:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown transport type {transport!r}")
    if logical not in _LOGICAL_DTYPES:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown logical type {logical!r}")
    if logical == "arrayOfBoolean" and transport != "arrayOfBoolean":
        dtype = np.dtype(_TRANSPORT_DTYPES[transport])
        return dtype, transport, default_array_types(dtype)[1]
    return np.dtype(_LOGICAL_DTYPES[logical]), transport, logical


def put_uninitialized_data_arrays(session: SessionContext, header: Any, body: Any) -> Reply:
    """PutUninitializedDataArrays: allocate arrays (zeros / empty strings) to fill by blocks."""

    def allocate(_key: str, put: Any) -> None:
        dtype, transport, logical = _uninitialized_types(put.metadata)
        session.store.put_uninitialized_array(
            put.uid.uri,
            put.uid.path_in_resource,
            [int(d) for d in put.metadata.dimensions],
            dtype,
            transport_type=transport,
            logical_type=logical,
            tx=session.transaction,
        )

    return per_item_reply(
        session,
        body.data_arrays,
        allocate,
        lambda part: messages.DataArray.PutUninitializedDataArraysResponse(success=part),
    )


def put_data_subarrays(session: SessionContext, header: Any, body: Any) -> Reply:
    """PutDataSubarrays: write blocks of existing arrays (values cast to the array's dtype)."""
    tx = session.transaction

    def write(_key: str, sub: Any) -> None:
        meta = session.store.get_array_metadata(sub.uid.uri, sub.uid.path_in_resource, tx=tx)
        values = anyarray_values(sub.data.item, _wire_dtype(meta.dtype, meta.logical_type))
        if (
            values.dtype.kind == "i"
            and meta.dtype.kind == "u"
            and values.dtype.itemsize == meta.dtype.itemsize
        ):
            # Unsigned values travel bit for bit in the signed transport type.
            values = values.view(values.dtype.newbyteorder("=").str.replace("i", "u"))
        counts = [int(c) for c in sub.counts]
        _check_count(values, counts)
        session.store.put_subarray(
            sub.uid.uri,
            sub.uid.path_in_resource,
            [int(s) for s in sub.starts],
            counts,
            values,
            tx=tx,
        )

    return per_item_reply(
        session,
        body.data_subarrays,
        write,
        lambda part: messages.DataArray.PutDataSubarraysResponse(success=part),
    )


def preferred_subarray_dimensions(meta: ArrayMeta, limit: int) -> list[int]:
    """Block dimensions whose values surely fit in one message (slowest axis cut first)."""
    dims = [int(d) for d in meta.dimensions]
    if meta.transport_type == "bytes":
        per = max(1, meta.dtype.itemsize)
    else:
        per = _MAX_WIRE_BYTES.get(meta.transport_type, 10)
    budget = max(per, limit - 4 * MESSAGE_MARGIN)
    out: list[int] = []
    for axis, n in enumerate(dims):
        rest = int(np.prod(dims[axis + 1 :], dtype=np.int64)) if axis + 1 < len(dims) else 1
        row = per * rest
        if row <= budget:
            out.append(max(1, min(n, budget // max(row, 1))) if n else 0)
            out.extend(dims[axis + 1 :])
            return out
        out.append(1)
    return out


def get_data_array_metadata(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataArrayMetadata → GetDataArrayMetadataResponse + per-key errors."""

    def describe(_key: str, uid: Any) -> Any:
        meta = session.store.get_array_metadata(
            uid.uri, uid.path_in_resource, tx=session.transaction
        )
        return datatypes.DataArrayTypes.DataArrayMetadata(
            dimensions=list(meta.dimensions),
            preferred_subarray_dimensions=preferred_subarray_dimensions(
                meta, session.max_message_size
            ),
            transport_array_type=datatypes.AnyArrayType(meta.transport_type),
            logical_array_type=datatypes.AnyLogicalArrayType(meta.logical_type),
            store_last_write=meta.store_last_write_us,
            store_created=meta.store_created_us,
            custom_data={},
        )

    return per_item_reply(
        session,
        body.data_arrays,
        describe,
        lambda part: messages.DataArray.GetDataArrayMetadataResponse(array_metadata=part),
    )


HANDLERS: dict[tuple[int, int], Handler] = {
    (9, 2): get_data_arrays,
    (9, 3): get_data_subarrays,
    (9, 4): put_data_arrays,
    (9, 5): put_data_subarrays,
    (9, 6): get_data_array_metadata,
    (9, 9): put_uninitialized_data_arrays,
}
