"""Opening a client websocket: our own socket, redirects only when asked, the connect timeout."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from etp_sync.errors import ETPTransportError
from etp_sync.transport._websocket import ETP_SUBPROTOCOL, WebSocketTransport

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def _request_headers(conn: socket.socket) -> dict[str, str]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    lines = data.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}


def _accept(conn: socket.socket) -> None:
    key = _request_headers(conn)["sec-websocket-key"]
    digest = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {digest}\r\nSec-WebSocket-Protocol: {ETP_SUBPROTOCOL}\r\n\r\n"
        ).encode()
    )


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """Start one-connection servers on 127.0.0.1; each runs ``handle`` on its connection."""
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(handle: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def run() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed at teardown without a client (the redirect not followed)
                return
            with conn:
                handle(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()
    for thread in threads:
        thread.join(5)


def _redirect_to(port: int) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        _request_headers(conn)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: /etp?port={port}\r\n\r\n".encode())

    return handle


def test_the_transport_owns_the_socket_it_opened(serve: Callable[..., int]) -> None:
    closed = threading.Event()

    def handle(conn: socket.socket) -> None:
        _accept(conn)
        if conn.recv(1) == b"":
            closed.set()

    port = serve(handle)
    transport = WebSocketTransport.connect(f"ws://127.0.0.1:{port}/etp", close_timeout=0.5)
    assert transport.is_open and transport.subprotocol == ETP_SUBPROTOCOL
    transport._shutdown()  # our socket: shutting it down reaches the peer
    assert closed.wait(5)
    transport.close()


def test_redirects_are_followed_only_when_asked(serve: Callable[..., int]) -> None:
    target = serve(_accept)
    port = serve(_redirect_to(target))
    with pytest.raises(ETPTransportError, match="cannot open websocket"):
        WebSocketTransport.connect(f"ws://127.0.0.1:{port}/")


def test_a_followed_redirect_keeps_host_and_scheme(serve: Callable[..., int]) -> None:
    # The relative Location names the same host and port, so the redirecting server must
    # answer the second connection too: it accepts once it has redirected once.
    seen: list[str] = []

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        for step in range(2):
            conn, _ = listener.accept()
            with conn:
                if step == 0:
                    _redirect_to(port)(conn)
                else:
                    _accept(conn)
                    seen.append("upgraded")
                    conn.recv(1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        transport = WebSocketTransport.connect(
            f"ws://127.0.0.1:{port}/", follow_redirects=True, close_timeout=0.5
        )
        assert seen == ["upgraded"]
        transport.close()
    finally:
        listener.close()
        thread.join(5)


def test_the_connect_timeout_bounds_a_silent_server(serve: Callable[..., int]) -> None:
    release = threading.Event()
    port = serve(lambda conn: release.wait(10))
    try:
        with pytest.raises(ETPTransportError, match="timed out"):
            WebSocketTransport.connect(f"ws://127.0.0.1:{port}/", connect_timeout=0.2)
    finally:
        release.set()


def test_a_non_websocket_url_is_refused() -> None:
    with pytest.raises(ETPTransportError):
        WebSocketTransport.connect("http://127.0.0.1:1/")
