"""HTTP(S) proxy support: sessions tunnel through a local HTTP CONNECT proxy running in a
thread, chosen by ``proxy=`` or the standard environment variables."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from _fakepeer import FakePeer

from etp_sync import ETPSession, RetryPolicy
from etp_sync.errors import ETPInvalidArgument, ETPTransportError
from etp_sync.server import EmbeddedServer
from etp_sync.transport._connect import proxy_for

NO_RETRY = RetryPolicy(attempts=1)


class ConnectProxy:
    """A minimal HTTP CONNECT proxy: resolves names itself (``hosts`` maps names it knows to
    127.0.0.1), optionally demands Basic credentials, and pipes bytes both ways."""

    def __init__(self, credentials: str | None = None, hosts: tuple[str, ...] = ()) -> None:
        self.credentials = credentials
        self.hosts = hosts
        self.targets: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._open.append(client)
            thread = threading.Thread(target=self._tunnel, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _tunnel(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                byte = client.recv(1)
                if not byte:
                    return
                head += byte
            lines = head.decode("latin-1").split("\r\n")
            _method, target, _ = lines[0].split(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            wanted = f"Basic {base64.b64encode((self.credentials or '').encode()).decode()}"
            if self.credentials and headers.get("Proxy-Authorization") != wanted:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                return
            self.targets.append(target)
            host, port = target.rsplit(":", 1)
            address = "127.0.0.1" if host in self.hosts else host.strip("[]")
            with socket.create_connection((address, int(port)), 5) as upstream:
                self._open.append(upstream)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pipe(client, upstream)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while True:
            ready, _, _ = select.select(list(peers), [], [])
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        self.listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in [self._accept, *self._threads]:
            thread.join(5)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy(hosts=("etp-server.test",))
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_a_session_tunnels_through_the_proxy_it_is_given(
    proxy: ConnectProxy, server: EmbeddedServer
) -> None:
    with ETPSession(server.url, proxy=proxy.url, retry=NO_RETRY) as session:
        session.put_dataspace("via/proxy")
        assert [d.path for d in session.get_dataspaces()] == ["via/proxy"]
    assert proxy.targets == [f"127.0.0.1:{server.port}"]


def test_the_environment_names_the_proxy_and_the_proxy_resolves_the_host(
    proxy: ConnectProxy, server: EmbeddedServer, no_proxy_env: pytest.MonkeyPatch
) -> None:
    no_proxy_env.setenv("http_proxy", proxy.url)
    url = f"ws://etp-server.test:{server.port}/"  # only the proxy knows this name
    with ETPSession(url, retry=NO_RETRY) as session:
        assert session.ping() > 0
    assert proxy.targets == [f"etp-server.test:{server.port}"]
    with ETPSession(server.url, retry=NO_RETRY) as session:  # loopback goes direct
        assert session.ping() > 0
    with pytest.raises(ETPTransportError, match="cannot resolve"):  # False: never a proxy
        ETPSession(url, proxy=False, retry=NO_RETRY).connect()
    assert len(proxy.targets) == 1


def test_no_proxy_and_the_scheme_pick_the_environment_variable(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://secure-proxy:3128")
    no_proxy_env.setenv("http_proxy", "http://plain-proxy:3128")
    no_proxy_env.setenv("no_proxy", "internal.example,.corp.example")
    assert proxy_for("wss://etp.osdu.example/api") == "http://secure-proxy:3128"
    assert proxy_for("ws://etp.osdu.example/api") == "http://plain-proxy:3128"
    assert proxy_for("wss://internal.example/api") is None
    assert proxy_for("wss://etp.corp.example/api") is None
    assert proxy_for("wss://etp.osdu.example/", "http://mine:1") == "http://mine:1"
    assert proxy_for("wss://etp.osdu.example/", False) is None


def test_wss_goes_through_the_tunnel_with_tls_to_the_server(
    proxy: ConnectProxy, self_signed_cert: tuple[str, str]
) -> None:
    cert, key = self_signed_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FakePeer(lambda *a: None, ssl_context=context) as peer:
        assert peer.url.startswith("wss://")
        with ETPSession(peer.url, proxy=proxy.url, ca_file=cert, retry=NO_RETRY) as session:
            assert session.ping() > 0
    assert len(proxy.targets) == 1


def test_proxy_credentials_are_sent_and_never_shown(server: EmbeddedServer) -> None:
    guarded = ConnectProxy(credentials="alice:pr0xy-pw")
    try:
        host = guarded.url.removeprefix("http://")
        with pytest.raises(ETPTransportError, match="407") as info:
            ETPSession(server.url, proxy=guarded.url, retry=NO_RETRY).connect()
        assert "check the proxy credentials" in str(info.value) and info.value.status == 407
        with pytest.raises(ETPTransportError, match="407") as info:
            ETPSession(server.url, proxy=f"http://alice:wrong@{host}", retry=NO_RETRY).connect()
        assert "wrong" not in str(info.value)
        with ETPSession(server.url, proxy=f"http://alice:pr0xy-pw@{host}") as session:
            assert session.ping() > 0
    finally:
        guarded.close()


def test_proxy_problems_say_what_to_check(server: EmbeddedServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(ETPTransportError, match="is the proxy running"):
        ETPSession(server.url, proxy=f"http://127.0.0.1:{port}", retry=NO_RETRY).connect()
    with pytest.raises(ETPInvalidArgument, match="only http:// proxies"):
        ETPSession(server.url, proxy="socks5://127.0.0.1:1080", retry=NO_RETRY).connect()
