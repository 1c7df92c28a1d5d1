"""One ETP session of the embedded server: handshake, Core protocol and dispatch (sending is its
base class :class:`~._sending.ReplySender`).

Each websocket connection runs :meth:`ServerSession.run` in its own handler thread, over a
:class:`~etp_sync.transport._websocket.WebSocketTransport` (our framing, as on the client side).
The RequestSession must be complete within the server's ``request_session_timeout`` of the
upgrade, however slowly its bytes trickle in; after that, a session that sends nothing for
``idle_timeout`` seconds (and has no subscription to wait on) is closed, and so is one whose
message takes longer than that to arrive. Multipart requests wait in a
:class:`~._pending.PendingRequests` bounded in bytes and in time.
Requests of one session are handled one after the other in that thread; store change
notifications are queued by the server's store listener and sent by a per-session notifier thread,
started on the first subscription; the queue is bounded by the server's ``max_notification_bytes``
(see :mod:`._notify_queue`).

Notifications (ObjectChanged, ObjectDeleted) start an exchange, so their correlationId is 0; when
an ObjectChanged is followed by Chunk messages, those carry the ObjectChanged's messageId as their
correlationId and the last one carries FIN, like the parts of a multipart request.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from etp_sync._version import __version__
from etp_sync.codec import (
    MessageFlags,
    decode_message,
    peek_header,
)
from etp_sync.codec._numeric import read_varint
from etp_sync.codec._placement import IncomingValues
from etp_sync.errors import (
    ErrorCode,
    ETPDecodeError,
    ETPError,
    ETPProtocolError,
    ETPTransportError,
)
from etp_sync.protocol.negotiation import ServerOffer, negotiate
from etp_sync.schema import PROTOCOLS, messages
from etp_sync.transport._websocket import WebSocketTransport

from ._common import Outgoing
from ._h_core import core_message, refuse_expired
from ._h_notification import notifications_for
from ._handlers import HANDLERS
from ._notify_queue import NotificationQueue
from ._pending import PendingRequests
from ._profile import ServerProfile
from ._sending import BATCH_DELAY, ReplySender
from .store import Store

if TYPE_CHECKING:
    from ._server import EmbeddedServer

log = logging.getLogger("etp_sync.server")

APPLICATION_NAME = "etp_sync embedded server"
# Protocols the server offers, each in the role "store".
OFFERED_PROTOCOLS: tuple[int, ...] = (3, 4, 5, 9, 13, 14, 18, 24, 25, 2424)
# Incoming messages may exceed the server's own limit by this much before EMAXSIZE_EXCEEDED.
SIZE_TOLERANCE = 64 * 1024
POLL_INTERVAL = 0.5  # seconds between checks of the session's clocks (idle, pending requests)
_KINDS = 64  # (protocol, messageType) pairs whose handling time a session remembers, at most
_ACKNOWLEDGE = int(MessageFlags.ACKNOWLEDGE)


def _kind(frame: bytearray) -> tuple[int, int] | None:
    """``(protocol, messageType)`` of a frame's header; None if unreadable."""
    try:
        protocol, pos = read_varint(frame, 0)
        return protocol, read_varint(frame, pos)[0]
    except (ETPDecodeError, IndexError):
        return None


class ServerSession(ReplySender):
    """The server side of one ETP session over one websocket connection."""

    def __init__(
        self,
        server: EmbeddedServer,
        transport: WebSocketTransport,
        peer: str,
        *,
        token_expiry: float = math.inf,
    ) -> None:
        self.server = server
        self.token_expiry = token_expiry  # Unix seconds; renewed by Core Authorize
        self.transport = transport
        self.peer = peer
        self.store: Store = server.store
        self.profile: ServerProfile = server.profile
        # Why the session refuses every request (open-etp-server after a failed commit).
        self.failed_commit: str | None = None
        self.session_id: uuid.UUID = uuid.uuid4()
        self.max_message_size: int = server.max_message_size
        self.frame_bytes = 0
        self.compression = False
        self.granted: set[int] = set()
        self.multipart = PendingRequests(server.max_pending_bytes, server.pending_timeout)
        self.subscriptions: dict[uuid.UUID, Any] = {}
        self.max_subscriptions: int = server.max_subscriptions
        self.lock = threading.Lock()  # guards subscriptions (notifier thread reads them)
        self._init_sending()
        self._open = False
        self._closed = threading.Event()
        self._notify_queue = NotificationQueue(server.max_notification_bytes)
        self._notifier: threading.Thread | None = None
        # A compressed body may inflate to what an uncompressed message may hold, not more.
        self._decode_limit = self.max_message_size + SIZE_TOLERANCE
        self._last_message = time.monotonic()
        # A put's array values are received straight into an array of their own (no copy).
        self._placed: IncomingValues | None = None
        transport.placer = self._place

    # -- properties used by handlers ----------------------------------------------------------

    @property
    def transaction(self) -> uuid.UUID | None:
        """The session's open transaction, if any."""
        return self.store.transaction_of(self.session_id)

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> None:
        """Serve the connection until it closes; never raises."""
        log.info("%s connected", self.peer)
        idle_timeout = self.server.idle_timeout
        self._thread_id = threading.get_ident()
        # How long the last request of each (protocol, messageType) took to handle (pipelined).
        handled: dict[tuple[int, int] | None, float] = {}
        try:
            opened = self._handshake()
            while opened and not self._closed.is_set():
                # A message must arrive whole within idle_timeout: a trickle is idleness too.
                received = self._receive(POLL_INTERVAL, time.monotonic() + idle_timeout)
                if self.multipart:  # (none pending: nothing to look at)
                    self._cancel_stalled_requests()
                if received is None:
                    self._close_if_idle()
                    continue
                self._last_message = time.monotonic()
                if self.server.latency > 0:
                    time.sleep(self.server.latency)
                # Another request already in whole: hold the replies, send them together.
                holding = self.transport.message_ready
                if not holding and not self._batch:
                    self._holding = False
                    self._handle_frame(*received)
                    continue
                # Pipelined: held replies wait only for a request of a type handled quickly
                # last time (under BATCH_DELAY), and only while the batch is that young.
                kind = _kind(received[0])
                if self._batch and (
                    time.monotonic() - self._batch_since >= BATCH_DELAY
                    or handled.get(kind, BATCH_DELAY) >= BATCH_DELAY
                ):
                    self.flush()
                self._holding = holding
                start = time.monotonic()
                self._handle_frame(*received)
                now = time.monotonic()
                if kind is not None and (kind in handled or len(handled) < _KINDS):
                    handled[kind] = now - start
                if self._batch and (not holding or now - self._batch_since >= BATCH_DELAY):
                    self.flush()
        except ETPTransportError:
            pass  # the connection is gone
        except Exception:
            log.exception("%s: session failed", self.peer)
        finally:
            # A frame cut short leaves its placed values here: let go of them (and of the
            # transport's hold on this session) now, not when the cyclic collector runs.
            self._placed = None
            self.transport.placer = None
            self._cleanup()
            with contextlib.suppress(Exception):
                self.transport.close()
            log.info("%s disconnected", self.peer)

    def _receive(self, timeout: float, deadline: float) -> tuple[bytearray, bool] | None:
        """The next message and whether it was text; None on timeout or when the session ended.

        A message beyond the transport's limit closes the connection (code 1009) and ends the
        session; so do a message not complete by ``deadline`` (1008) and a websocket protocol
        violation.
        """
        try:
            return self.transport.recv_data(timeout=timeout, deadline=deadline)
        except ETPProtocolError as exc:
            log.warning("%s: connection closed: %s", self.peer, exc)
            self._closed.set()
            return None

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the websocket (closing handshake, bounded); the session then ends."""
        if threading.get_ident() == self._thread_id:  # its replies held go before the close
            with contextlib.suppress(ETPTransportError):
                self.flush()
        self._closed.set()
        with contextlib.suppress(Exception):
            self.transport.close(code, reason[:100])

    def _close(self, reason: str = "") -> None:
        self.close(1000, reason)

    def _close_if_idle(self) -> None:
        """End the session (CloseSession, then the websocket) after ``idle_timeout`` without a
        message, unless it has subscriptions whose notifications it is waiting for."""
        idle_timeout = self.server.idle_timeout
        if self._closed.is_set() or time.monotonic() - self._last_message < idle_timeout:
            return
        with self.lock:
            if self.subscriptions:
                return
        reason = f"idle for more than {idle_timeout:g} s (the server's idle_timeout)"
        log.info("%s: session closed: %s", self.peer, reason)
        with contextlib.suppress(ETPTransportError):
            self.send_parts([messages.Core.CloseSession(reason=reason)], 0)
        self._close("idle timeout")

    def _cancel_stalled_requests(self) -> None:
        """Answer multipart requests without a part for ``pending_timeout`` s, and drop them."""
        for request_id, protocol in self.multipart.expire():
            log.info("%s: multipart request %d cancelled: stalled", self.peer, request_id)
            self.send_error(
                ErrorCode.EMULTIPART_CANCELLED,
                f"multipart request {request_id} cancelled: no part for "
                f"{self.multipart.timeout:g} s (the server's pending_timeout)",
                request_id,
                protocol,
            )

    def _cleanup(self) -> None:
        self._closed.set()
        self.server.notifications.remove(self._notify_queue)
        if self.store.abort_session(self.session_id):
            log.info("%s: open transaction rolled back on disconnect", self.peer)
        self.multipart.clear()
        notifier = self._notifier
        if notifier is not None:
            self._notify_queue.close()
            if notifier is not threading.current_thread():
                notifier.join(5.0)

    # -- handshake ----------------------------------------------------------------------------

    def _handshake(self) -> bool:
        """Answer the RequestSession; False (the websocket closed) when the session did not open."""
        limit = self.server.request_session_timeout
        deadline = time.monotonic() + limit
        received = self._receive(limit, deadline)
        if received is None:
            if not self._closed.is_set():
                log.info("%s: no RequestSession within %g s", self.peer, limit)
                self._close("no RequestSession")
            return False
        frame, text = received
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        if text:
            self.send_error(ErrorCode.EINVALID_MESSAGE, "ETP messages are binary", 0)
            self._close("text frame")
            return False
        try:
            header, body = decode_message(frame, max_size=self._decode_limit)
        except ETPDecodeError as exc:
            peek = peek_header(frame)
            self.send_error(
                exc.code or ErrorCode.EINVALID_MESSAGE, str(exc), peek[3] if peek else 0
            )
            self._close("undecodable first message")
            return False
        if not isinstance(body, messages.Core.RequestSession):
            self.send_error(
                ErrorCode.EINVALID_STATE,
                f"the session is not open: expected RequestSession, got {body.etp_name}",
                header.message_id,
                header.protocol,
            )
            self._close("no RequestSession")
            return False
        caps = self.server.advertised()
        offer = ServerOffer(
            application_name=APPLICATION_NAME,
            application_version=__version__,
            protocols=dict.fromkeys(OFFERED_PROTOCOLS, "store"),
            max_message_size=self.server.max_message_size,
            server_instance_id=self.server.instance_id,
            endpoint_capabilities=caps.endpoint_values(),
            protocol_capabilities={p: caps.protocol_values(p) for p in caps.protocols},
            earliest_retained_change_time=self.store.earliest_retained_change_us(),
        )
        try:
            open_session, effective = negotiate(body, offer)
        except ETPProtocolError as exc:
            log.info("%s: negotiation failed: %s", self.peer, exc)
            self.send_error(exc.code or ErrorCode.EINVALID_ARGUMENT, exc.message, header.message_id)
            self._close("negotiation failed")
            return False
        self.session_id = open_session.session_id
        self.max_message_size = int(effective)
        self.compression = open_session.supported_compression == "gzip"
        self.granted = {p.protocol for p in open_session.supported_protocols}
        self.send_parts([open_session], header.message_id)
        self._open = True
        self._last_message = time.monotonic()
        log.info(
            "%s: session %s open (%s, protocols %s, max %d B, compression %r)",
            self.peer,
            self.session_id,
            body.application_name,
            sorted(self.granted),
            self.max_message_size,
            open_session.supported_compression,
        )
        return True

    # -- receiving ----------------------------------------------------------------------------

    def _place(self, prefix: memoryview, length: int) -> tuple[int, memoryview] | None:
        """The transport's placer: where the values of an arriving frame go, if it is a put
        whose values can be received in place (see :mod:`etp_sync.codec._placement`). Not
        before the session is open: the handshake decodes its frames whole."""
        target = IncomingValues(self.store.incoming_values)
        spot = target.place(prefix, length) if self._open else None
        self._placed = target if spot is not None else None
        return spot

    def _handle_frame(self, frame: bytearray, text: bool) -> None:
        placed, self._placed = self._placed, None
        if text:
            self.send_error(ErrorCode.EINVALID_MESSAGE, "ETP messages are binary", 0)
            return
        size = len(frame) + (placed.nbytes if placed is not None else 0)
        if size > self.server.max_message_size + SIZE_TOLERANCE:
            self._reject_undecodable(
                peek_header(frame),
                ErrorCode.EMAXSIZE_EXCEEDED,
                f"message of {size} bytes exceeds MaxWebSocketMessagePayloadSize "
                f"{self.server.max_message_size}",
            )
            return
        self.frame_bytes = size
        try:
            if placed is not None:
                header, body = placed.decode(frame)
            else:
                header, body = decode_message(frame, max_size=self._decode_limit)
        except ETPDecodeError as exc:
            self._reject_undecodable(
                peek_header(frame), exc.code or ErrorCode.EINVALID_MESSAGE, str(exc)
            )
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s -> %s id=%s corr=%s flags=%s",
                self.peer,
                body.etp_name,
                header.message_id,
                header.correlation_id,
                header.message_flags,
            )
        if header.message_flags & _ACKNOWLEDGE and header.message_type != 1001:
            self.send_parts([messages.Core.Acknowledge()], header.message_id, header.protocol)
        self._dispatch(header, body)

    def _reject_undecodable(
        self, peek: tuple[int, int, int, int, int] | None, code: int, message: str
    ) -> None:
        log.warning("%s: bad message: %s", self.peer, message)
        if peek is None:
            self.send_error(code, message, 0)
            return
        protocol, _mt, correlation_id, message_id, _flags = peek
        respond_to = message_id
        if correlation_id and correlation_id in self.multipart:
            # A broken part of a multipart request: fail the whole request.
            self.multipart.cancel(correlation_id)
            respond_to = correlation_id
        proto = protocol if protocol in PROTOCOLS else 0
        self.send_error(code, message, respond_to, proto)

    def _dispatch(self, header: Any, body: Any) -> None:
        respond_to = header.correlation_id or header.message_id
        if header.protocol == 0:
            core_message(self, header, body)
            return
        if header.message_type == 1000:
            log.warning("%s: ProtocolException from the client: %r", self.peer, body)
            return
        if header.message_type == 1001:
            return
        expiry = self.token_expiry  # math.inf unless the token expires: no clock read then
        if header.correlation_id == 0 and expiry != math.inf and time.time() >= expiry:
            refuse_expired(self, header, body)
            return
        if header.protocol not in self.granted:
            self.send_error(
                ErrorCode.EUNSUPPORTED_PROTOCOL,
                f"protocol {header.protocol} was not negotiated for this session",
                respond_to,
                header.protocol,
            )
            return
        if self.failed_commit is not None:
            self.send_error(
                ErrorCode.EINVALID_STATE,
                f"{self.failed_commit}: this session accepts no more requests, reconnect",
                respond_to,
                header.protocol,
            )
            return
        handler = HANDLERS.get((header.protocol, header.message_type))
        if handler is None:
            self.send_error(
                ErrorCode.EINVALID_MESSAGETYPE,
                f"{body.etp_name} is not a request a store accepts",
                respond_to,
                header.protocol,
            )
            return
        try:
            reply = handler(self, header, body)
        except ETPError as exc:
            log.info("%s: %s failed: %s", self.peer, body.etp_name, exc)
            code = exc.code if exc.code is not None else ErrorCode.EINVALID_ARGUMENT
            self.send_error(code, exc.message, respond_to, header.protocol)
            return
        except Exception as exc:
            log.exception("%s: handler of %s failed", self.peer, body.etp_name)
            self.send_error(
                ErrorCode.EREQUEST_DENIED,
                f"internal server error: {type(exc).__name__}: {exc}",
                respond_to,
                header.protocol,
            )
            return
        if isinstance(reply, list):
            if reply:
                self.send_parts(reply, respond_to, header.protocol)
        elif reply is not None:
            self._send_lazy(reply, respond_to, header.protocol, body.etp_name)

    def _send_lazy(
        self, reply: Iterator[Outgoing], respond_to: int, protocol: int, name: str
    ) -> None:
        """Send a reply whose messages are made as they go out. A failure while making them
        is answered as a handler's failure is (EREQUEST_DENIED), ending the exchange after the
        messages already sent."""
        try:
            self.send_parts(reply, respond_to, protocol)
        except ETPTransportError:
            raise
        except Exception as exc:
            log.exception("%s: handler of %s failed", self.peer, name)
            self.send_error(
                ErrorCode.EREQUEST_DENIED,
                f"internal server error: {type(exc).__name__}: {exc}",
                respond_to,
                protocol,
            )

    # -- notifications ------------------------------------------------------------------------

    def watch_store(self) -> int:
        """Start delivering store changes to this session's subscriptions (idempotent); the
        changeTime of the last change handed out so far (see ChangeFanOut.last_change_us)."""
        with self.lock:
            if self._notifier is None:
                self._notifier = threading.Thread(
                    target=self._notify_loop, name=f"etp-notify-{self.peer}", daemon=True
                )
                self._notifier.start()
        notifications = self.server.notifications
        notifications.add(self._notify_queue)  # idempotent
        return notifications.last_change_us

    def _notify_loop(self) -> None:
        while True:
            events = self._notify_queue.get()
            if events is None or self._closed.is_set():
                return
            try:
                for bodies in notifications_for(self, events):
                    self.send_parts(bodies, None, 5)
            except ETPTransportError:
                return
            except Exception:
                log.exception("%s: sending notifications failed", self.peer)
