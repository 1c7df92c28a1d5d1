"""The session side of notification subscriptions (protocol 5): the registry that routes the
store's notifications to their :class:`~.subscriptions.Subscription` and restores the
subscriptions after a drop.

The registry matches every StoreNotification message to its subscription by requestUuid,
reassembles an ObjectChanged whose object came in Chunk messages, and delivers
:class:`~.subscriptions.NotificationEvent` values. When the connection drops it reconnects on a
thread of its own (``etp_sync-resubscribe``), sends every confirmed subscription again with the
same requestUuid and delivers a ``"gap"`` event to each (see :mod:`.subscriptions`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import ETPConnectionLost, ETPError, ETPRemoteError, ETPSessionClosed
from ..protocol.negotiation import now_us
from ..schema import messages
from ._core import SessionAPI
from .subscriptions import NotificationEvent, Subscription

log = logging.getLogger("etp_sync.notifications")

_RESUBSCRIBE_WAIT = (0.1, 5.0)  # first and longest wait between reconnection attempts
_JOIN_SECONDS = 5.0  # the most close() waits for the resubscribing thread

__all__ = ["SubscriptionRegistry"]


@dataclass
class _PendingChange:
    subscription: Subscription
    change: Any
    parts: list[bytes]


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value))


class SubscriptionRegistry:
    """The notification state of one session: its subscriptions and the chunked changes being
    reassembled. Routes every server-initiated StoreNotification message to its subscription
    (on the dispatch thread); when the connection drops, reconnects on its own thread, subscribes
    again and reports the gap."""

    def __init__(self, session: SessionAPI) -> None:
        self.session = session
        self._subscriptions: dict[uuid.UUID, Subscription] = {}
        self._blobs: dict[uuid.UUID, _PendingChange] = {}
        self._lock = threading.Lock()
        self._lost_at: int | None = None  # when the connection was seen dropping (µs)
        self._resubscriber: threading.Thread | None = None
        self._stop = threading.Event()
        session.add_handler(self.on_notification, protocol=5)
        session.add_after_connect(self.restore)
        session.add_on_disconnect(self.on_disconnect)

    def __repr__(self) -> str:
        return f"SubscriptionRegistry({len(self._subscriptions)} active)"

    @property
    def active(self) -> list[Subscription]:
        """The active subscriptions."""
        with self._lock:
            return list(self._subscriptions.values())

    @property
    def pending_changes(self) -> int:
        """Changes whose object is still arriving in Chunk messages."""
        with self._lock:
            return len(self._blobs)

    def subscribe(self, sub: Subscription, *, timeout: float | None) -> Subscription:
        """Register ``sub`` and send SubscribeNotifications for it (forgotten if that fails).

        Connects first, so that a first connection's restore does not send it too (the server
        would reject the second request with the same requestUuid)."""
        self.session.server  # noqa: B018 -- connects now if needed
        with self._lock:  # before sending: events may beat the response
            self._subscriptions[sub.request_uuid] = sub
        try:
            self.session.send_and_recv(
                messages.StoreNotification.SubscribeNotifications(request={"0": sub.info()}),
                timeout=timeout,
            )
        except BaseException:
            self._forget(sub)
            raise
        sub.confirmed = True
        log.debug("subscribed to %s (%s)", sub.uri, sub.request_uuid)
        return sub

    def _forget(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions.pop(sub.request_uuid, None)
            for blob, pending in list(self._blobs.items()):
                if pending.subscription is sub:
                    del self._blobs[blob]

    def unsubscribe(self, sub: Subscription, *, timeout: float | None) -> None:
        """Send UnsubscribeNotifications and stop delivery; idempotent."""
        if not sub.active:
            return
        self._forget(sub)
        sub.end("unsubscribed")
        if not self.session.is_open:
            return  # the server forgot the subscription with the connection
        try:
            self.session.send_and_recv(
                messages.StoreNotification.UnsubscribeNotifications(request_uuid=sub.request_uuid),
                timeout=timeout,
            )
        except ETPError as exc:
            log.info("UnsubscribeNotifications for %s: %s", sub.request_uuid, exc)

    # -- surviving drops ---------------------------------------------------------------------

    def on_disconnect(self, error: ETPError) -> None:
        """The session lost its connection (a drop, or ``close()``): remember when, and
        reconnect on a thread of ours when subscriptions are waiting for it."""
        if self.session.closed:
            self.close()
            return
        with self._lock:
            if self._lost_at is None:
                self._lost_at = now_us()
            if not any(s.confirmed for s in self._subscriptions.values()):
                return
            if self._resubscriber is not None and self._resubscriber.is_alive():
                return
            log.info("connection lost (%s): resubscribing in the background", error)
            self._stop.clear()
            self._resubscriber = threading.Thread(
                target=self._resubscribe, name="etp_sync-resubscribe", daemon=True
            )
            self._resubscriber.start()

    def _resubscribe(self) -> None:
        """Reconnect (which restores the subscriptions) unless somebody else did, the session
        was closed or no subscription is left; wait longer after each failed attempt."""
        wait, longest = _RESUBSCRIBE_WAIT
        while not self._stop.is_set():
            if self.session.closed or not self.active or self.session.is_open:
                return
            try:
                self.session.server  # noqa: B018 -- reconnects; restore() runs after it
                return
            except ETPSessionClosed:
                return
            except ETPError as exc:
                log.warning("resubscribing failed (%s); trying again in %.1f s", exc, wait)
            self._stop.wait(wait)
            wait = min(2 * wait, longest)

    def close(self) -> None:
        """The session was closed: stop resubscribing (waits for the thread to end) and end
        every subscription (their iterators stop)."""
        self._stop.set()
        thread = self._resubscriber
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_SECONDS)
            if thread.is_alive():
                log.warning("the resubscribing thread is still running after close")
        for sub in self.active:
            self._forget(sub)
            sub.end("the session was closed")

    def restore(self) -> None:
        """After a reconnect: subscribe again (same requestUuids), then deliver a gap event
        to each subscription restored."""
        with self._lock:
            subs = [s for s in self._subscriptions.values() if s.confirmed]
            self._blobs.clear()
            gap_start, self._lost_at = self._lost_at, None
        if not subs:
            return
        gap_start = gap_start or now_us()
        keys = {str(i): sub for i, sub in enumerate(subs)}
        body = messages.StoreNotification.SubscribeNotifications(
            request={key: sub.info() for key, sub in keys.items()}
        )
        failed: dict[str, str] = {}
        sent = now_us()
        try:
            self.session.send_and_recv(body)
        except ETPRemoteError as exc:
            failed = {key: msg for key, (_code, msg) in exc.errors.items()} or {
                key: str(exc) for key in keys
            }
        except ETPConnectionLost as exc:  # dropped again: the next reconnect restores them
            with self._lock:
                self._lost_at = min(gap_start, self._lost_at or gap_start)
            log.info("connection lost again while restoring subscriptions: %s", exc)
            return
        except ETPError as exc:
            failed = {key: str(exc) for key in keys}
        gap_end = now_us()
        for key, sub in keys.items():
            reason = failed.get(key)
            if reason is None:
                start = min(gap_start, sub.notified_until - sub.reordering)
                gap = NotificationEvent(
                    kind="gap", request_uuid=sub.request_uuid, gap_start=start, gap_end=gap_end
                )
                sub.deliver(gap)
                sub.notified_until = max(sub.notified_until, sent)
                continue
            log.warning("could not restore subscription %s after reconnect: %s", sub, reason)
            self._forget(sub)
            text = f"not restored after reconnect: {reason}"
            sub.end(
                text, NotificationEvent(kind="ended", request_uuid=sub.request_uuid, reason=text)
            )
        log.info("restored %d subscription(s) after reconnect", len(subs) - len(failed))

    def _lookup(self, request_uuid: Any) -> Subscription | None:
        with self._lock:
            sub = self._subscriptions.get(request_uuid)
        if sub is None:
            log.debug("notification for unknown subscription %s dropped", request_uuid)
        return sub

    def on_notification(self, header: Any, body: Any) -> None:
        """Handler of every server-initiated StoreNotification message (dispatch thread)."""
        name = body.etp_name
        if name == "Chunk":
            self._on_chunk(body)
            return
        if name == "UnsolicitedStoreNotifications":
            log.info("the store subscribed this session to %d context(s)", len(body.subscriptions))
            return
        if name not in (
            "ObjectChanged",
            "ObjectDeleted",
            "ObjectAccessRevoked",
            "ObjectActiveStatusChanged",
            "SubscriptionEnded",
        ):
            log.debug("unexpected StoreNotification message %s dropped", name)
            return
        sub = self._lookup(body.request_uuid)
        if sub is None:
            return
        rid = sub.request_uuid
        if name == "ObjectChanged":
            dobj = body.change.data_object
            if dobj.blob_id is not None:
                with self._lock:
                    self._blobs[dobj.blob_id] = _PendingChange(sub, body.change, [])
                return
            sub.deliver(_changed_event(rid, body.change, bytes(dobj.data), sub))
        elif name == "ObjectDeleted":
            sub.deliver(
                NotificationEvent(
                    kind="deleted", request_uuid=rid, uri=body.uri, time=body.change_time
                )
            )
        elif name == "ObjectAccessRevoked":
            sub.deliver(
                NotificationEvent(
                    kind="access_revoked", request_uuid=rid, uri=body.uri, time=body.change_time
                )
            )
        elif name == "ObjectActiveStatusChanged":
            sub.deliver(
                NotificationEvent(
                    kind="active_status",
                    request_uuid=rid,
                    uri=body.resource.uri,
                    time=body.change_time,
                    resource=body.resource,
                    active_status=_enum_text(body.active_status),
                )
            )
        else:  # SubscriptionEnded, unprompted
            self._forget(sub)
            event = NotificationEvent(kind="ended", request_uuid=rid, reason=body.reason)
            sub.end(body.reason or "ended by the store", event)

    def _on_chunk(self, body: Any) -> None:
        with self._lock:
            pending = self._blobs.get(body.blob_id)
            if pending is None:
                log.debug("Chunk for unknown blob %s dropped", body.blob_id)
                return
            pending.parts.append(bytes(body.data))
            if not body.final:
                return
            del self._blobs[body.blob_id]
        sub = pending.subscription
        if sub.active:
            data = b"".join(pending.parts)
            sub.deliver(_changed_event(sub.request_uuid, pending.change, data, sub))


def _changed_event(
    request_uuid: uuid.UUID, change: Any, data: bytes, sub: Subscription
) -> NotificationEvent:
    resource = change.data_object.resource
    return NotificationEvent(
        kind="changed",
        request_uuid=request_uuid,
        uri=resource.uri,
        change_kind=_enum_text(change.change_kind),
        time=change.change_time,
        xml=data if (data and sub.include_object_data) else None,
        resource=resource,
    )
