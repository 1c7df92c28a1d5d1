"""``read_array`` and ``write_array``: stored ETP arrays as Dask arrays, chunk by chunk.

Each chunk is one task. A task carries a :class:`StoredArray` (URL, session options, the
object URI and dataset path: a few hundred bytes pickled), its place in the array (from
Dask's ``block_info``) and, for reads, the array's metadata and the message budget (so that a
chunk is one GetDataSubarrays); the worker that runs it reads or writes the chunk through the
session its process keeps for those options (:mod:`._sessions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from ..calls._array_meta import ArrayMetadata
from ..calls._blocks import wire_item_size
from ..codec.arrays import array_types
from ..errors import ErrorCode, ETPError, ETPInvalidArgument, ETPRemoteError
from ..uri import DataObjectURI, as_object_uri
from ._chunks import Chunks, aligned_chunks
from ._sessions import SessionSpec, session_for


@dataclass(frozen=True)
class StoredArray:
    """Where a chunk task reads or writes: the server (as a :class:`SessionSpec`), the owning
    object's URI and the dataset path."""

    spec: SessionSpec
    uri: str
    path: str

    @classmethod
    def of(
        cls, url: str, uri: str | DataObjectURI, path: str, options: dict[str, Any]
    ) -> StoredArray:
        if not isinstance(path, str) or not path:
            raise ETPInvalidArgument("path must be a non-empty string")
        return cls(SessionSpec.of(url, options), str(as_object_uri(uri)), path)

    def describe(self) -> str:
        return f"{self.path} of {self.uri}"


def _location(block_info: dict[Any, Any], which: Any) -> tuple[list[int], list[int]]:
    """(starts, counts) of the chunk a task is computing, from Dask's ``block_info``."""
    bounds = block_info[which]["array-location"]
    return [int(a) for a, _ in bounds], [int(b) - int(a) for a, b in bounds]


def _read_chunk(
    target: StoredArray,
    meta: ArrayMetadata,
    budget: int,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Task: GetDataSubarrays of one chunk, through this process's session: one request for a
    chunk of at most ``budget`` wire bytes (the metadata read_array got is reused, not asked)."""
    assert block_info is not None  # Dask passes it to functions that name it
    dtype = meta.dtype
    starts, counts = _location(block_info, None)
    if math.prod(counts) == 0:
        return np.empty(counts, dtype=dtype)
    session = session_for(target.spec)
    if counts:
        values = session.get_data_subarray(
            target.uri, target.path, starts, counts, metadata=meta, block_bytes=budget
        )
    else:
        values = session.get_data_array(target.uri, target.path)
    if values.shape != tuple(counts) or values.dtype != dtype:
        raise ETPRemoteError(
            f"{target.describe()} changed since read_array: a chunk came back as {values.dtype} "
            f"{values.shape}, not {dtype} {tuple(counts)}",
            ErrorCode.EINVALID_STATE,
        )
    return values


def _write_chunk(
    block: np.ndarray, target: StoredArray, block_info: dict[Any, Any] | None = None
) -> np.ndarray:
    """Task: PutDataSubarrays of one chunk through this process's session; returns its bytes
    (shaped as one element per chunk). A failure names the chunk in a note of its error."""
    assert block_info is not None
    starts, counts = _location(block_info, 0)
    if block.size:
        try:
            session_for(target.spec).put_data_subarray(target.uri, target.path, starts, block)
        except ETPError as exc:
            exc.add_note(
                f"while writing the chunk at starts={starts} counts={counts} of "
                f"{target.describe()} (re-run write_array to retry: puts replace)"
            )
            raise
    return np.full((1,) * block.ndim, block.nbytes, dtype=np.int64)


def _chunk_grid(chunks: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Chunks:
    """``chunks`` as Dask normalises them for ``shape``, checked: every chunk at least 1 long
    (an empty axis has one chunk of 0) and each axis's chunks adding up to it; else
    :class:`ETPInvalidArgument` (Dask makes -3 a chunk of -2, fails 0 with ZeroDivisionError,
    takes (-5, 15) for an axis of 10, and raises bare ValueErrors)."""
    grid: Chunks | None
    try:
        grid = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    except ZeroDivisionError:  # a chunk of 0
        grid = None
    except (ValueError, TypeError) as exc:
        raise ETPInvalidArgument(
            f"chunks={chunks!r} cannot cut an array of shape {shape}: {' '.join(str(exc).split())}"
        ) from None
    if grid is None or any(
        sum(axis) != length or (length > 0 and min(axis) < 1)
        for length, axis in zip(shape, grid, strict=True)
    ):
        raise ETPInvalidArgument(
            f"chunks={chunks!r} cannot cut an array of shape {shape}: chunks must be at least "
            "1 long and add up to each axis"
        )
    return grid


def _carried(value: Any) -> Any:
    """``value`` for :func:`dask.array.asarray` once its dtype is one ETP carries (else
    ETPEncodeError): checked before Dask chunks it, which raises NotImplementedError for an
    object array. A list or a scalar becomes the numpy array Dask would make of it."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        value = np.asarray(value)
        dtype = value.dtype
    if isinstance(dtype, np.dtype):
        array_types(dtype)
    return value


def read_array(
    url: str,
    uri: str | DataObjectURI,
    path: str,
    *,
    chunks: Any = "auto",
    **session_options: Any,
) -> da.Array:
    """A lazy Dask array over a stored ETP array (``uri`` owns it, ``path`` is its dataset path).

    Shape and dtype come from GetDataArrayMetadata, asked once here by a short-lived session.
    Nothing else is fetched until the array is computed: each chunk is then read with
    GetDataSubarrays (and no metadata request) by whichever worker computes it, through the
    session that worker's process keeps for ``url`` and ``session_options`` (any
    :class:`~etp_sync.ETPSession` argument: ``authorization`` as a picklable callable or a
    string, ``data_partition_id``, ``timeout``, ``retry``...). A slice or reduction reads only
    the chunks it touches.

    ``chunks="auto"`` cuts the array into chunks of at most one message's worth of values
    (:meth:`~etp_sync.ETPSession.array_block_budget`: the server's negotiated maximum message
    size less the envelope), split along the slowest axis first: each chunk is then exactly one
    GetDataSubarrays. Any other value is what :func:`dask.array.core.normalize_chunks` accepts
    and is used as given (a chunk bigger than a message is read in the fewest requests of one
    message each, in one call that checks they all saw the same version of the array).
    Chunks shorter than 1 or not adding up to an axis are an :class:`ETPInvalidArgument`, here.
    """
    target = StoredArray.of(url, uri, path, session_options)
    with target.spec.open() as session:
        meta = session.get_data_array_metadata(target.uri, target.path)
        budget = session.array_block_budget(target.uri, target.path, len(meta.dimensions))
    shape = meta.dimensions
    if chunks == "auto":
        grid: Chunks = aligned_chunks(
            [(n,) for n in shape], wire_item_size(meta.transport_type, meta.dtype), budget
        )
    else:
        grid = _chunk_grid(chunks, shape, meta.dtype)
    name = "etp-read-" + tokenize(
        target.spec.url, target.uri, target.path, shape, meta.dtype.str, grid, meta.store_last_write
    )
    return da.map_blocks(
        _read_chunk,
        target,
        meta,
        budget,
        name=name,
        chunks=grid,
        dtype=meta.dtype,
        meta=np.empty((0,) * len(shape), dtype=meta.dtype),
    )


def write_array(
    darr: Any,
    url: str,
    uri: str | DataObjectURI,
    path: str,
    *,
    compute: bool = True,
    **session_options: Any,
) -> Any:
    """Store a Dask array (or anything :func:`dask.array.asarray` takes) as ``path`` of ``uri``.

    The client creates the array (PutUninitializedDataArrays, replacing any array stored there)
    with a short-lived session; then each chunk is written (PutDataSubarrays) by the worker that
    holds it, through the session its process keeps for ``url`` and ``session_options``, all
    chunks in parallel. Chunks bigger than one message are first cut inside themselves (no data
    moves between workers) so that each is written by one request. Returns the bytes written;
    with ``compute=False`` nothing is written but the array's creation, and a 0-d Dask array is
    returned whose ``compute()`` writes the chunks and gives that number.

    Atomicity: each chunk is written atomically (one request), the array as a whole is not.
    A transaction belongs to one session and cannot span the workers' sessions, so readers may
    see a partly written array while the write runs. If a chunk fails, the compute raises that
    chunk's :class:`~etp_sync.ETPError` (its note names the chunk's starts and counts; Dask
    stops scheduling the rest, chunks already written stay written): the stored array is then
    partly written. To retry, call ``write_array`` again: it recreates the array and every put
    replaces what was there, so a complete second run leaves exactly the new values.
    """
    arr = da.asarray(_carried(darr))
    types = array_types(arr.dtype)  # ETPEncodeError now for a dtype ETP cannot carry
    target = StoredArray.of(url, uri, path, session_options)
    with target.spec.open() as session:
        session.put_uninitialized_data_array(target.uri, target.path, arr.shape, arr.dtype)
        budget = session.array_block_budget(target.uri, target.path, arr.ndim)
    grid = aligned_chunks(arr.chunks, wire_item_size(types.transport, arr.dtype), budget)
    if grid != arr.chunks:
        arr = arr.rechunk(grid)
    written = arr.map_blocks(
        _write_chunk,
        target,
        name="etp-write-" + tokenize(arr.name, target.spec.url, target.uri, target.path),
        chunks=tuple((1,) * len(axis) for axis in grid),
        dtype=np.int64,
        meta=np.empty((0,) * arr.ndim, dtype=np.int64),
    )
    total = written.sum()
    return int(total.compute()) if compute else total


__all__ = ["StoredArray", "read_array", "write_array"]
