"""DataArray protocol (9): numpy arrays in and out of a store, split into blocks when too big.

An array is identified by an object URI (for RESQML 2.0.1 the ``EpcExternalPartReference``) and
a path in that resource (the HDF5 dataset path). An array whose encoded form fits one message
travels whole (PutDataArrays / GetDataArrays); a bigger one goes as subarray blocks split along
the slowest axis (and the next axes when one slice alone is too big), several blocks in flight at
once. Blocks are budgeted by the worst-case wire size of their values (varint ints take up to 5
bytes, longs up to 10), so they always fit the negotiated message size. Puts send views of the
caller's array and make only the block being sent contiguous; gets write each block straight
into one preallocated result and drop the response at once.

This module holds the public calls (:class:`ArrayCalls`); beside it: the result type
(``_array_meta``), wire sizing and block planning (``_blocks``), the in-flight request pipeline
(``_pipeline``), the read of several requests (``_array_read``) and how replies are decoded
(``_array_decode``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._progress import Progress, ProgressArg, resolve_progress
from ..codec.arrays import IMPLIED_LOGICAL, array_types, to_any_array
from ..errors import ErrorCode, ETPInvalidArgument, ETPRemoteError
from ..protocol.correlation import Response
from ..schema import Record, datatypes, messages
from ..uri import DataObjectURI, as_object_uri, dataspace_of
from ._array_decode import decode, reading_as
from ._array_meta import ArrayMetadata
from ._array_read import is_too_big, read_box, request_metadata
from ._blocks import (
    Block,
    block_budget,
    offset,
    plan_blocks,
    plan_put_blocks,
    slices,
    wire_item_size,
)
from ._core import Deadline, SessionAPI
from ._pipeline import run_pipeline

# Reads: arrays up to this many wire bytes come in one GetDataArrays when they fit a message;
# bigger ones come in blocks (see :mod:`._array_read`).
WHOLE_READ_BYTES = 4 << 20

_DAT = datatypes.DataArrayTypes

# Transports whose whole arrays travel in one PutDataArrays when the dtype is the one the store
# assumes for them (PutDataArrays carries no logical type, see IMPLIED_LOGICAL); other dtypes,
# and raw ``bytes`` (whose logical type a store may keep from an earlier array), are created with
# PutUninitializedDataArrays (which carries it) and filled with PutDataSubarrays.
WHOLE_PUT_TRANSPORTS = frozenset(IMPLIED_LOGICAL) - {"bytes"}


def _identifier(uri: str | DataObjectURI, path_in_resource: str, max_in_flight: int = 1) -> Any:
    """The DataArrayIdentifier of a call, its arguments checked before anything is sent."""
    if not isinstance(path_in_resource, str) or not path_in_resource:
        raise ETPInvalidArgument("path_in_resource must be a non-empty string")
    if not isinstance(max_in_flight, int) or max_in_flight < 1:
        raise ETPInvalidArgument(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
    return _DAT.DataArrayIdentifier(uri=str(as_object_uri(uri)), path_in_resource=path_in_resource)


class ArrayCalls(SessionAPI):
    """DataArray calls of :class:`~etp_sync.ETPSession` (protocol 9).

    Common parameters: ``uri`` is the owning object (``str`` or :class:`DataObjectURI`; for
    RESQML 2.0.1 the EpcExternalPartReference), ``path_in_resource`` the dataset path;
    ``timeout`` is the deadline of the whole call, all its requests, waits and retries included
    (default: the session's); ``progress(done, total)`` counts bytes of the array in memory
    (``progress=True`` draws a bar instead, see :mod:`etp_sync._progress`); ``max_in_flight``
    bounds the blocks awaiting answers.

    Reliability: writes split into several requests run inside one transaction when the server
    offers the Transaction protocol (18), so readers see the old array or the new one, and are
    sent again as a whole after a drop (within ``timeout``); without protocol 18 they are not
    atomic and an interrupted one raises :class:`~etp_sync.errors.TransactionError` saying the
    array may be partly written. Reads resume after a drop, fetching only the missing blocks.
    Inside ``with session.transaction():`` nothing is retried: a drop raises TransactionError.
    """

    # -- helpers -------------------------------------------------------------------------------

    def _budget(self, ident: Any, ndim: int, deadline: Deadline | None = None) -> int:
        """Bytes of values a DataArray message may carry for this identifier; a call that has
        sent nothing yet gives its ``deadline``, which then bounds connecting for the grant."""
        server = self.server if deadline is None else self._granted(deadline.at)
        return block_budget(server.max_message_size, ident.uri, ident.path_in_resource, ndim)

    def array_block_budget(self, uri: str | DataObjectURI, path_in_resource: str, ndim: int) -> int:
        """Bytes of values one DataArray message can carry for this array (of ``ndim`` axes):
        the negotiated maximum message size less the envelope. A block whose element count
        times :func:`wire_item_size` is at most this travels in one request; callers that plan
        their own chunks (etp_sync.dask) align them to it and pass it as ``block_bytes``."""
        return self._budget(_identifier(uri, path_in_resource), ndim)

    # -- metadata ------------------------------------------------------------------------------

    def get_data_array_metadata(
        self,
        uri: str | DataObjectURI,
        path_in_resource: str,
        *,
        timeout: float | None = None,
    ) -> ArrayMetadata:
        """Dimensions, types and store times of a stored array (GetDataArrayMetadata)."""
        ident = _identifier(uri, path_in_resource)
        with self.transaction_manager.bound():
            return request_metadata(self, ident, self.transaction_manager.deadline(timeout))

    # -- put -----------------------------------------------------------------------------------

    def put_data_array(
        self,
        uri: str | DataObjectURI,
        path_in_resource: str,
        array: Any,
        *,
        progress: ProgressArg = None,
        max_in_flight: int = 4,
        timeout: float | None = None,
    ) -> None:
        """Store a whole array (any shape, any dtype ETP carries; see :mod:`etp_sync.codec.arrays`).

        One PutDataArrays when it fits a message and its dtype is the one the transport type
        implies (bool, int32, int64, float32, float64, str), otherwise PutUninitializedDataArrays
        (which carries the logical type) followed by PutDataSubarrays blocks (``max_in_flight``
        at a time), all inside one transaction when the server offers them (see the class
        docstring: readers never see a half-written array, a drop makes the put start again).
        ``progress(done, total)`` is called as blocks complete.
        """
        progress = resolve_progress(progress, desc=f"put {path_in_resource}")
        arr = _as_array(array)
        ident = _identifier(uri, path_in_resource, max_in_flight)
        types = array_types(arr.dtype)
        item = wire_item_size(types.transport, arr.dtype, arr)
        manager = self.transaction_manager
        deadline = manager.deadline(timeout)  # the one deadline of the call, connecting included
        budget = self._budget(ident, arr.ndim, deadline)
        total = int(arr.nbytes)
        dataspace = dataspace_of(ident.uri)
        if (
            arr.size * item <= budget
            and types.transport in WHOLE_PUT_TRANSPORTS
            and IMPLIED_LOGICAL[types.transport] == types.logical
        ):
            any_array, _ = to_any_array(arr)
            body = messages.DataArray.PutDataArrays(
                data_arrays={
                    "0": _DAT.PutDataArraysType(
                        uid=ident,
                        array=_DAT.DataArray(dimensions=list(arr.shape), data=any_array),
                    )
                }
            )
            manager.write(
                body, dataspace=dataspace, timeout=deadline.remaining(), replaces=True
            ).raise_for_errors()
            if progress is not None:
                progress(total, total)
            return

        def operation(deadline: Deadline) -> None:
            self.request(
                _uninitialized_request(ident, arr.shape, types.transport, types.logical),
                timeout=deadline.remaining(),
                idempotent=False,
            ).raise_for_errors()
            self._put_blocks(
                ident,
                arr,
                (0,) * arr.ndim,
                (
                    plan_put_blocks(arr.shape, item, budget)
                    if types.transport in VARINT_TRANSPORTS
                    else plan_blocks(arr.shape, item, budget)
                ),
                progress=progress,
                max_in_flight=max_in_flight,
                deadline=deadline,
            )

        manager.write_many(operation, dataspace=dataspace, deadline=deadline)

    def put_uninitialized_data_array(
        self,
        uri: str | DataObjectURI,
        path_in_resource: str,
        shape: Sequence[int],
        dtype: Any,
        *,
        timeout: float | None = None,
    ) -> None:
        """Create an array of ``shape`` and ``dtype`` whose values are then written with
        :meth:`put_data_subarray` (PutUninitializedDataArrays). To make the whole sequence
        atomic, run it inside ``with session.transaction(...)``."""
        ident = _identifier(uri, path_in_resource)
        types = array_types(np.dtype(dtype))
        body = _uninitialized_request(ident, tuple(shape), types.transport, types.logical)
        self.transaction_manager.write(
            body, dataspace=dataspace_of(ident.uri), timeout=timeout, replaces=True
        ).raise_for_errors()

    def put_data_subarray(
        self,
        uri: str | DataObjectURI,
        path_in_resource: str,
        starts: Sequence[int],
        array: Any,
        *,
        progress: ProgressArg = None,
        max_in_flight: int = 4,
        timeout: float | None = None,
    ) -> None:
        """Write ``array`` into a stored array at ``starts`` (counts = ``array.shape``).

        The values travel in ``array``'s own dtype (the store converts them); a block too big
        for one message is split like :meth:`put_data_array` does, inside one transaction.
        """
        progress = resolve_progress(progress, desc=f"put {path_in_resource}")
        arr = _as_array(array)
        ident = _identifier(uri, path_in_resource, max_in_flight)
        origin = _indexes("starts", starts)
        if len(origin) != arr.ndim:
            raise ETPInvalidArgument(
                f"starts has {len(origin)} values but the array has {arr.ndim} axes"
            )
        types = array_types(arr.dtype)
        item = wire_item_size(types.transport, arr.dtype, arr)
        manager = self.transaction_manager
        deadline = manager.deadline(timeout)  # the one deadline of the call, connecting included
        budget = self._budget(ident, arr.ndim, deadline)
        blocks = list(plan_blocks(arr.shape, item, budget))

        def operation(deadline: Deadline) -> None:
            self._put_blocks(
                ident,
                arr,
                origin,
                blocks,
                progress=progress,
                max_in_flight=max_in_flight,
                deadline=deadline,
            )

        if len(blocks) == 1 and manager.owned() is None:
            # One request is atomic by itself: no transaction needed, and sending it again
            # after a drop writes the same values.
            body = self._subarray_put(ident, arr, origin, blocks[0])
            manager.write(
                body,
                dataspace=dataspace_of(ident.uri),
                timeout=deadline.remaining(),
                replaces=True,
            ).raise_for_errors()
            if progress is not None:
                progress(int(arr.nbytes), int(arr.nbytes))
            return
        manager.write_many(operation, dataspace=dataspace_of(ident.uri), deadline=deadline)

    @staticmethod
    def _subarray_put(ident: Any, arr: np.ndarray, origin: tuple[int, ...], block: Block) -> Record:
        """PutDataSubarrays of one block of ``arr`` (starts relative to ``arr``), at ``origin``."""
        starts, counts = block
        view = arr[slices(starts, counts)] if arr.ndim else arr
        any_array, _ = to_any_array(view)  # contiguous copy of this block only if needed
        at, _counts = offset(block, origin)
        return messages.DataArray.PutDataSubarrays(
            data_subarrays={
                "0": _DAT.PutDataSubarraysType(
                    uid=ident, data=any_array, starts=list(at), counts=list(counts)
                )
            }
        )

    def _put_blocks(
        self,
        ident: Any,
        arr: np.ndarray,
        origin: tuple[int, ...],
        blocks: Iterable[Block],
        *,
        progress: Progress | None,
        max_in_flight: int,
        deadline: Deadline,
    ) -> None:
        """PutDataSubarrays for each block of ``arr`` (block starts relative to ``arr``),
        written at ``origin`` in the stored array."""
        total = int(arr.nbytes)
        done = 0
        if progress is not None:
            progress(0, total)

        def on_response(block: Block, response: Response) -> None:
            nonlocal done
            response.raise_for_errors()
            done += math.prod(block[1]) * arr.dtype.itemsize
            if progress is not None:
                progress(min(done, total), total)

        run_pipeline(
            self,
            blocks,
            lambda block: self._subarray_put(ident, arr, origin, block),
            on_response,
            max_in_flight=max_in_flight,
            deadline=deadline,
        )

    # -- get -----------------------------------------------------------------------------------

    def get_data_array(
        self,
        uri: str | DataObjectURI,
        path_in_resource: str,
        *,
        progress: ProgressArg = None,
        max_in_flight: int = 4,
        timeout: float | None = None,
        dtype: Any = None,
    ) -> np.ndarray:
        """Read a whole array with its original shape and dtype.

        GetDataArrayMetadata first; then one GetDataArrays when the array fits a message,
        otherwise GetDataSubarrays blocks (``max_in_flight`` at a time) copied into one
        preallocated result; after a drop the read resumes with the blocks still missing.
        ``progress(done, total)`` is called in bytes of the result.

        The dtype comes from the array's logical type; ``dtype`` states it instead (it must
        travel as the array's transport type). When the server's logical type contradicts the
        transport type (open-etp-server reports ``arrayOfBoolean`` for every array), the
        transport type wins and a warning says so: state ``dtype`` to get what was written.
        """
        progress = resolve_progress(progress, desc=f"get {path_in_resource}")
        ident = _identifier(uri, path_in_resource, max_in_flight)
        manager = self.transaction_manager
        deadline = manager.deadline(timeout)
        with manager.bound():
            meta = reading_as(request_metadata(self, ident, deadline), dtype)
            item = wire_item_size(meta.transport_type, meta.dtype)
            budget = self._budget(ident, len(meta.dimensions))
            if meta.size * item <= min(budget, WHOLE_READ_BYTES):
                result = self._get_whole(ident, meta, deadline)
                if result is not None:
                    if progress is not None:
                        progress(int(result.nbytes), int(result.nbytes))
                    return result
            return read_box(
                self,
                ident,
                meta,
                (0,) * len(meta.dimensions),
                None,
                progress=progress,
                max_in_flight=max_in_flight,
                deadline=deadline,
                dtype=dtype,
            )

    def _get_whole(self, ident: Any, meta: ArrayMetadata, deadline: Deadline) -> np.ndarray | None:
        """GetDataArrays; None when the server finds the answer too big for one message."""
        response = self.request(
            messages.DataArray.GetDataArrays(data_arrays={"0": ident}),
            timeout=deadline.remaining(),
        )
        if response.errors and is_too_big(response):
            return None
        response.raise_for_errors()
        for message in response.messages:
            if "0" in message.data_arrays:
                data = message.data_arrays["0"]
                # The codec hands out zero-copy views of the received frame, possibly unaligned:
                # the caller gets an ordinary aligned array. (Blocks of a larger array are copied
                # into the aligned result anyway.)
                values = decode(data.data, data.dimensions, meta.dimensions, meta)
                return np.require(values, requirements="A")
        raise ETPRemoteError(
            f"no array returned for {ident.uri} {ident.path_in_resource}", ErrorCode.ENOT_FOUND
        )

    def get_data_subarray(
        self,
        uri: str | DataObjectURI,
        path_in_resource: str,
        starts: Sequence[int],
        counts: Sequence[int],
        *,
        progress: ProgressArg = None,
        max_in_flight: int = 4,
        timeout: float | None = None,
        dtype: Any = None,
        metadata: ArrayMetadata | None = None,
        block_bytes: int | None = None,
    ) -> np.ndarray:
        """Read the block of a stored array that starts at ``starts`` with ``counts`` elements
        per axis; split into several requests when too big for one message, resumed after a
        drop with the blocks still missing. ``dtype`` as for :meth:`get_data_array`.

        For callers that plan their own chunks (etp_sync.dask reads each chunk in one request):
        ``metadata``, the array's :class:`ArrayMetadata` from an earlier
        :meth:`get_data_array_metadata`, saves the GetDataArrayMetadata request (each reply is
        still checked against it: dimensions, transport type); ``block_bytes`` is the largest
        block of one request in wire bytes, capped by :meth:`array_block_budget` (default:
        blocks of a fraction of the result, so that several are in flight within bounded
        memory). A chunk of at most ``array_block_budget`` bytes read with
        ``block_bytes=array_block_budget(...)`` and ``metadata`` is exactly one GetDataSubarrays.
        """
        progress = resolve_progress(progress, desc=f"get {path_in_resource}")
        ident = _identifier(uri, path_in_resource, max_in_flight)
        origin = _indexes("starts", starts)
        box = _indexes("counts", counts)
        if len(origin) != len(box):
            raise ETPInvalidArgument("starts and counts must have the same length")
        if not box:  # a 0-d array's one block is the array
            return self.get_data_array(
                uri,
                path_in_resource,
                progress=progress,
                max_in_flight=max_in_flight,
                timeout=timeout,
                dtype=dtype,
            )
        if metadata is not None and (
            not isinstance(metadata, ArrayMetadata) or len(metadata.dimensions) != len(box)
        ):
            raise ETPInvalidArgument(
                f"metadata must be the ArrayMetadata of a {len(box)}-axis array, got {metadata!r}"
            )
        if block_bytes is not None and (
            not isinstance(block_bytes, int) or isinstance(block_bytes, bool) or block_bytes < 1
        ):
            raise ETPInvalidArgument(f"block_bytes must be an int >= 1, got {block_bytes!r}")
        manager = self.transaction_manager
        deadline = manager.deadline(timeout)
        with manager.bound():
            known = request_metadata(self, ident, deadline) if metadata is None else metadata
            meta = reading_as(known, dtype)
            return read_box(
                self,
                ident,
                meta,
                origin,
                box,
                progress=progress,
                max_in_flight=max_in_flight,
                deadline=deadline,
                dtype=dtype,
                block_bytes=block_bytes,
            )


# Transports of varints: their puts are cut where a default read of the array cuts too
# (plan_put_blocks), so that each block read lies in one block written, lent by etp_sync's
# server instead of copied when it straddles two.
VARINT_TRANSPORTS = frozenset({"arrayOfLong", "arrayOfInt"})


def _indexes(name: str, values: Sequence[int]) -> tuple[int, ...]:
    """``starts`` or ``counts`` as ints, each >= 0 (ETPInvalidArgument otherwise)."""
    try:
        out = tuple(operator.index(v) for v in values)
    except TypeError:
        raise ETPInvalidArgument(f"{name} must be a sequence of ints, got {values!r}") from None
    if any(v < 0 for v in out):
        raise ETPInvalidArgument(f"{name} must be >= 0, got {list(out)}")
    return out


def _as_array(array: Any) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype.kind == "O" and all(isinstance(x, str) for x in arr.flat):
        arr = arr.astype(np.str_)
    return arr


def _uninitialized_request(
    ident: Any, shape: Sequence[int], transport: str, logical: str
) -> Record:
    metadata = _DAT.DataArrayMetadata(
        dimensions=[int(n) for n in shape],
        preferred_subarray_dimensions=[],
        transport_array_type=transport,
        logical_array_type=logical,
        store_last_write=0,
        store_created=0,
    )
    return messages.DataArray.PutUninitializedDataArrays(
        data_arrays={"0": _DAT.PutUninitializedDataArrayType(uid=ident, metadata=metadata)}
    )


__all__ = ["ArrayCalls"]
