"""The server's own HTTP handling (etp_sync.server._http): the websocket upgrade, HTTP error
replies over real sockets, the handshake deadline, no credential in logs, no websockets import."""

from __future__ import annotations

import logging
import select
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from etp_sync import ETPSession
from etp_sync.errors import ETPTransportError
from etp_sync.server import EmbeddedServer
from etp_sync.server._http import (
    MAX_HEADERS,
    MAX_REQUEST_HEAD,
    Request,
    Response,
    accept_key,
    parse_request,
    upgrade_response,
)

TOKEN = "s3cr3t-bearer"
SECRETS = (TOKEN, "x-auth-secret", "query-token-secret", "query-access-secret")
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def head(*lines: str, request_line: str = "GET / HTTP/1.1") -> bytes:
    return ("\r\n".join([request_line, *lines]) + "\r\n\r\n").encode()


def upgrade_lines(**override: str | None) -> list[str]:
    fields: dict[str, str | None] = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "etp12.energistics.org",
    }
    fields.update(override)
    return [f"{name}: {value}" for name, value in fields.items() if value is not None]


# -- sans-I/O ---------------------------------------------------------------------------------


def test_accept_key_matches_rfc6455_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_parse_request_and_upgrade() -> None:
    request = parse_request(head(*upgrade_lines(), request_line="GET /etp?token=x HTTP/1.1"))
    assert isinstance(request, Request)
    assert (request.method, request.path) == ("GET", "/etp")
    assert request.get("sec-websocket-key") == KEY
    reply = upgrade_response(request, "etp12.energistics.org")
    assert reply.status == 101
    assert reply.header("Sec-WebSocket-Accept") == accept_key(KEY)
    assert reply.header("Sec-WebSocket-Protocol") == "etp12.energistics.org"
    assert reply.encode().startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


@pytest.mark.parametrize(
    "data, status",
    [
        (head(request_line="GET /"), 400),
        (head(request_line="GET  / HTTP/1.1"), 400),
        (head(request_line="GET / HTTP/2"), 400),
        (head(request_line="GET nopath HTTP/1.1"), 400),
        (head("Host 127.0.0.1"), 400),
        (head("Bad Name: x"), 400),
        (head("X: a", " folded"), 400),
        (head("X: a\x01b"), 400),
        (head("Authorization: Bearer a", "Authorization: Bearer b"), 400),
        (head("Host: a", "Host: b"), 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", 400),
        (head(*[f"X-{i}: v" for i in range(MAX_HEADERS + 1)]), 431),
        (head("X: " + "v" * 9000), 431),
        (head("X: " + "v" * 8000, *["Y: " + "w" * 8000] * 8), 431),
    ],
)
def test_parse_request_refusals(data: bytes, status: int) -> None:
    reply = parse_request(data)
    assert isinstance(reply, Response) and reply.status == status
    assert reply.header("Content-Length") == str(len(reply.body))


@pytest.mark.parametrize(
    "override",
    [
        {"Upgrade": None},
        {"Upgrade": "h2c"},
        {"Connection": "keep-alive"},
        {"Sec-WebSocket-Key": None},
        {"Sec-WebSocket-Key": "not base64!"},
        {"Sec-WebSocket-Key": "AAAA"},
        {"Sec-WebSocket-Version": "8"},
        {"Sec-WebSocket-Version": None},
        {"Sec-WebSocket-Protocol": "chat"},
    ],
)
def test_upgrade_refusals(override: dict[str, str | None]) -> None:
    request = parse_request(head(*upgrade_lines(**override)))
    assert isinstance(request, Request)
    reply = upgrade_response(request, "etp12.energistics.org")
    assert reply.status == 400
    if "Sec-WebSocket-Version" in override:
        assert reply.header("Sec-WebSocket-Version") == "13"


# -- over sockets -----------------------------------------------------------------------------


@pytest.fixture()
def token_server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(required_token=TOKEN, log_level=logging.DEBUG) as srv:
        yield srv


def exchange(server: EmbeddedServer, data: bytes) -> bytes:
    """Send ``data``, then read the reply until the server closes (its log lines are out then)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def status_of(reply: bytes) -> int:
    assert reply.startswith(b"HTTP/1.1 "), reply[:100]
    return int(reply[9:12])


AUTH = f"Authorization: Bearer {TOKEN}"
CASES = [
    ("malformed request line", head(AUTH, request_line="GET /"), 400),
    ("malformed header", head(AUTH, "Broken header"), 400),
    ("two Authorization", head(AUTH, AUTH, *upgrade_lines()), 400),
    ("bad key", head(AUTH, *upgrade_lines(**{"Sec-WebSocket-Key": "short"})), 400),
    ("bad version", head(AUTH, *upgrade_lines(**{"Sec-WebSocket-Version": "7"})), 400),
    ("no subprotocol", head(AUTH, *upgrade_lines(**{"Sec-WebSocket-Protocol": None})), 400),
    ("missing token", head(*upgrade_lines()), 401),
    ("wrong token", head("Authorization: Bearer nope", *upgrade_lines()), 401),
    (
        "credentials elsewhere only",
        head(
            "X-Authorization: x-auth-secret",
            *upgrade_lines(),
            request_line="GET /?token=query-token-secret&access_token=query-access-secret HTTP/1.1",
        ),
        401,
    ),
    ("other path", head(AUTH, "Host: a", request_line="GET /index.html HTTP/1.1"), 404),
    ("head too large", head(AUTH, *[f"X-{i}: {'v' * 1000}" for i in range(70)]), 431),
]


@pytest.mark.parametrize("name, data, status", CASES, ids=[c[0] for c in CASES])
def test_http_errors_over_sockets(
    token_server: EmbeddedServer,
    caplog: pytest.LogCaptureFixture,
    name: str,
    data: bytes,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="etp_sync")
    if status == 431:
        assert len(data) > MAX_REQUEST_HEAD
    reply = exchange(token_server, data)
    assert status_of(reply) == status
    if status == 401:
        assert b"WWW-Authenticate: Bearer" in reply
    assert token_server.session_count == 0
    assert f"refused with HTTP {status}" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_upgrade_with_token_opens_a_session_and_logs_no_credential(
    token_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etp_sync")
    url = token_server.url + "?token=query-token-secret"
    with ETPSession(url, authorization=TOKEN) as session:
        assert session.get_dataspaces() == []
    with pytest.raises(ETPTransportError) as info:
        ETPSession(token_server.url).connect()
    assert info.value.status == 401
    for secret in SECRETS:
        assert secret not in caplog.text


def test_capabilities_need_no_upgrade(token_server: EmbeddedServer) -> None:
    target = "/.well-known/etp-server-capabilities?GetVersions=true"
    reply = exchange(token_server, head(AUTH, "Host: a", request_line=f"GET {target} HTTP/1.1"))
    assert status_of(reply) == 200 and reply.endswith(b'["etp12.energistics.org"]')


def test_trickling_client_does_not_extend_the_handshake_deadline() -> None:
    """One byte at a time keeps the connection busy, but the deadline is for the whole head:
    the server answers 408 and closes while most of the request is still unsent."""
    request = head(*upgrade_lines(), *[f"X-Pad-{i}: {'p' * 40}" for i in range(40)])
    with EmbeddedServer(handshake_timeout=0.3) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sent = 0
            reply = b""
            while sent < len(request):
                try:
                    sock.sendall(request[sent : sent + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 1
                # Pace by waiting on the socket itself: it turns readable when the server answers.
                readable, _, _ = select.select([sock], [], [], 0.02)
                if readable:
                    break
            while chunk := sock.recv(65536):
                reply += chunk
        assert status_of(reply) == 408
        assert sent < len(request)
        assert server.session_count == 0


def test_importing_the_package_and_server_loads_no_websockets() -> None:
    code = (
        "import sys, etp_sync, etp_sync.server\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'websockets'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_command_line_takes_a_handshake_timeout() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "etp_sync.server", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "--handshake-timeout" in out.stdout
