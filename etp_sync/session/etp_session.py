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
from typing import Any, Literal

from .._timeouts import MAX_WAIT, seconds
from .._version import __version__
from ..auth import DEFAULT_REFRESH_MARGIN
from ..calls import CallsMixin, SubscriptionRegistry, TransactionManager
from ..errors import (
    ErrorCode,
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPInvalidArgument,
    ETPReadTimeout,
    ETPSessionClosed,
)
from ..protocol.correlation import ReplyTarget, Response
from ..protocol.negotiation import (
    STORE_PROTOCOLS,
    ServerInfo,
    build_request_session,
    now_us,
)
from ..retry import RetryPolicy
from ..schema import Record, messages
from ..transport._connect import safe_url
from ._connection import ConnectionKeeper
from ._credentials import Authorization, Credentials
from ._renewal import EXPIRY_CODES, TokenRenewal
from ._request_handle import RequestHandle
from ._trace import trace_enabled
from .engine import SessionEngine
from .handlers import Handler, HandlerRegistry

log = logging.getLogger("etp_sync.session")

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0


def _alias(name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """``value``, or the pyetp-style ``alias_value`` when only that one is given."""
    if alias_value is None:
        return value
    if value is not None and value != alias_value:
        raise ETPInvalidArgument(f"{name}= and {alias}= are the same parameter: give only one")
    return alias_value


def _protocol_numbers(requested: Sequence[Any]) -> tuple[int, ...]:
    """Protocol numbers from ints or pyetp-style ``SupportedProtocol`` objects (``.protocol``)."""
    numbers = []
    for item in requested:
        number = getattr(item, "protocol", item)
        if isinstance(number, bool) or not isinstance(number, int):
            raise ETPInvalidArgument(
                f"protocols are ETP protocol numbers (or have a .protocol), got {item!r}"
            )
        numbers.append(int(number))
    return tuple(numbers)


class ETPSession(ConnectionKeeper, CallsMixin):
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

    Tokens: ``authorization`` may be a callable (a token provider, e.g. from
    :mod:`etp_sync.auth`); the session then calls it again before the current token expires
    (a JWT's ``exp`` less ``token_refresh_margin``, at most halfway through its life; every
    ``token_refresh_interval`` seconds for other tokens) and when the server answers
    EAUTHORIZATION_EXPIRED (the refused request is then sent again), and hands the new token
    to the server in-session with Core ``Authorize``. A server that does not support
    ``Authorize`` gets the new token by a reconnection, made between requests only: never while
    a request (a multipart one included) is in flight or a transaction is open (writes of
    several requests run in one when the server offers transactions).
    Renewals happen within the deadline of the call that triggers them.

    Parameters (pyetp's names are accepted too: ``uri`` for ``url``, ``etp_timeout`` for
    ``timeout``, ``use_compression`` for ``compression``, ``requested_protocols`` for
    ``protocols``):
        url: ``ws://`` or ``wss://`` address of the ETP server.
        authorization: bearer token (``"Bearer "`` prefix optional), a secret object with
            ``get_secret_value()`` (pydantic ``SecretStr``), or a callable returning either
            (called on every connect and renewal, see "Tokens"). Sent as
            ``Authorization: Bearer <token>``; never logged.
        data_partition_id: OSDU partition, sent as the ``data-partition-id`` header.
        timeout: default deadline of a call, in seconds (see above; default 60). Every
            ``timeout`` (this one, a call's, ``connect_timeout``) is a positive number of any
            real type; ``math.inf`` means no deadline in practice (about 24.8 days, as for a
            transport's ``stall_timeout``); anything else raises ETPInvalidArgument.
        connect_timeout: seconds for one connection attempt (websocket upgrade and ETP
            handshake), within the call's deadline; also how long an ``Authorize`` may go
            unanswered before the server counts as not supporting it.
        max_message_size: our limit; the effective one is the smaller of ours and the server's.
        max_response_size: the most bytes one reply may amount to, all its parts together
            (each part counted at least 512 bytes); default 4 times the negotiated maximum
            message size. A bigger reply raises ETPResponseTooLarge (an ETPProtocolError)
            as soon as it exceeds it; a get of objects asks again for fewer at a time
            instead, and reports an object too large by itself as failed.
        compression: offer gzip and compress bodies where it pays. None (default): offer it
            unless the server runs on this host (a loopback address, no proxy), where gzip
            only spends CPU; True: always (e.g. through a local tunnel such as ssh -L or
            kubectl port-forward to a remote server); False: never.
        retry: connection attempts policy (first connect and reconnects).
        verify, ca_file, ssl_context: TLS settings for ``wss://`` (verification is on by default).
        proxy: HTTP proxy (``http://[user:password@]host:port``) to tunnel through (HTTP
            ``CONNECT``); None (default) takes ``https_proxy`` (wss://) or ``http_proxy``
            (ws://) from the environment, honouring ``no_proxy``; False never uses one.
        application_name, application_version: announced in RequestSession.
        protocols: protocol numbers to request (role ``store``).
        auto_reconnect: reconnect on next use after a drop (otherwise raise).
        token_refresh_interval: seconds between renewals of tokens that are not JWTs (None:
            only when the server says they expired).
        token_refresh_margin: renew a JWT this many seconds before its ``exp``.
        trace: log every message sent and received (protocol, type, ids, flags, size; never
            bodies or tokens) on the ``etp_sync.trace`` logger; None (default) reads the
            ``ETP_SYNC_TRACE`` environment variable (``1`` enables it).
    """

    DEADLINE_MARGIN = 0.5
    """Seconds a call may run past its ``timeout`` (see "Deadlines" above)."""
    SILENT_DROP_AFTER = 10.0
    """Seconds without any message from the server after which a call that timed out drops the
    connection, so that the next one reconnects (see :meth:`_drop_if_silent`)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        authorization: Authorization = None,
        data_partition_id: str | None = None,
        timeout: float | None = None,
        connect_timeout: float = 15.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_response_size: int | None = None,
        compression: bool | None = None,
        retry: RetryPolicy | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        ssl_context: Any = None,
        proxy: str | Literal[False] | None = None,
        application_name: str = "etp_sync",
        application_version: str = __version__,
        protocols: Sequence[int] | None = None,
        auto_reconnect: bool = True,
        token_refresh_interval: float | None = None,
        token_refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        trace: bool | None = None,
        uri: str | None = None,
        etp_timeout: float | None = None,
        use_compression: bool | None = None,
        requested_protocols: Sequence[Any] | None = None,
    ) -> None:
        url = _alias("url", url, "uri", uri)
        if not isinstance(url, str):
            raise ETPInvalidArgument("the ETP server's URL is required (url= or uri=)")
        if not url.lower().startswith(("ws://", "wss://")):
            raise ETPInvalidArgument(
                f"an ETP URL starts with ws:// or wss://, got {safe_url(url)!r} (ETP runs over "
                "websockets: for http://host use ws://host, for https://host use wss://host)"
            )
        timeout = _alias("timeout", timeout, "etp_timeout", etp_timeout)
        compression = _alias("compression", compression, "use_compression", use_compression)
        protocols = _alias("protocols", protocols, "requested_protocols", requested_protocols)
        timeout = seconds(DEFAULT_TIMEOUT if timeout is None else timeout, "timeout")
        connect_timeout = seconds(connect_timeout, "connect_timeout")
        if not isinstance(max_message_size, int) or max_message_size < 4096:
            raise ETPInvalidArgument("max_message_size must be at least 4096 bytes")
        if max_response_size is not None and (
            not isinstance(max_response_size, int) or max_response_size < 4096
        ):
            raise ETPInvalidArgument("max_response_size must be at least 4096 bytes")
        if proxy is not None and proxy is not False and not isinstance(proxy, str):
            raise ETPInvalidArgument("proxy must be a URL string, None or False")
        self.url = url
        self._credentials = Credentials(
            authorization,
            refresh_interval=token_refresh_interval,
            refresh_margin=token_refresh_margin,
        )
        self._renewal = TokenRenewal(self._credentials, connect_timeout)
        self._renew_lock = threading.RLock()  # after-connect hooks may renew again
        self._commit_refused = False  # see send_and_recv and _note_refused_commit
        if data_partition_id is not None and not isinstance(data_partition_id, str):
            raise ETPInvalidArgument(
                f"data_partition_id must be a str, got {type(data_partition_id).__name__}"
            )
        self.data_partition_id = data_partition_id
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message_size = int(max_message_size)
        self.max_response_size = None if max_response_size is None else int(max_response_size)
        self.compression = None if compression is None else bool(compression)
        self.retry = retry or RetryPolicy()
        self._tls = {"verify": verify, "ca_file": ca_file, "ssl_context": ssl_context}
        self.proxy = proxy
        self.trace = trace_enabled(trace)
        self.application_name = application_name
        self.application_version = application_version
        self.protocols = STORE_PROTOCOLS if protocols is None else _protocol_numbers(protocols)
        self.auto_reconnect = auto_reconnect
        ConnectionKeeper.__init__(self)
        self._handlers = HandlerRegistry()
        self._handlers.add(self._on_protocol_exception, message_type=1000)
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
        The connection is dropped when the loop ends (``break``, or an exception out of its
        body), as pyetp's ``async for`` closes its own.
        """
        try:
            while True:
                if not self.is_open:
                    with self._conn_lock:
                        self._closed = False
                    self.connect()
                yield self
                self._drop_connection()
        finally:
            self._drop_connection()

    @property
    def server(self) -> ServerInfo:
        """What the server granted in OpenSession (connects first if needed, within the
        session's ``timeout``: calls read it, e.g. for the message size, before their
        requests, and a connection made for them must not take the whole retry policy)."""
        return self._granted(self._deadline(None))

    def _reply_limit(self, deadline: float) -> int:
        """The most bytes one reply may amount to (``max_response_size`` or its default),
        connecting (if needed) within ``deadline``."""
        return self._connection(deadline).response_limit

    def _granted(self, deadline: float) -> ServerInfo:
        """:attr:`server`, connecting (if needed) within ``deadline`` (a call's, a
        ``time.monotonic()`` value): for calls that need the grant before their requests."""
        server = self._connection(deadline).server
        assert server is not None  # an open engine has negotiated
        return server

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        authorization = self._credentials.fetch()
        if authorization:
            headers["Authorization"] = authorization
        if self.data_partition_id:
            headers["data-partition-id"] = self.data_partition_id
        return headers

    def _open_connection(self, deadline: float | None = None) -> SessionEngine:
        def request(offer_gzip: bool) -> Any:
            return build_request_session(
                application_name=self.application_name,
                application_version=self.application_version,
                protocols=self.protocols,
                compression=offer_gzip,
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
            trace=self.trace,
            proxy=self.proxy,
        )

    # -- raw requests --------------------------------------------------------------------------

    def send(
        self, message: Record, *, timeout: float | None = None, target: ReplyTarget | None = None
    ) -> RequestHandle:
        """Send a request without waiting; ``.result()`` on the handle blocks for the response.

        One thread can keep many requests in flight this way. ``target``: memory the reply's
        array values may be received into (see :mod:`etp_sync.codec._placement`).
        """
        deadline = self._deadline(timeout)
        pending = self._ready(deadline).send(message, deadline=deadline, target=target)
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
        bodies = [message] if isinstance(message, Record) else _records(message)
        if idempotent is None:
            idempotent = len(bodies) == 1 and bodies[0].etp_name.startswith(("Get", "Find"))
        # _deadline(timeout), inline (every request comes this way)
        if timeout is None:
            timeout = self.timeout
        elif timeout.__class__ is not float or not 0.0 < timeout < MAX_WAIT:
            timeout = seconds(timeout)
        deadline = time.monotonic() + timeout
        cap = getattr(self._hook_deadline, "at", None)
        if cap is not None and cap < deadline:
            deadline = cap
        resends = 1 if idempotent and self.auto_reconnect else 0
        renewed = False
        while True:
            conn = self._conn  # _ready(deadline), inline
            tm_open = self.transaction_manager.current is not None
            if conn is None or conn.close_error is not None or tm_open:
                conn = self._connection(deadline)
            if self._credentials.due():
                conn = self._renew(conn, deadline)
            sent = time.monotonic()
            try:
                if len(bodies) == 1:
                    pending = conn.send(bodies[0], deadline=deadline)
                    assert pending is not None
                else:
                    pending = conn.send_multipart(bodies, deadline=deadline)
                del conn  # a dead connection must not outlive its failure in this frame
                response = pending.result(deadline=deadline)
            except ETPReadTimeout:
                self._drop_if_silent(sent)
                raise
            except ETPConnectionLost as exc:
                if isinstance(exc, ETPSessionClosed) or resends <= 0:
                    raise
                resends -= 1
                log.info("retrying %s after connection loss: %s", bodies[0].etp_name, exc)
                continue
            if self._commit_refused:
                # open-etp-server ends a session whose commit it refused: every request after
                # it gets EINVALID_STATE. The first such refusal reconnects and resends.
                self._commit_refused = False
                if _session_refused(response):
                    log.warning(
                        "%s refused (EINVALID_STATE) after a refused commit: the server ended "
                        "the session; reconnecting and sending it again",
                        bodies[0].etp_name,
                    )
                    self._abort_connection("the server ended the session after a refused commit")
                    continue
            if (
                not response.errors
                or renewed
                or not _token_expired(response)
                or not self._credentials.expire()
            ):
                return response
            renewed = True  # refused unprocessed: renew the token, then send it once more
            log.info("%s refused: the token expired; renewing it", bodies[0].etp_name)

    def _drop_if_silent(self, since: float) -> None:
        """After a call timed out: drop the connection when not one message came from the
        server since its request went out (``since``, ``time.monotonic()``) nor for
        :attr:`SILENT_DROP_AFTER` seconds. A path that went dead (a load balancer or NAT that
        forgot the connection, a frame cut off midway) would otherwise fail every later call
        until TCP gives up, many minutes on; the next call reconnects. A short timeout on a
        server that answers keeps the connection (it gets messages); a server silent for that
        long on every request in flight is not told apart from a dead path."""
        conn = self._conn
        if (
            conn is not None
            and conn.last_frame < since
            and time.monotonic() - conn.last_frame >= self.SILENT_DROP_AFTER
        ):
            log.warning(
                "no message from %s in the %.1f s the call waited: dropping the connection "
                "(the next call reconnects)",
                safe_url(self.url),
                time.monotonic() - since,
            )
            self._abort_connection("connection dropped: the server sent nothing for a whole call")

    def _note_refused_commit(self) -> None:
        """Called when the server refused a commit: open-etp-server then refuses every later
        request of the session with EINVALID_STATE until the client reconnects. The next
        response decides: refused so, the session reconnects and sends the request again (a
        server that goes on serving costs nothing)."""
        self._commit_refused = True

    # -- tokens --------------------------------------------------------------------------------

    def _ready(self, deadline: float | None) -> SessionEngine:
        """The open engine for a request, the token renewed first when it is due.

        The common case (open, no transaction, no renewal due) costs three attribute tests
        and :meth:`Credentials.due`."""
        conn = self._conn
        tm_open = self.transaction_manager.current is not None
        if conn is None or conn.close_error is not None or tm_open:
            conn = self._connection(deadline)
        if self._credentials.due():
            conn = self._renew(conn, deadline)
        return conn

    def _renew(self, conn: SessionEngine, deadline: float | None) -> SessionEngine:
        """Renew the token: ``Authorize`` on ``conn``, or for a server without it a
        reconnection, when no request is in flight and no transaction is open (otherwise at a
        later request). One thread renews; the others wait for it within their deadline."""
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self._renew_lock.acquire(timeout=-1 if left is None else left):
            raise ETPConnectTimeout("another thread was still renewing the token at the deadline")
        try:
            if not self._credentials.due():
                return self._connection(deadline)
            if self._renewal.supported is not False and self._renewal.authorize(conn, deadline):
                return conn
            if not self._between_requests(conn):
                log.debug("token renewal by reconnection postponed: a transfer is under way")
                return conn
            log.info("renewing the token by reconnecting to %s", safe_url(self.url))
            with self._conn_lock:
                if self._conn is conn:
                    self._conn = None
            conn.close(reason="renewing the token")
            return self._connection(deadline)
        finally:
            self._renew_lock.release()

    def _between_requests(self, conn: SessionEngine) -> bool:
        """Nothing would be cut by closing ``conn``: no transaction open (it belongs to the
        connection) and no request in flight (a multipart one included). A write of several
        requests outside a transaction goes on over the new connection, each request whole."""
        return self.transaction_manager.current is None and conn.correlator.in_flight() == 0

    def _on_protocol_exception(self, header: Any, body: Any) -> None:
        """An unsolicited ProtocolException saying the token expired (or soon will): renew it
        at the next request."""
        error = body.error
        if error is not None and error.code in EXPIRY_CODES and self._credentials.expire():
            log.info("the server says the token expires (%s): renewing it", error.message)

    @property
    def token_renewals(self) -> int:
        """Tokens renewed in-session with Authorize so far."""
        return self._renewal.count

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


def _records(message: Any) -> list[Record]:
    """The bodies of a multipart request: a non-empty sequence of message records."""
    try:
        bodies = [] if isinstance(message, str | bytes) else list(message)
    except TypeError:  # not iterable
        bodies = []
    if not bodies or not all(isinstance(b, Record) for b in bodies):
        raise ETPInvalidArgument(
            f"send_and_recv takes a message record or a list of them, got {type(message).__name__}"
        )
    return bodies


def _session_refused(response: Response) -> bool:
    """The request was refused as a whole with EINVALID_STATE (the session takes no more)."""
    return (
        any(
            e.error is not None and e.error.code == ErrorCode.EINVALID_STATE and not e.errors
            for e in response.errors
        )
        and not response.messages
    )


def _token_expired(response: Response) -> bool:
    """The request was refused as a whole because the token expired."""
    return (
        any(
            e.error is not None and e.error.code in EXPIRY_CODES and not e.errors
            for e in response.errors
        )
        and not response.messages
    )


__all__ = ["ETPSession"]
