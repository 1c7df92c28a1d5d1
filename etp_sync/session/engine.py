"""The ETP session engine: one session over one websocket, with a reader thread, a dispatch
thread, and correlation.

One thread at a time receives: the reader thread, or a caller waiting for its reply while
nobody else reads (it then reads in its own thread, within its deadline, and spares the
hand-over between threads: see :mod:`._engine_receiving`). Whoever reads decodes every frame
and routes responses, by correlation id, into the queue of the request waiting for them
(kazoo-style); everything else (notifications, unsolicited errors) goes to a separate dispatch
thread (started with the first one) so that a slow user callback never stalls the reading.
Pings are answered (queued, never waiting for another thread's send:
:meth:`SessionEngine._reply`), CloseSession honoured. Any thread may send: a message's id is
taken under the send-order lock held until it is written.

The engine is built in layers, one module each: :mod:`._engine_state` (its attributes, limits
and failure), :mod:`._engine_sending` (the send half), :mod:`._engine_receiving` (the reader and
dispatch threads), and this module (opening with the handshake, and closing).

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
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..errors import (
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPError,
    ETPProtocolError,
    ETPReadTimeout,
    ETPWriteTimeout,
)
from ..protocol.correlation import Correlator, MessageIds, ReplyTarget
from ..protocol.negotiation import ServerInfo, read_open_session
from ..schema import Record, messages
from ..transport._cancel import ConnectCancel
from ..transport._connect import safe_url
from ..transport._spin import DEFAULT_SPIN_WAIT
from ..transport._websocket import WebSocketTransport
from ._engine_receiving import EngineReceiver
from ._engine_sending import MAX_QUEUED_REPLIES
from ._engine_state import Handler, _Kind

log = logging.getLogger("etp_sync.session.engine")

RECEIVE_HEADROOM = 1 << 20  # replies may slightly exceed the advertised limit


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


class SessionEngine(EngineReceiver):
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
        spin_wait: float = DEFAULT_SPIN_WAIT,
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
        self._turn_lock = threading.Lock()
        self._turn = threading.Condition(self._turn_lock)
        self._reading = False
        self._wanted = False
        self._active = False
        self._direct = transport.reads_bounded
        if self._direct:
            transport.spin_before_sleeping(spin_wait)
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
        cancel: ConnectCancel | None = None,
        spin_wait: float = DEFAULT_SPIN_WAIT,
    ) -> SessionEngine:
        """Open the websocket and negotiate the ETP session (raises on refusal).

        Takes at most ``connect_timeout`` seconds, and never past ``deadline`` (a
        ``time.monotonic()`` value): then :class:`~etp_sync.errors.ETPConnectTimeout`.
        ``trace`` logs every message (see :mod:`etp_sync.session._trace`); ``proxy`` is the
        transport's (an HTTP proxy URL; None: from the environment; False: none).
        ``request_session(offer_gzip)`` builds the RequestSession once the socket is open:
        ``compression`` None offers gzip unless the server is on this host, reached without a
        proxy (see :func:`offers_gzip`). ``cancel`` lets another thread stop the opening (a
        session closed meanwhile): the step in progress fails at once, the websocket upgrade's
        sockets shut down, the handshake's transport aborted. ``spin_wait``: seconds a caller
        reading for itself polls before it sleeps (see :mod:`etp_sync.transport._spin`).
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
            cancel=cancel,
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
            spin_wait=spin_wait,
        )
        try:
            with cancel.watching(transport.abort) if cancel else contextlib.nullcontext():
                pending = conn.send(request_session(gzip), deadline=until)
                assert pending is not None
                # Started while the server reads RequestSession; the dispatch thread starts
                # with the first unsolicited message.
                conn._reader.start()
                response = pending.result(deadline=until)
        except (ETPReadTimeout, ETPWriteTimeout) as exc:
            conn.close(send_close_session=False, abort=True)
            raise ETPConnectTimeout(
                f"no ETP session with {safe_url(url)} within {connect_timeout:g} s: {exc.message}"
            ) from None
        except BaseException:
            # Cancelled: no closing handshake with a peer we are leaving (it may be silent).
            conn.close(send_close_session=False, abort=cancel is not None and cancel.cancelled)
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

    # -- closing -------------------------------------------------------------------------------

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
