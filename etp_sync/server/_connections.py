"""Connections of the embedded server before (and around) their ETP session: the record of one
accepted connection, reading its HTTP request head within a deadline, ending a plain HTTP
exchange without resetting it, and refusing connections over ``max_connections`` from the
accept thread itself (HTTP 503, no thread each).
"""

from __future__ import annotations

import contextlib
import logging
import math
import selectors
import socket
import threading
import time
from collections.abc import Container
from typing import TYPE_CHECKING

from ._http import MAX_REQUEST_HEAD, TLS_HANDSHAKE, error_response

if TYPE_CHECKING:
    from ._session import ServerSession

__all__ = ["CLOSE_TIMEOUT", "Connection", "Refusals", "finish_plain", "read_request_head"]

log = logging.getLogger("etp_sync.server")

MAX_REFUSED = 64  # refused connections whose input is drained at once (the rest: closed)
CLOSE_TIMEOUT = 1.0  # seconds a closing handshake may take
DRAIN_LIMIT = 1 << 20  # bytes read and dropped after an HTTP error reply, before closing


def read_request_head(sock: socket.socket, deadline: float) -> bytes:
    """Read the HTTP request up to and including its blank line, and not one byte further.

    Bytes are peeked, and only those up to the end of the head consumed, so frames a client
    pipelines right after its request stay in the socket for the websocket transport. Returns
    what was read (without the blank line only if the peer closed or the head is too long);
    TimeoutError once ``deadline`` (monotonic) passes, however the bytes trickle in.
    """
    head = bytearray()
    while len(head) <= MAX_REQUEST_HEAD:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request head not complete within the handshake deadline")
        sock.settimeout(remaining)
        peeked = sock.recv(min(4096, MAX_REQUEST_HEAD + 1 - len(head)), socket.MSG_PEEK)
        if not peeked:
            break
        if not head and peeked[:1] == TLS_HANDSHAKE:  # no HTTP: parse_request refuses it
            return sock.recv(len(peeked))
        overlap = min(len(head), 3)  # the blank line may straddle what we have and the peek
        end = (bytes(head[len(head) - overlap :]) + peeked).find(b"\r\n\r\n")
        take = len(peeked) if end < 0 else end + 4 - overlap
        while take:  # those bytes are buffered already: recv returns them at once
            chunk = sock.recv(take)
            if not chunk:
                return bytes(head)
            head += chunk
            take -= len(chunk)
        if end >= 0:
            break
    return bytes(head)


class Connection:
    """A client connection: its socket, handler thread and (after the upgrade) ETP session."""

    __slots__ = ("address", "peer", "session", "sock", "thread", "token_expiry")

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        host, port = address[:2]
        self.peer = f"{host}:{port}"  # for logs
        self.address = f"[{host}]:{port}" if ":" in host else self.peer  # for URLs
        self.thread: threading.Thread | None = None
        self.session: ServerSession | None = None
        self.token_expiry = math.inf  # when the upgrade's token expires (Unix seconds)

    def cut(self) -> None:
        """Shut the socket down at once (no close frame); the handler thread then ends."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class Refusals:
    """Connections over ``max_connections``, refused by the accept thread without a thread each.

    Each gets an HTTP 503 at once (whatever it sent), its write side shut; what it still sends
    is read and dropped for :data:`CLOSE_TIMEOUT` so that closing does not reset the connection
    before the client has read the reply. At most :data:`MAX_REFUSED` are drained at once.
    """

    _REPLY = error_response(
        503, "Service Unavailable: too many connections, try again later", (("Retry-After", "1"),)
    ).encode()

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        self._deadlines: dict[socket.socket, float] = {}

    def add(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.send(self._REPLY)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            log.debug("refused connection: reply not sent: %s", exc)
            sock.close()
            return
        if len(self._deadlines) >= MAX_REFUSED:
            sock.close()
            return
        self._deadlines[sock] = time.monotonic() + CLOSE_TIMEOUT
        self._selector.register(sock, selectors.EVENT_READ)

    def wait(self) -> float | None:
        """Seconds until the next drain deadline (None: nothing to drain)."""
        if not self._deadlines:
            return None
        return max(min(self._deadlines.values()) - time.monotonic(), 0.0)

    def service(self, ready: Container[object]) -> None:
        """Drain the ``ready`` refused sockets; close those at EOF or past their deadline."""
        now = time.monotonic()
        for sock, deadline in list(self._deadlines.items()):
            if sock in ready:
                try:
                    if not sock.recv(65536):
                        self._drop(sock)
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self._drop(sock)
                    continue
            if now >= deadline:
                self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        del self._deadlines[sock]
        self._selector.unregister(sock)
        sock.close()

    def close_all(self) -> None:
        for sock in list(self._deadlines):
            self._drop(sock)


def finish_plain(sock: socket.socket) -> None:
    """End a plain HTTP exchange: no more to send, and what the client still sends is read
    and dropped (up to :data:`DRAIN_LIMIT`, for :data:`CLOSE_TIMEOUT`) so that closing does
    not reset the connection before the client has read the reply."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(CLOSE_TIMEOUT)
        drained = 0
        while drained < DRAIN_LIMIT:
            chunk = sock.recv(65536)
            if not chunk:
                return
            drained += len(chunk)
    except OSError as exc:  # includes the timeout of a client that keeps the socket open
        log.debug("closing after an HTTP reply: %s", exc or type(exc).__name__)
