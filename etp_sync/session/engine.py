"""The ETP session engine: one session over one websocket, with a reader thread, a dispatch
thread, and correlation.

The reader thread is the only one that receives. It decodes every frame and routes responses, by
correlation id, into the queue of the request waiting for them (kazoo-style); everything else
(notifications, unsolicited errors) goes to a separate dispatch thread (started with the first
one) so that a slow user callback never stalls the reader. Pings are answered (queued, never
waiting for another thread's send: :meth:`SessionEngine._reply`), CloseSession honoured. Any
thread may send: a message's id is taken under the send-order lock held until it is written.

Deadlines: :meth:`SessionEngine.send` takes the caller's deadline (a ``time.monotonic()`` value)
and hands it to the transport, which bounds the wait for the send lock and the write itself;
:meth:`SessionEngine.open` bounds connecting and the handshake by it too. Replies are checked
against the request (message types, total size: :mod:`etp_sync.protocol.correlation`). When the
connection fails, every waiter gets its own copy of the error, the dispatch thread ends once it
has delivered what arrived before, and the transport drops its buffers.

:class:`~etp_sync.session.ETPSession` owns one engine at a time and opens a new one to reconnect.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ..codec import (
    MessageFlags,
    MessageFramer,
    decode_frame,
    peek_header,
)
from ..errors import (
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPDecodeError,
    ETPError,
    ETPInvalidArgument,
    ETPMessageTooLarge,
    ETPNotNegotiated,
    ETPProtocolError,
    ETPReadTimeout,
    ETPSessionClosed,
    ETPTransportError,
    ETPWriteTimeout,
    fresh_error,
)
from ..protocol.correlation import Correlator, MessageIds, PendingRequest, ReplyTarget
from ..protocol.negotiation import ServerInfo, now_us, object_room, read_open_session
from ..protocol.replies import PROTOCOL_EXCEPTION, expected_replies
from ..schema import Record, messages
from ..transport._connect import safe_url
from ..transport._websocket import WebSocketTransport
from ._trace import trace_message

log = logging.getLogger("etp_sync.session.engine")

Handler = Callable[[Any, Any], None]
RECEIVE_HEADROOM = 1 << 20  # replies may slightly exceed the advertised limit
REPLY_WAIT = 0.25
"""Seconds a reply of the reader thread's own (ETP Pong) may wait for the socket to take it
(:meth:`SessionEngine._send_replies`); like the websocket's pongs."""
MAX_QUEUED_REPLIES = 32
"""Replies of the reader thread waiting for the send-order lock at most (the oldest go)."""
RESPONSE_MESSAGES = 4
"""Default bound of one reply, all its parts together: this many negotiated maximum-size
messages, or room for the largest data object the server takes (see :func:`object_room`),
whichever is larger (see ``max_response_size``)."""


_FIN = int(MessageFlags.FIN)

# Per message class: (protocol, message type, name, the message types that may answer it, the
# framer that encodes it).
_Kind = tuple[int, int, str, "frozenset[int] | None", MessageFramer]


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def offers_gzip(compression: bool | None, direct_loopback: bool) -> bool:
    """Whether a session offers gzip: as asked (True, False), or with ``compression`` None
    unless the server runs on this host and is reached without a proxy (``direct_loopback``).
    Over loopback bytes cost no network: gzip would only spend CPU on both sides (about a
    quarter of a server's work storing and reading small XML objects), and a remote server
    still gets gzip. A tunnel to a remote server through a local port (ssh -L, kubectl
    port-forward) looks like loopback: pass ``compression=True`` there."""
    if compression is not None:
        return bool(compression)
    return not direct_loopback


class SessionEngine:
    """An open ETP session: send requests, receive their responses, dispatch the rest.

    Create with :meth:`open`, which performs the websocket upgrade and the RequestSession /
    OpenSession handshake. ``server`` then says what was granted.
    """

    def __init__(
        self,
        transport: WebSocketTransport,
        *,
        max_message_size: int,
        compression: bool,
        on_unsolicited: Handler | None = None,
        max_response_size: int | None = None,
        on_close: Callable[[ETPError], None] | None = None,
        trace: bool = False,
    ) -> None:
        self.transport = transport
        self.trace = trace
        self.client_max_message_size = int(max_message_size)
        self.max_response_size = max_response_size
        self.compression_wanted = compression
        self.server: ServerInfo | None = None
        self.ids = MessageIds()
        # Held from taking a message's id until the message is written, so ids reach the wire
        # strictly increasing (ETP requires it of each sender) whichever thread sends.
        self._order = threading.Lock()
        # Replies of the reader thread (ETP Pong), sent by whoever holds _order next; a peer
        # pinging faster than they can go gets answers to its latest pings only.
        self._replies: collections.deque[tuple[Record, int]] = collections.deque(
            maxlen=MAX_QUEUED_REPLIES
        )
        self.correlator = Correlator()
        self._on_unsolicited = on_unsolicited
        self._on_close = on_close
        self._opened = False  # the handshake succeeded: a failure from now on is a disconnect
        self._dispatch_queue: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._closed = threading.Event()  # set with close_error (which the hot paths test)
        self._fail_lock = threading.Lock()
        self.close_error: ETPError | None = None
        self._placed: ReplyTarget | None = None  # the target of the frame being received
        self.last_frame = time.monotonic()
        """When the reader last received a whole message (``time.monotonic()``)."""
        self._kinds: dict[type, _Kind] = {}  # checked once per message class (see _kind)
        self._compress: bool | None = False  # the codec's choice (see _compress_choice)
        self._limit = 0  # response_limit, fixed once the session is open
        self._send_limit = self.client_max_message_size  # max_message_size, fixed once open
        self._decode_limit = self.client_max_message_size * 2 + 4096  # a decoded reply's size
        transport.placer = self._place
        self._reader = threading.Thread(target=self._read_loop, name="etp_sync-reader", daemon=True)
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="etp_sync-dispatch", daemon=True
        )

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        request_session: Callable[[bool], Any],
        *,
        headers: Mapping[str, str],
        connect_timeout: float,
        max_message_size: int,
        compression: bool | None,
        on_unsolicited: Handler | None = None,
        tls: Mapping[str, Any] | None = None,
        max_response_size: int | None = None,
        deadline: float | None = None,
        on_close: Callable[[ETPError], None] | None = None,
        trace: bool = False,
        proxy: str | Literal[False] | None = None,
    ) -> SessionEngine:
        """Open the websocket and negotiate the ETP session (raises on refusal).

        Takes at most ``connect_timeout`` seconds, and never past ``deadline`` (a
        ``time.monotonic()`` value): then :class:`~etp_sync.errors.ETPConnectTimeout`.
        ``trace`` logs every message (see :mod:`etp_sync.session._trace`); ``proxy`` is the
        transport's (an HTTP proxy URL; None: from the environment; False: none).
        ``request_session(offer_gzip)`` builds the RequestSession once the socket is open:
        ``compression`` None offers gzip unless the server is on this host, reached without a
        proxy (see :func:`offers_gzip`).
        """
        left = _left(deadline)
        if left is not None and left <= 0:
            raise ETPConnectTimeout(f"no time left to connect to {safe_url(url)}")
        if left is not None and left < connect_timeout:
            connect_timeout = left
        until = time.monotonic() + connect_timeout
        transport = WebSocketTransport.connect(
            url,
            headers=headers,
            connect_timeout=connect_timeout,
            max_message_size=max_message_size + RECEIVE_HEADROOM,
            proxy=proxy,
            **dict(tls or {}),
        )
        gzip = offers_gzip(compression, transport.direct_loopback)
        conn = cls(
            transport,
            max_message_size=max_message_size,
            compression=gzip,
            on_unsolicited=on_unsolicited,
            max_response_size=max_response_size,
            on_close=on_close,
            trace=trace,
        )
        try:
            pending = conn.send(request_session(gzip), deadline=until)
            assert pending is not None
            # Started while the server reads RequestSession; the dispatch thread starts with
            # the first unsolicited message.
            conn._reader.start()
            response = pending.result(deadline=until)
        except (ETPReadTimeout, ETPWriteTimeout) as exc:
            conn.close(send_close_session=False, abort=True)
            raise ETPConnectTimeout(
                f"no ETP session with {safe_url(url)} within {connect_timeout:g} s: {exc.message}"
            ) from None
        except BaseException:
            conn.close(send_close_session=False)
            raise
        if response.errors:
            conn.close(send_close_session=False)
            err = response.errors[0].error
            code = err.code if err is not None else None
            text = err.message if err is not None else "no reason given"
            raise ETPProtocolError(f"the server refused the session: {text}", code)
        open_session = next(
            (m for m in response.messages if m.etp_full_name.endswith("Core.OpenSession")), None
        )
        if open_session is None:
            conn.close(send_close_session=False)
            raise ETPProtocolError("the server answered RequestSession without OpenSession")
        conn.server = read_open_session(
            open_session, client_max_message_size=conn.client_max_message_size
        )
        conn._compress = conn._compress_choice()
        conn._limit = conn.response_limit
        conn._send_limit = conn.max_message_size
        conn._opened = True
        log.info(
            "ETP session %s open with %s %s (protocols %s, compression %r, max message %d B)",
            conn.server.session_id,
            conn.server.application_name,
            conn.server.application_version,
            sorted(conn.server.protocols),
            conn.server.compression,
            conn.server.max_message_size,
        )
        return conn

    # -- sending -------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.close_error is None

    @property
    def max_message_size(self) -> int:
        """The effective message size limit (the smaller of both endpoints' limits)."""
        return self.server.max_message_size if self.server else self.client_max_message_size

    @property
    def response_limit(self) -> int:
        """The most bytes one reply may amount to, all its parts together."""
        if self.max_response_size is not None:
            return self.max_response_size
        limit = RESPONSE_MESSAGES * self.max_message_size
        if self.server is not None:
            limit = max(limit, object_room(self.server))
        return limit

    def _check_open(self) -> None:
        if self.close_error is not None:
            raise self._error_to_raise()

    def _error_to_raise(self) -> ETPError:
        """This thread's own copy of the error that ended the connection."""
        if self.close_error is None:
            return ETPConnectionLost("the connection is closed")
        return fresh_error(self.close_error)

    def _numbers(self, body: Record) -> tuple[int, int]:
        """``(protocol, message type)`` of a message this session may send: refuses records
        that are not messages and messages of protocols the server did not grant."""
        protocol, message_type = body.etp_protocol, body.etp_message_type
        if protocol is None or message_type is None:
            raise ETPInvalidArgument(f"{body.etp_name} is a datatype record, not an ETP message")
        if self.server is not None and protocol != 0 and not self.server.supports(protocol):
            raise ETPNotNegotiated(
                f"{body.etp_name} belongs to protocol {protocol}, which the server did not grant "
                f"(granted: {sorted(self.server.protocols)})"
            )
        return protocol, message_type

    def _kind(self, body: Record) -> _Kind:
        """What sending ``body`` needs to know of its class (checked by :meth:`_numbers`),
        remembered per class once the session is open (the grants are then fixed)."""
        kind = self._kinds.get(body.__class__)
        if kind is None:
            protocol, message_type = self._numbers(body)
            kind = (
                protocol,
                message_type,
                body.etp_name,
                expected_replies(body),
                MessageFramer(body.__class__),
            )
            if self.server is not None:
                self._kinds[body.__class__] = kind
        return kind

    def _compress_choice(self) -> bool | None:
        if not self.compression_wanted or self.server is None or self.server.compression != "gzip":
            return False
        return None  # compress when it pays

    def _framer(self, body: Record, kind: _Kind, protocol: int | None) -> MessageFramer:
        """The framer of ``body`` (of message class ``kind``) under ``protocol`` (None: its
        own; ProtocolException and Acknowledge may be sent under any)."""
        if protocol is None or protocol == kind[0]:
            return kind[4]
        return MessageFramer(body.__class__, protocol)

    def _transmit(self, parts: list[Any], size: int, body: Record, deadline: float | None) -> None:
        """Send one encoded message (``parts``, ``size`` bytes together) within ``deadline``."""
        if size > self._send_limit:
            raise ETPMessageTooLarge(
                f"{body.etp_name} is {size} bytes, more than the negotiated maximum message "
                f"size of {self._send_limit} bytes"
            )
        if self.trace:
            trace_message("->", parts[0], size, body)
        try:
            for part in parts:
                if part.__class__ is not bytes and part.__class__ is not bytearray:
                    self.transport.send_message(parts, deadline=deadline)
                    break
            else:  # every part is bytes or bytearray (see WebSocketTransport.send_counted)
                self.transport.send_counted(parts, size, deadline=deadline)
        except ETPWriteTimeout as exc:
            if not self.transport.is_open:  # cut off mid-message: the connection is gone
                self._fail(ETPConnectionLost(f"connection lost: {exc} (message cut off)"))
            raise
        except ETPTransportError as exc:
            self._fail(exc)
            raise self._error_to_raise() from None

    def send(
        self,
        body: Record,
        *,
        correlation_id: int = 0,
        protocol: int | None = None,
        expect_response: bool = True,
        final: bool = True,
        deadline: float | None = None,
        target: ReplyTarget | None = None,
    ) -> PendingRequest | None:
        """Send one message; with ``expect_response`` return the handle its response arrives on.

        ``protocol`` overrides the header protocol (for ProtocolException/Acknowledge, which can
        belong to any protocol). ``deadline`` (``time.monotonic()``) bounds the send. ``target``:
        memory the reply's values may be received into (see :mod:`etp_sync.codec._placement`).
        """
        if self.close_error is not None:
            raise self._error_to_raise()
        kind = self._kinds.get(body.__class__) or self._kind(body)
        framer = kind[4] if protocol is None else self._framer(body, kind, protocol)
        self._take_order(body, deadline)
        try:
            message_id = self.ids.next()
            parts, size = framer.parts(
                body, correlation_id, message_id, _FIN if final else 0, self._compress
            )
            if not expect_response:
                self._transmit(parts, size, body, deadline)
                return None
            pending = self._expect(message_id, kind, target)
            try:
                self._transmit(parts, size, body, deadline)
            except BaseException:
                self.correlator.forget(message_id)
                raise
            return pending
        finally:
            self._order.release()
            if self._replies:
                self._send_replies()

    def _take_order(self, body: Record, deadline: float | None) -> None:
        """Take :attr:`_order` (at once when free), within ``deadline`` (ETPWriteTimeout)."""
        if self._order.acquire(False):
            return
        if deadline is None:
            self._order.acquire()
        elif not self._order.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise ETPWriteTimeout(
                f"could not send {body.etp_name} within the deadline: another send held the "
                "connection"
            )

    def _expect(
        self, message_id: int, kind: _Kind, target: ReplyTarget | None = None
    ) -> PendingRequest:
        """Register the request (of message class ``kind``, see :meth:`_kind`): its reply is
        checked against the answers expected of it."""
        return self.correlator.register(
            message_id,
            kind[2],
            protocol=kind[0],
            replies=kind[3],
            max_bytes=self._limit or self.response_limit,
            target=target,
        )

    def send_multipart(
        self, bodies: Sequence[Record], *, deadline: float | None = None
    ) -> PendingRequest:
        """Send a multipart request (e.g. PutDataObjects followed by Chunk messages).

        The first part has correlation id 0, the others correlate to it; FIN is on the last.
        """
        if not bodies:
            raise ETPInvalidArgument("a multipart request needs at least one part")
        self._check_open()
        kinds = [self._kind(b) for b in bodies]
        first_id = 0
        pending: PendingRequest | None = None
        try:
            for i, (body, kind) in enumerate(zip(bodies, kinds, strict=True)):
                self._take_order(body, deadline)
                try:  # each part's id is taken when it can be written (see _order)
                    message_id = self.ids.next()
                    if pending is None:
                        first_id = message_id
                        pending = self._expect(first_id, kind)
                    parts, size = kind[4].parts(
                        body,
                        0 if i == 0 else first_id,
                        message_id,
                        _FIN if i == len(bodies) - 1 else 0,
                        self._compress,
                    )
                    self._transmit(parts, size, body, deadline)
                finally:
                    self._order.release()
                    if self._replies:
                        self._send_replies()
        except BaseException:
            if pending is not None:
                self.correlator.forget(first_id)
            raise
        assert pending is not None
        return pending

    # -- receiving -----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        recv = self.transport.recv_data
        handle = self._handle_frame
        clock = time.monotonic
        try:
            while self.close_error is None:
                received = recv(None)
                if received is not None:
                    self.last_frame = clock()
                    handle(received[0])
                    del received  # don't keep the last message alive while the next one arrives
        except ETPSessionClosed as exc:
            reason = getattr(exc, "reason", "") or str(exc)
            self._fail(ETPSessionClosed(f"the server closed the connection: {reason}", reason))
        except ETPError as exc:  # transport failure or a protocol violation at websocket level
            self._fail(ETPConnectionLost(f"connection lost: {exc}"))
            self.transport.close()
        except Exception as exc:  # a bug must not leave callers hanging
            log.exception("reader thread failed")
            self._fail(ETPConnectionLost(f"reader thread failed: {exc!r}"))

    def _place(self, prefix: memoryview, length: int) -> tuple[int, memoryview] | None:
        """The transport's placer (reader thread): memory for part of an arriving frame, when
        the request it answers has a reply target that takes it."""
        peek = peek_header(prefix)
        target = None if peek is None else self.correlator.target_for(peek[2])
        spot = None if target is None else target.place(prefix, length)
        self._placed = target if spot is not None else None
        return spot

    def _handle_frame(self, frame: bytearray) -> None:
        target, self._placed = self._placed, None
        try:
            if target is not None:
                header, body = target.decode(frame)
                size = len(frame) + target.nbytes
            else:
                header, _, body = decode_frame(frame, max_size=self._decode_limit)
                size = len(frame)
        except ETPDecodeError as exc:
            if self.trace:
                trace_message("<-", bytes(frame[:64]), len(frame), None)
            self._route_decode_error(frame, exc)
            return
        if self.trace:
            trace_message("<-", bytes(frame[:64]), len(frame), body)
        if self.correlator.route(header, body, size):
            return
        key = (header.protocol, header.message_type)
        if key == (0, 8):  # Ping
            self._reply_pong(header)
        elif isinstance(body, messages.Core.CloseSession):
            reason = body.reason or "no reason given"
            log.info("server closed the ETP session: %s", reason)
            self._fail(ETPSessionClosed(f"the server closed the session: {reason}", reason))
            self.transport.close()
        else:
            self._dispatch(header, body)

    def _dispatch(self, header: Any, body: Any) -> None:
        """Queue an unsolicited message for the dispatch thread (reader thread only), or log
        that it is dropped when the session is closing: the dispatch thread ends at the
        closing mark (:meth:`_fail` puts it under the same lock), so nothing queued after it
        would ever be delivered."""
        with self._fail_lock:
            closing = self.close_error is not None
            if not closing:
                if self._dispatcher.ident is None:
                    self._dispatcher.start()  # only the reader thread starts it
                self._dispatch_queue.put((header, body))
        if closing:
            log.log(
                logging.WARNING if header.message_type == PROTOCOL_EXCEPTION else logging.DEBUG,
                "unsolicited %s (protocol %s) dropped: the session is closing",
                body.etp_name,
                header.protocol,
            )

    def _route_decode_error(self, frame: bytearray, exc: ETPDecodeError) -> None:
        """Fail the request an undecodable response belongs to (if its header is readable)."""
        peek = peek_header(frame)
        correlation_id = peek[2] if peek is not None else 0
        log.error("undecodable message from the server (request %s): %s", correlation_id, exc)
        if correlation_id:
            final = peek is not None and bool(peek[4] & MessageFlags.FIN)
            self.correlator.fail(correlation_id, exc, final=final)

    def _reply_pong(self, ping_header: Any) -> None:
        """Answer the server's Ping (reader thread): queued for :meth:`_send_replies`."""
        self._reply(messages.Core.Pong(current_date_time=now_us()), ping_header.message_id)

    def _reply(self, body: Record, correlation_id: int) -> None:
        """Send a reply of the reader thread's own (ETP Pong) without ever waiting for the
        send-order lock: a caller may hold it for as long as its deadline allows, blocked on a
        socket that the peer does not empty, perhaps because it waits for us to read, which the
        reader would never do again. The reply is queued, and sent by whoever releases the lock
        (or at once by this thread when the lock is free), within :data:`REPLY_WAIT`."""
        self._replies.append((body, correlation_id))
        self._send_replies()

    def _send_replies(self) -> None:
        """Send the queued replies unless another thread holds the send-order lock (it sends
        them when it releases it); each may wait :data:`REPLY_WAIT` for the socket, and one
        that cannot go then is dropped (logged) with every one queued after it, which a socket
        that took nothing for that long would not take either: a peer that does not read our
        bytes is not worth a blocked thread, least of all the reader (nor 32 waits of it)."""
        replies = self._replies
        while replies and self._order.acquire(False):
            try:
                while replies:
                    body, correlation_id = replies.popleft()
                    if self.close_error is not None:
                        continue
                    kind = self._kinds.get(body.__class__) or self._kind(body)
                    parts, size = kind[4].parts(
                        body, correlation_id, self.ids.next(), _FIN, self._compress
                    )
                    try:
                        self._transmit(parts, size, body, time.monotonic() + REPLY_WAIT)
                    except ETPError as exc:
                        dropped = len(replies)
                        replies.clear()
                        log.warning(
                            "could not send %s: %s (%d queued replies dropped with it)",
                            body.etp_name,
                            exc,
                            dropped,
                        )
            finally:
                self._order.release()

    def _dispatch_loop(self) -> None:
        while True:
            item = self._dispatch_queue.get()
            if item is None:
                return
            header, body = item
            if self._on_unsolicited is None:
                log.debug("unsolicited %s dropped (no handler)", body.etp_name)
                continue
            try:
                self._on_unsolicited(header, body)
            except Exception:
                log.exception("handler for %s raised", body.etp_name)

    # -- closing -------------------------------------------------------------------------------

    def _fail(self, error: ETPError) -> None:
        """The connection is unusable: fail every waiter, refuse new requests, let the
        dispatch thread end after delivering what arrived before."""
        with self._fail_lock:
            first = self.close_error is None
            if first:
                error.__traceback__ = None
                self.close_error = error
                self._dispatch_queue.put(None)  # the dispatch thread's last item (see _dispatch)
            self._closed.set()
        self.correlator.fail_all(self.close_error or error, close=True)
        if first and self._opened and self._on_close is not None:  # once, whoever noticed first
            try:
                self._on_close(fresh_error(self.close_error or error))
            except Exception:
                log.exception("on_close callback failed")

    def close(
        self,
        *,
        send_close_session: bool = True,
        reason: str = "",
        wait: float = 2.0,
        error: ETPError | None = None,
        abort: bool = False,
    ) -> None:
        """End the session: CloseSession (best effort), websocket close, threads joined (for at
        most ``wait`` seconds).

        Requests still waiting fail with ``error`` (default: ETPConnectionLost). ``abort``
        drops the connection without the closing handshake (for a peer that stopped answering).
        """
        if send_close_session and self.close_error is None:
            try:
                self.send(
                    messages.Core.CloseSession(reason=reason),
                    expect_response=False,
                    deadline=time.monotonic() + wait / 2,
                )
            except ETPError as exc:
                log.debug("CloseSession not sent: %s", exc)
        self._fail(error or ETPConnectionLost("the session was closed"))
        if abort:
            self.transport.abort()
        else:
            self.transport.close()
        deadline = time.monotonic() + wait
        for thread in (self._reader, self._dispatcher):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._reader.is_alive():
            log.warning("reader thread still running after close")
