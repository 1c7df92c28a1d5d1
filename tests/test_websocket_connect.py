"""Opening a client websocket: our own socket, redirects only when asked, the connect timeout
(the host name lookup included)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_websocket import RawPeer

from etp_sync.errors import ETPConnectTimeout, ETPInvalidArgument, ETPTransportError
from etp_sync.transport._connect import _resolve
from etp_sync.transport._websocket import ETP_SUBPROTOCOL, WebSocketTransport


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
            except OSError:  # closed at teardown without a client
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


def _redirect_to(location: str) -> Callable[[socket.socket], None]:
    """A server answering the upgrade request with ``302 Found`` to ``location``."""

    def handle(conn: socket.socket) -> None:
        with conn.makefile("rb") as request:
            for line in request:
                if line in (b"\r\n", b""):
                    break
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n".encode())

    return handle


def test_the_transport_owns_the_socket_it_opened() -> None:
    closed = threading.Event()

    def script(conn: socket.socket) -> None:
        if conn.recv(1) == b"":
            closed.set()

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url, close_timeout=0.5)
        assert transport.is_open and transport.subprotocol == ETP_SUBPROTOCOL
        transport._shutdown()  # our socket: shutting it down reaches the peer
        assert closed.wait(5)
        transport.close()


def test_redirects_are_not_followed_unless_asked(serve: Callable[..., int]) -> None:
    with RawPeer(lambda conn: None) as peer:
        port = serve(_redirect_to(peer.url))
        with pytest.raises(ETPTransportError, match=r"redirects to .* \(not followed"):
            WebSocketTransport.connect(f"ws://127.0.0.1:{port}/")


def test_a_followed_redirect_opens_our_socket_to_the_new_location(
    serve: Callable[..., int],
) -> None:
    upgraded = threading.Event()
    with RawPeer(lambda conn: (upgraded.set(), conn.recv(1))) as peer:
        port = serve(_redirect_to(peer.url))
        transport = WebSocketTransport.connect(
            f"ws://127.0.0.1:{port}/", follow_redirects=True, close_timeout=0.5
        )
        assert upgraded.wait(5) and transport.is_open
        transport.close()


def test_relative_redirects_stay_on_the_same_host_and_scheme() -> None:
    assert _resolve("wss://h:1/a?t=1", "/b?x=2") == "wss://h:1/b?x=2"
    assert _resolve("ws://h/a", "wss://other/c") == "wss://other/c"


def test_the_connect_timeout_bounds_a_silent_server(serve: Callable[..., int]) -> None:
    release = threading.Event()
    port = serve(lambda conn: release.wait(10))
    try:
        with pytest.raises(ETPTransportError, match="timed out"):
            WebSocketTransport.connect(f"ws://127.0.0.1:{port}/", connect_timeout=0.2)
    finally:
        release.set()


def test_a_non_websocket_url_is_refused() -> None:
    with pytest.raises(ETPInvalidArgument, match="ws:// or wss://"):
        WebSocketTransport.connect("http://127.0.0.1:1/")


def test_frames_in_the_same_packet_as_the_upgrade_answer_reach_the_transport() -> None:
    """The upgrade reads the answer's head without taking a byte past its blank line."""
    done = threading.Event()
    frames = b"\x82\x05hello" + b"\x82\x04\r\n\r\n"  # the second payload is a blank line

    def linger(conn: socket.socket) -> None:
        done.wait(10)

    with RawPeer(linger, after_head=frames) as peer:
        try:
            with WebSocketTransport.connect(peer.url, close_timeout=0.2) as transport:
                assert transport.recv_message(timeout=5) == b"hello"
                assert transport.recv_message(timeout=5) == b"\r\n\r\n"
        finally:
            done.set()


@pytest.mark.parametrize("eol", [b"\n", b" \r\n"], ids=["bare-lf", "blank-line-of-spaces"])
def test_frames_after_an_unusual_blank_line_reach_the_transport(eol: bytes) -> None:
    """websocket-client ends the head at any line that strips to nothing (a bare LF line, one of
    spaces): the upgrade takes no byte past that line either."""
    done = threading.Event()

    def linger(conn: socket.socket) -> None:
        done.wait(10)

    with RawPeer(linger, after_head=b"\x82\x05hello", eol=eol) as peer:
        try:
            with WebSocketTransport.connect(peer.url, close_timeout=0.2) as transport:
                assert transport.recv_message(timeout=5) == b"hello"
        finally:
            done.set()


def test_an_answer_head_in_two_pieces_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first half of the 101 answer is read byte by byte from what has come; once the rest
    is in, it is read whole (websocket-client's one-byte reads then served in C), and the frame
    that came with it is left to the transport."""
    from etp_sync.transport._upgrading import UpgradingSocket

    peeked, done = threading.Event(), threading.Event()
    real_head_part = UpgradingSocket._head_part
    halves: list[int] = []

    def head_part(self: Any, data: bytes) -> int:
        taken = real_head_part(self, data)
        halves.append(taken)
        peeked.set()
        return taken

    monkeypatch.setattr(UpgradingSocket, "_head_part", head_part)

    def linger(conn: socket.socket) -> None:
        done.wait(10)

    with RawPeer(linger, after_head=b"\x82\x05hello", between=lambda: peeked.wait(10)) as peer:
        try:
            with WebSocketTransport.connect(peer.url, close_timeout=0.2) as transport:
                assert transport.recv_message(timeout=5) == b"hello"
        finally:
            done.set()
    assert len(halves) >= 2  # what came first, then the rest of the head with the frame


# -- the host name lookup ---------------------------------------------------------------------


def test_a_slow_name_lookup_is_bounded_by_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resolver that does not answer (a dead DNS server) no longer holds the connect past its
    timeout; a second connect to the same host waits for the running lookup, starts no other."""
    release = threading.Event()
    looked_up: list[str] = []

    def silent_dns(host: str, port: object, *args: object) -> list[object]:
        looked_up.append(host)
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", silent_dns)
    try:
        with pytest.raises(ETPConnectTimeout, match=r"looking up the host 'etp\.invalid'"):
            WebSocketTransport.connect("ws://etp.invalid:9100/", connect_timeout=0.2)
        with pytest.raises(ETPConnectTimeout):
            WebSocketTransport.connect("ws://etp.invalid:9100/", connect_timeout=0.05)
        assert looked_up == ["etp.invalid"]
    finally:
        release.set()


def test_a_name_is_connected_to_at_the_address_the_resolver_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[tuple[str, object]] = []

    def dns(host: str, port: object, *args: object) -> list[tuple[object, ...]]:
        looked_up.append((host, port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    with RawPeer(lambda conn: conn.recv(1)) as peer:
        port = int(peer.url.rsplit(":", 1)[1].strip("/"))
        monkeypatch.setattr(socket, "getaddrinfo", dns)
        transport = WebSocketTransport.connect(f"ws://etp-server.test:{port}/", close_timeout=0.5)
        assert transport.is_open and looked_up == [("etp-server.test", port)]
        transport.close()


def test_an_unknown_host_says_so_and_ip_addresses_need_no_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_such_host(host: str, *args: object) -> list[object]:
        if host != "nowhere.test":
            raise AssertionError(f"looked up {host!r}: an IP address needs no lookup")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(ETPTransportError, match=r"cannot resolve the host of nowhere\.test:1"):
        WebSocketTransport.connect("ws://nowhere.test:1/", connect_timeout=5)
    with RawPeer(lambda conn: conn.recv(1)) as peer:
        transport = WebSocketTransport.connect(peer.url, close_timeout=0.5)
        assert transport.is_open
        transport.close()


def test_a_lookup_failing_otherwise_is_a_transport_error_without_the_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup that fails with something other than gaierror (an IDNA label too long raises
    UnicodeError) reaches the caller as an ETPTransportError naming the host; the URL's user
    and password appear neither in the error nor in the lookup thread's name."""
    threads: list[str] = []

    def bad_name(host: str, *args: object) -> list[object]:
        threads.append(threading.current_thread().name)
        raise UnicodeError("label too long")

    monkeypatch.setattr(socket, "getaddrinfo", bad_name)
    with pytest.raises(ETPTransportError, match=r"cannot look up the host 'bad\.test'") as info:
        WebSocketTransport.connect("ws://alice:s3cret@bad.test:9100/", connect_timeout=5)
    assert not isinstance(info.value, ETPConnectTimeout)
    shown = str(info.value) + repr(info.value) + str(info.value.__cause__) + " ".join(threads)
    assert threads and "s3cret" not in shown and "alice" not in shown


def _echo_404(conn: socket.socket, titled: bool = True) -> None:
    """An HTTP server answering 404 with a page that quotes the request line and headers (as
    Express's "Cannot GET /path?query" and many debug pages do), in its title or not."""
    head = b""
    with conn.makefile("rb") as request:
        for line in request:
            if line in (b"\r\n", b""):
                break
            head += line
    tag = b"title" if titled else b"p"
    page = b"<html><head><" + tag + b">Cannot GET " + head.split(b" ")[1] + b"</" + tag + b">"
    page += b"</head><body>" + head.replace(b"\r\n", b"<br>") + b"</body></html>"
    conn.sendall(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
        b"Content-Length: " + str(len(page)).encode() + b"\r\n\r\n" + page
    )


@pytest.mark.parametrize("titled", [True, False], ids=["title", "page"])
def test_a_refusal_quoting_the_request_shows_no_secret(
    serve: Callable[..., int], titled: bool
) -> None:
    """The query's token, the password and the bearer token of the request never reach the
    error, even when the server's answer quotes them; the answer is still described."""
    port = serve(lambda conn: _echo_404(conn, titled))
    url = f"ws://alice:Pa55word@127.0.0.1:{port}/etp?access_token=Q-SECRET-1&x=a%2Bb%3Dc"
    with pytest.raises(ETPTransportError, match="HTTP 404") as info:
        WebSocketTransport.connect(
            url, headers={"Authorization": "Bearer TOKEN-SECRET-2"}, connect_timeout=5
        )
    shown = str(info.value) + repr(info.value)
    for secret in ("Q-SECRET-1", "Pa55word", "TOKEN-SECRET-2", "a%2Bb%3Dc", "a+b=c"):
        assert secret not in shown, shown
    assert "***" in shown


@pytest.mark.parametrize(
    "url",
    ["user:S3CRET@etp.example.com:443/api", "user:S3/CRET@etp.example.com/x?t=1", "a:S3CRET@:::"],
)
def test_a_url_without_a_scheme_is_shown_without_its_credentials(url: str) -> None:
    """A URL given without ``scheme://`` is refused without echoing its userinfo."""
    with pytest.raises(ETPInvalidArgument) as info:
        WebSocketTransport.connect(url, connect_timeout=5)
    assert "S3" not in str(info.value) and "CRET" not in str(info.value), info.value


@pytest.mark.parametrize(
    ("url", "proxy"),
    [
        ("ws://127.0.0.1:9/", "user:S3/CRET@127.0.0.1:9"),
        ("ws://127.0.0.1:9/", "http://user:S3CRET@127.0.0.1:bad"),
        ("ws://user:S3/CRET@127.0.0.1:9/", None),
    ],
)
def test_a_port_that_is_no_number_is_refused_without_quoting_it(
    url: str, proxy: str | None
) -> None:
    """``http://user:pa/ss@host`` splits its netloc at the ``/``: the "port" is then part of
    the password. A port that is no number is an ETPInvalidArgument that does not quote it."""
    with pytest.raises(ETPInvalidArgument, match="port") as info:
        WebSocketTransport.connect(url, proxy=proxy or False, connect_timeout=5)
    assert "S3" not in str(info.value) and "CRET" not in str(info.value), info.value
