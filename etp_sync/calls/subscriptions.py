"""Notification subscriptions (protocol 5): what a session is subscribed to, and routing.

``session.subscribe_notifications(uri)`` sends SubscribeNotifications with a fresh requestUuid
and returns a :class:`Subscription`. The store then sends ObjectChanged, ObjectDeleted,
ObjectAccessRevoked, ObjectActiveStatusChanged and SubscriptionEnded messages at any time; they
are matched to the subscription by requestUuid (an ObjectChanged whose object is too big for one
message is reassembled from its Chunk messages) and delivered as :class:`NotificationEvent`
values, either to a callback (on the session's dispatch thread) or to a queue read with
``for event in sub:`` / ``sub.get(timeout)``.

Subscriptions survive drops by themselves: when the connection drops, the registry reconnects on
a thread of its own (``etp_sync-resubscribe``, no other call needed), sends every subscription
again with the same requestUuid, and then delivers a ``"gap"`` event to each: changes made between
``gap_start`` and ``gap_end`` may not have been notified (they are not replayed; read the objects
again if they matter). ``gap_start`` is the latest change time notified before the drop (or when
the subscription was sent, if none arrived since): notifications the server had sent but the drop
lost are inside the gap. A server that sends notifications out of change-time order (ours does
not) widens the gap by the largest reordering seen, so that a change still on its way when the
connection dropped lies inside it too.
"""

from __future__ import annotations

import logging
import queue
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._timeouts import optional_seconds
from ..protocol.negotiation import now_us
from ..schema import datatypes

if TYPE_CHECKING:
    from ._subscription_registry import SubscriptionRegistry

log = logging.getLogger("etp_sync.notifications")

EventCallback = Callable[["NotificationEvent"], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POLL = 0.5  # seconds between checks for a closed session while iterating

__all__ = ["EventCallback", "NotificationEvent", "Subscription"]


@dataclass(frozen=True)
class NotificationEvent:
    """One notification of a subscription.

    ``kind`` is ``"changed"`` (ObjectChanged; ``change_kind`` is ``"insert"``, ``"update"``, ...;
    ``xml`` holds the object when the subscription asked for object data), ``"deleted"``,
    ``"access_revoked"``, ``"active_status"`` (``active_status`` is ``"Active"``/``"Inactive"``)
    or ``"ended"`` (the store ended the subscription; ``reason`` says why), or ``"gap"``: the
    connection dropped and the subscription is active again, but changes made from
    ``gap_start`` (the change time of the last notification received before the drop, or when
    the subscription was sent) to ``gap_end`` (microseconds since 1970 UTC) may not have been
    notified. ``time`` is
    the change time in microseconds since 1970 UTC (see :attr:`datetime`); ``resource`` the ETP
    ``Resource`` record where the message carries one.
    """

    kind: str
    request_uuid: uuid.UUID
    uri: str | None = None
    change_kind: str | None = None
    time: int | None = None
    xml: bytes | None = None
    resource: Any = None
    active_status: str | None = None
    reason: str | None = None
    gap_start: int | None = None
    gap_end: int | None = None

    @property
    def datetime(self) -> datetime | None:
        """The change time as an aware UTC datetime."""
        return None if self.time is None else _EPOCH + timedelta(microseconds=self.time)


class Subscription:
    """An active notification subscription; a context manager that unsubscribes on exit.

    Without a callback, events queue up here: ``for event in sub:`` blocks for each next event
    and ends when the subscription ends (unsubscribed, ended by the store, or the session
    closed); ``sub.get(timeout)`` returns the next event or None when none arrived in time or
    the subscription is over. With a callback nothing is queued: ``callback(event)`` runs on the
    session's dispatch thread (keep it short; it must not block waiting for other
    notifications). Gap events (see :class:`NotificationEvent`) are delivered the same way,
    from the thread that restored the subscription.
    """

    def __init__(
        self,
        registry: SubscriptionRegistry,
        *,
        uri: str,
        scope: str,
        depth: int,
        types: tuple[str, ...],
        include_object_data: bool,
        callback: EventCallback | None,
    ) -> None:
        self._registry = registry
        self.request_uuid = uuid.uuid4()
        self.uri = uri
        self.scope = scope
        self.depth = depth
        self.types = types
        self.include_object_data = include_object_data
        self.callback = callback
        self.active = True
        self.confirmed = False
        """The server accepted it (only confirmed subscriptions are restored on reconnect)."""
        self.end_reason: str | None = None
        self.notified_until = now_us()
        """Changes after this time (µs) may be lost if the connection drops: the latest change
        time notified, or when the subscription was last sent."""
        self.reordering = 0
        """The most (µs) a notification arrived behind a later change already notified: how far
        before ``notified_until`` a lost notification may lie (0 for a server sending them in
        change-time order, as ETP stores should; a server clock behind ours counts too)."""
        self._queue: queue.SimpleQueue[NotificationEvent | None] = queue.SimpleQueue()

    def __repr__(self) -> str:
        state = "active" if self.active else f"ended ({self.end_reason})"
        return f"Subscription({self.uri!r}, scope={self.scope}, {self.request_uuid}, {state})"

    def info(self) -> Any:
        """The ``SubscriptionInfo`` record sent for this subscription."""
        return datatypes.Object.SubscriptionInfo(
            context=datatypes.Object.ContextInfo(
                uri=self.uri,
                depth=self.depth,
                data_object_types=list(self.types),
                navigable_edges="Primary",
            ),
            scope=self.scope,
            request_uuid=self.request_uuid,
            include_object_data=self.include_object_data,
            format="xml",
        )

    # -- delivery (dispatch thread; called by the registry) -----------------------------------

    def deliver(self, event: NotificationEvent) -> None:
        if event.time is not None:
            # The max, not the last: an older change arriving late must not move the gap's
            # start back and forth; how late it was widens later gaps instead.
            self.reordering = max(self.reordering, self.notified_until - event.time)
            self.notified_until = max(self.notified_until, event.time)
        if self.callback is None:
            self._queue.put(event)
            return
        try:
            self.callback(event)
        except Exception:
            log.exception("notification callback %r raised", self.callback)

    def end(self, reason: str, event: NotificationEvent | None = None) -> None:
        """Mark the subscription over; deliver ``event`` first if given."""
        if not self.active:
            return
        self.active = False
        self.end_reason = reason
        if event is not None:
            self.deliver(event)
        self._queue.put(None)  # wakes iterators

    # -- reading -------------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> NotificationEvent | None:
        """The next event; None if none arrives within ``timeout`` seconds (None = wait
        forever) or when the subscription is over and every queued event was read."""
        try:
            item = self._queue.get(timeout=optional_seconds(timeout, zero=True))
        except queue.Empty:
            return None
        if item is None:
            self._queue.put(None)  # keep the end visible to other readers
        return item

    def drain(self) -> list[NotificationEvent]:
        """Every event queued now, without waiting."""
        events: list[NotificationEvent] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return events
            if item is None:
                self._queue.put(None)
                return events
            events.append(item)

    def __iter__(self) -> Iterator[NotificationEvent]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._registry.session.closed:
                    return
                continue
            if item is None:
                self._queue.put(None)
                return
            yield item

    # -- ending --------------------------------------------------------------------------------

    def unsubscribe(self, *, timeout: float | None = None) -> None:
        """Send UnsubscribeNotifications and stop delivery; idempotent."""
        self._registry.unsubscribe(self, timeout=timeout)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unsubscribe()
