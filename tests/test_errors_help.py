"""Errors that say what to do (issue 13), each produced over a real socket: a silent server,
an ordinary web page, refused credentials, nothing listening, a bad URL; and the README lists
the whole error family."""

from __future__ import annotations

import inspect
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import etp_sync
from etp_sync import ETPSession, RetryPolicy, errors, etp_connect
from etp_sync.errors import (
    ETPAuthorizationError,
    ETPConnectTimeout,
    ETPError,
    ETPInvalidArgument,
    ETPTransportError,
)
from etp_sync.server import EmbeddedServer

README = Path(__file__).resolve().parents[1] / "README.md"
PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body>\n"
    + "<p>If you see this page, the web server works.</p>\n" * 400
    + "</body></html>\n"
).encode()


@pytest.fixture
def listener() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """Start a TCP server on 127.0.0.1 answering each connection with ``handle``; its ws URL."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(handle: Callable[[socket.socket], None]) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        sockets.append(server)

        def run() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        threading.Thread(target=run, daemon=True).start()
        return f"ws://127.0.0.1:{server.getsockname()[1]}/etp"

    yield start
    stop.set()
    for server in sockets:
        server.close()


def _web_page(conn: socket.socket) -> None:
    with conn:
        conn.recv(65536)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(PAGE)}\r\n\r\n"
        conn.sendall(head.encode() + PAGE)


def test_a_silent_server_times_out_within_the_deadline(
    listener: Callable[[Callable[[socket.socket], None]], str],
) -> None:
    held: list[socket.socket] = []
    url = listener(held.append)  # accepts TCP, never answers
    session = ETPSession(url, connect_timeout=5)
    started = time.monotonic()
    with pytest.raises(ETPConnectTimeout) as info:
        session.connect(timeout=1.0)
    assert time.monotonic() - started < 1.0 + session.DEADLINE_MARGIN
    assert "did not complete the websocket upgrade" in str(info.value)
    for conn in held:
        conn.close()


def test_a_web_page_is_not_an_etp_endpoint_in_one_line_and_not_retried(
    listener: Callable[[Callable[[socket.socket], None]], str], caplog: pytest.LogCaptureFixture
) -> None:
    url = listener(_web_page)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ETPTransportError) as info:
        ETPSession(url).connect()
    message = str(info.value)
    assert "this URL is not an ETP endpoint" in message and "HTTP 200" in message
    assert "Welcome to nginx!" in message and "\n" not in message and len(message) < 300
    assert info.value.status == 200
    assert "web server works" not in caplog.text and "retrying" not in caplog.text


def test_refused_credentials_name_the_token_and_the_partition() -> None:
    with (
        EmbeddedServer(port=0, required_token="right-token") as server,
        pytest.raises(ETPAuthorizationError) as info,
    ):
        ETPSession(server.url, authorization="wrong-token").connect()
    message = str(info.value)
    assert info.value.status == 401 and isinstance(info.value, ETPTransportError)
    assert "check the token" in message and "data_partition_id" in message
    assert "wrong-token" not in message


def test_nothing_listening_asks_whether_the_server_runs() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ETPTransportError, match="is the ETP server running"):
        ETPSession(f"ws://127.0.0.1:{port}/", retry=RetryPolicy(attempts=1)).connect()


def test_bad_urls_are_invalid_arguments() -> None:
    for url in ("http://localhost:9100", "https://osdu.example/api/reservoir-ddms-etp/v2/"):
        with pytest.raises(ETPInvalidArgument, match="ws:// or wss://") as info:
            etp_connect(url)
        assert "wss://" in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(ETPInvalidArgument, match="URL is required"):
        ETPSession()
    with pytest.raises(ETPInvalidArgument, match="same parameter"):
        ETPSession("ws://a:1/", uri="ws://b:1/")
    with pytest.raises(ETPInvalidArgument, match="authorization"):
        ETPSession("ws://a:1/", authorization=3.14)  # type: ignore[arg-type]
    with pytest.raises(ETPInvalidArgument, match="timeout"):
        ETPSession("ws://a:1/", timeout="10")  # type: ignore[arg-type]
    with pytest.raises(ETPInvalidArgument, match="4096"):
        ETPSession("ws://a:1/", max_message_size="1MB")  # type: ignore[arg-type]
    with pytest.raises(ETPInvalidArgument, match="proxy"):
        ETPSession("ws://a:1/", proxy=8080)  # type: ignore[arg-type]


def test_the_readme_lists_the_whole_error_family() -> None:
    family = {
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, ETPError) and name in etp_sync.__all__
    }
    assert {"ETPAuthorizationError", "ETPInvalidArgument", "ETPNotNegotiated"} <= family
    text = README.read_text()
    missing = sorted(name for name in family if not re.search(rf"`{name}`", text))
    assert not missing, f"README does not list {missing}"
