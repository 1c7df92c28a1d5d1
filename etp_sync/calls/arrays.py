"""DataArray protocol (9): numpy arrays in and out of a store, split into blocks when too big.

An array is identified by an object URI (for RESQML 2.0.1 the ``EpcExternalPartReference``) and
a path in that resource (the HDF5 dataset path). An array whose encoded form fits one message
travels whole (PutDataArrays / GetDataArrays); a bigger one goes as subarray blocks split along
the slowest axis (and the next axes when one slice alone is too big), several blocks in flight at
once. Blocks are budgeted by the worst-case wire size of their values (varint ints take up to 5
bytes, longs up to 10), so they always fit the negotiated message size. Puts send views of the
caller's array and make only the block being sent contiguous; gets write each block straight
into one preallocated result and drop the response at once.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._progress import ProgressArg, resolve_progress
from ..codec._numeric import write_varint
from ..codec._placement import ArrayReplyTarget
from ..codec.arrays import (
    IMPLIED_LOGICAL,
    STRING_ITEM_GUESS,
    TRANSPORT_DTYPES,
    array_types,
    dtype_for,
    fitting_logical,
    from_any_array,
    to_any_array,
    transport_of,
    wire_item_bounds,
)
from ..errors import (
    ErrorCode,
    ETPConnectionLost,
    ETPDecodeError,
    ETPEncodeError,
    ETPError,
    ETPInvalidArgument,
    ETPMessageTooLarge,
    ETPProtocolError,
    ETPRemoteError,
    ETPSessionClosed,
)
from ..protocol.correlation import ReplyTarget, Response
from ..schema import Record, datatypes, messages
from ..uri import DataObjectURI, as_object_uri, dataspace_of
from ._core import Deadline, ResponseHandle, SessionAPI
from .results import ArrayMetadataView

log = logging.getLogger("etp_sync.arrays")

Progress = Callable[[int, int], None]
Block = tuple[tuple[int, ...], tuple[int, ...]]  # (starts, counts)

# Bytes kept for everything around the values: header, map key, identifier, starts/counts.
ENVELOPE_MARGIN = 1024
# Reads: arrays up to this many wire bytes come in one GetDataArrays when they fit a message;
# bigger ones come in blocks small enough that the responses in flight (and the one being
# decoded) stay below a third of the result, but not below MIN_BLOCK_BYTES.
WHOLE_READ_BYTES = 4 << 20
MIN_BLOCK_BYTES = 256 << 10

_DAT = datatypes.DataArrayTypes

# Transports whose whole arrays travel in one PutDataArrays when the dtype is the one the store
# assumes for them (PutDataArrays carries no logical type, see IMPLIED_LOGICAL); other dtypes,
# and raw ``bytes`` (whose logical type a store may keep from an earlier array), are created with
# PutUninitializedDataArrays (which carries it) and filled with PutDataSubarrays.
WHOLE_PUT_TRANSPORTS = frozenset(IMPLIED_LOGICAL) - {"bytes"}
# A read of several requests that saw the array replaced (by another session's commit, or while
# it resumed after a drop) starts again; the most times it does so before giving up.
MAX_RESTARTS = 3


@dataclass(frozen=True, repr=False)
class ArrayMetadata(ArrayMetadataView):
    """What GetDataArrayMetadata says about a stored array.

    ``dtype`` is the numpy dtype the values come back with: from the logical type, or from the
    transport type when the server did not keep a logical type that fits it.
    """

    dimensions: tuple[int, ...]
    dtype: np.dtype[Any]
    transport_type: str
    logical_type: str
    store_last_write: int = 0
    store_created: int = 0
    preferred_subarray_dimensions: tuple[int, ...] = ()
    custom_data: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Same as ``dimensions`` (numpy spelling)."""
        return self.dimensions

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.dimensions)

    @property
    def nbytes(self) -> int:
        """Bytes of the array in memory (strings: unknown, 0)."""
        return 0 if self.dtype.kind == "U" else self.size * self.dtype.itemsize


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value))


def metadata_from_record(record: Any) -> ArrayMetadata:
    """Our :class:`ArrayMetadata` from an ETP ``DataArrayMetadata`` record."""
    transport = _enum_text(record.transport_array_type)
    logical = _enum_text(record.logical_array_type)
    return ArrayMetadata(
        dimensions=tuple(int(n) for n in record.dimensions),
        dtype=dtype_for(transport, logical),
        transport_type=transport,
        logical_type=logical,
        store_last_write=int(record.store_last_write),
        store_created=int(record.store_created),
        preferred_subarray_dimensions=tuple(int(n) for n in record.preferred_subarray_dimensions),
        custom_data=dict(record.custom_data),
    )


def wire_item_size(transport: str, dtype: np.dtype[Any], values: np.ndarray | None = None) -> int:
    """Worst-case bytes per element on the wire for values of ``dtype`` sent as ``transport``.

    Strings: the longest UTF-8 encoding among ``values`` plus its length prefix, or
    :data:`STRING_ITEM_GUESS` when the values are not known.
    """
    if transport == "arrayOfString":
        if values is None:
            return STRING_ITEM_GUESS
        longest = max((len(str(s).encode("utf-8")) for s in values.flat), default=0)
        return longest + len(write_varint(longest))
    return wire_item_bounds(transport, dtype.itemsize)[1]


def plan_blocks(shape: Sequence[int], item_size: int, budget: int) -> Iterator[Block]:
    """Cover an array of ``shape`` with C-order blocks of at most ``budget`` bytes.

    Blocks are split along the slowest axis; when a single slice of that axis is too big, each
    slice is split along the next axis, and so on. Yields ``(starts, counts)`` in C order.
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    if item_size > budget:
        raise ETPMessageTooLarge(
            f"one array element needs up to {item_size} bytes on the wire, more than the "
            f"{budget} bytes a message can carry"
        )
    if ndim == 0:
        yield (), ()
        return
    if math.prod(shape) == 0:
        yield (0,) * ndim, shape
        return

    def walk(prefix: tuple[int, ...]) -> Iterator[Block]:
        axis = len(prefix)
        n = shape[axis]
        tail = shape[axis + 1 :]
        per_index = item_size * math.prod(tail)
        if per_index <= budget:
            step = max(1, budget // per_index)
            pieces = -(-n // step)
            step = -(-n // pieces)  # even out the blocks
            ones = (1,) * axis
            zeros = (0,) * len(tail)
            for start in range(0, n, step):
                yield (*prefix, start, *zeros), (*ones, min(step, n - start), *tail)
        else:
            for i in range(n):
                yield from walk((*prefix, i))

    yield from walk(())


def _split_block(block: Block) -> list[Block]:
    """Halve a block along its first axis with a count above 1 (for adaptive retries)."""
    starts, counts = block
    for axis, n in enumerate(counts):
        if n > 1:
            half = n // 2
            first = (starts, (*counts[:axis], half, *counts[axis + 1 :]))
            second_starts = (*starts[:axis], starts[axis] + half, *starts[axis + 1 :])
            second = (second_starts, (*counts[:axis], n - half, *counts[axis + 1 :]))
            return [first, second]
    return []


def _offset(block: Block, origin: Sequence[int]) -> Block:
    starts, counts = block
    return tuple(s + o for s, o in zip(starts, origin, strict=True)), counts


def _slices(starts: Sequence[int], counts: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(s, s + c) for s, c in zip(starts, counts, strict=True))


def _identifier(uri: str | DataObjectURI, path_in_resource: str, max_in_flight: int = 1) -> Any:
    """The DataArrayIdentifier of a call, its arguments checked before anything is sent."""
    if not isinstance(path_in_resource, str) or not path_in_resource:
        raise ETPInvalidArgument("path_in_resource must be a non-empty string")
    if not isinstance(max_in_flight, int) or max_in_flight < 1:
        raise ETPInvalidArgument(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
    return _DAT.DataArrayIdentifier(uri=str(as_object_uri(uri)), path_in_resource=path_in_resource)


def _is_too_big(response: Response) -> bool:
    for body in response.errors:
        infos = ([body.error] if body.error is not None else []) + list(body.errors.values())
        if any(info.code == ErrorCode.EMAXSIZE_EXCEEDED for info in infos):
            return True
    return False


class _ArrayChanged(Exception):
    """The array was replaced during a read of several requests (internal: restart the read)."""

    def __init__(self, meta: ArrayMetadata) -> None:
        super().__init__("array changed")
        self.meta = meta


def _same_array(a: ArrayMetadata, b: ArrayMetadata) -> bool:
    return (a.dimensions, a.transport_type, a.logical_type, a.store_last_write) == (
        b.dimensions,
        b.transport_type,
        b.logical_type,
        b.store_last_write,
    )


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

    def _budget(self, ident: Any, ndim: int) -> int:
        """Bytes of values a DataArray message may carry for this identifier."""
        envelope = (
            ENVELOPE_MARGIN
            + 2 * (len(ident.uri.encode("utf-8")) + len(ident.path_in_resource.encode("utf-8")))
            + 32 * ndim
        )
        return self.server.max_message_size - envelope

    def array_block_budget(self, uri: str | DataObjectURI, path_in_resource: str, ndim: int) -> int:
        """Bytes of values one DataArray message can carry for this array (of ``ndim`` axes):
        the negotiated maximum message size less the envelope. A block whose element count
        times :func:`wire_item_size` is at most this travels in one request; callers that plan
        their own chunks (etp_sync.dask) align them to it and pass it as ``block_bytes``."""
        return self._budget(_identifier(uri, path_in_resource), ndim)

    def _pipeline(
        self,
        blocks: Iterable[Block],
        make_request: Callable[[Block], Record],
        on_response: Callable[[Block, Response], list[Block] | None],
        *,
        max_in_flight: int,
        deadline: Deadline,
        on_resume: Callable[[], None] | None = None,
        target_for: Callable[[Block], ReplyTarget | None] | None = None,
    ) -> None:
        """Send one request per block with up to ``max_in_flight`` in flight; hand each response
        to ``on_response`` as it completes (in sending order). ``on_response`` may return blocks
        to send again (e.g. halves of a block the server found too big).

        With ``on_resume`` (reads), a dropped connection is not an error while the deadline
        allows: the blocks not answered yet are sent again, and only those, on a new connection;
        whenever the connection changed, ``on_resume()`` is called first (it may raise).
        ``target_for(block)`` names memory a block's reply values may be received into."""
        source = iter(blocks)
        retry: deque[Block] = deque()
        inflight: deque[tuple[ResponseHandle, Block]] = deque()
        connected = self.connect_count

        def next_block() -> Block | None:
            if retry:
                return retry.popleft()
            return next(source, None)

        while True:
            try:
                while len(inflight) < max_in_flight:
                    block = next_block()
                    if block is None:
                        break
                    target = None if target_for is None else target_for(block)
                    try:
                        handle = self.send(
                            make_request(block), timeout=deadline.remaining(), target=target
                        )
                    except ETPConnectionLost:
                        retry.appendleft(block)
                        raise
                    inflight.append((handle, block))
                    del handle
                    if on_resume is not None and self.connect_count != connected:
                        log.warning("connection replaced during a read: resuming it")
                        on_resume()
                        connected = self.connect_count
                if not inflight:
                    return
                response = inflight[0][0].response(deadline.remaining())
                _handle, block = inflight.popleft()
                del _handle
                again = on_response(block, response)
                del response
                if again:
                    retry.extend(again)
            except ETPConnectionLost as exc:
                resumable = on_resume is not None and not isinstance(exc, ETPSessionClosed)
                if not resumable or deadline.expired:
                    raise
                # The blocks not answered go first, in order; the next send reconnects.
                retry.extendleft(reversed([b for _h, b in inflight]))
                inflight.clear()
                log.warning("connection lost during a read (%s): resuming the missing blocks", exc)
            except BaseException:
                # Let the requests still in flight finish so that the server is quiet before
                # anything else (e.g. a rollback) is sent; their answers are discarded.
                for handle, _block in inflight:
                    try:
                        handle.response(max(0.0, deadline.at - time.monotonic()))
                    except ETPError:
                        pass
                raise

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
            return self._metadata(ident, self.transaction_manager.deadline(timeout))

    def _metadata(self, ident: Any, deadline: Deadline) -> ArrayMetadata:
        replies = self.send_and_recv(
            messages.DataArray.GetDataArrayMetadata(data_arrays={"0": ident}),
            timeout=deadline.remaining(),
        )
        for message in replies:
            if "0" in message.array_metadata:
                return metadata_from_record(message.array_metadata["0"])
        raise ETPRemoteError(
            f"no metadata returned for {ident.uri} {ident.path_in_resource}", ErrorCode.ENOT_FOUND
        )

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
        budget = self._budget(ident, arr.ndim)
        total = int(arr.nbytes)
        dataspace = dataspace_of(ident.uri)
        manager = self.transaction_manager
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
                body, dataspace=dataspace, timeout=timeout, replaces=True
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
                plan_blocks(arr.shape, item, budget),
                progress=progress,
                max_in_flight=max_in_flight,
                deadline=deadline,
            )

        manager.write_many(operation, dataspace=dataspace, deadline=manager.deadline(timeout))

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
        origin = tuple(int(s) for s in starts)
        if len(origin) != arr.ndim:
            raise ETPInvalidArgument(
                f"starts has {len(origin)} values but the array has {arr.ndim} axes"
            )
        types = array_types(arr.dtype)
        item = wire_item_size(types.transport, arr.dtype, arr)
        budget = self._budget(ident, arr.ndim)
        blocks = list(plan_blocks(arr.shape, item, budget))
        manager = self.transaction_manager

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
                body, dataspace=dataspace_of(ident.uri), timeout=timeout, replaces=True
            ).raise_for_errors()
            if progress is not None:
                progress(int(arr.nbytes), int(arr.nbytes))
            return
        manager.write_many(
            operation, dataspace=dataspace_of(ident.uri), deadline=manager.deadline(timeout)
        )

    @staticmethod
    def _subarray_put(ident: Any, arr: np.ndarray, origin: tuple[int, ...], block: Block) -> Record:
        """PutDataSubarrays of one block of ``arr`` (starts relative to ``arr``), at ``origin``."""
        starts, counts = block
        view = arr[_slices(starts, counts)] if arr.ndim else arr
        any_array, _ = to_any_array(view)  # contiguous copy of this block only if needed
        at, _counts = _offset(block, origin)
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

        self._pipeline(
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
            meta = _reading_as(self._metadata(ident, deadline), dtype)
            item = wire_item_size(meta.transport_type, meta.dtype)
            budget = self._budget(ident, len(meta.dimensions))
            if meta.size * item <= min(budget, WHOLE_READ_BYTES):
                result = self._get_whole(ident, meta, deadline)
                if result is not None:
                    if progress is not None:
                        progress(int(result.nbytes), int(result.nbytes))
                    return result
            return self._get_box(
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
        if response.errors and _is_too_big(response):
            return None
        response.raise_for_errors()
        for message in response.messages:
            if "0" in message.data_arrays:
                data = message.data_arrays["0"]
                # The codec hands out zero-copy views of the received frame, possibly unaligned:
                # the caller gets an ordinary aligned array. (Blocks of a larger array are copied
                # into the aligned result anyway.)
                values = _decode(data.data, data.dimensions, meta.dimensions, meta)
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
        origin = tuple(int(s) for s in starts)
        box = tuple(int(c) for c in counts)
        if len(origin) != len(box):
            raise ETPInvalidArgument("starts and counts must have the same length")
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
            known = self._metadata(ident, deadline) if metadata is None else metadata
            meta = _reading_as(known, dtype)
            return self._get_box(
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

    def _get_box(
        self,
        ident: Any,
        meta: ArrayMetadata,
        origin: tuple[int, ...],
        counts: tuple[int, ...] | None,
        *,
        progress: Progress | None,
        max_in_flight: int,
        deadline: Deadline,
        dtype: Any,
        block_bytes: int | None = None,
    ) -> np.ndarray:
        """Read the box ``origin``/``counts`` (None: the whole array) into one preallocated
        array, block by block: one committed version of the array, never a mix. A read of
        several requests compares the array's metadata (``store_last_write`` among it) from
        before its first block with the metadata after its last block (and after a drop, before
        resuming with the missing blocks); when another session replaced the array meanwhile
        it starts again with the new version, at most MAX_RESTARTS times, all within the
        call's deadline. ``dtype`` is the caller's (applied to each new version's metadata)."""
        restarts = 0
        while True:
            try:
                return self._read_box(
                    ident,
                    meta,
                    origin,
                    meta.dimensions if counts is None else counts,
                    progress=progress,
                    max_in_flight=max_in_flight,
                    deadline=deadline,
                    block_bytes=block_bytes,
                )
            except _ArrayChanged as changed:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise ETPRemoteError(
                        f"{ident.uri} {ident.path_in_resource} was replaced {restarts} times "
                        "while it was being read in several requests (other sessions keep "
                        "writing it); read it when it is not being written, or in one message",
                        ErrorCode.EINVALID_STATE,
                    ) from None
                log.info("array replaced during a read of several requests: reading it again")
                meta = _reading_as(changed.meta, dtype)

    def _read_box(
        self,
        ident: Any,
        meta: ArrayMetadata,
        origin: tuple[int, ...],
        counts: tuple[int, ...],
        *,
        progress: Progress | None,
        max_in_flight: int,
        deadline: Deadline,
        block_bytes: int | None = None,
    ) -> np.ndarray:
        item = wire_item_size(meta.transport_type, meta.dtype)
        budget = self._budget(ident, len(counts))
        size = math.prod(counts)
        # Responses in flight plus the block being decoded: about a third of the result.
        memory_cap = max(MIN_BLOCK_BYTES, (size * item) // (3 * (max(1, max_in_flight) + 1)))
        cap = memory_cap if block_bytes is None else max(item, block_bytes)  # the caller's plan
        blocks = plan_blocks(counts, item, min(budget, cap))
        if meta.transport_type == "arrayOfString":
            result: np.ndarray = np.empty(counts, dtype=object)
        else:
            result = np.empty(counts, dtype=meta.dtype)
        total = int(result.nbytes) if result.dtype != object else size
        per_item = total // size if size else 0
        done = 0
        requests = 0
        if progress is not None:
            progress(0, total)

        def make_request(block: Block) -> Record:
            nonlocal requests
            requests += 1
            at, block_counts = _offset(block, origin)
            return messages.DataArray.GetDataSubarrays(
                data_subarrays={
                    "0": _DAT.GetDataSubarraysType(
                        uid=ident, starts=list(at), counts=list(block_counts)
                    )
                }
            )

        def on_response(block: Block, response: Response) -> list[Block] | None:
            nonlocal done
            if response.errors and _is_too_big(response):
                halves = _split_block(block)
                if halves:
                    log.debug("block %s too big for the server: splitting it", block)
                    return halves
            response.raise_for_errors()
            starts, block_counts = block
            for message in response.messages:
                if "0" in message.data_subarrays:
                    data = message.data_subarrays["0"]
                    values = _decode(data.data, data.dimensions, block_counts, meta)
                    place = result[_slices(starts, block_counts)]
                    if not _same_memory(values, place):  # not received in place
                        place[...] = values
                    break
            else:
                raise ETPRemoteError(
                    f"no subarray returned for {ident.uri} {ident.path_in_resource}",
                    ErrorCode.ENOT_FOUND,
                )
            done += math.prod(block_counts) * per_item
            if progress is not None:
                progress(min(done, total), total)
            return None

        def unchanged() -> None:
            now = self._metadata(ident, deadline)
            if not _same_array(now, meta):
                raise _ArrayChanged(now)

        def target_for(block: Block) -> ReplyTarget | None:
            return ArrayReplyTarget.for_values(result[_slices(*block)], meta.transport_type)

        self._pipeline(
            blocks,
            make_request,
            on_response,
            max_in_flight=max_in_flight,
            deadline=deadline,
            on_resume=None if self.transaction_manager.owned() else unchanged,
            target_for=target_for if _placeable(meta) else None,
        )
        if requests > 1:
            # Blocks answered before and after another session's commit would be a mix: the
            # metadata read before the first block must still hold after the last one.
            unchanged()
        if result.dtype == object:
            return result.astype(np.str_) if size else np.empty(counts, dtype=np.str_)
        return result


def _as_array(array: Any) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype.kind == "O" and all(isinstance(x, str) for x in arr.flat):
        arr = arr.astype(np.str_)
    return arr


def _reading_as(meta: ArrayMetadata, dtype: Any) -> ArrayMetadata:
    """The metadata a read decodes with: ``dtype`` when the caller states one (ETPInvalidArgument
    unless it travels as the array's transport type), else the server's, with a warning when its
    logical type contradicts its transport type (the transport type's dtype is then used)."""
    if dtype is None:
        if fitting_logical(meta.transport_type, meta.logical_type) != meta.logical_type:
            read_as = "str" if meta.dtype.kind == "U" else str(meta.dtype)
            message = (
                f"the server reports logical type {meta.logical_type} for values that travel "
                f"as {meta.transport_type}: the transport type wins and they are read as "
                f"{read_as}; pass dtype= to read them as the dtype they were written with"
            )
            log.debug(message)
            warnings.warn(message, UserWarning, stacklevel=3)
        return meta
    try:
        stated = np.dtype(dtype)
        logical = array_types(stated).logical
    except (TypeError, ETPEncodeError) as exc:
        raise ETPInvalidArgument(f"dtype {dtype!r} cannot be read from ETP: {exc}") from None
    if fitting_logical(meta.transport_type, logical) != logical:
        raise ETPInvalidArgument(
            f"the array travels as {meta.transport_type}, which cannot carry {stated} values"
        )
    return replace(meta, dtype=dtype_for(meta.transport_type, logical))


def _decoded_as(meta: ArrayMetadata) -> str:
    """The logical type values are decoded as: the one ``meta.dtype`` travels with when it fits
    the transport (a stated dtype), else the server's."""
    if meta.dtype.kind != "U":
        own = array_types(meta.dtype).logical
        if fitting_logical(meta.transport_type, own) == own:
            return own
    return fitting_logical(meta.transport_type, meta.logical_type)


def _placeable(meta: ArrayMetadata) -> bool:
    """Whether values of this array arrive with exactly the dtype they are read as (so they can
    be received straight into the result: raw doubles, floats or bytes)."""
    transport = meta.transport_type
    if transport not in ("arrayOfDouble", "arrayOfFloat", "bytes"):
        return False
    wire = dtype_for(transport, _decoded_as(meta))
    return wire == meta.dtype and (transport == "bytes" or wire == TRANSPORT_DTYPES[transport])


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` is ``b``'s memory seen the same way (values already where they belong)."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


# Kinds of values that may arrive for an array of each kind (the codec converts them).
_COMPATIBLE_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "fiu", "U": "U"}


def _decode(
    any_array: Any, dimensions: Sequence[int], expected: Sequence[int], meta: ArrayMetadata
) -> np.ndarray:
    """The values of a received DataArray, checked against what was asked: decoded with the
    reply's own ``dimensions`` (ETPDecodeError before allocating when they claim more values
    than the ``expected`` counts), which must equal ``expected``, and a transport type that can
    carry the array's dtype (ETPProtocolError otherwise). Returned in the array's dtype."""
    dims = tuple(int(n) for n in dimensions)
    want = tuple(int(n) for n in expected)
    if any(n < 0 for n in dims) or len(dims) > len(want) + 32 or math.prod(dims) > math.prod(want):
        raise ETPDecodeError(
            f"the reply claims dimensions {list(dims)}, more values than the {list(want)} asked for"
        )
    transport = transport_of(any_array)
    logical = _decoded_as(meta)
    if fitting_logical(transport, logical) != logical and TRANSPORT_DTYPES[
        transport
    ].kind not in _COMPATIBLE_KINDS.get(meta.dtype.kind, meta.dtype.kind):
        raise ETPProtocolError(
            f"the reply carries {transport} values for an array of {meta.dtype} ({logical})"
        )
    values = from_any_array(any_array, dims, logical)
    if dims != want:
        raise ETPProtocolError(f"the reply has dimensions {list(dims)}, not the {list(want)} asked")
    if meta.dtype.kind != "U" and values.dtype != meta.dtype:
        values = values.astype(meta.dtype)
    return values


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


__all__ = ["ArrayCalls", "ArrayMetadata", "metadata_from_record", "plan_blocks"]
