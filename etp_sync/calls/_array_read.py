"""The read of a stored array, or a box of it, in several GetDataSubarrays requests.

Blocks are small enough that the responses in flight (and the one being decoded) stay below a
third of the result, several in flight at once; each reply is written straight into one
preallocated result. The read sees one committed version of the array, never a mix: its metadata
is checked again after the last block (and before resuming after a drop), and the read starts
again when another session replaced the array meanwhile.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from .._progress import Progress
from ..codec._placement import ArrayReplyTarget
from ..codec.arrays import FRESH_MAP_BYTES, fresh_empty, populate
from ..errors import ErrorCode, ETPArrayReplaced, ETPRemoteError
from ..protocol.correlation import ReplyTarget, Response
from ..schema import Record, datatypes, messages
from ._array_decode import decode, placeable, reading_as, same_memory
from ._array_meta import ArrayMetadata, metadata_from_record, same_array
from ._blocks import (
    MIN_READ_BLOCK,
    Block,
    block_budget,
    offset,
    plan_blocks,
    read_block_bytes,
    slices,
    split_block,
    wire_item_size,
)
from ._core import Deadline, SessionAPI
from ._pipeline import run_pipeline
from ._populate import Populator

log = logging.getLogger("etp_sync.arrays")

_DAT = datatypes.DataArrayTypes

# Blocks of a read are not made smaller than this (a third of a small result would be tiny).
MIN_BLOCK_BYTES = MIN_READ_BLOCK
# A read of several requests that saw the array replaced (by another session's commit, or while
# it resumed after a drop) starts again; the most times it does so before giving up.
MAX_RESTARTS = 3


def request_metadata(session: SessionAPI, ident: Any, deadline: Deadline) -> ArrayMetadata:
    """The array's metadata (GetDataArrayMetadata), within ``deadline``."""
    replies = session.send_and_recv(
        messages.DataArray.GetDataArrayMetadata(data_arrays={"0": ident}),
        timeout=deadline.remaining(),
    )
    for message in replies:
        if "0" in message.array_metadata:
            return metadata_from_record(message.array_metadata["0"])
    raise ETPRemoteError(
        f"no metadata returned for {ident.uri} {ident.path_in_resource}", ErrorCode.ENOT_FOUND
    )


def is_too_big(response: Response) -> bool:
    """Whether the server refused a request because its answer would exceed a message."""
    for body in response.errors:
        infos = ([body.error] if body.error is not None else []) + list(body.errors.values())
        if any(info.code == ErrorCode.EMAXSIZE_EXCEEDED for info in infos):
            return True
    return False


def read_box(
    session: SessionAPI,
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
            return _read_version(
                session,
                ident,
                meta,
                origin,
                meta.dimensions if counts is None else counts,
                progress=progress,
                max_in_flight=max_in_flight,
                deadline=deadline,
                block_bytes=block_bytes,
            )
        except ETPArrayReplaced as changed:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise ETPRemoteError(
                    f"{ident.uri} {ident.path_in_resource} was replaced {restarts} times "
                    "while it was being read in several requests (other sessions keep "
                    "writing it); read it when it is not being written, or in one message",
                    ErrorCode.EINVALID_STATE,
                ) from None
            log.info("array replaced during a read of several requests: reading it again")
            meta = reading_as(changed.metadata, dtype)


def _read_version(
    session: SessionAPI,
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
    """One attempt of :func:`read_box`: the blocks of the version ``meta`` describes (raises
    ETPArrayReplaced when the array was replaced meanwhile)."""
    item = wire_item_size(meta.transport_type, meta.dtype)
    budget = block_budget(  # the grant of a connection made within the call's deadline
        session._granted(deadline.at).max_message_size,
        ident.uri,
        ident.path_in_resource,
        len(counts),
    )
    size = math.prod(counts)
    # Responses in flight plus the block being decoded: about a third of the result.
    memory_cap = read_block_bytes(size, item, max_in_flight)
    cap = memory_cap if block_bytes is None else max(item, block_bytes)  # the caller's plan
    blocks = list(plan_blocks(counts, item, min(budget, cap)))
    if meta.transport_type == "arrayOfString":
        result: np.ndarray = np.empty(counts, dtype=object)
    else:
        result = fresh_empty(counts, meta.dtype)
    total = int(result.nbytes) if result.dtype != object else size
    per_item = total // size if size else 0
    done = 0
    requests = 0
    if progress is not None:
        progress(0, total)

    def make_request(block: Block) -> Record:
        nonlocal requests
        requests += 1
        at, block_counts = offset(block, origin)
        return messages.DataArray.GetDataSubarrays(
            data_subarrays={
                "0": _DAT.GetDataSubarraysType(
                    uid=ident, starts=list(at), counts=list(block_counts)
                )
            }
        )

    def on_response(block: Block, response: Response) -> list[Block] | None:
        nonlocal done
        if response.errors and is_too_big(response):
            halves = split_block(block)
            if halves:
                log.debug("block %s too big for the server: splitting it", block)
                return halves
        response.raise_for_errors()
        starts, block_counts = block
        for message in response.messages:
            if "0" in message.data_subarrays:
                data = message.data_subarrays["0"]
                values = decode(data.data, data.dimensions, block_counts, meta)
                place = result[slices(starts, block_counts)]
                if not same_memory(values, place):  # not received in place
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
        now = request_metadata(session, ident, deadline)
        if not same_array(now, meta):
            raise ETPArrayReplaced(now)

    ahead: Populator | None = None
    if placeable(meta) and len(blocks) > 1 and result.nbytes >= FRESH_MAP_BYTES:
        ahead = Populator([result[slices(*block)] for block in blocks])
        ahead.start()

    def target_for(block: Block) -> ReplyTarget | None:
        place = result[slices(*block)]
        if ahead is None:
            populate(place)  # its pages, now, while the server reads the block
        return ArrayReplyTarget.for_values(place, meta.transport_type)

    try:
        run_pipeline(
            session,
            blocks,
            make_request,
            on_response,
            max_in_flight=max_in_flight,
            deadline=deadline,
            on_resume=None if session.transaction_manager.owned() else unchanged,
            target_for=target_for if placeable(meta) else None,
        )
    finally:
        if ahead is not None:
            ahead.stop()
    if requests > 1:
        # Blocks answered before and after another session's commit would be a mix: the
        # metadata read before the first block must still hold after the last one.
        unchanged()
    if result.dtype == object:
        return result.astype(np.str_) if size else np.empty(counts, dtype=np.str_)
    return result


__all__ = ["MIN_BLOCK_BYTES", "is_too_big", "read_box", "request_metadata"]
