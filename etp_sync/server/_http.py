"""HTTP/1.1 of the embedded server, sans I/O: request heads, the websocket upgrade, replies.

The server reads one request head (:func:`parse_request`), then either upgrades the connection
to a websocket (:func:`upgrade_response`, RFC 6455 §4.2: key, version and subprotocol checked,
``Sec-WebSocket-Accept`` computed) or answers a plain HTTP response and closes. Malformed input
gets a proper HTTP error reply, never a traceback: 400 for a malformed request line or header, a
repeated ``Authorization``/``Host``/``Sec-WebSocket-Key`` header, or a bad websocket key, version
or subprotocol; 431 for a head too large. No header value is ever put in a reply or a log line
(they may carry credentials); :attr:`Request.path` leaves the query string out for the same
reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE",
    "MAX_REQUEST_HEAD",
    "TLS_HANDSHAKE",
    "Request",
    "Response",
    "accept_key",
    "error_response",
    "is_upgrade",
    "parse_request",
    "response",
    "upgrade_response",
]

MAX_REQUEST_HEAD = 64 << 10  # bytes of request line and headers, blank line included
MAX_LINE = 8 << 10  # bytes of one line
MAX_HEADERS = 128
WEBSOCKET_VERSION = "13"
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/1\.[01]")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers that must not appear twice (an ambiguous credential, host or key is refused).
_SINGLE = ("authorization", "host", "sec-websocket-key", "sec-websocket-version")


@dataclass(frozen=True)
class Request:
    """A parsed request head; header names keep their spelling, lookups ignore case."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def get_all(self, name: str) -> list[str]:
        """Values of every header called ``name``."""
        key = name.lower()
        return [value for header, value in self.headers if header.lower() == key]

    def get(self, name: str) -> str | None:
        """Value of the first header called ``name``, or None."""
        values = self.get_all(name)
        return values[0] if values else None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every header called ``name``, lower-cased."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    @property
    def path(self) -> str:
        """The target's path, without the query (which may carry a token): safe to log."""
        return urlsplit(self.target).path or "/"


@dataclass(frozen=True)
class Response:
    """An HTTP response to send: status, headers and body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self) -> bytes:
        """The response as bytes on the wire."""
        phrase = http.HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {phrase}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def header(self, name: str) -> str | None:
        """Value of the first header called ``name``, or None."""
        key = name.lower()
        return next((value for header, value in self.headers if header.lower() == key), None)


def response(
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """A complete (non-upgrade) response; the connection closes after it."""
    return Response(
        status,
        (
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *headers,
        ),
        body,
    )


def error_response(
    status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A plain-text error reply; ``message`` must not hold anything the client sent."""
    return response(status, (message + "\n").encode(), headers=headers)


def _header_line(line: bytes) -> tuple[str, str] | Response:
    if line[:1] in (b" ", b"\t"):
        return error_response(400, "obsolete header line folding is not accepted")
    name, colon, value = line.partition(b":")
    text_name = name.decode("latin-1")
    if not colon or not _TOKEN.fullmatch(text_name):
        return error_response(400, "malformed header line")
    text_value = value.decode("latin-1").strip(" \t")
    if _BAD_VALUE.search(text_value):
        return error_response(400, f"control character in the value of header {text_name}")
    return text_name, text_value


TLS_HANDSHAKE = b"\x16"
"""The first byte of a TLS ClientHello (a handshake record), which no HTTP request starts with:
the request head is read up to it only, and refused at once (a client speaking TLS to a plain
port would otherwise wait for the handshake timeout, for a blank line that never comes)."""


def parse_request(head: bytes) -> Request | Response:
    """Parse a request head (up to and including its blank line); an error reply if malformed."""
    if head.startswith(TLS_HANDSHAKE):
        return error_response(400, "a TLS handshake on a port without TLS: use ws://")
    if len(head) > MAX_REQUEST_HEAD:
        return error_response(431, f"request head larger than {MAX_REQUEST_HEAD} bytes")
    if not head.endswith(b"\r\n\r\n"):
        return error_response(400, "incomplete request head")
    lines = head[:-4].split(b"\r\n")
    if any(len(line) > MAX_LINE for line in lines):
        return error_response(431, f"request line or header longer than {MAX_LINE} bytes")
    if len(lines) - 1 > MAX_HEADERS:
        return error_response(431, f"more than {MAX_HEADERS} headers")
    parts = lines[0].decode("latin-1").split(" ")
    if (
        len(parts) != 3
        or not _TOKEN.fullmatch(parts[0])
        or not (parts[1].startswith("/") or parts[1] == "*")
        or _BAD_VALUE.search(parts[1])
        or not _VERSION.fullmatch(parts[2])
    ):
        return error_response(400, "malformed request line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        parsed = _header_line(line)
        if isinstance(parsed, Response):
            return parsed
        headers.append(parsed)
    request = Request(parts[0], parts[1], parts[2], tuple(headers))
    for name in _SINGLE:
        if len(request.get_all(name)) > 1:
            return error_response(400, f"more than one {name} header")
    return request


def is_upgrade(request: Request) -> bool:
    """Whether the request asks for a protocol upgrade at all (it has an ``Upgrade`` header)."""
    return request.get("Upgrade") is not None


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + _WS_GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _valid_key(key: str | None) -> bool:
    if key is None:
        return False
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


def upgrade_response(request: Request, subprotocol: str) -> Response:
    """101 Switching Protocols to a websocket with ``subprotocol``, or a 400 saying why not."""
    problem = None
    if request.method != "GET" or request.version != "HTTP/1.1":
        problem = "a websocket upgrade is a GET over HTTP/1.1"
    elif "websocket" not in request.tokens("Upgrade"):
        problem = "Upgrade must be websocket"
    elif "upgrade" not in request.tokens("Connection"):
        problem = "Connection must include Upgrade"
    elif not _valid_key(request.get("Sec-WebSocket-Key")):
        problem = "Sec-WebSocket-Key must be 16 bytes in base64"
    elif request.get("Sec-WebSocket-Version") != WEBSOCKET_VERSION:
        return error_response(
            400,
            f"Sec-WebSocket-Version must be {WEBSOCKET_VERSION}",
            (("Sec-WebSocket-Version", WEBSOCKET_VERSION),),
        )
    elif subprotocol not in request.tokens("Sec-WebSocket-Protocol"):
        problem = f"the websocket subprotocol {subprotocol} is required"
    if problem is not None:
        return error_response(400, problem)
    key = request.get("Sec-WebSocket-Key")
    assert key is not None
    return Response(
        101,
        (
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)),
            ("Sec-WebSocket-Protocol", subprotocol),
        ),
    )
