"""The embedded ETP 1.2 store server: a websockets sync server in a background thread.

Usage::

    with EmbeddedServer() as server:          # a free port on 127.0.0.1
        session = ETPSession(server.url)
        ...

or as a pytest fixture (``yield`` the started server, ``stop()`` afterwards). One handler thread
per connection (websockets' sync model); the :class:`~._store.Store` behind it is shared by all
sessions and exposed as :attr:`EmbeddedServer.store`.
"""

from __future__ import annotations

import contextlib
import hmac
import http
import logging
import socket
import threading
import uuid
from types import TracebackType
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from ._capabilities import WELL_KNOWN_PATH, capabilities_response
from ._session import APPLICATION_NAME, OFFERED_PROTOCOLS, ServerSession
from ._store import Store

__all__ = ["ETP_SUBPROTOCOL", "EmbeddedServer"]

log = logging.getLogger("etp_sync.server")

ETP_SUBPROTOCOL = "etp12.energistics.org"
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
STOP_GRACE = 2.0  # seconds stop() lets connections close cleanly before cutting them


class _RedactCredentials(logging.Filter):
    """Keep bearer tokens out of websockets' debug logs of the upgrade request headers."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == "authorization":
            record.args = (args[0], "<redacted>")
        return True


_WS_LOG = logging.getLogger("etp_sync.server.websockets")
_WS_LOG.addFilter(_RedactCredentials())


class EmbeddedServer:
    """An in-memory ETP 1.2 store reachable over a real websocket.

    ``max_message_size`` is the server's ``MaxWebSocketMessagePayloadSize`` (the session uses the
    smaller of it and the client's); ``required_token`` demands ``Authorization: Bearer <token>``
    on the websocket upgrade (HTTP 401 otherwise); ``require_transactions`` refuses writes
    outside a transaction (EINVALID_STATE); ``latency`` (seconds) is slept before handling each
    incoming message; ``log_level`` sets the level of the ``etp_sync.server`` logger.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        required_token: str | None = None,
        require_transactions: bool = False,
        latency: float = 0.0,
        log_level: int | str | None = None,
        store: Store | None = None,
    ) -> None:
        if max_message_size < 4096:
            raise ValueError("max_message_size must be at least 4096 bytes")
        self.host = host
        self._requested_port = int(port)
        self.max_message_size = int(max_message_size)
        self.required_token = required_token
        self.latency = float(latency)
        if store is None:
            store = Store(require_transactions=require_transactions)
        self.store = store
        self.instance_id = uuid.uuid4()
        if log_level is not None:
            log.setLevel(log_level)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._sessions: set[ServerSession] = set()
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> EmbeddedServer:
        """Bind and start serving in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the server is already running")
        headroom = max(1 << 20, self.max_message_size // 4)
        self._server = serve(
            self._handle,
            self.host,
            self._requested_port,
            subprotocols=[Subprotocol(ETP_SUBPROTOCOL)],
            compression=None,
            process_request=self._process_request,
            max_size=self.max_message_size + headroom,
            max_queue=64,
            ping_interval=None,
            close_timeout=1.0,
            logger=_WS_LOG,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"etp-server-{self.port}", daemon=True
        )
        self._thread.start()
        log.info("ETP server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Close every connection, stop listening and join the server's threads (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        # Server.shutdown() closes open connections and waits for every handler; a peer that
        # never completes the closing handshake would make it wait forever, so cut those.
        closer = threading.Thread(target=server.shutdown, name="etp-server-shutdown")
        closer.start()
        closer.join(STOP_GRACE)
        while closer.is_alive():
            with self._lock:
                sessions = list(self._sessions)
            for session in sessions:
                session.abort()
            closer.join(0.1)
        if thread is not None:
            thread.join(10.0)
        self._server = None
        self._thread = None
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
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port listened on (the real one when started with port 0)."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://<host>:<port>/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    @property
    def session_count(self) -> int:
        """Sessions (websocket connections) currently being served."""
        with self._lock:
            return len(self._sessions)

    def drop_connections(self) -> int:
        """Test hook: cut every client connection abruptly (no close frame); returns the count."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            with contextlib.suppress(OSError):
                session.connection.socket.shutdown(socket.SHUT_RDWR)
        log.info("dropped %d connection(s)", len(sessions))
        return len(sessions)

    # -- connections --------------------------------------------------------------------------

    def check_authorization(self, value: str | None) -> bool:
        """True when no token is required or ``value`` is ``Bearer <token>`` (or the token)."""
        if self.required_token is None:
            return True
        if not value:
            return False
        token = value[7:] if value[:7].lower() == "bearer " else value
        return hmac.compare_digest(token.strip().encode(), self.required_token.encode())

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.check_authorization(request.headers.get("Authorization")):
            if request.path.startswith(WELL_KNOWN_PATH):
                return capabilities_response(
                    request.path, APPLICATION_NAME, OFFERED_PROTOCOLS, self.max_message_size
                )
            return None
        log.info("refused a connection: missing or wrong bearer token")
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        headers: Any = response.headers
        if isinstance(headers, Headers):
            headers["WWW-Authenticate"] = 'Bearer realm="etp_sync"'
        return response

    def _handle(self, connection: ServerConnection) -> None:
        session = ServerSession(self, connection)
        with self._lock:
            self._sessions.add(session)
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.discard(session)
