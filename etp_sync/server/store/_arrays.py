"""Arrays: whole puts, zero-filled allocation, subarray writes and reads, metadata.

Type names and dtypes follow the one table of :mod:`etp_sync.codec.arrays` (see its docstring for
the server's deliberate differences); strings are kept as ``object`` arrays so that a later
subarray write is never truncated to the width of the first one.

Values live in :class:`~._chunked.ChunkedArray` blocks: an uninitialised array takes no memory
until written, a subarray write costs the blocks it touches (copied per block inside a
transaction), and the values are converted before the store's lock is taken.

A put's values arrive in memory the store gives out (:meth:`ArrayStore.incoming_values`: checked
against the limits by their count first, recycled from blocks that are gone, see
:mod:`._blockmem`) and are kept as its blocks.
"""

from __future__ import annotations

import functools
import math
import uuid as uuid_mod
from collections.abc import Sequence
from typing import Any

import numpy as np

from etp_sync._value_casts import cast_within_range
from etp_sync.codec.arrays import (
    LOGICAL_ARRAY_TYPES,
    TRANSPORT_ARRAY_TYPES,
    TRANSPORT_DTYPES,
    array_types,
    checked_shape,
    dtype_for,
    fitting_logical,
)
from etp_sync.errors import ErrorCode, ETPDecodeError, ETPError, StoreError

from ._blockmem import BlockMemory
from ._chunked import ChunkedArray, Index
from ._core import DEFAULT_MAX_STORE_BYTES, StoreCore
from ._records import ArrayMeta, Space, StoredArray
from ._uris import object_parts

__all__ = ["ArrayStore", "default_array_types"]


def default_array_types(dtype: np.dtype[Any] | type | str) -> tuple[str, str]:
    """(transport, logical) type names of the codec table for a dtype; object = strings."""
    dt = np.dtype(dtype)
    try:
        types = array_types(np.str_ if dt.kind == "O" else dt)
    except ETPError as exc:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, exc.message) from None
    return types.transport, types.logical


def _fewest_item_bytes(transport: str) -> int:
    """The smallest item of the arrays ``transport`` carries (``arrayOfInt``: int8, 1 byte)."""
    return min(
        dtype_for(transport, logical).itemsize
        for logical in LOGICAL_ARRAY_TYPES
        if fitting_logical(transport, logical) == logical
    )


_FEWEST_ITEM_BYTES = {
    TRANSPORT_DTYPES[t]: _fewest_item_bytes(t)
    for t in TRANSPORT_ARRAY_TYPES
    if t != "arrayOfString"
}
"""By the dtype a put's values arrive as (their transport's): see :func:`_fewest_item_bytes`."""


def _as_ints(values: Sequence[int] | np.ndarray[Any, Any], what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"{what} must be integers") from None


def _block(shape: tuple[int, ...], starts: Sequence[int], counts: Sequence[int]) -> Index:
    """Validate a subarray request against ``shape`` and return its index."""
    s = _as_ints(starts, "starts")
    c = _as_ints(counts, "counts")
    if len(s) != len(shape) or len(c) != len(shape):
        raise StoreError(
            ErrorCode.EINVALID_ARGUMENT,
            f"starts/counts of rank {len(s)}/{len(c)} for an array of rank {len(shape)}",
        )
    for axis, (st, ct, n) in enumerate(zip(s, c, shape, strict=True)):
        if st < 0 or ct < 0 or st + ct > n:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"subarray [{st}, {st + ct}) is out of bounds 0..{n} on axis {axis}",
            )
    return tuple(slice(st, st + ct) for st, ct in zip(s, c, strict=True))


def _conform(values: Any, counts: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Values for a subarray write, shaped ``counts`` and cast to the array's dtype.

    A flat array with the right number of values is accepted too (the wire carries flat data).
    """
    v = np.asarray(values)
    if v.shape != counts:
        if v.ndim == 1 and v.size == math.prod(counts):
            v = v.reshape(counts)
        else:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"values of shape {v.shape} do not match counts {list(counts)}",
            )
    if dtype.kind == "O":
        if v.dtype.kind not in "USO":
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "a string array takes string values")
        return v.astype(object)
    integral = dtype.kind in "iu" and v.dtype.kind in "iub"
    if not integral and not np.can_cast(v.dtype, dtype, "same_kind"):
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"{v.dtype} values for a {dtype} array")
    cast = cast_within_range(v, dtype)
    if isinstance(cast, str):
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, cast)
    return cast


def _store_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """Strings are kept as Python objects so later writes are never truncated."""
    return np.dtype(object) if dtype.kind == "U" else dtype


class ArrayStore(StoreCore):
    """The array calls of the store: arrays are keyed by (owning object URI, pathInResource)."""

    @functools.cached_property
    def block_memory(self) -> BlockMemory:
        """Memory for the values of arriving puts (``block_memory.empty``), recycled from
        blocks that are gone: at most a quarter of ``max_store_bytes`` (of its default when
        unlimited) is kept idle, so the values' memory stays within 1.25 times the limit."""
        limit = self.max_store_bytes
        return BlockMemory((DEFAULT_MAX_STORE_BYTES if limit is None else limit) // 4)

    def release_idle_memory(self) -> None:
        """Unmap the memory :attr:`block_memory` keeps idle for the next puts (the server's
        stop: a store that outlives its server keeps none); memory in use stays as it is."""
        memory = self.__dict__.get("block_memory")  # not created just to be emptied
        if memory is not None:
            memory.clear()

    def incoming_values(self, size: int, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        """Memory for the ``size`` values of an arriving put, of their transport's ``dtype``,
        to receive or decode them into (:class:`~etp_sync.codec._placement.IncomingValues`).

        Refused before anything is allocated (ETPDecodeError, ELIMIT_EXCEEDED) when that many
        values make an array bigger than ``max_array_bytes`` or ``max_store_bytes`` allow even
        at the smallest item size their transport carries: varints (1 byte each at best on the
        wire) would otherwise take 4 or 8 bytes each before any limit was checked."""
        count = size * _FEWEST_ITEM_BYTES.get(np.dtype(dtype), 1)
        for name, limit in (
            ("max_array_bytes", self.max_array_bytes),
            ("max_store_bytes", self.max_store_bytes),
        ):
            if limit is not None and count > limit:
                raise ETPDecodeError(
                    f"{size} values make an array of at least {count} bytes, over the store's "
                    f"limit of {limit} ({name})",
                    ErrorCode.ELIMIT_EXCEEDED,
                )
        return self.block_memory.empty(size, dtype)

    def _array_space(self, uri: str, path_in_resource: str) -> tuple[Space, tuple[str, str]]:
        u = object_parts(uri)
        assert u.uuid is not None
        if not path_in_resource:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "empty pathInResource")
        return self._space(u.space), (u.uuid, path_in_resource)

    def _check_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        if self.max_array_bytes is None:
            return
        size = math.prod(shape) * dtype.itemsize
        if size > self.max_array_bytes:
            raise StoreError(
                ErrorCode.ELIMIT_EXCEEDED,
                f"array of {size} bytes exceeds the store limit of {self.max_array_bytes}",
            )

    def _write_array(
        self,
        uri: str,
        path_in_resource: str,
        data: ChunkedArray,
        transport_type: str | None,
        logical_type: str | None,
        tx: uuid_mod.UUID | None,
    ) -> None:
        default_transport, default_logical = default_array_types(data.dtype)
        transport = transport_type or default_transport
        logical = logical_type or default_logical
        if transport not in TRANSPORT_ARRAY_TYPES:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown transport type {transport!r}")
        if logical not in LOGICAL_ARRAY_TYPES:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown logical type {logical!r}")
        if (data.dtype.kind == "O") != (transport == "arrayOfString"):
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT, f"{data.dtype} values cannot travel as {transport}"
            )
        with self._lock:
            stage = self._check_writes_allowed(tx)
            sp, key = self._array_space(uri, path_in_resource)
            self._check_space_writable(sp.path, stage)
            now = self._now()
            old = self._array(sp, key, None if self._is_scratch(stage) else stage)
            created = old.created_us if old is not None else now
            self._stage_array(
                stage, sp.path, key, StoredArray(data, transport, logical, created, now)
            )
            if self._is_scratch(stage):
                self._apply(stage)

    def put_array(
        self,
        uri: str,
        path_in_resource: str,
        array: Any,
        *,
        transport_type: str | None = None,
        logical_type: str | None = None,
        tx: uuid_mod.UUID | None = None,
    ) -> None:
        """Store a whole array (copied) under (object URI, path), replacing any.

        Transport/logical type names default from the dtype (:func:`default_array_types`); an
        ``object`` array must hold strings only.
        """
        arr = np.asarray(array)
        if arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr.flat):
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "an object array must hold strings")
        dt = _store_dtype(arr.dtype)
        self._check_size(arr.shape, dt)
        data = ChunkedArray.from_array(arr.astype(dt, copy=False))
        self._write_array(uri, path_in_resource, data, transport_type, logical_type, tx)

    def put_uninitialized_array(
        self,
        uri: str,
        path_in_resource: str,
        dimensions: Sequence[int],
        dtype: np.dtype[Any] | type | str,
        *,
        transport_type: str | None = None,
        logical_type: str | None = None,
        tx: uuid_mod.UUID | None = None,
    ) -> None:
        """Declare an array to fill with subarrays; it reads as zeros (empty strings for strings)
        and takes memory only where written."""
        dims = _as_ints(dimensions, "dimensions")
        try:
            dt = _store_dtype(np.dtype(dtype))
        except TypeError:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"invalid dtype {dtype!r}") from None
        self._check_size(dims, dt)
        try:  # an empty array's other axes too: within the limit, numpy can shape them
            checked_shape(dims, dt.itemsize, self.max_array_bytes)
        except ETPDecodeError as exc:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, exc.message) from None
        data = ChunkedArray(dims, dt)
        self._write_array(uri, path_in_resource, data, transport_type, logical_type, tx)

    def put_subarray(
        self,
        uri: str,
        path_in_resource: str,
        starts: Sequence[int],
        counts: Sequence[int],
        values: Any,
        *,
        tx: uuid_mod.UUID | None = None,
        adopt: bool = False,
    ) -> None:
        """Write a block of an existing array; rank, bounds and value shape give EINVALID_ARGUMENT.

        ``values`` has shape ``counts`` (a flat array of ``prod(counts)`` values is accepted too)
        and is cast to the array's dtype, before the lock is taken. Only the blocks touched take
        memory; inside a transaction they are copied, the committed array is left alone. With
        ``adopt`` the caller gives ``values`` up: they may be kept as a block, not copied (see
        :meth:`ChunkedArray.write`).
        """
        with self._lock:
            rec = self._writable_array(uri, path_in_resource, tx)
            shape, dtype = rec.data.shape, rec.data.dtype
        index = _block(shape, starts, counts)
        block = _conform(values, _as_ints(counts, "counts"), dtype)
        with self._lock:
            stage = self._check_writes_allowed(tx)
            sp, key = self._array_space(uri, path_in_resource)
            scratch = self._is_scratch(stage)
            rec = self._writable_array(uri, path_in_resource, tx)
            if rec.data.shape != shape or rec.data.dtype != dtype:  # replaced meanwhile
                index = _block(rec.data.shape, starts, counts)
                block = _conform(block, _as_ints(counts, "counts"), rec.data.dtype)
            if not scratch and stage.arrays.get(sp.path, {}).get(key) is not rec:
                # First write of this transaction to a committed array: a version of its own,
                # sharing the committed blocks until it writes them.
                rec = StoredArray(
                    rec.data.fork(),
                    rec.transport_type,
                    rec.logical_type,
                    rec.created_us,
                    rec.last_write_us,
                )
                self._stage_array(stage, sp.path, key, rec)
            rec.data.fit_grid(index)
            cost = rec.data.write_cost(index, block)
            self._charge(stage, cost)  # refused before anything is allocated
            added = rec.data.write(index, block, adopt=adopt)
            rec.last_write_us = self._now()
            if scratch:  # the committed array itself was written
                self._committed_bytes += added
                sp.last_write_us = rec.last_write_us
            else:
                stage.held_bytes += added - cost

    def _writable_array(
        self, uri: str, path_in_resource: str, tx: uuid_mod.UUID | None
    ) -> StoredArray:
        """The array a write through ``tx`` goes to; write checks done, ENOT_FOUND if none."""
        stage = self._check_writes_allowed(tx)
        sp, key = self._array_space(uri, path_in_resource)
        self._check_space_writable(sp.path, stage)
        rec = self._array(sp, key, None if self._is_scratch(stage) else stage)
        if rec is None:
            raise StoreError(ErrorCode.ENOT_FOUND, f"array {path_in_resource!r} of {uri} not found")
        return rec

    def _get_array_rec(
        self, uri: str, path_in_resource: str, tx: uuid_mod.UUID | None
    ) -> StoredArray:
        t = self._reader(tx)
        sp, key = self._array_space(uri, path_in_resource)
        rec = self._array(sp, key, t)
        if rec is None:
            raise StoreError(ErrorCode.ENOT_FOUND, f"array {path_in_resource!r} of {uri} not found")
        return rec

    def get_array(
        self, uri: str, path_in_resource: str, *, tx: uuid_mod.UUID | None = None
    ) -> np.ndarray[Any, Any]:
        """A copy of a whole array."""
        with self._lock:
            return self._get_array_rec(uri, path_in_resource, tx).data.whole()

    def get_subarray(
        self,
        uri: str,
        path_in_resource: str,
        starts: Sequence[int],
        counts: Sequence[int],
        *,
        tx: uuid_mod.UUID | None = None,
        lend: bool = False,
    ) -> np.ndarray[Any, Any]:
        """A copy of the block ``starts``/``counts`` (shape ``counts``, C order); with ``lend``,
        a read-only view instead when the block lies in one stored block, contiguous there (see
        :meth:`ChunkedArray.lend`: its values stay as they are while the view lives)."""
        with self._lock:
            data = self._get_array_rec(uri, path_in_resource, tx).data
            index = _block(data.shape, starts, counts)
            lent = data.lend(index) if lend else None
            return data.read(index) if lent is None else lent

    def get_array_metadata(
        self, uri: str, path_in_resource: str, *, tx: uuid_mod.UUID | None = None
    ) -> ArrayMeta:
        """Dimensions, dtype, type names and times of an array."""
        with self._lock:
            rec = self._get_array_rec(uri, path_in_resource, tx)
            return ArrayMeta(
                dimensions=rec.data.shape,
                dtype=rec.data.dtype,
                transport_type=rec.transport_type,
                logical_type=rec.logical_type,
                store_created_us=rec.created_us,
                store_last_write_us=rec.last_write_us,
            )
