"""Two websocket transports joined by a socket pair (no handshake), closed together."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from etp_sync.transport._websocket import WebSocketTransport


@contextmanager
def ws_pair(
    client_options: dict[str, Any] | None = None, server_options: dict[str, Any] | None = None
) -> Iterator[tuple[WebSocketTransport, WebSocketTransport]]:
    """``(client, server)``; on exit both close at once, each answering the other's close
    frame, instead of one waiting out its close timeout for a peer that does not read."""
    a, b = socket.socketpair()
    client = WebSocketTransport(a, **(client_options or {}))
    server = WebSocketTransport(b, client=False, **(server_options or {}))
    try:
        yield client, server
    finally:
        closer = threading.Thread(target=server.close)
        closer.start()
        try:
            client.close()
        finally:
            closer.join()


def send_and_receive(
    sender: WebSocketTransport, receiver: WebSocketTransport, parts: list[Any]
) -> bytes:
    """Send ``parts`` as one message from a thread while ``receiver`` reads it; its payload."""
    thread = threading.Thread(target=sender.send_message, args=(parts,))
    thread.start()
    try:
        got = receiver.recv_message(timeout=30)
    finally:
        thread.join()
    assert got is not None
    return bytes(got)
