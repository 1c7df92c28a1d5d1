"""DataArray (9) handlers: whole arrays, subarrays, uninitialized arrays and metadata.

Arrays are stored as numpy arrays with a transport type (the AnyArray branch used on the wire)
and a logical type (what the values mean). Values are encoded and decoded with the codec's one
dtype table (:mod:`etp_sync.codec.arrays`, which also lists the server's deliberate differences):

* incoming values take the dtype of the logical type when it fits their transport: the target
  array's for PutDataSubarrays, the replaced array's (same transport) or else the transport's
  implied one for PutDataArrays, which carries no logical type (``bytes`` → uint8);
* outgoing values travel as the stored transport type (``bytes`` carries the raw elements in the
  logical byte order); ``dimensions`` are always the logical shape.

A whole array or subarray whose response would exceed the session's message size is refused for
its key with EMAXSIZE_EXCEEDED (17): clients then read it with GetDataSubarrays blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from etp_sync.codec.arrays import (
    IMPLIED_LOGICAL,
    LOGICAL_ARRAY_TYPES,
    TRANSPORT_ARRAY_TYPES,
    ArrayTypes,
    dtype_for,
    fitting_logical,
    from_any_array,
    to_any_array,
    transport_of,
    wire_item_bounds,
)
from etp_sync.errors import ErrorCode, ETPDecodeError, StoreError
from etp_sync.schema import Record, datatypes, messages

from ._common import (
    MESSAGE_MARGIN,
    Handler,
    SessionContext,
    fits,
    per_item_handler,
    response_maker,
)
from .store import ArrayMeta


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _decode(any_array: Any, dimensions: list[int], logical: str) -> np.ndarray[Any, Any]:
    """Values of an incoming AnyArray shaped ``dimensions``; bad data (dimensions numpy cannot
    shape included) is EINVALID_ARGUMENT."""
    try:
        return from_any_array(any_array, dimensions, logical)
    except ETPDecodeError as exc:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, exc.message) from None


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
    make: Callable[[dict[str, Any]], Record],
) -> Any:
    """DataArray for a key, or raise (17 when it cannot fit in one message)."""
    tx = session.transaction
    limit = session.max_message_size
    meta = session.store.get_array_metadata(uid.uri, uid.path_in_resource, tx=tx)
    shape = list(meta.dimensions) if counts is None else [int(c) for c in counts]
    count = math.prod(shape)
    what = f"array {uid.path_in_resource!r} of {uid.uri}" + (" block" if counts else "")
    fewest, most = wire_item_bounds(meta.transport_type, meta.dtype.itemsize)
    if count * fewest + MESSAGE_MARGIN > limit:
        raise _too_big(what, limit)
    # Sized only when even the longest encoding of the values might not fit (strings always).
    surely_fits = (
        meta.transport_type != "arrayOfString"
        and count * most + _envelope(key, len(shape)) + MESSAGE_MARGIN <= limit
    )
    if counts is None:
        values = session.store.get_array(uid.uri, uid.path_in_resource, tx=tx)
    else:
        values = session.store.get_subarray(
            uid.uri, uid.path_in_resource, starts or [], counts, tx=tx, lend=True
        )
    data, _types = to_any_array(values, ArrayTypes(meta.transport_type, meta.logical_type))
    array = datatypes.DataArrayTypes.DataArray(dimensions=[int(d) for d in values.shape], data=data)
    if not surely_fits and not fits(make({key: array}), limit):
        raise _too_big(what, limit)
    return array


def _envelope(key: str, ndim: int) -> int:
    """The most bytes a one-entry DataArray reply takes besides its values' own: map and array
    block counts and ends, the key, ``ndim`` dimensions, the branch, each varint at its longest."""
    return 8 * 10 + len(key.encode("utf-8")) + 10 * ndim


def _values_bytes(array: Any) -> int:
    """The bytes the values of a DataArray of a reply hold (a copy, or a lent view, of the
    store's): a numpy array's, a ``bytes`` branch's, 8 per string (the strings are shared)."""
    item = array.data.item
    values = getattr(item, "values", item)
    if isinstance(values, np.ndarray):
        return int(values.nbytes)
    if isinstance(values, list):
        return 8 * len(values)
    return memoryview(values).nbytes


_ARRAYS = response_maker(messages.DataArray.GetDataArraysResponse, "data_arrays")
_SUBARRAYS = response_maker(messages.DataArray.GetDataSubarraysResponse, "data_subarrays")


# Gets read each key's values as the reply is sent (per_item_handler's weigh): a request
# naming the same array under many keys holds about a message's worth of values, not a copy
# per key.
@per_item_handler("data_arrays", _ARRAYS, _values_bytes)
def get_data_arrays(session: SessionContext, key: str, uid: Any) -> Any:
    """GetDataArrays → GetDataArraysResponse part(s) + per-key errors."""
    return _array_reply(session, key, uid, None, None, _ARRAYS)


@per_item_handler("data_subarrays", _SUBARRAYS, _values_bytes)
def get_data_subarrays(session: SessionContext, key: str, sub: Any) -> Any:
    """GetDataSubarrays → GetDataSubarraysResponse part(s) + per-key errors.

    Empty ``starts`` and ``counts`` read the whole array.
    """
    starts = [int(s) for s in sub.starts]
    counts = [int(c) for c in sub.counts]
    if not starts and not counts:
        return _array_reply(session, key, sub.uid, None, None, _SUBARRAYS)
    return _array_reply(session, key, sub.uid, starts, counts, _SUBARRAYS)


def _put_logical(session: SessionContext, uid: Any, item: Any, count: int) -> str:
    """The logical type of a PutDataArrays (which names none): the replaced array's when it
    has the same transport (and, for ``bytes``, the same size), else the transport's implied."""
    transport = transport_of(item)
    try:
        old = session.store.get_array_metadata(
            uid.uri, uid.path_in_resource, tx=session.transaction
        )
    except StoreError as exc:
        if exc.code != ErrorCode.ENOT_FOUND:
            raise
        return IMPLIED_LOGICAL[transport]
    if old.transport_type != transport or old.dtype.kind == "O":
        return IMPLIED_LOGICAL[transport]
    logical = fitting_logical(transport, old.logical_type)
    if transport == "bytes" and len(memoryview(item.item).cast("B")) != count * old.dtype.itemsize:
        return IMPLIED_LOGICAL[transport]
    return logical


@per_item_handler(
    "data_arrays", response_maker(messages.DataArray.PutDataArraysResponse, "success")
)
def put_data_arrays(session: SessionContext, key: str, put: Any) -> None:
    """PutDataArrays: store whole arrays (dtype per :func:`_put_logical`)."""
    dims = [int(d) for d in put.array.dimensions]
    count = math.prod(dims)
    logical = _put_logical(session, put.uid, put.array.data, count)
    values = _decode(put.array.data, dims, logical)
    session.store.put_array(
        put.uid.uri,
        put.uid.path_in_resource,
        values,
        transport_type=transport_of(put.array.data),
        logical_type=logical,
        tx=session.transaction,
    )


def _uninitialized_types(metadata: Any) -> tuple[np.dtype[Any], str, str]:
    """(dtype, transport, logical) of a PutUninitializedDataArrays entry.

    A logical type that does not fit the transport (open-etp-server reports ``arrayOfBoolean``
    for every array) is replaced by the transport's implied one.
    """
    transport = _enum_value(metadata.transport_array_type)
    logical = _enum_value(metadata.logical_array_type)
    if transport not in TRANSPORT_ARRAY_TYPES:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown transport type {transport!r}")
    if logical not in LOGICAL_ARRAY_TYPES:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown logical type {logical!r}")
    logical = fitting_logical(transport, logical)
    return dtype_for(transport, logical), transport, logical


@per_item_handler(
    "data_arrays",
    response_maker(messages.DataArray.PutUninitializedDataArraysResponse, "success"),
)
def put_uninitialized_data_arrays(session: SessionContext, key: str, put: Any) -> None:
    """PutUninitializedDataArrays: allocate arrays (zeros / empty strings) to fill by blocks."""
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


@per_item_handler(
    "data_subarrays", response_maker(messages.DataArray.PutDataSubarraysResponse, "success")
)
def put_data_subarrays(session: SessionContext, key: str, sub: Any) -> None:
    """PutDataSubarrays: write blocks of existing arrays (values cast to the array's dtype).

    The values decoded from the message belong to nobody else: the store may keep them as a
    block (``adopt``) when they fill one whole, instead of copying them."""
    tx = session.transaction
    meta = session.store.get_array_metadata(sub.uid.uri, sub.uid.path_in_resource, tx=tx)
    counts = [int(c) for c in sub.counts]
    values = _decode(sub.data, counts, meta.logical_type)
    starts = [int(s) for s in sub.starts]
    session.store.put_subarray(
        sub.uid.uri, sub.uid.path_in_resource, starts, counts, values, tx=tx, adopt=True
    )


def preferred_subarray_dimensions(meta: ArrayMeta, limit: int) -> list[int]:
    """Block dimensions whose values surely fit in one message (slowest axis cut first)."""
    dims = [int(d) for d in meta.dimensions]
    _fewest, per = wire_item_bounds(meta.transport_type, meta.dtype.itemsize)
    budget = max(per, limit - 4 * MESSAGE_MARGIN)
    out: list[int] = []
    for axis, n in enumerate(dims):
        rest = math.prod(dims[axis + 1 :])
        row = per * rest
        if row <= budget:
            out.append(max(1, min(n, budget // max(row, 1))) if n else 0)
            out.extend(dims[axis + 1 :])
            return out
        out.append(1)
    return out


@per_item_handler(
    "data_arrays",
    response_maker(messages.DataArray.GetDataArrayMetadataResponse, "array_metadata"),
)
def get_data_array_metadata(session: SessionContext, key: str, uid: Any) -> Any:
    """GetDataArrayMetadata → GetDataArrayMetadataResponse + per-key errors."""
    meta = session.store.get_array_metadata(uid.uri, uid.path_in_resource, tx=session.transaction)
    return datatypes.DataArrayTypes.DataArrayMetadata(
        dimensions=list(meta.dimensions),
        preferred_subarray_dimensions=preferred_subarray_dimensions(meta, session.max_message_size),
        transport_array_type=datatypes.AnyArrayType(meta.transport_type),
        # open-etp-server does not keep logical types: it answers arrayOfBoolean for all.
        logical_array_type=datatypes.AnyLogicalArrayType(
            meta.logical_type if session.profile.keep_logical_types else "arrayOfBoolean"
        ),
        store_last_write=meta.store_last_write_us,
        store_created=meta.store_created_us,
        custom_data={},
    )


HANDLERS: dict[tuple[int, int], Handler] = {
    (9, 2): get_data_arrays,
    (9, 3): get_data_subarrays,
    (9, 4): put_data_arrays,
    (9, 5): put_data_subarrays,
    (9, 6): get_data_array_metadata,
    (9, 9): put_uninitialized_data_arrays,
}
