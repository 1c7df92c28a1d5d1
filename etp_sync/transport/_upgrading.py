"""Our socket as websocket-client sees it during the HTTP upgrade (see
:func:`~etp_sync.transport._connect.open_websocket`): every operation bounded by the upgrade's
deadline, the answer's head read without taking a byte past it, and read in C once it is all in.
"""

from __future__ import annotations

import io
import socket
import ssl
import time
from typing import Any

__all__ = ["UpgradingSocket"]


def _switching(head: bytes) -> bool:
    """Whether an answer's head is a 101 (Switching Protocols) one: a websocket's upgrade."""
    return head.split(None, 2)[1:2] == [b"101"]


class UpgradingSocket:
    """Our socket as websocket-client sees it during the upgrade, bounded by ``deadline``.

    Every ``recv`` and ``send`` waits at most until the deadline (then TimeoutError), so a peer
    that trickles its answer cannot stretch the handshake past it. websocket-client reads the
    answer's head one byte per ``recv``: on a plain socket those bytes come from a buffer,
    filled by reads that never take a byte past the line that ends the head (found by peeking
    first, see :meth:`_head_part`), so what follows stays in the socket for the transport.
    Once the whole head is in that buffer, ``recv`` and ``gettimeout`` become C callables (see
    :meth:`recv`). Anything else is the socket's own.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._peek = not isinstance(sock, ssl.SSLSocket)  # TLS reads cannot peek
        self._buffer = b""
        self._line = b""  # the start of a line taken without its end ("x": not blank)
        self._whole = False  # the line ending the head has been found
        self._upgraded: bool | None = None  # a 101 answer (known from its first bytes)

    def _bound(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the upgrade did not complete by its deadline")
        self._sock.settimeout(left)

    def settimeout(self, timeout: float | None) -> None:
        """Ignored: each operation is bounded by the deadline instead."""

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()  # asked before every one-byte read

    def send(self, data: bytes, flags: int = 0) -> int:
        self._bound()
        return self._sock.send(data, flags)

    def recv(self, size: int) -> bytes:
        if not self._peek:
            self._bound()
            return self._sock.recv(size)
        if not self._buffer:
            self._bound()
            peeked = self._sock.recv(4096, socket.MSG_PEEK)
            if not peeked:
                return b""
            take = self._head_part(peeked)
            self._buffer = self._sock.recv(take)
            if self._upgraded is None:
                self._upgraded = _switching(self._buffer)
            if self._whole and self._upgraded and len(self._buffer) == take:
                # The rest of a 101 answer's head is here, and nothing follows it for
                # websocket-client to read: its one-byte reads go straight to a C reader, and
                # gettimeout() answering 0.0 (float() is 0.0, a C call too) takes them down its
                # path with no retry wrapper. That was about a tenth of a connect's time:
                # 200 bytes read one Python call chain at a time. (Any other answer may have a
                # body, read from the socket after the head: the plain path serves it.)
                self.recv = io.BytesIO(self._buffer).read  # type: ignore[method-assign,assignment]
                self.gettimeout = float  # type: ignore[method-assign]
                self._buffer = b""
                return self.recv(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _head_part(self, peeked: bytes) -> int:
        """How many of the ``peeked`` bytes to take: through the first line that ends the
        head as websocket-client reads it (one that strips to nothing: CRLF, a bare LF, only
        spaces), else all of them."""
        start = 0
        while (end := peeked.find(b"\n", start)) >= 0:
            line, self._line = self._line + peeked[start:end], b""
            if not line.decode("utf-8", "replace").strip():
                self._whole = True
                return end + 1
            start = end + 1
        line = self._line + peeked[start:]
        # A line that cannot end blank any more is remembered as such, not kept growing.
        self._line = b"x" if len(line) > 64 and line.decode("utf-8", "ignore").strip() else line
        return len(peeked)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
