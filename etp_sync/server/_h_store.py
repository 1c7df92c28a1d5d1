"""Store (4) and StoreQuery (14) handlers, with Chunk messages for objects that do not fit.

Get: an object whose response would exceed the session's message size goes out alone in a
response with a ``blobId`` and empty ``data``, followed by Chunk messages with its bytes.
Put: a PutDataObjects without FIN opens a multipart request; its later parts (more
PutDataObjects, Chunk messages) carry its messageId as correlationId, the last one FIN. The put
is applied when FIN arrives. Until then its parts are held in the session's
:class:`~._pending.PendingRequests`, bounded in bytes and in time. An object sent with its whole
``data`` *and* a ``blobId`` but no Chunk (Geosiris' py-etp-client and etpclient do so) is taken
as it came.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from etp_sync.codec import MessageFlags, encoded_body_size
from etp_sync.errors import ErrorCode, ETPError
from etp_sync.schema import Record, datatypes, messages

from ._common import (
    Handler,
    Outgoing,
    Reply,
    SessionContext,
    chunked_object,
    data_object,
    errors_reply,
    fits,
    fitting,
    hold_entries,
    map_reply,
    stream_map,
)
from ._query import context_resources
from .store import ObjectPut, StoreError, object_put


@dataclass
class PendingPut:
    """A multipart PutDataObjects waiting for its FIN."""

    data_objects: dict[str, Any] = field(default_factory=dict)
    prune: bool = False
    blobs: dict[uuid.UUID, bytearray] = field(default_factory=dict)
    finished: set[uuid.UUID] = field(default_factory=set)


def _check_format(fmt: str) -> None:
    if fmt and fmt.lower() != "xml":
        raise ETPError(f"format {fmt!r} is not supported (only xml)", ErrorCode.ENOTSUPPORTED)


def _objects_reply(
    session: SessionContext,
    found: dict[str, Any],
    make: Callable[[dict[str, Any]], Record],
    chunk_class: Any,
    trailer: list[Record] | None = None,
) -> Iterator[Outgoing]:
    """Response messages for objects by key: small ones packed, big ones chunked (followed by
    ``trailer`` when there are any).

    ``make`` builds one response from some of the objects by key; a response whose objects
    are a list (StoreQuery) takes the map's values in order.

    The messages are made as they are sent: the objects' records, and the pieces of a big
    object's data, of about a message at a time, never of all keys at once (a request may
    name the same big object under thousands of keys)."""
    limit = session.max_message_size
    records = ((key, data_object(obj)) for key, obj in found.items())
    held, complete = hold_entries(make, records, limit, _object_weight)
    if complete:
        encoded = fitting(make(held), limit)
        if encoded is not None:
            yield encoded  # then each object fits in a message of its own too
            return
    big: list[str] = []

    def small() -> Iterator[tuple[str, Any]]:
        for key, obj in found.items():
            dobj = held.pop(key, None)
            if dobj is None:
                dobj = data_object(obj)
            if fits(make({key: dobj}), limit):
                yield key, dobj
            else:
                big.append(key)

    smalls = small()
    first = next(smalls, None)
    if first is not None:
        yield from stream_map(make, itertools.chain([first], smalls), limit, _object_weight)
    for key in big:
        head, chunks = chunked_object(data_object(found[key]), found[key].xml, limit, chunk_class)
        yield make({key: head})
        yield from chunks
    if big:
        yield from trailer or []


def _object_weight(dobj: Any) -> int:
    """About the bytes a DataObject record in a reply takes (its data, the store's, shared)."""
    return len(dobj.data) + 1024


def get_data_objects(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataObjects → GetDataObjectsResponse part(s), Chunks, ProtocolException for misses."""
    _check_format(body.format)
    found, errors = session.store.get_objects(dict(body.uris), tx=session.transaction)
    out: Iterator[Outgoing] = iter(())
    if found or not errors:
        out = _objects_reply(
            session,
            found,
            lambda part: messages.Store.GetDataObjectsResponse(data_objects=part),
            messages.Store.Chunk,
            # open-etp-server ends chunked objects with an extra, empty response.
            [messages.Store.GetDataObjectsResponse(data_objects={})]
            if session.profile.trailing_empty_object_response
            else None,
        )
    return itertools.chain(out, errors_reply(errors, session.max_message_size))


def _part_bytes(session: SessionContext, header: Any, body: Any) -> int:
    """Bytes a part of a multipart request holds: the whole message uncompressed, so that
    every field (names, URIs, customData...) is charged, not only the data."""
    if header.message_flags & MessageFlags.COMPRESSED:
        return encoded_body_size(body)
    return session.frame_bytes


def put_data_objects(session: SessionContext, header: Any, body: Any) -> Reply:
    """PutDataObjects (possibly the first or a later part of a multipart request)."""
    pending: PendingPut | None = None
    if header.correlation_id:
        if session.multipart.was_cancelled(header.correlation_id):
            return None  # a late part of a request already answered with an error
        pending = session.multipart.get(header.correlation_id)
        if pending is None:
            raise ETPError(
                f"no multipart PutDataObjects {header.correlation_id} in progress",
                ErrorCode.EINVALID_STATE,
            )
    if pending is None:
        pending = PendingPut(prune=body.prune_contained_objects)
    final = bool(header.message_flags & MessageFlags.FIN)
    request_id = header.correlation_id or header.message_id
    if header.correlation_id or not final:  # a part of a multipart request
        session.multipart.hold(
            request_id, header.protocol, pending, _part_bytes(session, header, body)
        )
    pending.data_objects.update(body.data_objects)
    if not final:
        return None
    session.multipart.pop(request_id)
    return _apply_put(session, pending)


def chunk(session: SessionContext, header: Any, body: Any) -> Reply:
    """Chunk of a multipart PutDataObjects: bytes of one blob; FIN applies the put."""
    request_id = header.correlation_id
    if session.multipart.was_cancelled(request_id):
        return None  # a late part of a request already answered with an error
    pending = session.multipart.get(request_id)
    if not isinstance(pending, PendingPut):
        raise ETPError(
            f"Chunk for unknown multipart request {request_id}", ErrorCode.EINVALID_STATE
        )
    if body.blob_id in pending.finished:
        session.multipart.cancel(request_id)
        raise ETPError(
            f"Chunk after the final chunk of blob {body.blob_id}", ErrorCode.EINVALID_ARGUMENT
        )
    session.multipart.hold(request_id, header.protocol, pending, _part_bytes(session, header, body))
    pending.blobs.setdefault(body.blob_id, bytearray()).extend(body.data)
    if body.final:
        pending.finished.add(body.blob_id)
    if not header.message_flags & MessageFlags.FIN:
        return None
    session.multipart.pop(request_id)
    return _apply_put(session, pending)


def _apply_put(session: SessionContext, pending: PendingPut) -> Reply:
    puts: dict[str, ObjectPut] = {}
    errors: dict[str, Exception] = {}
    for key, dobj in pending.data_objects.items():
        data: bytes = bytes(dobj.data)
        # A blobId with inline data and no Chunk for it: the data is the whole object.
        if dobj.blob_id is not None and (dobj.blob_id in pending.blobs or not data):
            if dobj.blob_id not in pending.finished:
                errors[key] = StoreError(
                    ErrorCode.EINVALID_ARGUMENT,
                    f"blob {dobj.blob_id} of {dobj.resource.uri} did not arrive complete",
                )
                continue
            data = bytes(pending.blobs[dobj.blob_id])
        puts[key] = object_put(data, dobj.resource.uri or None, dobj.format)
    results, put_errors = session.store.put_objects(None, puts, tx=session.transaction)
    errors.update(put_errors)
    # PutResponse has no fields: one record serves every key.
    success = dict.fromkeys(results, datatypes.Object.PutResponse())
    return map_reply(
        lambda part: messages.Store.PutDataObjectsResponse(success=part),
        success,
        errors,
        session.max_message_size,
    )


def delete_data_objects(session: SessionContext, header: Any, body: Any) -> Reply:
    """DeleteDataObjects → DeleteDataObjectsResponse (URIs deleted per key) + errors."""
    deleted, errors = session.store.delete_objects(
        dict(body.uris), body.prune_contained_objects, tx=session.transaction
    )
    return map_reply(
        lambda part: messages.Store.DeleteDataObjectsResponse(deleted_uris=part),
        {k: datatypes.ArrayOfString(values=v) for k, v in deleted.items()},
        errors,
        session.max_message_size,
    )


def find_data_objects(session: SessionContext, header: Any, body: Any) -> Reply:
    """StoreQuery FindDataObjects: the objects GetResources would list, with their data."""
    _check_format(body.format)
    resources, _edges = context_resources(session, body, include_edges=False)
    uris = {r.uri: r.uri for r in resources}
    found, _missing = session.store.get_objects(uris, tx=session.transaction)
    return _objects_reply(
        session,
        found,
        lambda part: messages.StoreQuery.FindDataObjectsResponse(
            data_objects=list(part.values()), server_sort_order=""
        ),
        messages.StoreQuery.Chunk,
    )


HANDLERS: dict[tuple[int, int], Handler] = {
    (4, 1): get_data_objects,
    (4, 2): put_data_objects,
    (4, 3): delete_data_objects,
    (4, 8): chunk,
    (14, 1): find_data_objects,
}
