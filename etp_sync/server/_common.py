"""Helpers shared by the protocol handlers: replies, size-aware splitting, record conversion.

A handler answers a request with a list of message bodies, or an iterator making them as they are
sent (replies of stored values: a few messages' worth held at a time, whatever the number of
keys); the session sends them in order under the request's correlation id, FIN on the last one.
Everything here builds those messages so that no single message exceeds the session's
negotiated size.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from etp_sync.codec import EncodedBody, encode_body, encode_within, encoded_body_size
from etp_sync.errors import ErrorCode, ETPError
from etp_sync.schema import Record, datatypes, messages
from etp_sync.schema._object_records import new_data_object, new_resource

from ._pending import PendingRequests
from ._profile import ServerProfile
from .store import (
    DataspaceRecord,
    EdgeInfo,
    ResourceInfo,
    Store,
    StoredObject,
    resource_custom_data,
)

if TYPE_CHECKING:
    import threading

__all__ = [
    "MESSAGE_MARGIN",
    "Handler",
    "Outgoing",
    "Reply",
    "SessionContext",
    "chunked_object",
    "dataspace_record",
    "edge_record",
    "error_info",
    "errors_reply",
    "fitting",
    "hold_entries",
    "lazy_per_item_reply",
    "object_resource",
    "per_item_handler",
    "per_item_reply",
    "resource_record",
    "response_maker",
    "split_list",
    "split_map",
    "stream_map",
]

# Room left in every message for the header (five varints) and slack.
MESSAGE_MARGIN = 512
# Bytes of a Chunk message around its payload (header, blobId, lengths, final).
CHUNK_OVERHEAD = 128

# A reply message: a record, or its body already encoded (sized by the handler, sent as is).
Outgoing = Record | EncodedBody
T = TypeVar("T")
# A handler's messages: a list, or an iterator making them one at a time as they are sent (a
# reply whose messages together could hold far more than one message's worth of memory).
Reply = list[Outgoing] | Iterator[Outgoing] | None


class SessionContext(Protocol):
    """What handlers may use of the session that received the request."""

    store: Store
    profile: ServerProfile
    failed_commit: str | None
    session_id: uuid.UUID
    max_message_size: int
    # Bytes of the message being handled as it arrived (its values received in place included).
    frame_bytes: int
    multipart: PendingRequests
    subscriptions: dict[uuid.UUID, Any]
    max_subscriptions: int
    lock: threading.Lock

    @property
    def transaction(self) -> uuid.UUID | None:
        """The session's open transaction (reads and writes go through it)."""
        ...

    def watch_store(self) -> int:
        """Start delivering store change notifications to this session; the changeTime (µs)
        of the last change already handed out (a new subscription's changes come after it)."""
        ...


Handler = Callable[[SessionContext, Any, Any], Reply]


def _groups(items: Iterable[T], size_of: Callable[[T], int], budget: int) -> Iterator[list[T]]:
    """Greedy grouping of ``items`` in order so that each group's size stays within
    ``budget`` (an item too big on its own gets a group of its own); each group is given as
    soon as it is complete, so ``items`` may be made as they are taken."""
    current: list[T] = []
    used = 0
    for item in items:
        size = size_of(item)
        if current and used + size > budget:
            yield current
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        yield current


def _map_messages(
    make: Callable[[dict[str, Any]], Record], entries: Iterable[tuple[str, Any]], limit: int
) -> Iterator[Record]:
    """Messages ``make(part)`` of the map ``entries``, packed greedily in order, each within
    ``limit`` (see :func:`_groups`)."""
    base = encoded_body_size(make({}))
    budget = max(1, limit - MESSAGE_MARGIN - base)

    def size_of(entry: tuple[str, Any]) -> int:
        return encoded_body_size(make({entry[0]: entry[1]})) - base + 16

    for group in _groups(entries, size_of, budget):
        yield make(dict(group))


def split_map(
    make: Callable[[dict[str, Any]], Record], entries: Mapping[str, Any], limit: int
) -> list[Outgoing]:
    """One message ``make(entries)``, or several each holding part of the map when too big.

    An entry too big on its own still gets a message of its own (callers that can do better,
    such as chunking objects, handle those before). A single message comes back encoded.
    """
    whole = make(dict(entries))
    encoded = encode_body(whole) if len(entries) <= 1 else fitting(whole, limit)
    if encoded is not None:
        return [encoded]
    return list(_map_messages(make, entries.items(), limit))


def hold_entries(
    make: Callable[[dict[str, Any]], Record],
    entries: Iterator[tuple[str, Any]],
    limit: int,
    weigh: Callable[[Any], int],
) -> tuple[dict[str, Any], bool]:
    """Take entries while one message of all of them may still fit in ``limit`` bytes.

    Returns the entries taken and True when ``entries`` ran out; False when the last one
    taken made a message of them all too big (then no message of all the entries fits: a
    map's encoding only grows with more entries). The message is sized each time the bytes
    the entries hold (``weigh``) pass twice what they were at the last sizing, first at
    ``limit``: the entries held stay within a few messages' worth, and a reply that fits is
    not sized at all (it is encoded once, as :func:`split_map` does)."""
    held: dict[str, Any] = {}
    weight = 0
    check_at = limit
    for key, value in entries:
        held[key] = value
        weight += weigh(value)
        if weight > check_at:
            if not fits(make(held), limit):
                return held, False
            check_at = 2 * weight
    return held, True


def stream_map(
    make: Callable[[dict[str, Any]], Record],
    entries: Iterable[tuple[str, Any]],
    limit: int,
    weigh: Callable[[Any], int],
) -> Iterator[Outgoing]:
    """The messages :func:`split_map` makes of ``dict(entries)``, made as ``entries`` come.

    ``entries`` may compute each value as it is taken (e.g. read an array): only about one
    message's worth of them is held at a time (see :func:`hold_entries`; ``weigh(value)`` is the
    bytes a value holds), never all of them. The messages are the same, split the same way.
    """
    rest = iter(entries)
    held, complete = hold_entries(make, rest, limit, weigh)
    if complete:
        yield from split_map(make, held, limit)
        return
    # Too big for one message: packed greedily in order, as split_map packs them.
    yield from _map_messages(make, itertools.chain(held.items(), rest), limit)


def split_list(
    make: Callable[[list[Any]], Record], items: Sequence[Any], limit: int
) -> list[Outgoing]:
    """One message ``make(items)``, or several each holding a slice of the list when too big.

    A single message comes back encoded.
    """
    whole = make(list(items))
    encoded = encode_body(whole) if len(items) <= 1 else fitting(whole, limit)
    if encoded is not None:
        return [encoded]
    base = encoded_body_size(make([]))
    budget = max(1, limit - MESSAGE_MARGIN - base)

    def size_of(item: Any) -> int:
        return encoded_body_size(make([item])) - base + 16

    return [make(group) for group in _groups(items, size_of, budget)]


def error_info(error: BaseException | int, message: str = "") -> Any:
    """``ErrorInfo`` for an exception (its ETP code, else EINVALID_ARGUMENT) or a bare code."""
    if isinstance(error, int):
        return datatypes.ErrorInfo(message=message, code=int(error))
    code = getattr(error, "code", None)
    if not isinstance(code, int):
        code = ErrorCode.EINVALID_ARGUMENT
    text = error.message if isinstance(error, ETPError) else str(error)
    return datatypes.ErrorInfo(message=message or text, code=int(code))


def errors_reply(errors: Mapping[str, BaseException], limit: int) -> list[Outgoing]:
    """ProtocolException message(s) carrying per-key errors (none if ``errors`` is empty)."""
    if not errors:
        return []
    infos = {key: error_info(exc) for key, exc in errors.items()}
    return split_map(
        lambda part: messages.Core.ProtocolException(error=None, errors=part), infos, limit
    )


def custom_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """A ``customData`` map: plain values wrapped in ``DataValue`` (records kept as they are)."""
    return {
        key: value if isinstance(value, Record) else datatypes.DataValue(item=value)
        for key, value in values.items()
    }


_ACTIVE_STATUS = {
    True: datatypes.Object.ActiveStatusKind("Active"),
    False: datatypes.Object.ActiveStatusKind("Inactive"),
}


def active_status(active: bool) -> Any:
    """``ActiveStatusKind`` of a resource (the enum's members looked up once)."""
    return _ACTIVE_STATUS[bool(active)]


def resource_record(info: ResourceInfo) -> Any:
    """ETP ``Resource`` of a Discovery result."""
    return datatypes.Object.Resource(
        uri=info.uri,
        alternate_uris=[],
        name=info.name,
        source_count=info.source_count,
        target_count=info.target_count,
        last_changed=info.last_changed_us,
        store_last_write=info.store_last_write_us,
        store_created=info.store_created_us,
        active_status=active_status(info.active),
        custom_data=custom_data(info.custom_data),
    )


# Records of every object a get, a notification or a query answers with are made field by field
# (below): each value is of its field's type already (the store's own str, int and bool; the
# enum members looked up once), and the constructors' checks and coercions cost more than the
# rest of the records (tests/test_server_records.py compares them with the constructors').
_new_record = object.__new__
_DATA_VALUE = datatypes.DataValue
_DATASPACE = datatypes.Object.Dataspace


def _data_value(item: Any) -> Any:
    """``DataValue(item=item)`` of a plain value (an int or a str: no coercion)."""
    value = _new_record(_DATA_VALUE)
    value.item = item
    return value


def object_resource(obj: StoredObject) -> Any:
    """ETP ``Resource`` describing a stored object (counts left null); its custom data are
    :func:`~.store.resource_custom_data`'s."""
    info = obj.info
    return new_resource(
        obj.uri,
        info.title,
        info.last_update_us or obj.store_last_write_us,
        obj.store_last_write_us,
        obj.store_created_us,
        _ACTIVE_STATUS[obj.active],
        {k: _data_value(v) for k, v in resource_custom_data(obj).items()},
    )


def edge_record(edge: EdgeInfo) -> Any:
    """ETP ``Edge``."""
    return datatypes.Object.Edge(
        source_uri=edge.source_uri,
        target_uri=edge.target_uri,
        relationship_kind=datatypes.Object.RelationshipKind(edge.relationship),
        custom_data=custom_data(edge.custom_data),
    )


def dataspace_record(rec: DataspaceRecord, status: bool = False) -> Any:
    """ETP ``Dataspace``; customData is returned exactly as it was put, plus (``status``)
    ``locked``, ``read-only`` and ``size`` as open-etp-server adds them.

    Made field by field when every customData value is a ``DataValue`` (what PutDataspaces
    stores); other values (a Python caller's) go through the constructor, which converts or
    refuses them.
    """
    data = dict(rec.custom_data)
    if status:
        data.update(
            custom_data({"locked": False, "read-only": False, "size": _size(rec.size_bytes or 0)})
        )
    for value in data.values():
        if type(value) is not _DATA_VALUE:
            return datatypes.Object.Dataspace(
                uri=rec.uri,
                path=rec.path,
                store_last_write=rec.store_last_write_us,
                store_created=rec.store_created_us,
                custom_data=data,
            )
    record = _new_record(_DATASPACE)
    record.uri = rec.uri
    record.path = rec.path
    record.store_last_write = rec.store_last_write_us
    record.store_created = rec.store_created_us
    record.custom_data = data
    return record


def _size(nbytes: int) -> str:
    """``544 kB``: a size as open-etp-server writes it in a dataspace's customData."""
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}"
        nbytes //= 1000
    raise AssertionError("unreachable")


def data_object(obj: StoredObject, *, with_data: bool = True) -> Any:
    """ETP ``DataObject`` carrying the object's XML inline (or no data: ``with_data`` False)."""
    return new_data_object(object_resource(obj), obj.xml if with_data else b"", obj.format)


def chunked_object(
    dobj: Any, data: bytes, limit: int, chunk_class: Any
) -> tuple[Any, Iterator[Record]]:
    """Split an object too big for one message: header-only copy (blobId, no data) + Chunks
    (made one at a time as they are taken)."""
    blob_id = uuid.uuid4()
    head = dobj.replace(blob_id=blob_id, data=b"")
    step = max(1, limit - CHUNK_OVERHEAD - MESSAGE_MARGIN)
    return head, _chunks(data, step, blob_id, chunk_class)


def _chunks(data: bytes, step: int, blob_id: uuid.UUID, chunk_class: Any) -> Iterator[Record]:
    """The Chunks of ``data``, each piece copied as its Chunk is made (when it is sent): a
    reply naming a big object under many keys holds a chunk or two at a time, not a copy of
    the object per key."""
    view = memoryview(data)
    for start in range(0, max(len(data), 1), step):
        piece = bytes(view[start : start + step])
        yield chunk_class(blob_id=blob_id, data=piece, final=start + step >= len(data))


def fits(body: Record, limit: int) -> bool:
    """True when ``body`` fits in one message of ``limit`` bytes (sized, not kept encoded:
    for a DataArray that goes into a bigger reply)."""
    return encoded_body_size(body) + MESSAGE_MARGIN <= limit


def fitting(body: Record, limit: int) -> EncodedBody | None:
    """``body`` encoded when it fits in one message of ``limit`` bytes, else None.

    The reply then sends these bytes: a body is encoded once to be sized and sent.
    """
    return encode_within(body, limit - MESSAGE_MARGIN)


def per_item_reply(
    session: SessionContext,
    items: Mapping[str, Any],
    action: Callable[[str, Any], Any],
    make: Callable[[dict[str, Any]], Record],
) -> list[Outgoing]:
    """Run ``action(key, item)`` for every entry of a map-keyed request and build the reply.

    A result of ``None`` counts as the empty success string of ``success`` maps; an
    :class:`~etp_sync.errors.ETPError` becomes that key's entry in the ProtocolException.
    """
    done: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    for key, item in items.items():
        try:
            result = action(key, item)
        except ETPError as exc:
            # Kept without its traceback: that would hold this frame (a cycle through
            # ``errors``) and the action's, with the item's values, until the cyclic collector ran.
            errors[key] = exc.with_traceback(None)
            continue
        done[key] = "" if result is None else result
    return map_reply(make, done, errors, session.max_message_size)


def lazy_per_item_reply(
    session: SessionContext,
    items: Mapping[str, Any],
    action: Callable[[str, Any], Any],
    make: Callable[[dict[str, Any]], Record],
    weigh: Callable[[Any], int],
) -> Iterator[Outgoing]:
    """:func:`per_item_reply`'s messages, each key's action run as the reply is sent.

    For reads whose results hold memory (arrays' values): the results of all keys are never
    held together, only about a message's worth of them (``weigh(result)``: the bytes one
    holds), so a request naming the same big array under many keys costs what one message
    costs, not a copy per key. The messages are the same as :func:`per_item_reply`'s."""
    errors: dict[str, BaseException] = {}

    def results() -> Iterator[tuple[str, Any]]:
        for key, item in items.items():
            try:
                result = action(key, item)
            except ETPError as exc:
                errors[key] = exc.with_traceback(None)  # see per_item_reply
                continue
            yield key, "" if result is None else result

    limit = session.max_message_size
    done = results()
    first = next(done, None)
    # As map_reply: no response message when every key failed.
    if first is not None or not errors:
        yield from stream_map(
            make, itertools.chain([] if first is None else [first], done), limit, weigh
        )
    yield from errors_reply(errors, limit)


ItemAction = Callable[[SessionContext, str, Any], Any]


def response_maker(
    response: Callable[..., Record], field: str
) -> Callable[[dict[str, Any]], Record]:
    """``make(part)`` building the response message ``response(field=part)``."""

    def make(part: dict[str, Any]) -> Record:
        return response(**{field: part})

    return make


def per_item_handler(
    request_field: str,
    make: Callable[[dict[str, Any]], Record],
    weigh: Callable[[Any], int] | None = None,
) -> Callable[[ItemAction], Handler]:
    """Decorator: a handler of a map-keyed request from ``action(session, key, item)``.

    The handler runs the action for every entry of ``body.<request_field>`` and answers with
    :func:`per_item_reply` (results in ``make`` messages, per-key errors in ProtocolExceptions);
    with ``weigh`` (reads whose results hold memory), with :func:`lazy_per_item_reply`: the
    actions run as the reply is sent.
    """

    def wrap(action: ItemAction) -> Handler:
        def handler(session: SessionContext, header: Any, body: Any) -> Reply:
            items = getattr(body, request_field)

            def run(key: str, item: Any) -> Any:
                return action(session, key, item)

            if weigh is not None:
                return lazy_per_item_reply(session, items, run, make, weigh)
            return per_item_reply(session, items, run, make)

        handler.__name__ = action.__name__
        handler.__qualname__ = action.__qualname__
        handler.__doc__ = action.__doc__
        return handler

    return wrap


def map_reply(
    make: Callable[[dict[str, Any]], Record],
    entries: Mapping[str, Any],
    errors: Mapping[str, BaseException],
    limit: int,
) -> list[Outgoing]:
    """Successes in ``make`` message(s), then per-key errors in ProtocolException(s).

    The response message is left out when every key failed (the ProtocolException then ends
    the exchange alone).
    """
    out: list[Outgoing] = []
    if entries or not errors:
        out += split_map(make, entries, limit)
    return out + errors_reply(errors, limit)
