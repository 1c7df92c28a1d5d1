"""``ETPSession``: one persistent, thread-safe, blocking ETP 1.2 session that reconnects by itself.

The session owns one :class:`~etp_sync.session.engine.SessionEngine` at a time (websocket,
reader thread, dispatch thread) and composes the objects that hold the rest of its state: the
handlers of server-initiated messages, the transaction manager and the subscription registry.
Many threads may share a session: each request waits on its own queue. When the connection
drops, requests in flight fail with :class:`~etp_sync.errors.ETPConnectionLost` (idempotent
reads are retried transparently), and the next use reconnects, renegotiates and restores
notification subscriptions. Every call has one deadline (see :class:`ETPSession`); after
:meth:`ETPSession.close` every call raises :class:`~etp_sync.errors.ETPSessionClosed`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from .._version import __version__
from ..calls import CallsMixin, SubscriptionRegistry, TransactionManager
from ..errors import (
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPError,
    ETPInvalidArgument,
    ETPSessionClosed,
    fresh_error,
)
from ..protocol.correlation import PendingRequest, ReplyTarget, Response
from ..protocol.negotiation import (
    STORE_PROTOCOLS,
    ServerInfo,
    build_request_session,
    now_us,
)
from ..retry import RetryPolicy
from ..schema import Record, messages
from ..transport._websocket import safe_url
from .engine import SessionEngine
from .handlers import Handler, HandlerRegistry

log = logging.getLogger("etp_sync.session")

Authorization = str | Callable[[], str] | None
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class RequestHandle:
    """A request in flight; :meth:`result` blocks for its response messages.

    Without a ``timeout`` of its own, the wait ends at the deadline the request was sent with
    (sending and receiving share one deadline).
    """

    def __init__(self, pending: PendingRequest, deadline: float | None) -> None:
        self._pending = pending
        self._deadline = deadline

    @property
    def message_id(self) -> int:
        return self._pending.message_id

    def response(self, timeout: float | None = None) -> Response:
        """All response parts, ProtocolExceptions included (no error raised for them)."""
        if timeout is not None:
            return self._pending.result(timeout)
        return self._pending.result(deadline=self._deadline)

    def result(self, timeout: float | None = None) -> list[Any]:
        """The response messages; raises :class:`~etp_sync.errors.ETPRemoteError` on errors."""
        response = self.response(timeout)
        response.raise_for_errors()
        return response.messages


class ETPSession(CallsMixin):
    """A blocking ETP 1.2 session, usable from many threads; a context manager.

    Deadlines: every call has one deadline, ``timeout`` seconds (the call's own, else the
    session's) from the moment it is made. It covers everything the call does: waiting for
    another thread that is connecting, the connection attempts of the retry policy (each gets
    only the time left, and no attempt starts that could only begin after the deadline),
    waiting for the send lock, sending, and receiving every part of the reply; a read retried
    after a drop keeps the deadline of the first try, and calls made of several requests
    (arrays in blocks, batches) give each request only the time left, as do the requests of
    after-connect hooks (restoring subscriptions) run by a call that reconnects. Past the
    deadline the call raises :class:`~etp_sync.errors.ETPTimeout`:
    :class:`~etp_sync.errors.ETPConnectTimeout` while connecting,
    :class:`~etp_sync.errors.ETPWriteTimeout` while sending (a request cut off mid-message
    closes the connection), :class:`~etp_sync.errors.ETPReadTimeout` while waiting for the
    reply. Margin (:attr:`DEADLINE_MARGIN`): a call returns within ``timeout`` plus at most
    about 0.5 s (thread wake-ups, encoding or decoding one message, answering a queued ping for
    at most 0.25 s), whatever the peer does. Not covered: DNS resolution of the host name, TLS
    handshakes that trickle (each of their socket operations is bounded, not their sum), and
    user callbacks (``progress``, hooks) that block.

    Replies are checked against the request: a message type that does not answer it raises
    :class:`~etp_sync.errors.ETPProtocolError`, and so does a reply (all its parts together)
    larger than ``max_response_size``.

    After :meth:`close`, every call raises :class:`~etp_sync.errors.ETPSessionClosed` at once
    and nothing reconnects; only the iterator form (``for s in etp_connect(url):``) opens a new
    connection after a close.

    Parameters:
        url: ``ws://`` or ``wss://`` address of the ETP server.
        authorization: bearer token, or a callable returning one (called on every connect so
            tokens can be refreshed). Sent as ``Authorization: Bearer <token>``.
        data_partition_id: OSDU partition, sent as the ``data-partition-id`` header.
        timeout: default deadline of a call, in seconds (see above).
        connect_timeout: seconds for one connection attempt (websocket upgrade and ETP
            handshake), within the call's deadline.
        max_message_size: our limit; the effective one is the smaller of ours and the server's.
        max_response_size: the most bytes one reply may amount to, all its parts together
            (each part counted at least 512 bytes); default 4 times the negotiated maximum
            message size. A bigger reply raises ETPProtocolError as soon as it exceeds it.
        compression: offer gzip and compress bodies where it pays.
        retry: connection attempts policy (first connect and reconnects).
        verify, ca_file, ssl_context: TLS settings for ``wss://`` (verification is on by default).
        application_name, application_version: announced in RequestSession.
        protocols: protocol numbers to request (role ``store``).
        auto_reconnect: reconnect on next use after a drop (otherwise raise).
    """

    DEADLINE_MARGIN = 0.5
    """Seconds a call may run past its ``timeout`` (see "Deadlines" above)."""

    def __init__(
        self,
        url: str,
        *,
        authorization: Authorization = None,
        data_partition_id: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 15.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_response_size: int | None = None,
        compression: bool = True,
        retry: RetryPolicy | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        ssl_context: Any = None,
        application_name: str = "etp_sync",
        application_version: str = __version__,
        protocols: Sequence[int] = STORE_PROTOCOLS,
        auto_reconnect: bool = True,
    ) -> None:
        if not url.lower().startswith(("ws://", "wss://")):
            raise ETPInvalidArgument(
                f"ETP URL must start with ws:// or wss://, got {safe_url(url)!r}"
            )
        if max_message_size < 4096:
            raise ETPInvalidArgument("max_message_size must be at least 4096 bytes")
        if max_response_size is not None and max_response_size < 4096:
            raise ETPInvalidArgument("max_response_size must be at least 4096 bytes")
        self.url = url
        self._authorization = authorization
        self.data_partition_id = data_partition_id
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message_size = int(max_message_size)
        self.max_response_size = None if max_response_size is None else int(max_response_size)
        self.compression = compression
        self.retry = retry or RetryPolicy()
        self._tls = {"verify": verify, "ca_file": ca_file, "ssl_context": ssl_context}
        self.application_name = application_name
        self.application_version = application_version
        self.protocols = tuple(protocols)
        self.auto_reconnect = auto_reconnect
        self._conn: SessionEngine | None = None
        self._conn_lock = threading.RLock()
        self._closed = False
        self._handlers = HandlerRegistry()
        self._after_connect: list[Callable[[], None]] = []
        self._on_disconnect: list[Callable[[ETPError], None]] = []
        self._hook_deadline = threading.local()  # .at: the deadline of the call running hooks
        self.connect_count = 0
        self.transaction_manager = TransactionManager(self)
        self.subscription_registry = SubscriptionRegistry(self)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed" if self._closed else "not connected"
        return f"ETPSession({safe_url(self.url)!r}, {state})"

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ETPSession:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ETPSession]:
        """Yield this session, then a freshly connected one each time the loop comes back.

        For long-running jobs: ``for session in etp_connect(url): try: work(session) except
        ETPConnectionLost: continue``. Each new iteration closes the previous connection and
        opens a new one (with the retry policy), even after :meth:`close`: this is the one way
        to reopen a closed session. ``break`` ends the loop.
        """
        while True:
            if not self.is_open:
                with self._conn_lock:
                    self._closed = False
                self.connect()
            yield self
            self._drop_connection()

    @property
    def is_open(self) -> bool:
        conn = self._conn
        return conn is not None and conn.is_open

    @property
    def closed(self) -> bool:
        """``close()`` was called (and no ``connect()`` since)."""
        return self._closed

    @property
    def server(self) -> ServerInfo:
        """What the server granted in OpenSession (connects first if needed)."""
        server = self._connection().server
        assert server is not None  # an open engine has negotiated
        return server

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        token = self._authorization() if callable(self._authorization) else self._authorization
        if token:
            token = token.strip()
            headers["Authorization"] = (
                token if token.lower().startswith("bearer ") else (f"Bearer {token}")
            )
        if self.data_partition_id:
            headers["data-partition-id"] = self.data_partition_id
        return headers

    def connect(self, *, timeout: float | None = None) -> ETPSession:
        """Open the websocket and the ETP session (retrying per ``retry``); idempotent.

        ``timeout`` bounds the whole (default: only the retry policy does). Raises
        :class:`~etp_sync.errors.ETPSessionClosed` after :meth:`close`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._connection(deadline)
        return self

    def _lock_connection(self, deadline: float | None) -> None:
        """Take the connection lock (held by a thread connecting), within ``deadline``."""
        if deadline is None:
            self._conn_lock.acquire()
        elif not self._conn_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise ETPConnectTimeout(
                f"another thread was still connecting to {safe_url(self.url)} at the deadline"
            )

    def _open(self, deadline: float | None) -> SessionEngine:
        """Connect (lock held): the retry policy's attempts, within ``deadline``."""
        if self._closed:
            raise ETPSessionClosed("the session is closed", "closed by the client")
        conn = self.retry.run(
            lambda: self._open_connection(deadline),
            f"connecting to {safe_url(self.url)}",
            deadline=deadline,
        )
        self._conn = conn
        self.connect_count += 1
        return conn

    def _open_connection(self, deadline: float | None = None) -> SessionEngine:
        request = build_request_session(
            application_name=self.application_name,
            application_version=self.application_version,
            protocols=self.protocols,
            compression=self.compression,
            max_message_size=self.max_message_size,
        )
        return SessionEngine.open(
            self.url,
            request,
            headers=self._headers(),
            connect_timeout=self.connect_timeout,
            max_message_size=self.max_message_size,
            compression=self.compression,
            on_unsolicited=self._handlers.dispatch,
            tls=self._tls,
            max_response_size=self.max_response_size,
            deadline=deadline,
            on_close=self._engine_closed,
        )

    def _drop_connection(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self, reason: str = "") -> None:
        """Send CloseSession, close the websocket and stop the threads; idempotent.

        Requests still waiting, and every later call, raise
        :class:`~etp_sync.errors.ETPSessionClosed`.
        """
        with self._conn_lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(
                reason=reason,
                error=ETPSessionClosed("the session was closed", "closed by the client"),
            )
        self._disconnected(ETPSessionClosed("the session was closed", "closed by the client"))

    def _engine_closed(self, error: ETPError) -> None:
        """An engine of ours closed (its reader noticed a drop, or it was closed)."""
        if not self._closed:
            self._disconnected(error)

    def _disconnected(self, error: ETPError) -> None:
        for hook in list(self._on_disconnect):
            try:
                hook(error)
            except Exception:
                log.exception("disconnect hook %r failed", hook)

    def _connection(self, deadline: float | None = None) -> SessionEngine:
        """The open engine, connecting (or reconnecting after a drop) within ``deadline``."""
        self.transaction_manager.check_bound()  # a dead transaction: nothing sent outside it
        conn = self._conn
        if conn is not None and conn.is_open:
            return conn
        if self._closed:
            raise ETPSessionClosed("the session is closed", "closed by the client")
        self._lock_connection(deadline)
        try:
            conn = self._conn
            if conn is not None and conn.is_open:
                return conn
            if conn is not None:
                error = conn.close_error
                self._conn = None
                left = 2.0 if deadline is None else deadline - time.monotonic()
                conn.close(send_close_session=False, wait=min(2.0, max(left, 0.0)))
                if not self.auto_reconnect:
                    raise fresh_error(error) if error else ETPConnectionLost("connection lost")
                log.info("connection lost (%s); reconnecting", error)
            conn = self._open(deadline)
            hooks = list(self._after_connect)
        finally:
            self._conn_lock.release()
        outer = getattr(self._hook_deadline, "at", None)
        self._hook_deadline.at = deadline  # the hooks' requests share the caller's deadline
        try:
            for hook in hooks:
                hook()
        finally:
            self._hook_deadline.at = outer
        return conn

    def _deadline(self, timeout: float | None) -> float:
        """The deadline of a request made now with ``timeout`` (None: the session's), capped
        by the caller's when an after-connect hook makes it."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        cap = getattr(self._hook_deadline, "at", None)
        return deadline if cap is None else min(deadline, cap)

    def add_after_connect(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after every (re)connect, e.g. to restore subscriptions."""
        self._after_connect.append(hook)

    def add_on_disconnect(self, hook: Callable[[ETPError], None]) -> None:
        """Call ``hook(error)`` when the connection is lost: as soon as a drop is noticed (on
        the engine's thread: keep it short) or when ``close()`` is called (``closed`` is then
        True), e.g. to resubscribe in the background."""
        self._on_disconnect.append(hook)

    # -- raw requests --------------------------------------------------------------------------

    def send(
        self, message: Record, *, timeout: float | None = None, target: ReplyTarget | None = None
    ) -> RequestHandle:
        """Send a request without waiting; ``.result()`` on the handle blocks for the response.

        One thread can keep many requests in flight this way. ``target``: memory the reply's
        array values may be received into (see :mod:`etp_sync.codec._placement`).
        """
        deadline = self._deadline(timeout)
        pending = self._connection(deadline).send(message, deadline=deadline, target=target)
        assert pending is not None
        return RequestHandle(pending, deadline)

    def send_and_recv(self, message: Record, *, timeout: float | None = None) -> list[Any]:
        """Send a request and return every response message (multipart assembled).

        A ProtocolException answer raises :class:`~etp_sync.errors.ETPRemoteError` (for partial
        failures :class:`~etp_sync.errors.ETPPartialFailure`, with the successes attached).
        """
        response = self.request(message, timeout=timeout)
        response.raise_for_errors()
        return response.messages

    def request(
        self,
        message: Record | Sequence[Record],
        *,
        timeout: float | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Send a request (several bodies = one multipart request) and collect its response.

        ProtocolExceptions are returned in ``Response.errors``, not raised. Idempotent reads
        (``Get*``/``Find*`` messages unless told otherwise) are resent once on a fresh connection
        when the connection drops while they are in flight, within the same deadline.
        """
        bodies = [message] if isinstance(message, Record) else list(message)
        if idempotent is None:
            idempotent = bodies[0].etp_name.startswith(("Get", "Find")) and len(bodies) == 1
        deadline = self._deadline(timeout)
        attempts = 2 if idempotent and self.auto_reconnect else 1
        for attempt in range(attempts):
            conn = self._connection(deadline)
            try:
                if len(bodies) == 1:
                    pending = conn.send(bodies[0], deadline=deadline)
                    assert pending is not None
                else:
                    pending = conn.send_multipart(bodies, deadline=deadline)
                del conn  # a dead connection must not outlive its failure in this frame
                return pending.result(deadline=deadline)
            except ETPConnectionLost as exc:
                if isinstance(exc, ETPSessionClosed) or attempt + 1 >= attempts:
                    raise
                log.info("retrying %s after connection loss: %s", bodies[0].etp_name, exc)
        raise AssertionError("unreachable")

    def ping(self, *, timeout: float | None = None) -> float:
        """Send a Ping and return the round-trip time in seconds."""
        start = time.perf_counter()
        self.send_and_recv(messages.Core.Ping(current_date_time=now_us()), timeout=timeout)
        return time.perf_counter() - start

    # -- server-initiated messages -------------------------------------------------------------

    def add_handler(
        self, callback: Handler, *, protocol: int | None = None, message_type: int | None = None
    ) -> Callable[[], None]:
        """Call ``callback(header, message)`` for server-initiated messages (notifications,
        unsolicited ProtocolExceptions) matching ``protocol``/``message_type`` (None = any).

        Callbacks run on the session's dispatch thread, never on the reader thread. Returns a
        function that removes the handler.
        """
        return self._handlers.add(callback, protocol=protocol, message_type=message_type)


def etp_connect(url: str, **kwargs: Any) -> ETPSession:
    """Open an :class:`ETPSession` (same parameters) and return it, connected.

    Works three ways: ``with etp_connect(url) as s:``; ``s = etp_connect(url)`` ... ``s.close()``;
    and ``for s in etp_connect(url):`` which yields a fresh session each time the loop comes
    back (reconnect after a drop in long-running jobs).
    """
    session = ETPSession(url, **kwargs)
    session.connect()
    return session


__all__ = ["ETPSession", "RequestHandle", "etp_connect"]
