"""Websocket transport: a library does the HTTP upgrade, we do the framing after it.

The client upgrades with websocket-client (:meth:`WebSocketTransport.connect`, through
:mod:`._connect`); the embedded server with our own handshake, then wraps the accepted socket
(``client=False``).

Why: stock websocket-client masks outgoing frames in pure Python (~64 MB/s) and copies payloads
several times, while ETP moves large arrays. So after the handshake we take the raw (plain or TLS)
socket and frame messages ourselves (RFC 6455; frames in :mod:`._frames`): outgoing payloads are
written by :class:`._frame_writer.FrameWriter`, incoming ones read by
:class:`._frame_reader.FrameReader`; this module holds the connection's state, its locks and
control frames, its base :class:`._closing.ConnectionEnd` the closing handshake and failures.

Threading: any number of threads may call :meth:`WebSocketTransport.send_message` (sends are
serialised by a lock); exactly one thread (the connection's reader) calls
:meth:`WebSocketTransport.recv_message`, which also answers pings and close frames inline.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal, Self

from etp_sync.errors import (
    ETPInvalidArgument,
    ETPProtocolError,
    ETPTransportError,
    WebSocketClosed,
)

from .._timeouts import seconds
from ._cancel import ConnectCancel
from ._closing import _CLOSED, _CLOSING, _OPEN, ConnectionEnd
from ._connect import (
    ETP_SUBPROTOCOL,
    lazy_tls,
    open_websocket,
    peer_is_loopback,
    proxy_for,
    safe_url,
)
from ._frame_reader import FrameReader, Placer, kernel_timeval
from ._frame_writer import FrameWriter
from ._frames import (
    CLOSE_INVALID_PAYLOAD,
    CLOSE_NO_STATUS,
    CLOSE_PROTOCOL_ERROR,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    byte_view,
    sendable_close_code,
)
from ._spin import Spinner

if TYPE_CHECKING:
    from ._frames import BytesLike

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ETP_SUBPROTOCOL",
    "WebSocketClosed",
    "WebSocketTransport",
]

_log = logging.getLogger("etp_sync.transport")

DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 30
"""Default cap on an incoming message (1 GiB); the connection layer lowers it after negotiation."""


_KERNEL_TIMEOUTS: Final = sys.platform.startswith("linux") and hasattr(socket, "MSG_DONTWAIT")
"""Whether plain sockets get kernel send/receive timeouts (see :func:`_arm_stall_timeout`)."""


def _arm_stall_timeout(sock: socket.socket, seconds: float) -> bool:
    """Bound every blocking socket operation by ``seconds``; True when the kernel does it.

    A plain Linux socket stays in blocking mode with the kernel's own receive and send
    timeouts: Python then calls ``recv``/``send`` straight away, where a socket with a timeout
    polls before every call (one more syscall, and one more GIL hand-off, per message; the
    writer sends with ``MSG_DONTWAIT`` and waits for room itself, the reader re-arms the
    receive timeout for its own timed waits). A timeout then shows as ``BlockingIOError``
    rather than ``TimeoutError``. Other sockets (TLS) get a Python timeout.
    """
    if _KERNEL_TIMEOUTS and not isinstance(sock, ssl.SSLSocket):
        timeval = kernel_timeval(seconds)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        except OSError as exc:  # the Python timeout below bounds the socket instead
            _log.debug("kernel socket timeouts not set (%s): using a Python timeout", exc)
        else:
            sock.settimeout(None)
            return True
    sock.settimeout(seconds)
    return False


def _stall_seconds(value: object) -> float:
    """``stall_timeout`` checked: a positive number of seconds (any real number type). Infinity,
    or anything longer than :data:`~etp_sync._timeouts.MAX_WAIT` (about 24.8 days), means no
    stall timeout in practice and is taken as that longest wait the socket layer supports (the
    rule of every timeout, :mod:`etp_sync._timeouts`)."""
    return seconds(value, "stall_timeout")


class WebSocketTransport(ConnectionEnd):
    """One websocket connection carrying binary messages, framed by us on the raw socket.

    Create it with :meth:`connect` (client), or directly on a socket whose upgrade is done.
    ``max_message_size`` (incoming) and ``max_frame_size`` (outgoing; ``None`` sends every
    message as one frame) may be changed at any time, e.g. after ETP capability negotiation.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        url: str = "",
        subprotocol: str | None = None,
        client: bool = True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        stall_timeout: float = 60.0,
        close_timeout: float = 2.0,
    ) -> None:
        """Wrap ``sock``, on which the websocket handshake is already complete.

        ``client`` masks outgoing frames (RFC 6455 requires it of clients). ``stall_timeout``
        bounds how long a frame that has started may stall, and how long a send may make no
        progress, before the connection counts as lost: a positive number of seconds, where
        ``math.inf`` (or anything over about 24.8 days, the longest wait the socket layer
        takes) means no stall timeout in practice and is stored as that longest wait;
        anything else raises ETPInvalidArgument. ``close_timeout`` bounds the closing
        handshake.
        """
        stall = _stall_seconds(stall_timeout)
        self._sock = sock
        self._safe_url = safe_url(url) if url else "<socket>"
        self.subprotocol = subprotocol
        self.max_message_size = int(max_message_size)
        self.stall_timeout = stall
        self.close_timeout = float(close_timeout)
        kernel_timeouts = _arm_stall_timeout(sock, stall)

        self._state_lock = threading.Lock()
        self._state: str = _OPEN
        self._broken: str | None = None  # why the connection is unusable, when it failed
        self._close_info: tuple[int, str, bool] | None = None  # (code, reason, by_peer)
        self._peer_closed = threading.Event()

        self._writer = FrameWriter(
            sock,
            masked=client,
            max_frame_size=max_frame_size,
            stall_timeout=self.stall_timeout,
            safe_url=self._safe_url,
            state=lambda: self._state,
            check=self._check_can_send,
            lost=self._lost,
        )
        self._last_pong: float | None = None
        self.direct_loopback = False
        """Set by :meth:`connect`: the server was reached on a loopback address (this host)
        without a proxy, so bytes cost no network (a session then offers no gzip by default)."""

        self._recv_lock = threading.Lock()
        self._reader = FrameReader(
            sock,
            stall_timeout=self.stall_timeout,
            safe_url=self._safe_url,
            fail=self._fail,
            lost=self._lost,
            kernel_timeouts=kernel_timeouts,
            masked_peer=not client,
        )
        self.placer: Placer | None = None
        """Set by the reader's owner: where parts of incoming messages may go (see Placer)."""

    # ---------------------------------------------------------------- opening

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        connect_timeout: float = 30.0,
        verify: bool = True,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        follow_redirects: bool = False,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        stall_timeout: float = 60.0,
        close_timeout: float = 2.0,
        proxy: str | Literal[False] | None = None,
        cancel: ConnectCancel | None = None,
    ) -> WebSocketTransport:
        """Open a websocket to ``url`` (ws:// or wss://) with subprotocol ``etp12.energistics.org``.

        ``headers`` go on the upgrade request (e.g. ``Authorization: Bearer ...``,
        ``data-partition-id``); their values never appear in logs, reprs or errors. TLS verifies
        the server by default (system CAs, or ``ca_file``); ``verify=False`` disables it, and
        ``ssl_context`` replaces all TLS settings. Redirects are not followed unless asked, since
        that would resend the credentials to another address. ``connect_timeout`` bounds the
        whole opening (TCP, TLS, upgrade): past it :class:`~etp_sync.errors.ETPConnectTimeout`.
        ``proxy`` (``http://[user:password@]host:port``) tunnels the connection through an HTTP
        proxy (``CONNECT``); None takes it from the environment (see :func:`proxy_for`), False
        goes direct. ``cancel`` lets another thread stop the opening (see :mod:`._cancel`).

        A refused upgrade raises an error that says what to check, in one line (never the
        answer's whole body): HTTP 401/403 :class:`~etp_sync.errors.ETPAuthorizationError`,
        an ordinary web page "not an ETP endpoint", a refused TCP connection "is the server
        running?".
        """
        _stall_seconds(stall_timeout)  # a bad value is refused before dialling
        tls = lazy_tls(verify, ca_file, ssl_context)
        sock = open_websocket(url, headers, connect_timeout, tls, follow_redirects, proxy, cancel)
        transport = cls(
            sock,
            url=url,
            subprotocol=ETP_SUBPROTOCOL,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            stall_timeout=stall_timeout,
            close_timeout=close_timeout,
        )
        # After a redirect the peer may be another host's, through a proxy: not known local.
        transport.direct_loopback = (
            not follow_redirects and proxy_for(url, proxy) is None and peer_is_loopback(sock)
        )
        return transport

    # ---------------------------------------------------------------- info

    @property
    def url(self) -> str:
        """The URL without userinfo, query or fragment."""
        return self._safe_url

    @property
    def state(self) -> str:
        """``"open"``, ``"closing"`` or ``"closed"``."""
        return self._state

    @property
    def is_open(self) -> bool:
        """True until a closing handshake starts or the connection fails."""
        return self._state == _OPEN

    @property
    def max_frame_size(self) -> int | None:
        """The largest outgoing frame payload (None: every message goes as one frame)."""
        return self._writer.max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int | None) -> None:
        self._writer.max_frame_size = value

    @property
    def last_pong(self) -> float | None:
        """``time.monotonic()`` of the last pong frame received, if any."""
        return self._last_pong

    def __repr__(self) -> str:
        return f"<WebSocketTransport {self._safe_url} {self._state}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- sending

    def send_message(
        self, parts: Sequence[BytesLike] | BytesLike, *, deadline: float | None = None
    ) -> None:
        """Send one binary message whose payload is the concatenation of ``parts``.

        The message goes as a single FIN frame (or as frames of at most ``max_frame_size``),
        masked with a fresh random key straight into the reused send buffer, at most 1 MiB at
        a time, each piece sent before the next is masked: each part is read exactly once, and
        the buffer stays small whatever the message. Thread-safe; the buffer of a connection
        that failed is released.

        ``deadline`` (a ``time.monotonic()`` value) bounds the whole send, the wait for another
        thread's send included: past it :class:`~etp_sync.errors.ETPWriteTimeout` is raised.
        If part of the message had gone out the connection is closed, since a half-sent frame
        cannot be taken back; otherwise it stays usable.
        """
        seq: Sequence[BytesLike]
        # A list or tuple holds parts; anything else is one buffer (bytes, numpy array, ...).
        seq = parts if isinstance(parts, (list, tuple)) else (parts,)
        views = [byte_view(p) for p in seq]
        self._writer.send(OP_BINARY, views, sum(v.nbytes for v in views), deadline)

    def send_counted(
        self, parts: Sequence[bytes | bytearray], size: int, *, deadline: float | None = None
    ) -> None:
        """:meth:`send_message` for parts that are all ``bytes`` or ``bytearray``, ``size``
        bytes together (the caller counted them): they go as they are, without a view of each
        (a request's header and body: the common, short case)."""
        self._writer.send(OP_BINARY, parts, size, deadline)

    def send_batch(
        self, messages: Sequence[Sequence[bytes | bytearray]], *, deadline: float | None = None
    ) -> None:
        """Send several binary messages, each given by its parts (``bytes`` or ``bytearray``)
        and shorter than 64 KiB, written together: one ``send`` when the socket takes them.
        ``deadline`` as for :meth:`send_message`."""
        if any(sum(len(p) for p in parts) >= 1 << 16 for parts in messages):
            raise ETPInvalidArgument("send_batch takes messages shorter than 64 KiB")
        self._writer.send_batch(OP_BINARY, messages, deadline)

    @property
    def message_ready(self) -> bool:
        """Whether the next message is already whole in the read-ahead buffer, so that the next
        :meth:`recv_data` returns it at once (a peer's pipelined requests). Reader thread only."""
        return self._reader.message_ready

    def ping(self, payload: bytes = b"") -> None:
        """Send a websocket ping; the pong's arrival time shows in :attr:`last_pong`."""
        if len(payload) > 125:
            raise ETPInvalidArgument("a ping payload is at most 125 bytes")
        self._writer.send(OP_PING, [memoryview(payload)], len(payload))

    def _check_can_send(self, opcode: int) -> None:
        """Raise unless the state allows sending a frame with ``opcode`` (send lock held)."""
        state = self._state
        if state == _OPEN:
            return
        if state == _CLOSING and opcode == OP_CLOSE and not self._writer.close_sent:
            return
        raise self._closed_error()

    # ---------------------------------------------------------------- receiving

    def recv_message(self, timeout: float | None = None) -> bytearray | None:
        """Return the payload of the next data message, or None if ``timeout`` s pass first.

        Only one thread may call this. The payload is a fresh bytearray of exactly the message
        size, received straight into; it grows with the bytes that arrive (at most doubling), not
        to the length a frame header announces. Pings are answered and pongs noted on the way.
        ``None`` is returned only when no byte of a new frame arrived in time; a frame that has
        started is read to its end (stalls beyond ``stall_timeout`` count as a lost connection).

        Raises :class:`WebSocketClosed` when the peer closes (or we did), ETPConnectionLost on
        socket errors or EOF, ETPProtocolError on a framing violation or a message larger than
        ``max_message_size`` (the connection is then closed). Text messages are returned like
        binary ones, as their raw UTF-8 bytes; :meth:`recv_data` tells them apart.
        """
        received = self.recv_data(timeout)
        return None if received is None else received[0]

    def recv_data(
        self, timeout: float | None = None, *, deadline: float | None = None
    ) -> tuple[bytearray, bool] | None:
        """Like :meth:`recv_message`, but return ``(payload, is_text)``.

        ``is_text`` is True when the message came as a text message (opcode 1); its payload is
        then the raw bytes, not checked to be UTF-8. ``deadline`` (a ``time.monotonic()``
        value) bounds a message that has started, however slowly its bytes trickle in: past it
        the connection is closed (code 1008) and ETPProtocolError raised.
        """
        with self._recv_lock:
            self._reader.message_deadline = deadline
            try:
                return self._recv_locked(timeout)
            finally:
                self._reader.message_deadline = None
                if self._state == _CLOSED:
                    self._close_socket()

    @property
    def reads_bounded(self) -> bool:
        """Whether :meth:`recv_bounded` may be used: not over TLS, where bytes the socket has
        may be half a record that one more receive would wait for."""
        return not isinstance(self._sock, ssl.SSLSocket)

    def spin_before_sleeping(self, seconds: float, *, at_once: bool = True) -> None:
        """Make :meth:`recv_bounded` (a client's), or the wait for a frame (a server's), poll
        the socket for up to ``seconds`` before it sleeps (0: sleep at once); see
        :mod:`._spin` for why, and where it does not."""
        self._reader.spinner = Spinner(seconds, at_once=at_once) if seconds > 0 else None

    @property
    def buffered(self) -> bool:
        """Whether received bytes wait in the read-ahead buffer (the start of a message)."""
        reader = self._reader
        return reader._rend > reader._rpos  # FrameReader.buffered, inline

    def recv_bounded(self, deadline: float | None) -> bytearray | Literal[False] | None:
        """The next data message if it is a small binary one, received by ``deadline`` (a
        ``time.monotonic()`` value; None: no limit), which this never outlives; None when it
        has not arrived whole by then (what came is kept); False when the next message must be
        received with :meth:`recv_data` (large, fragmented or text), its first bytes kept.
        Control frames on the way are handled as by :meth:`recv_data`.

        For a caller that reads while it waits for its reply (see
        :mod:`etp_sync.session._engine_receiving`); not over TLS (see :attr:`reads_bounded`).
        """
        lock = self._recv_lock
        if lock.acquire(False):  # free (a free lock is taken without a timed wait)
            pass
        elif deadline is None:
            lock.acquire()
        elif not lock.acquire(True, max(deadline - time.monotonic(), 0.0)):
            return None
        try:
            if self._state == _CLOSED:
                raise self._closed_error()
            return self._reader.read_bounded(
                deadline, self.max_message_size, self._on_control_frame
            )
        finally:
            if self._state == _CLOSED:
                self._close_socket()
            self._recv_lock.release()

    def _recv_locked(self, timeout: float | None) -> tuple[bytearray, bool] | None:
        """Body of :meth:`recv_data` (receive lock held)."""
        if self._state == _CLOSED:
            raise self._closed_error()
        return self._reader.read_message(
            timeout, self.max_message_size, self.placer, self._on_control_frame
        )

    def _on_control_frame(self, opcode: int, payload: bytes) -> None:
        """Answer a ping, note a pong, or raise for the peer's close frame (or an unknown
        control opcode)."""
        if opcode == OP_PING:
            self._writer.queue_pong(payload)
        elif opcode == OP_PONG:
            self._last_pong = time.monotonic()
        elif opcode == OP_CLOSE:
            raise self._on_close_frame(payload)
        else:
            raise self._fail(CLOSE_PROTOCOL_ERROR, f"unknown control opcode {opcode:#x}")

    def _on_close_frame(self, payload: bytes) -> ETPTransportError | ETPProtocolError:
        """Handle the peer's close frame: reply if it started the handshake; return the error.
        A malformed one (one byte, a code not allowed on the wire, a reason that is not
        UTF-8) fails the connection as RFC 6455 says (1002, 1007): it is never echoed."""
        code, reason = CLOSE_NO_STATUS, ""
        if payload:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 0
            if not sendable_close_code(code):  # one byte reads as code 0
                self._peer_closed.set()
                what = f"code {code}" if code else "a payload of one byte"
                return self._fail(CLOSE_PROTOCOL_ERROR, f"a close frame with {what} (RFC 6455)")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._peer_closed.set()
                return self._fail(CLOSE_INVALID_PAYLOAD, "the close frame's reason is not UTF-8")
        with self._state_lock:
            by_peer = self._state == _OPEN
            if by_peer:
                self._state = _CLOSING
            self._close_info = (code, reason, by_peer)
        self._peer_closed.set()
        _log.debug("close frame from %s: code %d %r", self._safe_url, code, reason)
        if by_peer:
            self._writer.send_close(payload[:2], self.close_timeout)
            self._shutdown()
        return self._closed_error()
