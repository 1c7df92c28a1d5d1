"""The embedded ETP 1.2 store server: a small threaded TCP server speaking websocket.

Usage::

    with EmbeddedServer() as server:          # a free port on 127.0.0.1
        session = ETPSession(server.url)
        ...

or as a pytest fixture (``yield`` the started server, ``stop()`` afterwards). An accept thread
hands each connection to a thread of its own, which reads the HTTP request head within a total
deadline (``handshake_timeout``: a client trickling bytes does not extend it), answers it with our
sans-I/O HTTP code (:mod:`._http`: the websocket upgrade, the well-known capabilities, or an HTTP
error; connection records, the request head and refusals are in :mod:`._connections`) and then
frames messages itself, like the client, with
:class:`~etp_sync.transport._websocket.WebSocketTransport`. The :class:`~.store.Store` behind it
is shared by all sessions and exposed as :attr:`EmbeddedServer.store`.

Every limit that protects the server from its clients is an argument (and a flag of
``python -m etp_sync.server``): ``max_connections`` (beyond it, connections get HTTP 503 from the
accept thread itself, so they cost no thread), ``handshake_timeout``,
``request_session_timeout``, ``idle_timeout``, ``max_pending_bytes``, ``pending_timeout``,
``max_notification_bytes`` and ``max_subscriptions``, besides ``max_message_size``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import selectors
import socket
import threading
import time
import uuid
from types import TracebackType

from etp_sync.errors import ETPInvalidArgument
from etp_sync.protocol.negotiation import MIN_MESSAGE_SIZE
from etp_sync.transport._spin import DEFAULT_SPIN_WAIT, checked_spin_wait
from etp_sync.transport._websocket import ETP_SUBPROTOCOL, WebSocketTransport

from ._capabilities import Advertised, advertised, capabilities_response
from ._connections import (
    CLOSE_TIMEOUT,
    Connection,
    Refusals,
    finish_plain,
    read_request_head,
)
from ._http import (
    Request,
    Response,
    error_response,
    is_upgrade,
    parse_request,
    upgrade_response,
)
from ._notify_queue import ChangeFanOut
from ._profile import ServerProfile, server_profile
from ._session import APPLICATION_NAME, OFFERED_PROTOCOLS, ServerSession
from ._tokens import TokenCheck, TokenValidator
from .store import (
    DEFAULT_CHANGE_RETENTION_PERIOD,
    DEFAULT_MAX_ARRAY_BYTES,
    DEFAULT_MAX_OBJECT_BYTES,
    DEFAULT_MAX_STORE_BYTES,
    DEFAULT_TRANSACTION_TIMEOUT,
    Store,
)

__all__ = ["ETP_SUBPROTOCOL", "EmbeddedServer"]

log = logging.getLogger("etp_sync.server")

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
STOP_GRACE = 2.0  # seconds stop() lets connections close cleanly before cutting them
HANDSHAKE_TIMEOUT = 10.0  # seconds a new connection may take for its whole request head
REQUEST_SESSION_TIMEOUT = 30.0  # seconds from the upgrade to a complete RequestSession
IDLE_TIMEOUT = 1800.0  # seconds a session may send nothing (unless it has subscriptions)
MAX_CONNECTIONS = 64  # connections served at once (upgrading or in session)
MAX_PENDING_BYTES = 256 << 20  # bytes of unfinished multipart requests per session
PENDING_TIMEOUT = 60.0  # seconds an unfinished multipart request may wait for its next part
MAX_NOTIFICATION_BYTES = 64 << 20  # bytes of store changes waiting to be notified, per session
MAX_SUBSCRIPTIONS = 1000  # subscriptions one session may hold (MaxSubscriptionSessionCount)


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ETPInvalidArgument(f"{name} must be positive (got {value!r})")
    return float(value)


class EmbeddedServer:
    """An in-memory ETP 1.2 store reachable over a real websocket.

    ``max_message_size`` is the server's ``MaxWebSocketMessagePayloadSize`` (the session uses the
    smaller of it and the client's); ``required_token`` demands ``Authorization: Bearer <token>``
    on the websocket upgrade (HTTP 401 otherwise); ``token_validator(token)`` accepts expiring
    tokens instead (or as well): it returns the token's expiry in Unix seconds (``math.inf``:
    never) or None to refuse it, e.g. :func:`~._tokens.jwt_expiry_validator` (JWTs with
    ``exp``); a session whose token expired gets EAUTHORIZATION_EXPIRED for each new request
    until it sends a valid one with Core ``Authorize`` (each renewal is logged at INFO;
    ``authorize=False`` answers Authorize with EINVALID_MESSAGETYPE, as a server without
    in-session renewal does); ``require_transactions`` refuses writes outside a transaction
    (EINVALID_STATE); ``latency`` (seconds) is slept before handling each incoming message;
    ``log_level`` sets the level of the ``etp_sync.server`` logger;
    ``handshake_timeout`` (seconds) bounds the whole HTTP request head of a new connection (HTTP
    408 after it, however slowly the bytes trickle in).

    Limits against clients (the defaults suit a laptop): ``max_connections`` connections are
    served at once, later ones get HTTP 503; ``request_session_timeout`` (seconds from the
    upgrade) bounds the arrival of the whole RequestSession (the websocket is closed after it);
    ``idle_timeout`` closes a session (CloseSession, then the websocket) that sent nothing for
    that long and has no subscription, and bounds how long one message may take to arrive;
    ``max_pending_bytes`` bounds the unfinished multipart requests of one session
    (ELIMIT_EXCEEDED) and ``pending_timeout`` how long one may wait for its next part
    (EMULTIPART_CANCELLED); ``max_notification_bytes`` bounds the store changes waiting to be
    sent to one session's subscriptions (a session that reads too slowly has them all ended with
    SubscriptionEnded, see :mod:`._notify_queue`; writers are never held back);
    ``max_subscriptions`` bounds the subscriptions of one session (advertised as the
    StoreNotification capability MaxSubscriptionSessionCount; the keys past it get
    ELIMIT_EXCEEDED).

    Limits of the store (used when the server creates it, i.e. without ``store``; None =
    unlimited): ``max_store_bytes`` (dataspaces, objects with their URIs, written array blocks
    and retained deletion records, staged ones included: ELIMIT_EXCEEDED past it),
    ``max_object_bytes`` (one object's XML: EMAXSIZE_EXCEEDED), ``max_array_bytes``
    (one array's declared size: ELIMIT_EXCEEDED), ``transaction_timeout`` (seconds a
    transaction may stay idle before it is rolled back; advertised as TransactionTimeoutPeriod)
    and ``change_retention_period`` (seconds deleted-object records are kept; advertised as
    ChangeRetentionPeriod). See :class:`~.store.Store`.

    ``profile`` picks the server it behaves like: ``"etp12"`` (default: ETP 1.2, and
    open-etp-server's published behaviour where the spec leaves room) or ``"open-etp-server"``
    (its quirks too, including ``require_transactions``); see :mod:`._profile`.

    ``spin_wait`` (seconds, 0 to 0.01; default 0.0002): while the server has a single
    connection, it polls that connection's socket for up to this long after each message before
    it sleeps (from a connection's 13th wait, and while its requests come within it), so that a
    client's next request needs no wake-up (0: sleep at once; see
    :mod:`etp_sync.transport._spin`, and the client's own ``spin_wait``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        required_token: str | None = None,
        token_validator: TokenValidator | None = None,
        authorize: bool = True,
        require_transactions: bool = False,
        latency: float = 0.0,
        log_level: int | str | None = None,
        store: Store | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        request_session_timeout: float = REQUEST_SESSION_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        pending_timeout: float = PENDING_TIMEOUT,
        max_notification_bytes: int = MAX_NOTIFICATION_BYTES,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        max_store_bytes: int | None = DEFAULT_MAX_STORE_BYTES,
        max_object_bytes: int | None = DEFAULT_MAX_OBJECT_BYTES,
        max_array_bytes: int | None = DEFAULT_MAX_ARRAY_BYTES,
        transaction_timeout: float | None = DEFAULT_TRANSACTION_TIMEOUT,
        change_retention_period: float | None = DEFAULT_CHANGE_RETENTION_PERIOD,
        profile: str | ServerProfile | None = None,
        spin_wait: float = DEFAULT_SPIN_WAIT,
    ) -> None:
        self.profile = server_profile(profile)
        self.spin_wait = checked_spin_wait(spin_wait)
        if max_message_size < MIN_MESSAGE_SIZE:
            raise ETPInvalidArgument(f"max_message_size must be at least {MIN_MESSAGE_SIZE} bytes")
        self.handshake_timeout = _positive("handshake_timeout", handshake_timeout)
        self.request_session_timeout = _positive("request_session_timeout", request_session_timeout)
        self.idle_timeout = _positive("idle_timeout", idle_timeout)
        self.max_connections = int(_positive("max_connections", max_connections))
        self.max_pending_bytes = int(_positive("max_pending_bytes", max_pending_bytes))
        self.pending_timeout = _positive("pending_timeout", pending_timeout)
        self.max_notification_bytes = int(
            _positive("max_notification_bytes", max_notification_bytes)
        )
        self.max_subscriptions = int(_positive("max_subscriptions", max_subscriptions))
        self.host = host
        if not 0 <= int(port) <= 65535:
            raise ETPInvalidArgument(f"port must be 0-65535 (0 = any free port), not {port!r}")
        self._requested_port = int(port)
        self.max_message_size = int(max_message_size)
        self.required_token = required_token
        self.tokens = TokenCheck(required_token, token_validator)
        self.authorize = authorize
        self.latency = float(latency)
        if store is None:
            store = Store(
                require_transactions=require_transactions or self.profile.require_transactions,
                import_activities=self.profile.import_activities,
                max_store_bytes=max_store_bytes,
                max_object_bytes=max_object_bytes,
                max_array_bytes=max_array_bytes,
                transaction_timeout=transaction_timeout,
                change_retention_period=change_retention_period,
            )
        self.store = store
        # The one store listener of all the sessions' notification queues.
        self.notifications = ChangeFanOut(store)
        self.instance_id = uuid.uuid4()
        if log_level is not None:
            log.setLevel(log_level)
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Connection] = set()
        self._stopping = False
        self._lock = threading.Lock()
        self._connection_ended = threading.Condition(self._lock)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> EmbeddedServer:
        """Bind and start serving in a background thread; returns self."""
        if self._listener is not None:
            raise RuntimeError("the server is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # create_server sets SO_REUSEADDR (POSIX): a restart on the same port binds at once.
        listener = socket.create_server((self.host, self._requested_port), family=family)
        listener.setblocking(False)
        self._listener = listener
        self._wake = socket.socketpair()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._accept_loop,
            args=(listener, self._wake[0]),
            name=f"etp-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("ETP server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Close every connection, stop listening and join the server's threads (idempotent)."""
        listener, wake, thread = self._listener, self._wake, self._thread
        if listener is None:
            return
        with self._lock:
            self._stopping = True
        if wake is not None:
            with contextlib.suppress(OSError):
                wake[1].send(b"x")
        if thread is not None:
            thread.join(10.0)
        with self._lock:
            connections = list(self._connections)
        # Sessions get a closing handshake (code 1001, in parallel); connections still in their
        # upgrade, and anything not done after STOP_GRACE, are cut.
        closers = []
        for conn in connections:
            session = conn.session
            if session is None:
                conn.cut()
                continue
            closer = threading.Thread(
                target=session.close, args=(1001, "server stopping"), name="etp-server-close"
            )
            closer.start()
            closers.append(closer)
        deadline = time.monotonic() + STOP_GRACE
        for conn in connections:
            if conn.thread is not None:
                conn.thread.join(max(deadline - time.monotonic(), 0.0))
        for conn in connections:
            conn.cut()
        for worker in [*closers, *(c.thread for c in connections if c.thread is not None)]:
            worker.join(10.0)
        with contextlib.suppress(OSError):
            listener.close()
        if wake is not None:
            for end in wake:
                end.close()
        self._listener = None
        self._wake = None
        self._thread = None
        # The memory kept for the next puts is of no use to a server that stopped.
        self.store.release_idle_memory()
        log.info("ETP server stopped")

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._listener is not None

    @property
    def port(self) -> int:
        """The TCP port listened on (the real one when started with port 0)."""
        if self._listener is None:
            raise RuntimeError("the server is not running")
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://<host>:<port>/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    @property
    def session_count(self) -> int:
        """Sessions (websocket connections) currently being served."""
        with self._lock:
            return self._sessions_locked()

    def wait_for_sessions(self, at_most: int, timeout: float) -> bool:
        """Test hook: wait until at most ``at_most`` sessions are served; False after ``timeout``.

        A session counts until its end is complete (transaction rolled back, subscriptions
        gone), so a test that dropped a client waits here instead of polling.
        """
        with self._connection_ended:
            return self._connection_ended.wait_for(
                lambda: self._sessions_locked() <= at_most, timeout
            )

    def _sessions_locked(self) -> int:
        return sum(1 for conn in self._connections if conn.session is not None)

    def expire_tokens(self) -> int:
        """Test hook: the token of every session counts as expired from now on (their next
        requests get EAUTHORIZATION_EXPIRED until they Authorize); returns the count."""
        with self._lock:
            sessions = [conn.session for conn in self._connections if conn.session is not None]
        for session in sessions:
            session.token_expiry = 0.0
        log.info("expired the tokens of %d session(s)", len(sessions))
        return len(sessions)

    def drop_connections(self) -> int:
        """Test hook: cut every client connection abruptly (no close frame); returns the count."""
        with self._lock:
            connections = [conn for conn in self._connections if conn.session is not None]
        for conn in connections:
            conn.cut()
        log.info("dropped %d connection(s)", len(connections))
        return len(connections)

    # -- connections --------------------------------------------------------------------------

    def advertised(self) -> Advertised:
        """The capabilities advertised in OpenSession and the well-known endpoint."""
        return advertised(
            self.store, self.max_message_size, max_subscriptions=self.max_subscriptions
        )

    def check_authorization(self, value: str | None) -> bool:
        """True when ``value`` (an ``Authorization`` header value: ``Bearer <token>`` or the
        token) is acceptable now (see ``required_token`` and ``token_validator``)."""
        return self.tokens.expiry(value) is not None

    def _respond(self, request: Request, token_expiry: float | None) -> Response:
        """The answer to a request head: 101 to upgrade, or a plain HTTP response
        (401 when ``token_expiry`` is None: the credentials were refused)."""
        if token_expiry is None:
            return error_response(
                401, "Unauthorized", (("WWW-Authenticate", 'Bearer realm="etp_sync"'),)
            )
        capabilities = capabilities_response(
            request.target, APPLICATION_NAME, OFFERED_PROTOCOLS, self.advertised()
        )
        if capabilities is not None:
            return capabilities
        if not is_upgrade(request):
            return error_response(404, "Not Found: this server speaks ETP over websocket")
        return upgrade_response(request, ETP_SUBPROTOCOL)

    def _accept_loop(self, listener: socket.socket, wake: socket.socket) -> None:
        """Accept connections until woken by :meth:`stop`: one handler thread each, up to
        ``max_connections``; the others are refused (HTTP 503) by this thread."""
        with selectors.DefaultSelector() as selector:
            refusals = Refusals(selector)
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            try:
                while True:
                    ready = {key.fileobj for key, _ in selector.select(refusals.wait())}
                    if wake in ready:
                        return
                    refusals.service(ready)
                    if listener in ready and not self._accept(listener, refusals):
                        return
            finally:
                refusals.close_all()

    def _accept(self, listener: socket.socket, refusals: Refusals) -> bool:
        """Accept one connection and start its thread (or refuse it); False when stopping."""
        try:
            sock, address = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return True
        except OSError as exc:  # e.g. out of file descriptors: back off a little
            log.warning("accept failed: %s", exc)
            time.sleep(0.1)
            return True
        conn = Connection(sock, address)
        thread = threading.Thread(
            target=self._serve, args=(conn,), name=f"etp-conn-{conn.peer}", daemon=True
        )
        conn.thread = thread
        with self._lock:
            if self._stopping:
                sock.close()
                return False
            full = len(self._connections) >= self.max_connections
            if not full:
                self._connections.add(conn)
        if full:
            log.info(
                "%s: refused with HTTP 503: %d connections open", conn.peer, len(self._connections)
            )
            refusals.add(sock)
            return True
        thread.start()
        return True

    def _serve(self, conn: Connection) -> None:
        """Handler thread of one connection: upgrade, then run the ETP session."""
        try:
            transport = self._upgrade(conn)
            if transport is None:
                return
            session = ServerSession(self, transport, conn.peer, token_expiry=conn.token_expiry)
            with self._lock:
                stopping = self._stopping
                if not stopping:
                    conn.session = session
            if stopping:
                transport.close(1001, "server stopping")
                return
            session.run()
        except Exception:
            log.exception("%s: connection failed", conn.peer)
        finally:
            with self._lock:
                self._connections.discard(conn)
                self._connection_ended.notify_all()
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _upgrade(self, conn: Connection) -> WebSocketTransport | None:
        """Answer the HTTP request; the websocket transport if it was an accepted upgrade.

        Log lines name the peer, the path (no query) and the status, never a header value.
        """
        sock = conn.sock
        deadline = time.monotonic() + self.handshake_timeout
        request: Request | None = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = read_request_head(sock, deadline)
        except TimeoutError:
            reply: Response = error_response(408, "request head not complete in time")
        except OSError as exc:
            log.info("%s: no request: %s", conn.peer, exc or type(exc).__name__)
            return None
        else:
            if not head:
                log.info("%s: closed without a request", conn.peer)
                return None
            parsed = parse_request(head)
            if isinstance(parsed, Response):
                reply = parsed
            else:
                request = parsed
                expiry = self.tokens.expiry(request.get("Authorization"))
                conn.token_expiry = math.inf if expiry is None else expiry
                reply = self._respond(request, expiry)
        what = f"{request.method} {request.path}" if request is not None else "request"
        try:
            sock.settimeout(max(deadline - time.monotonic(), CLOSE_TIMEOUT))
            sock.sendall(reply.encode())
        except OSError as exc:
            log.info("%s: %s: response %d not sent: %s", conn.peer, what, reply.status, exc)
            return None
        if request is None or reply.status != 101:
            log.info("%s: %s refused with HTTP %d", conn.peer, what, reply.status)
            finish_plain(sock)
            return None
        headroom = max(1 << 20, self.max_message_size // 4)
        transport = WebSocketTransport(
            sock,
            url=f"ws://{conn.address}{request.path}",
            subprotocol=ETP_SUBPROTOCOL,
            client=False,
            max_message_size=self.max_message_size + headroom,
            close_timeout=CLOSE_TIMEOUT,
        )
        # a new connection polls once a probe has caught one of its requests (see _spin)
        transport.spin_before_sleeping(self.spin_wait, at_once=False)
        return transport
