"""How a websocket connection ends, the base of :class:`~._websocket.WebSocketTransport`: the
closing handshake (:meth:`ConnectionEnd.close`), an abort, the failures (a lost socket; a
protocol violation, answered with a close frame) and the release of the socket once no thread
uses it. The connection's state (``open``, ``closing``, ``closed``) changes under its state
lock; the transport's ``__init__`` sets the attributes declared here."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Final

from etp_sync.errors import (
    ETPConnectionLost,
    ETPError,
    ETPInvalidArgument,
    ETPProtocolError,
    ETPTransportError,
    WebSocketClosed,
)

from ._frame_reader import FrameReader
from ._frame_writer import FrameWriter
from ._frames import CLOSE_NO_STATUS, CLOSE_NORMAL, sendable_close_code

_log = logging.getLogger("etp_sync.transport")

_OPEN: Final = "open"
_CLOSING: Final = "closing"
_CLOSED: Final = "closed"
_CLOSE_REASON_MAX: Final = 123


class ConnectionEnd:
    """Closing and failing a websocket connection (see the module docstring)."""

    _sock: socket.socket
    _safe_url: str
    close_timeout: float
    _state_lock: threading.Lock
    _state: str
    _broken: str | None  # why the connection is unusable, when it failed
    _close_info: tuple[int, str, bool] | None  # (code, reason, by_peer)
    _peer_closed: threading.Event
    _writer: FrameWriter
    _reader: FrameReader
    _recv_lock: threading.Lock
    # The transport's receive (receive lock held): draining until the peer's close frame.
    _recv_locked: Callable[[float | None], tuple[bytearray, bool] | None]

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close the websocket: send a close frame, wait briefly for the peer's, close the socket.

        Idempotent and safe from any thread; never raises because the connection is already
        dead (such trouble is logged at debug level). Waits at most about ``close_timeout``.
        """
        if not sendable_close_code(code):
            raise ETPInvalidArgument(f"close code {code} cannot be sent")
        with self._state_lock:
            if self._state != _OPEN:
                if self._state == _CLOSED:
                    self._try_close_socket(0.0)
                return
            self._state = _CLOSING
        deadline = time.monotonic() + self.close_timeout
        raw_reason = reason.encode("utf-8")[:_CLOSE_REASON_MAX]
        raw_reason = raw_reason.decode("utf-8", "ignore").encode("utf-8")
        if self._close_info is None:
            self._close_info = (code, reason, False)
        _log.debug("closing websocket to %s (code %d)", self._safe_url, code)
        # The thread receiving (if any) may see the peer's close frame, or stop receiving first
        # (a caller whose reply came): then this one reads on until the close frame.
        sent = self._writer.send_close(struct.pack("!H", code) + raw_reason, self.close_timeout)
        if sent and self._recv_lock.acquire(True, max(deadline - time.monotonic(), 0.0)):
            try:
                if not self._peer_closed.is_set():
                    self._drain_until_close(deadline)
            finally:
                self._recv_lock.release()
        self._shutdown()
        self._try_close_socket(max(deadline - time.monotonic(), 0.2))

    def abort(self) -> None:
        """Drop the connection at once, without the closing handshake (for a peer that stopped
        answering, when no time is left to wait for it): the socket is shut down, which wakes a
        blocked reader, and closed. Idempotent."""
        self._shutdown()
        self._try_close_socket(0.0)

    def _drain_until_close(self, deadline: float) -> None:
        """Read (and drop) messages until the peer's close frame, EOF or ``deadline``."""
        while True:
            try:
                received = self._recv_locked(max(deadline - time.monotonic(), 0.0))
            except ETPError:
                return
            if received is None:
                return

    def _try_close_socket(self, wait: float) -> None:
        """Close the socket now unless the reader is inside recv (it then closes it on exit)."""
        if self._recv_lock.acquire(timeout=wait):
            try:
                self._close_socket()
            finally:
                self._recv_lock.release()

    def _shutdown(self) -> None:
        """Mark closed and shut the socket down, waking any thread blocked on it; the send
        buffer is released at once unless a send is using it (which then releases it)."""
        with self._state_lock:
            self._state = _CLOSED
        self._writer.release_buffer_if_idle()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            _log.debug("shutdown of socket to %s: %s", self._safe_url, exc)

    def _close_socket(self) -> None:
        """Release the file descriptor (receive lock held, or no reader running) once no send
        uses it: now, or when the send in progress ends (the socket is shut down already, so
        it ends at once; see :meth:`FrameWriter.close_when_idle`)."""
        self._reader.unregister()
        self._writer.close_when_idle(self._release_socket)

    def _release_socket(self) -> None:
        try:
            self._sock.close()
        except OSError as exc:
            _log.debug("close of socket to %s: %s", self._safe_url, exc)

    def _lost(self, message: str) -> ETPTransportError:
        """Record a socket failure; return the exception to raise (closed if we were closing)."""
        with self._state_lock:
            was_open = self._state == _OPEN
            if was_open:
                self._broken = message
        if not was_open:
            return self._closed_error()
        _log.debug("connection lost: %s", message)
        self._shutdown()
        return ETPConnectionLost(message)

    def _fail(self, close_code: int, message: str) -> ETPProtocolError:
        """Close the connection after a protocol violation; return the error to raise."""
        with self._state_lock:
            was_open = self._state == _OPEN
            if was_open:
                self._state = _CLOSING
        if was_open:
            _log.debug("protocol error from %s: %s", self._safe_url, message)
            if self._writer.send_close(struct.pack("!H", close_code), min(self.close_timeout, 1.0)):
                self._linger(self.close_timeout)
            self._broken = f"connection closed after a protocol error: {message}"
            self._shutdown()
        return ETPProtocolError(message)

    def _linger(self, timeout: float) -> None:
        """Half-close after our close frame, then drop incoming bytes until EOF or ``timeout``.

        The peer may still be sending (e.g. the rest of a message too big for us): closing with
        unread bytes would reset the connection, failing its send and possibly destroying our
        close frame before it reads it. Called by the reader, with the receive lock held.
        """
        deadline = time.monotonic() + timeout
        try:
            self._sock.shutdown(socket.SHUT_WR)
            self._reader.drop_input(deadline)
        except OSError as exc:  # includes the timeout
            _log.debug("lingering close of %s: %s", self._safe_url, exc)

    def _closed_error(self) -> ETPTransportError:
        """The exception for using a connection that is closing or closed."""
        if self._broken is not None:
            return ETPConnectionLost(self._broken)
        info = self._close_info
        if info is None:
            return WebSocketClosed("websocket is closed", CLOSE_NO_STATUS, "", False)
        code, reason, by_peer = info
        who = "by peer" if by_peer else "locally"
        text = f"websocket closed {who} (code {code}{': ' + reason if reason else ''})"
        return WebSocketClosed(text, code, reason, by_peer)
