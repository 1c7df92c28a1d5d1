"""StoreNotification (5): subscriptions and the ObjectChanged / ObjectDeleted they produce.

A subscription's context is a dataspace (every object in it), a type collection under a dataspace,
or an object (with scope ``self``, or sources/targets to ``depth`` hops as Discovery walks them,
evaluated on the committed state when the change happens). ``dataObjectTypes`` filters.
Changes are delivered after commit, to every matching subscription of every session (the writer's
own included), by the session's notifier thread. When a session reads too slowly and its queue
of changes overflows (:mod:`._notify_queue`), every subscription it has is ended with a
SubscriptionEnded that says what was lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from etp_sync.errors import ErrorCode, ETPError, StoreError
from etp_sync.schema import datatypes, messages

from ._common import (
    Handler,
    Outgoing,
    Reply,
    SessionContext,
    chunked_object,
    data_object,
    fitting,
    per_item_handler,
    response_maker,
)
from ._notify_queue import Overflow
from ._query import split_query
from .store import ChangeEvent, UriParts, parse_context, type_matcher

log = logging.getLogger("etp_sync.server")


@dataclass
class Subscription:
    """One SubscriptionInfo accepted for a session."""

    request_uuid: uuid.UUID
    context_uri: str
    scope: str
    depth: int
    types: tuple[str, ...]
    include_object_data: bool
    context: UriParts
    type_ok: Callable[[str], bool]
    after_us: int = 0  # changes up to this changeTime were handed out before the subscription


@per_item_handler(
    "request",
    response_maker(messages.StoreNotification.SubscribeNotificationsResponse, "success"),
)
def subscribe_notifications(session: SessionContext, key: str, info: Any) -> None:
    """SubscribeNotifications → SubscribeNotificationsResponse + per-key errors.

    The subscription gets the changes handed out after it was made: not those committed before
    and still waiting in the session's queue (its notifier may lag behind). A session holding
    ``max_subscriptions`` already gets ELIMIT_EXCEEDED, before any work on the request (only
    this thread adds subscriptions: their number cannot grow until the insertion)."""
    with session.lock:
        held = len(session.subscriptions)
    if held >= session.max_subscriptions:
        raise ETPError(
            f"this session holds {held} subscriptions, the most it may (the server's "
            "max_subscriptions, advertised as MaxSubscriptionSessionCount)",
            ErrorCode.ELIMIT_EXCEEDED,
        )
    sub = _subscription(session, info)
    sub.after_us = session.watch_store()
    with session.lock:
        if sub.request_uuid in session.subscriptions:
            raise ETPError(
                f"requestUuid {sub.request_uuid} is already in use",
                ErrorCode.EREQUESTUUID_REJECTED,
            )
        session.subscriptions[sub.request_uuid] = sub


def _subscription(session: SessionContext, info: Any) -> Subscription:
    if info.format and info.format.lower() != "xml":
        raise ETPError(f"format {info.format!r} is not supported", ErrorCode.ENOTSUPPORTED)
    uri, _query = split_query(info.context.uri)
    scope = str(info.scope.value)
    depth = int(info.context.depth)
    # Validates the context (URI, dataspace/object existence, scope, depth).
    session.store.get_resources(uri, scope, depth, list(info.context.data_object_types))
    context = parse_context(uri)
    types = tuple(info.context.data_object_types)
    # A type collection (dataspace/type, no uuid) narrows the types further.
    collection = [context.qualified_type] if context.uuid is None and context.qualified_type else []
    by_type, in_collection = type_matcher(types), type_matcher(collection)
    return Subscription(
        request_uuid=info.request_uuid,
        context_uri=uri,
        scope=scope,
        depth=depth,
        types=types,
        include_object_data=bool(info.include_object_data),
        context=context,
        type_ok=lambda qualified_type: by_type(qualified_type) and in_collection(qualified_type),
    )


def unsubscribe_notifications(session: SessionContext, header: Any, body: Any) -> Reply:
    """UnsubscribeNotifications → SubscriptionEnded (as the response)."""
    with session.lock:
        sub = session.subscriptions.pop(body.request_uuid, None)
    if sub is None:
        raise ETPError(f"no subscription {body.request_uuid}", ErrorCode.ENOT_FOUND)
    return [
        messages.StoreNotification.SubscriptionEnded(
            reason="unsubscribed", request_uuid=body.request_uuid
        )
    ]


def _matches(session: SessionContext, sub: Subscription, event: ChangeEvent) -> bool:
    try:
        changed = parse_context(event.uri)
    except StoreError:
        return False
    if changed.space != sub.context.space or changed.qualified_type is None:
        return False
    if not sub.type_ok(changed.qualified_type):
        return False
    if sub.context.uuid is None:
        return True
    if changed.uuid == sub.context.uuid:
        return sub.scope in ("self", "sourcesOrSelf", "targetsOrSelf")
    if sub.scope == "self":
        return False
    try:
        resources, _ = session.store.get_resources(sub.context_uri, sub.scope, sub.depth)
    except ETPError:
        return False
    return any(r.uri == event.uri for r in resources)


def end_subscriptions(session: SessionContext, reason: str) -> list[Outgoing]:
    """End every subscription of the session: the SubscriptionEnded to send for each."""
    with session.lock:
        ended = list(session.subscriptions)
        session.subscriptions.clear()
    return [
        messages.StoreNotification.SubscriptionEnded(reason=reason, request_uuid=request_uuid)
        for request_uuid in ended
    ]


def notifications_for(
    session: SessionContext, events: list[ChangeEvent] | Overflow
) -> Iterator[list[Outgoing]]:
    """The notification messages (one multipart list each) a batch of changes produces, or
    the SubscriptionEnded of each subscription when the changes overflowed the queue."""
    if isinstance(events, Overflow):
        ended = end_subscriptions(session, events.reason)
        if ended:
            log.warning("%d subscription(s) ended: %s", len(ended), events.reason)
        yield from ([body] for body in ended)
        return
    with session.lock:
        subs = list(session.subscriptions.values())
    if not subs:
        return
    limit = session.max_message_size
    for event in events:
        for sub in subs:
            if event.time_us <= sub.after_us or not _matches(session, sub, event):
                continue
            if event.kind == "delete" or event.obj is None:
                yield [
                    messages.StoreNotification.ObjectDeleted(
                        uri=event.uri, change_time=event.time_us, request_uuid=sub.request_uuid
                    )
                ]
                continue
            dobj = data_object(event.obj, with_data=sub.include_object_data)
            change = datatypes.Object.ObjectChange(
                change_kind=datatypes.Object.ObjectChangeKind(event.kind),
                change_time=event.time_us,
                data_object=dobj,
            )
            msg = messages.StoreNotification.ObjectChanged(
                change=change, request_uuid=sub.request_uuid
            )
            if not sub.include_object_data:
                yield [msg]
                continue
            encoded = fitting(msg, limit)
            if encoded is not None:
                yield [encoded]
                continue
            head, chunks = chunked_object(
                dobj, event.obj.xml, limit, messages.StoreNotification.Chunk
            )
            yield [msg.replace(change=change.replace(data_object=head)), *chunks]


HANDLERS: dict[tuple[int, int], Handler] = {
    (5, 4): unsubscribe_notifications,
    (5, 6): subscribe_notifications,
}
