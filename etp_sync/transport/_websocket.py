"""Websocket transport: a library does the HTTP upgrade, we do the framing after it.

The client upgrades with websocket-client (:meth:`WebSocketTransport.connect`); the embedded
server with websockets' sans-I/O handshake, then wraps the accepted socket (``client=False``).

Why: stock websocket-client masks outgoing frames in pure Python (~64 MB/s) and copies payloads
several times, while ETP moves large arrays. So after the handshake we take the raw (plain or TLS)
socket and frame messages ourselves (RFC 6455): outgoing payloads are XOR-masked by numpy straight
into a reused send buffer (each byte copied once) and sent from it (unmasked frames, on the server
side, are written by ``sendmsg`` straight from the parts); incoming payloads are received straight
into a bytearray that grows with the bytes that arrive (never to the size a header announces).

Threading: any number of threads may call :meth:`WebSocketTransport.send_message` (sends are
serialised by a lock); exactly one thread (the connection's reader) calls
:meth:`WebSocketTransport.recv_message`, which also answers pings and close frames inline.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
import os
import re
import select
import socket
import ssl
import struct
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeAlias, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import websocket

from etp_sync.codec._placement import PLACE_PEEK
from etp_sync.errors import (
    ETPAuthorizationError,
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPError,
    ETPInvalidArgument,
    ETPProtocolError,
    ETPSessionClosed,
    ETPTransportError,
    ETPWriteTimeout,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ETP_SUBPROTOCOL",
    "WebSocketClosed",
    "WebSocketTransport",
    "mask_into",
    "proxy_for",
    "refusal_error",
    "safe_url",
]

_log = logging.getLogger("etp_sync.transport")

if TYPE_CHECKING:
    from typing_extensions import Buffer

    BytesLike: TypeAlias = Buffer | np.ndarray[Any, Any]
    """Anything exporting a contiguous buffer: bytes, bytearray, memoryview, numpy arrays, ..."""

ETP_SUBPROTOCOL: Final = "etp12.energistics.org"
DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 30
"""Default cap on an incoming message (1 GiB); the connection layer lowers it after negotiation."""

# Opcodes (RFC 6455 section 5.2).
_OP_CONT: Final = 0x0
_OP_TEXT: Final = 0x1
_OP_BINARY: Final = 0x2
_OP_CLOSE: Final = 0x8
_OP_PING: Final = 0x9
_OP_PONG: Final = 0xA
_FIN: Final = 0x80

# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_NO_STATUS: Final = 1005
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_TOO_BIG: Final = 1009

_SMALL_MASK: Final = 512
"""Below this many bytes, masking with Python ints beats numpy's per-call overhead (measured)."""
_PAYLOAD_ALIGN: Final = 16
"""Offset of the first payload byte in the send buffer, so numpy XORs an aligned destination."""
_KEEP_SEND_BUFFER: Final = (64 << 20) + (64 << 10)
"""A send buffer grown beyond this (64 MiB of payload plus slack for headers) is dropped after
the send instead of being kept for reuse."""
_RECV_BUFFER: Final = 64 << 10
"""Read-ahead buffer for frame headers and small payloads (amortises syscalls)."""
_DIRECT_RECV: Final = 16 << 10
"""Payload remainders at least this big are received straight into the message buffer."""
_PLACE_MIN: Final = 64 << 10
"""Messages at least this big are offered to :attr:`WebSocketTransport.placer`."""
Placer: TypeAlias = "Callable[[memoryview, int], tuple[int, memoryview] | None]"
"""``placer(first bytes, message length)``: ``(offset, memory)`` to receive the payload bytes
``offset .. offset + memory.nbytes`` straight into ``memory`` (the rest goes to the message
buffer, which then lacks them), or None to receive the message the ordinary way."""
_FIRST_GROWTH: Final = 64 << 10
"""A message buffer starts at most this big; it then at most doubles as bytes arrive, so memory
follows what the peer actually sent, not the length its frame header announced."""
_SSL_SEND_CHUNK: Final = 1 << 20
"""TLS ``send`` writes everything under one deadline; chunking makes the stall timeout per MiB."""
_SSL_DEADLINE_CHUNK: Final = 16 << 10
"""Under a send deadline, TLS writes one record at a time once the socket is writable, so a
peer that stops reading holds the sender at most until its deadline."""
_PONG_WAIT: Final = 0.25
"""The longest a pong (or a close frame, beyond its own timeout) waits for a socket that takes
no bytes: a peer that does not read is not worth a blocked thread."""
_CLOSE_REASON_MAX: Final = 123
_MAX_REDIRECTS: Final = 3
_MAX_PROXY_HEAD: Final = 16 << 10
_SUMMARY_CHARS: Final = 100
"""Longest excerpt of a non-websocket answer put in an error message (one line)."""
_IOV_MAX: Final = 512
"""Buffers per ``sendmsg`` call (POSIX guarantees at least 1024)."""


class WebSocketClosed(ETPSessionClosed):
    """The websocket is closed: ``close_code`` and ``reason`` come from the close frame.

    ``close_code`` is 1005 when the peer's close frame carried no status. ``by_peer`` is True when
    the peer started the closing handshake, False when we did (then code/reason are the peer's
    reply, or ours if it never replied).
    """

    def __init__(self, message: str, close_code: int, reason: str = "", by_peer: bool = True):
        super().__init__(message, reason)
        self.close_code = close_code
        self.by_peer = by_peer


# --------------------------------------------------------------------------------------------
# Masking


def _byte_view(obj: BytesLike) -> memoryview:
    """A flat, C-contiguous, unsigned-byte view of ``obj`` (copies only non-contiguous input)."""
    if isinstance(obj, (bytes, bytearray)):
        return memoryview(obj)
    mv = obj if isinstance(obj, memoryview) else memoryview(cast("Buffer", obj))
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def _xor_small(dst: memoryview, offset: int, src: memoryview, key: bytes) -> None:
    """Mask a short ``src`` (key phase 0 = ``key[0]``) into ``dst[offset:]`` via one big int."""
    n = src.nbytes
    keys = (key * ((n >> 2) + 1))[:n]
    value = int.from_bytes(src, "little") ^ int.from_bytes(keys, "little")
    dst[offset : offset + n] = value.to_bytes(n, "little")


def mask_into(dst: BytesLike, dst_offset: int, src: BytesLike, key: bytes, phase: int = 0) -> int:
    """XOR ``src`` with the websocket mask ``key`` into ``dst[dst_offset:]``; return the next phase.

    Byte ``i`` of ``src`` is XORed with ``key[(phase + i) % 4]``, so a payload split over several
    parts is masked by calling this once per part, passing the phase returned by the previous
    call (start with 0). Each byte is read once and written once, no temporaries proportional to
    the size. ``dst`` may be the very same memory as ``src`` (unmasking in place) but must not
    otherwise overlap it. Masking and unmasking are the same operation.
    """
    if len(key) != 4:
        raise ETPInvalidArgument("a websocket mask key is exactly 4 bytes")
    p = phase & 3
    s = _byte_view(src)
    n = s.nbytes
    if n == 0:
        return p
    d = _byte_view(dst)
    if d.readonly:
        raise ETPInvalidArgument("mask_into needs a writable destination")
    if dst_offset < 0 or dst_offset + n > d.nbytes:
        raise ETPInvalidArgument("destination too small for the masked bytes")
    k = bytes(key[p:]) + bytes(key[:p])
    if n < _SMALL_MASK:
        _xor_small(d, dst_offset, s, k)
    else:
        m = n & ~7
        key64 = np.frombuffer(k * 2, dtype=np.uint64)[0]
        np.bitwise_xor(
            np.frombuffer(s, dtype=np.uint64, count=m >> 3),
            key64,
            out=np.frombuffer(d[dst_offset : dst_offset + m], dtype=np.uint64),
        )
        if m < n:  # m is a multiple of 4, so the tail starts at key phase 0 again
            _xor_small(d, dst_offset + m, s[m:], k)
    return (p + n) & 3


def _header_len(length: int, masked: bool) -> int:
    """Size of a frame header for a payload of ``length`` bytes."""
    base = 2 if length < 126 else 4 if length < 65536 else 10
    return base + 4 if masked else base


def _write_header(buf: memoryview, pos: int, first: int, length: int, key: bytes | None) -> int:
    """Write a frame header at ``buf[pos:]`` (``first`` = FIN|opcode byte); return its size."""
    mask_bit = 0x80 if key is not None else 0
    if length < 126:
        struct.pack_into("!BB", buf, pos, first, mask_bit | length)
        size = 2
    elif length < 65536:
        struct.pack_into("!BBH", buf, pos, first, mask_bit | 126, length)
        size = 4
    else:
        struct.pack_into("!BBQ", buf, pos, first, mask_bit | 127, length)
        size = 10
    if key is not None:
        buf[pos + size : pos + size + 4] = key
        size += 4
    return size


def safe_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: fit for logs, reprs and error messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparsable url>"


TLSContext = Callable[[], ssl.SSLContext]
"""Gives the TLS context when a wss:// socket needs one: building the default context loads the
system's CA certificates (tens of milliseconds), which a ws:// connection should not pay."""


def _tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """TLS settings for wss://: verify the server (system CAs or ``ca_file``) unless told not to."""
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _open_socket(
    url: str, timeout: float, context: TLSContext, proxy: str | None = None
) -> socket.socket:
    """Our TCP socket to the host of ``url`` (through an HTTP ``CONNECT`` tunnel of ``proxy``
    when given), wrapped in TLS (SNI, verification) for wss://."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "wss"
    if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        raise ETPInvalidArgument(f"not a ws:// or wss:// URL: {safe_url(url)}")
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    if proxy is None:
        sock = _tcp(host, port, timeout, "")
    else:
        sock = _tunnel(proxy, host, port, time.monotonic() + timeout)
    if not secure:
        return sock
    try:
        return context().wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def _tcp(host: str, port: int, timeout: float, what: str) -> socket.socket:
    """A TCP connection to ``host:port``; refusals and unknown hosts raise an
    :class:`~etp_sync.errors.ETPTransportError` that says what to check (``what`` names a
    proxy, or is empty for the server itself)."""
    where = f"{what}{host}:{port}"
    try:
        return socket.create_connection((host, port), timeout)
    except ConnectionRefusedError:
        hint = (
            "is the proxy running? check proxy= or http_proxy/https_proxy"
            if what
            else "is the ETP server running, and is the port right?"
        )
        raise ETPTransportError(f"connection to {where} refused: {hint}") from None
    except socket.gaierror as exc:
        raise ETPTransportError(
            f"cannot resolve the host of {where} ({exc.strerror or exc}): check the URL"
        ) from None


def proxy_for(url: str, proxy: str | Literal[False] | None = None) -> str | None:
    """The HTTP proxy to reach ``url`` through: ``proxy`` when given (False: none), else the
    standard environment variables (``https_proxy`` for wss://, ``http_proxy`` for ws://,
    ``all_proxy`` for both, upper case too; hosts in ``no_proxy`` and loopback addresses go
    direct)."""
    if proxy is False:
        return None
    if proxy:
        return proxy
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies_environment()
    chosen = proxies.get("https" if parts.scheme.lower() == "wss" else "http") or proxies.get("all")
    return chosen or None


def _tunnel(proxy: str, host: str, port: int, deadline: float) -> socket.socket:
    """A socket tunnelled to ``host:port`` by the HTTP proxy ``proxy`` (``CONNECT``), within
    ``deadline``; the proxy's credentials (``http://user:password@proxy:3128``) go as Basic
    ``Proxy-Authorization`` and never into messages."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ETPInvalidArgument(
            f"only http:// proxies (HTTP CONNECT) are supported, got {safe_url(proxy)!r}"
        )
    shown = safe_url(proxy)
    sock = _tcp(parts.hostname, parts.port or 8080, max(deadline - time.monotonic(), 0.001),
                "the proxy ")  # fmt: skip
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair.encode()).decode()}")
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, reason = _read_proxy_reply(sock, deadline)
    except BaseException:
        sock.close()
        raise
    if status != 200:
        sock.close()
        hint = ": check the proxy credentials" if status == 407 else ""
        raise ETPTransportError(
            f"the proxy {shown} refused to tunnel to {target}: HTTP {status} {reason}{hint}",
            status=status,
        )
    _log.debug("tunnel to %s open through proxy %s", target, shown)
    return sock


def _read_proxy_reply(sock: socket.socket, deadline: float) -> tuple[int, str]:
    """Status and reason of the proxy's answer to CONNECT; reads exactly its head (what
    follows belongs to the tunnel)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        if len(head) > _MAX_PROXY_HEAD:
            raise ETPTransportError("the proxy answered CONNECT with an oversized head")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        byte = sock.recv(1)  # byte by byte: never read past the head into the tunnel
        if not byte:
            raise ETPTransportError("the proxy closed the connection instead of tunnelling")
        head += byte
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ETPTransportError(f"the proxy answered CONNECT with {_one_line(status_line)!r}")
    return int(fields[1]), fields[2].strip() if len(fields) > 2 else ""


def _upgrade(
    url: str,
    headers: list[str],
    timeout: float,
    context: TLSContext,
    follow_redirects: bool,
    proxy: str | Literal[False] | None = None,
) -> tuple[socket.socket, dict[str, str]]:
    """Open our socket and let websocket-client do the HTTP upgrade on it (``socket=`` option).

    Returns the socket and the response headers. Redirects (at most three, when asked) open a
    fresh socket of ours to the new location: websocket-client never opens a socket itself.
    ``timeout`` bounds the whole upgrade, redirects included (TimeoutError past it).
    """
    target = url
    deadline = time.monotonic() + timeout
    for _ in range(_MAX_REDIRECTS + 1 if follow_redirects else 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock = _open_socket(target, left, context, proxy_for(target, proxy))
        handshake = websocket.WebSocket(skip_utf8_validation=True)
        try:
            # websocket-client bounds each socket operation; the watchdog bounds them all.
            with _abort_at(sock, deadline):
                handshake.connect(
                    target,
                    socket=sock,
                    header=headers,
                    timeout=max(deadline - time.monotonic(), 0.001),
                    redirect_limit=0,
                )
        except BaseException as exc:
            sock.close()
            refused = isinstance(exc, websocket.WebSocketBadStatusException)
            if not refused and time.monotonic() >= deadline:
                raise TimeoutError from exc  # the watchdog cut the handshake
            if not isinstance(exc, websocket.WebSocketException):
                raise
            response = handshake.handshake_response
            location = _redirect_location(response)
            if location is None or response is None:
                raise
            if not follow_redirects:
                raise ETPTransportError(
                    f"{safe_url(target)} redirects to {safe_url(_resolve(target, location))} "
                    "(not followed: that would send the credentials elsewhere): connect to the "
                    "new address",
                    status=response.status,
                ) from None
            target = _resolve(target, location)
            continue
        response = handshake.handshake_response
        return sock, dict(response.headers) if response is not None else {}
    raise websocket.WebSocketException(f"more than {_MAX_REDIRECTS} redirects")


@contextmanager
def _abort_at(sock: socket.socket, deadline: float) -> Iterator[None]:
    """Shut ``sock`` down if the block is still running at ``deadline``, so that a peer that
    trickles its answer cannot stretch a blocking handshake past it."""
    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), _shut, (sock,))
    timer.name = "etp_sync-connect-deadline"
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError as exc:
        _log.debug("shutdown at the connect deadline: %s", exc)


def _redirect_location(response: Any) -> str | None:
    """The ``Location`` of a redirect response (None for anything else)."""
    if response is None or response.status not in (301, 302, 303, 307, 308):
        return None
    location = response.headers.get("location")
    return str(location) if location else None


def _resolve(base: str, location: str) -> str:
    """``location`` (absolute, or a path on the same host) as a full ws:// or wss:// URL."""
    if urlsplit(location).scheme:
        return location
    parts = urlsplit(base)
    path, _, query = location.partition("?")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _one_line(text: str, limit: int = _SUMMARY_CHARS) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def _summary(headers: Mapping[str, str] | None, body: bytes | str | None) -> str:
    """`` (text/html, 'Title')``: one line about the body of a non-websocket answer."""
    kind = ""
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            kind = value.split(";")[0].strip()
    text = ""
    if body:
        raw = body if isinstance(body, bytes) else body.encode("utf-8", "replace")
        title = _TITLE.search(raw[: 64 << 10])
        excerpt = title.group(1) if title else raw[:4096]
        text = _one_line(_TAG.sub(" ", excerpt.decode("utf-8", "replace")))
    shown = [part for part in (kind, repr(text) if text else "") if part]
    return f" ({', '.join(shown)})" if shown else ""


def refusal_error(
    safe: str,
    status: int,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
) -> ETPTransportError:
    """The error for an HTTP answer other than 101 to the upgrade of ``safe`` (a safe URL):
    one line naming the cause and what to check."""
    answer = f"HTTP {status}{' ' + reason if reason else ''}{_summary(headers, body)}"
    if status in (401, 403):
        return ETPAuthorizationError(
            f"{safe} refused the credentials with {answer}: check the token (authorization=) "
            "and data_partition_id",
            status=status,
        )
    if status >= 500 or status in (408, 425, 429):
        message = f"{safe} could not take the websocket upgrade now: {answer}"
    elif status == 400:
        message = (
            f"{safe} refused the websocket upgrade with {answer}: check the URL path and "
            "data_partition_id"
        )
    else:
        message = (
            f"{safe} answered {answer} instead of a websocket upgrade: this URL is not an ETP "
            "endpoint (check the host, port and path)"
        )
    return ETPTransportError(message, status=status)


def _check_header(name: str, value: str) -> None:
    """Refuse header names/values that would inject extra lines into the upgrade request."""
    if not name or any(c in name for c in "\r\n:") or any(c in value for c in "\r\n"):
        raise ETPInvalidArgument(f"invalid HTTP header {name!r} (value not shown)")


def _frames(
    opcode: int, views: list[memoryview], sizes: list[int]
) -> Iterator[tuple[int, int, list[memoryview]]]:
    """Split the concatenation of ``views`` into frames of ``sizes`` bytes.

    Yields ``(first header byte, payload size, payload chunks)`` per frame; the chunks are
    slices of the views, nothing is copied.
    """
    part, offset = 0, 0
    last = len(sizes) - 1
    for index, size in enumerate(sizes):
        first = (_FIN if index == last else 0) | (opcode if index == 0 else _OP_CONT)
        chunks: list[memoryview] = []
        remaining = size
        while remaining:
            view = views[part]
            take = min(remaining, view.nbytes - offset)
            if take:
                chunks.append(view[offset : offset + take])
                offset += take
                remaining -= take
            if offset == view.nbytes:
                part, offset = part + 1, 0
        yield first, size, chunks


# --------------------------------------------------------------------------------------------
# Transport


def _writable(sock: socket.socket, wait: float) -> bool:
    """Whether ``sock`` can take more bytes within ``wait`` seconds (errors count as yes: the
    send that follows reports them)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLOUT)
            return bool(poller.poll(math.ceil(wait * 1000)))
        _, ready, _ = select.select([], [sock], [], wait)
        return bool(ready)
    except (OSError, ValueError):
        return True


def _sendable_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame we send (RFC 6455 section 7.4)."""
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


_OPEN: Final = "open"
_CLOSING: Final = "closing"
_CLOSED: Final = "closed"


class WebSocketTransport:
    """One websocket connection carrying binary messages, framed by us on the raw socket.

    Create it with :meth:`connect` (client), or directly on a socket whose upgrade is done.
    ``max_message_size`` (incoming) and ``max_frame_size`` (outgoing; ``None`` sends every
    message as one frame) may be changed at any time, e.g. after ETP capability negotiation.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        url: str = "",
        subprotocol: str | None = None,
        client: bool = True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        stall_timeout: float = 60.0,
        close_timeout: float = 2.0,
    ) -> None:
        """Wrap ``sock``, on which the websocket handshake is already complete.

        ``client`` masks outgoing frames (RFC 6455 requires it of clients). ``stall_timeout``
        bounds how long a frame that has started may stall, and how long a send may make no
        progress, before the connection counts as lost. ``close_timeout`` bounds the closing
        handshake.
        """
        if not stall_timeout > 0:
            raise ETPInvalidArgument("stall_timeout must be positive")
        self._sock = sock
        self._safe_url = safe_url(url) if url else "<socket>"
        self.subprotocol = subprotocol
        self._client = client
        self.max_message_size = int(max_message_size)
        self.max_frame_size = max_frame_size
        self.stall_timeout = float(stall_timeout)
        self.close_timeout = float(close_timeout)
        sock.settimeout(self.stall_timeout)
        self._send_chunk = _SSL_SEND_CHUNK if isinstance(sock, ssl.SSLSocket) else 1 << 62
        # Unmasked frames (server side) go out by gathering writes, without copying payloads.
        self._gather = (
            not client and hasattr(sock, "sendmsg") and not isinstance(sock, ssl.SSLSocket)
        )

        self._state_lock = threading.Lock()
        self._state: str = _OPEN
        self._broken: str | None = None  # why the connection is unusable, when it failed
        self._close_info: tuple[int, str, bool] | None = None  # (code, reason, by_peer)
        self._close_sent = False
        self._peer_closed = threading.Event()

        self._send_lock = threading.Lock()
        self._sbuf: np.ndarray = np.empty(0, dtype=np.uint8)
        self._pending_pong: bytes | None = None
        self._key_pool = b""
        self._key_pos = 0
        self._last_pong: float | None = None

        self._recv_lock = threading.Lock()
        self._message_deadline: float | None = None  # set by recv_data for its call
        self._rbuf = bytearray(_RECV_BUFFER)
        self._rview = memoryview(self._rbuf)
        self._rpos = 0
        self._rend = 0
        self._poller: select.poll | None = None
        self.placer: Placer | None = None
        """Set by the reader's owner: where parts of incoming messages may go (see Placer)."""
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock.fileno(), select.POLLIN)

    # ---------------------------------------------------------------- opening

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        connect_timeout: float = 30.0,
        verify: bool = True,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        follow_redirects: bool = False,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        stall_timeout: float = 60.0,
        close_timeout: float = 2.0,
        proxy: str | Literal[False] | None = None,
    ) -> WebSocketTransport:
        """Open a websocket to ``url`` (ws:// or wss://) with subprotocol ``etp12.energistics.org``.

        ``headers`` go on the upgrade request (e.g. ``Authorization: Bearer ...``,
        ``data-partition-id``); their values never appear in logs, reprs or errors. TLS verifies
        the server by default (system CAs, or ``ca_file``); ``verify=False`` disables it, and
        ``ssl_context`` replaces all TLS settings. Redirects are not followed unless asked, since
        that would resend the credentials to another address. ``connect_timeout`` bounds the
        whole opening (TCP, TLS, upgrade): past it :class:`~etp_sync.errors.ETPConnectTimeout`.
        ``proxy`` (``http://[user:password@]host:port``) tunnels the connection through an HTTP
        proxy (``CONNECT``); None takes it from the environment (see :func:`proxy_for`), False
        goes direct.

        A refused upgrade raises an error that says what to check, in one line (never the
        answer's whole body): HTTP 401/403 :class:`~etp_sync.errors.ETPAuthorizationError`,
        an ordinary web page "not an ETP endpoint", a refused TCP connection "is the server
        running?".
        """
        safe = safe_url(url)
        if urlsplit(url).scheme.lower() not in ("ws", "wss"):
            raise ETPInvalidArgument(
                f"an ETP URL starts with ws:// or wss://, got {safe!r} (ETP runs over websockets: "
                "for http://host use ws://host, for https://host use wss://host)"
            )
        request_headers = [f"Sec-WebSocket-Protocol: {ETP_SUBPROTOCOL}"]
        items = headers.items() if isinstance(headers, Mapping) else (headers or ())
        for name, value in items:
            _check_header(name, value)
            if name.lower() in ("sec-websocket-protocol", "sec-websocket-extensions"):
                raise ETPInvalidArgument(f"header {name!r} is set by the transport")
            request_headers.append(f"{name}: {value}")

        tls: TLSContext = functools.partial(_tls_context, verify, ca_file)
        if ssl_context is not None:
            given = ssl_context
            tls = lambda: given  # noqa: E731
        _log.debug("opening websocket to %s", safe)
        try:
            sock, resp_headers = _upgrade(
                url, request_headers, connect_timeout, tls, follow_redirects, proxy
            )
        except websocket.WebSocketBadStatusException as exc:
            raise refusal_error(
                safe, int(exc.status_code), exc.status_message, exc.resp_headers, exc.resp_body
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise ETPTransportError(
                f"TLS certificate verification failed for {safe}: {exc.verify_message} (pass "
                "ca_file= with the server's CA, or verify=False for a test server)"
            ) from None
        except (TimeoutError, websocket.WebSocketTimeoutException):
            raise ETPConnectTimeout(
                f"timed out after {connect_timeout:g} s opening websocket to {safe}: the host "
                "did not complete the websocket upgrade (is it an ETP server? a firewall or "
                "proxy may be holding the connection)"
            ) from None
        except websocket.WebSocketException as exc:
            raise ETPTransportError(
                f"{safe} did not answer a websocket upgrade ({_one_line(str(exc))}): is this "
                "URL an ETP endpoint?"
            ) from None
        except ETPError:
            raise
        except (OSError, ValueError) as exc:
            raise ETPTransportError(
                f"cannot open websocket to {safe}: {type(exc).__name__}: {_one_line(str(exc))}"
            ) from exc

        proto = (resp_headers.get("sec-websocket-protocol") or "").strip()
        problem = None
        if proto.lower() != ETP_SUBPROTOCOL:
            problem = (
                f"server at {safe} did not accept websocket subprotocol {ETP_SUBPROTOCOL!r} "
                f"(it answered {proto or 'none'!r})"
            )
        elif resp_headers.get("sec-websocket-extensions"):
            problem = f"server at {safe} imposed websocket extensions we did not offer"
        if problem is not None:
            try:
                sock.close()
            except OSError:
                pass
            raise ETPTransportError(problem)
        _log.debug("websocket to %s open", safe)
        return cls(
            sock,
            url=url,
            subprotocol=ETP_SUBPROTOCOL,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            stall_timeout=stall_timeout,
            close_timeout=close_timeout,
        )

    # ---------------------------------------------------------------- info

    @property
    def url(self) -> str:
        """The URL without userinfo, query or fragment."""
        return self._safe_url

    @property
    def state(self) -> str:
        """``"open"``, ``"closing"`` or ``"closed"``."""
        return self._state

    @property
    def is_open(self) -> bool:
        """True until a closing handshake starts or the connection fails."""
        return self._state == _OPEN

    @property
    def last_pong(self) -> float | None:
        """``time.monotonic()`` of the last pong frame received, if any."""
        return self._last_pong

    def __repr__(self) -> str:
        return f"<WebSocketTransport {self._safe_url} {self._state}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- sending

    def send_message(
        self, parts: Sequence[BytesLike] | BytesLike, *, deadline: float | None = None
    ) -> None:
        """Send one binary message whose payload is the concatenation of ``parts``.

        The message goes as a single FIN frame (or as frames of at most ``max_frame_size``),
        masked with a fresh random key straight into the reused send buffer: each part is read
        exactly once. Thread-safe; a send buffer grown beyond 64 MiB is released after the send
        so one huge message does not pin its memory for the life of the connection, and so is
        the buffer of a connection that failed.

        ``deadline`` (a ``time.monotonic()`` value) bounds the whole send, the wait for another
        thread's send included: past it :class:`~etp_sync.errors.ETPWriteTimeout` is raised.
        If part of the message had gone out the connection is closed, since a half-sent frame
        cannot be taken back; otherwise it stays usable.
        """
        seq: Sequence[BytesLike]
        # A list or tuple holds parts; anything else is one buffer (bytes, numpy array, ...).
        seq = parts if isinstance(parts, (list, tuple)) else (parts,)
        views = [_byte_view(p) for p in seq]
        self._send_frames(_OP_BINARY, views, sum(v.nbytes for v in views), deadline)

    def ping(self, payload: bytes = b"") -> None:
        """Send a websocket ping; the pong's arrival time shows in :attr:`last_pong`."""
        if len(payload) > 125:
            raise ETPInvalidArgument("a ping payload is at most 125 bytes")
        self._send_frames(_OP_PING, [memoryview(payload)], len(payload))

    def _frame_sizes(self, opcode: int, total: int) -> list[int]:
        """Payload sizes of the frames for one message (control frames never fragment)."""
        limit = self.max_frame_size
        if opcode >= _OP_CLOSE or limit is None or limit <= 0 or total <= limit:
            return [total]
        sizes = [limit] * (total // limit)
        if total % limit:
            sizes.append(total % limit)
        return sizes

    def _send_frames(
        self, opcode: int, views: list[memoryview], total: int, deadline: float | None = None
    ) -> None:
        """Frame ``views`` as one message and transmit it, holding the send lock."""
        if deadline is None:
            self._send_lock.acquire()
        elif not self._send_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise ETPWriteTimeout(
                f"could not send to {self._safe_url} within the deadline: another send held "
                "the connection"
            )
        try:
            self._check_can_send(opcode)
            self._send_frames_locked(opcode, views, total, deadline)
        finally:
            self._release_send_lock()

    def _mask_key(self) -> bytes:
        """A fresh random 4-byte mask key, cut from a pooled ``os.urandom`` block (lock held).

        One getrandom syscall per 256 keys instead of one per frame; keys are never reused.
        """
        pos = self._key_pos
        if pos >= len(self._key_pool):
            self._key_pool = os.urandom(1024)
            pos = 0
        self._key_pos = pos + 4
        return self._key_pool[pos : pos + 4]

    def _send_frames_locked(
        self, opcode: int, views: list[memoryview], total: int, deadline: float | None = None
    ) -> None:
        """Build header(s) and masked payload in the send buffer, then transmit it."""
        masked = self._client
        if total < _SMALL_MASK and (self.max_frame_size is None or total <= self.max_frame_size):
            # Small message: a few Python-level operations beat the buffer machinery.
            key = self._mask_key() if masked else None
            payload = b"".join(views)
            header = bytearray(_header_len(total, masked))
            _write_header(memoryview(header), 0, _FIN | opcode, total, key)
            if key is not None and total:
                keys = (key * ((total >> 2) + 1))[:total]
                value = int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")
                payload = value.to_bytes(total, "little")
            self._transmit(memoryview(header + payload), deadline)
            return
        sizes = self._frame_sizes(opcode, total)
        if self._gather:
            self._send_gathered(opcode, views, sizes, deadline)
            return
        start = _PAYLOAD_ALIGN - _header_len(sizes[0], masked)
        need = _PAYLOAD_ALIGN + total + sum(_header_len(s, masked) for s in sizes[1:])
        if self._sbuf.nbytes < need:
            cap = max(need, min(2 * self._sbuf.nbytes, _KEEP_SEND_BUFFER), 64 << 10)
            self._sbuf = np.empty(cap, dtype=np.uint8)
        buf = self._sbuf.data
        pos = start
        for first, size, chunks in _frames(opcode, views, sizes):
            key = self._mask_key() if masked else None
            pos += _write_header(buf, pos, first, size, key)
            phase = 0
            for chunk in chunks:
                if key is not None:
                    phase = mask_into(buf, pos, chunk, key, phase)
                else:
                    buf[pos : pos + chunk.nbytes] = chunk
                pos += chunk.nbytes
        try:
            self._transmit(buf[start:pos], deadline)
        finally:
            del buf
            if self._sbuf.nbytes > _KEEP_SEND_BUFFER or self._state == _CLOSED:
                self._sbuf = np.empty(0, dtype=np.uint8)

    def _send_gathered(
        self,
        opcode: int,
        views: list[memoryview],
        sizes: list[int],
        deadline: float | None = None,
    ) -> None:
        """Send unmasked frames with ``sendmsg``: headers plus the parts' own memory, no copy."""
        buffers: list[memoryview] = []
        for first, size, chunks in _frames(opcode, views, sizes):
            header = bytearray(_header_len(size, False))
            _write_header(memoryview(header), 0, first, size, None)
            buffers.append(memoryview(header))
            buffers.extend(chunks)
        sock = self._sock
        index = 0
        started = False
        with self._send_errors():
            while index < len(buffers):
                if deadline is not None:
                    self._wait_writable(deadline, started=started)
                sent = sock.sendmsg(buffers[index : index + _IOV_MAX])
                started = True
                while sent and sent >= buffers[index].nbytes:
                    sent -= buffers[index].nbytes
                    index += 1
                if sent:
                    buffers[index] = buffers[index][sent:]

    def _transmit(self, data: memoryview, deadline: float | None = None) -> None:
        """Write all of ``data``; every ``send`` call must progress within ``stall_timeout``,
        and the whole write end by ``deadline`` (None: no deadline)."""
        sock = self._sock
        chunk = self._send_chunk
        if deadline is not None and isinstance(sock, ssl.SSLSocket):
            chunk = _SSL_DEADLINE_CHUNK
        sent, n = 0, data.nbytes
        with self._send_errors():
            while sent < n:
                if deadline is not None:
                    self._wait_writable(deadline, started=sent > 0)
                sent += sock.send(data[sent : sent + chunk])

    def _wait_writable(self, deadline: float, *, started: bool) -> None:
        """Wait until the socket can take more bytes; past ``deadline`` raise ETPWriteTimeout
        (closing the connection when the message has ``started`` going out)."""
        while True:
            left = deadline - time.monotonic()
            if left > 0:
                wait = min(left, self.stall_timeout)
                if _writable(self._sock, wait):
                    return
                if wait < left:
                    raise TimeoutError  # no progress for stall_timeout: the connection is lost
                continue
            message = f"send to {self._safe_url} did not complete within its deadline"
            if started:
                self._lost(f"{message}: the message was cut off")
            raise ETPWriteTimeout(message)

    @contextmanager
    def _send_errors(self) -> Iterator[None]:
        """Turn a send that stalls past ``stall_timeout`` or fails into a lost connection."""
        try:
            yield
        except TimeoutError:
            raise self._lost(
                f"send to {self._safe_url} made no progress for {self.stall_timeout:g} s"
            ) from None
        except OSError as exc:
            raise self._lost(f"socket error sending to {self._safe_url}: {exc}") from None

    def _check_can_send(self, opcode: int) -> None:
        """Raise unless the state allows sending a frame with ``opcode`` (send lock held)."""
        state = self._state
        if state == _OPEN:
            return
        if state == _CLOSING and opcode == _OP_CLOSE and not self._close_sent:
            return
        raise self._closed_error()

    def _release_send_lock(self) -> None:
        """Release the send lock, then send any pong the reader queued meanwhile.

        The reader never blocks on the send lock for a pong (that could deadlock with a big send
        waiting for the peer to read): it queues the pong and tries the lock. Whoever releases
        the lock looks at the queue afterwards, so a queued pong always finds a sender.
        """
        while True:
            self._send_lock.release()
            if self._pending_pong is None or not self._send_lock.acquire(blocking=False):
                return
            pong, self._pending_pong = self._pending_pong, None
            if pong is not None and self._state == _OPEN:
                try:  # a peer that does not read gets no pong: never block the releaser long
                    deadline = time.monotonic() + _PONG_WAIT
                    self._send_frames_locked(_OP_PONG, [memoryview(pong)], len(pong), deadline)
                except ETPError as exc:
                    _log.debug("pong to %s not sent: %s", self._safe_url, exc)

    def _send_close_frame(self, payload: bytes, lock_timeout: float) -> bool:
        """Send our close frame unless one went already; False if it could not be sent."""
        if not self._send_lock.acquire(timeout=max(lock_timeout, 0.0)):
            _log.debug("close frame to %s not sent: a send is stuck", self._safe_url)
            return False
        try:
            if self._close_sent:
                return False
            self._close_sent = True
            deadline = time.monotonic() + max(lock_timeout, _PONG_WAIT)
            self._send_frames_locked(_OP_CLOSE, [memoryview(payload)], len(payload), deadline)
            return True
        except ETPError as exc:
            _log.debug("close frame to %s not sent: %s", self._safe_url, exc)
            return False
        finally:
            self._release_send_lock()

    # ---------------------------------------------------------------- receiving

    def recv_message(self, timeout: float | None = None) -> bytearray | None:
        """Return the payload of the next data message, or None if ``timeout`` s pass first.

        Only one thread may call this. The payload is a fresh bytearray of exactly the message
        size, received straight into; it grows with the bytes that arrive (at most doubling), not
        to the length a frame header announces. Pings are answered and pongs noted on the way.
        ``None`` is returned only when no byte of a new frame arrived in time; a frame that has
        started is read to its end (stalls beyond ``stall_timeout`` count as a lost connection).

        Raises :class:`WebSocketClosed` when the peer closes (or we did), ETPConnectionLost on
        socket errors or EOF, ETPProtocolError on a framing violation or a message larger than
        ``max_message_size`` (the connection is then closed). Text messages are returned like
        binary ones, as their raw UTF-8 bytes; :meth:`recv_data` tells them apart.
        """
        received = self.recv_data(timeout)
        return None if received is None else received[0]

    def recv_data(
        self, timeout: float | None = None, *, deadline: float | None = None
    ) -> tuple[bytearray, bool] | None:
        """Like :meth:`recv_message`, but return ``(payload, is_text)``.

        ``is_text`` is True when the message came as a text message (opcode 1); its payload is
        then the raw bytes, not checked to be UTF-8. ``deadline`` (a ``time.monotonic()``
        value) bounds a message that has started, however slowly its bytes trickle in: past it
        the connection is closed (code 1008) and ETPProtocolError raised.
        """
        with self._recv_lock:
            self._message_deadline = deadline
            try:
                return self._recv_locked(timeout)
            finally:
                self._message_deadline = None
                if self._state == _CLOSED:
                    self._close_socket()

    def _recv_locked(self, timeout: float | None) -> tuple[bytearray, bool] | None:
        """Body of :meth:`recv_data` (receive lock held)."""
        if self._state == _CLOSED:
            raise self._closed_error()
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        message: bytearray | None = None
        text = False
        while True:
            if message is None and self._rpos == self._rend:
                if not self._wait_readable(deadline):
                    return None
                if not self._recv_some(first=True):
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
            fin, opcode, length, key = self._read_frame_header()

            if opcode >= _OP_CLOSE:
                if not fin or length > 125:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "fragmented or oversized control frame")
                payload = bytearray(length)
                self._read_into(memoryview(payload))
                if key is not None:
                    mask_into(payload, 0, payload, key)
                if opcode == _OP_PING:
                    self._queue_pong(bytes(payload))
                elif opcode == _OP_PONG:
                    self._last_pong = time.monotonic()
                elif opcode == _OP_CLOSE:
                    raise self._on_close_frame(bytes(payload))
                else:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, f"unknown control opcode {opcode:#x}")
                continue

            if opcode in (_OP_BINARY, _OP_TEXT):
                if message is not None:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                self._check_size(length)
                message = bytearray()
                text = opcode == _OP_TEXT
                if self._placeable(fin, key, length) and self._recv_placed(message, length):
                    return message, text
            elif opcode == _OP_CONT:
                if message is None:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
                self._check_size(len(message) + length)
            else:
                raise self._fail(CLOSE_PROTOCOL_ERROR, f"unknown data opcode {opcode:#x}")
            start = len(message)
            self._append_payload(message, length)
            if key is not None:
                with memoryview(message) as view, view[start:] as target:
                    mask_into(target, 0, target, key)
            if fin:
                return message, text

    def _placeable(self, fin: bool, key: bytes | None, length: int) -> bool:
        """Whether a message's first frame may be offered to :attr:`placer` (whole, unmasked,
        big enough to be worth it)."""
        return fin and key is None and length >= _PLACE_MIN and self.placer is not None

    def _recv_placed(self, message: bytearray, length: int) -> bool:
        """Offer an unmasked one-frame message to :attr:`placer`; when it names memory for part
        of the payload, receive that part straight into it and the rest into ``message``."""
        assert self.placer is not None
        self._ensure(min(length, PLACE_PEEK))
        with self._rview[self._rpos : self._rpos + min(length, PLACE_PEEK)] as prefix:
            spot = self.placer(prefix, length)
        if spot is None:
            return False
        offset, dest = spot
        self._append_payload(message, offset)
        self._read_into(dest)
        self._append_payload(message, length - offset - dest.nbytes)
        return True

    def _check_size(self, size: int) -> None:
        """Refuse (and close with 1009) a message announcing more than ``max_message_size``."""
        if size > self.max_message_size:
            raise self._fail(
                CLOSE_TOO_BIG,
                f"incoming message of {size} bytes exceeds max_message_size "
                f"{self.max_message_size}",
            )

    def _wait_readable(self, deadline: float | None) -> bool:
        """Wait until the socket has bytes (or EOF/error) or ``deadline`` passes."""
        if self._rend > self._rpos:
            return True
        return self._poll(None if deadline is None else max(deadline - time.monotonic(), 0.0))

    def _poll(self, wait: float | None) -> bool:
        """Wait up to ``wait`` s (None: forever) until the socket has bytes (or EOF/error)."""
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            if self._poller is not None:
                millis = None if wait is None else math.ceil(wait * 1000)
                return bool(self._poller.poll(millis))
            ready, _, _ = select.select([sock], [], [], wait)
            return bool(ready)
        except (OSError, ValueError):
            return True  # let the read report what is wrong

    def _recv_some(self, first: bool = False) -> bool:
        """Read whatever is available into the read-ahead buffer.

        With ``first`` (no byte of a frame read yet), a timeout returns False; otherwise it means
        the peer stalled mid-frame and the connection is lost.
        """
        if self._rpos == self._rend:
            self._rpos = self._rend = 0
        elif self._rend > len(self._rbuf) - 1024:
            avail = self._rend - self._rpos
            self._rview[:avail] = self._rview[self._rpos : self._rend]
            self._rpos, self._rend = 0, avail
        got = self._recv_into(self._rview[self._rend :], first)
        self._rend += got
        return got > 0

    def _recv_into(self, target: memoryview, first: bool = False) -> int:
        """One ``recv_into``, errors mapped to ETP exceptions (0 only on a first-byte timeout).

        Under a message deadline (:meth:`recv_data`) the wait ends at the deadline too, and a
        message not complete by then closes the connection (1008).
        """
        deadline = self._message_deadline
        if deadline is not None and not first:
            left = deadline - time.monotonic()
            if left <= 0 or (left < self.stall_timeout and not self._poll(left)):
                raise self._fail(CLOSE_POLICY_VIOLATION, "message not complete by its deadline")
        try:
            got = self._sock.recv_into(target)
        except TimeoutError:
            if first:
                return 0
            raise self._lost(
                f"{self._safe_url} stalled mid-frame for more than {self.stall_timeout:g} s"
            ) from None
        except OSError as exc:
            raise self._lost(f"socket error receiving from {self._safe_url}: {exc}") from None
        if got == 0:
            raise self._lost(f"{self._safe_url} closed the connection without a close frame")
        return got

    def _ensure(self, count: int) -> None:
        """Make the read-ahead buffer hold at least ``count`` unread bytes."""
        while self._rend - self._rpos < count:
            self._recv_some()

    def _read_frame_header(self) -> tuple[bool, int, int, bytes | None]:
        """Parse the next frame header: (fin, opcode, payload length, mask key or None)."""
        self._ensure(2)
        rbuf, pos = self._rbuf, self._rpos
        b0, b1 = rbuf[pos], rbuf[pos + 1]
        if b0 & 0x70:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
        length = b1 & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if b1 & 0x80 else 0)
        self._ensure(size)
        rbuf, pos = self._rbuf, self._rpos  # _ensure may have compacted the buffer
        cursor = pos + 2
        if length == 126:
            (length,) = struct.unpack_from("!H", rbuf, cursor)
            cursor += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", rbuf, cursor)
            cursor += 8
            if length >> 63:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "frame length has the top bit set")
        key = bytes(rbuf[cursor : cursor + 4]) if b1 & 0x80 else None
        self._rpos = pos + size
        return bool(b0 & _FIN), b0 & 0x0F, length, key

    def _append_payload(self, message: bytearray, length: int) -> None:
        """Append the next ``length`` payload bytes to ``message`` (still masked).

        The buffer grows only as bytes arrive, by at most :data:`_FIRST_GROWTH` or its own size
        at a time, so a peer announcing a huge frame and sending little costs little. Large
        remainders are received straight into the grown tail (no copy through the read-ahead).
        """
        filled = len(message)
        end = filled + length
        while filled < end:
            buffered = self._rend - self._rpos
            if buffered or end - filled < _DIRECT_RECV:
                if not buffered:
                    self._recv_some()
                    buffered = self._rend - self._rpos
                take = min(buffered, end - filled)
                message[filled : filled + take] = self._rview[self._rpos : self._rpos + take]
                self._rpos += take
                filled += take
                continue
            if len(message) - filled < _DIRECT_RECV:
                size = len(message)
                message.extend(bytes(min(end, size + max(size, _FIRST_GROWTH)) - size))
            with memoryview(message) as view:
                filled += self._recv_into(view[filled : min(len(message), end)])
        del message[end:]

    def _read_into(self, dest: memoryview) -> None:
        """Fill ``dest`` with the next payload bytes: buffered ones first, then from the socket.

        Large remainders go straight from the socket into ``dest``; small ones through the
        read-ahead buffer so that following frame headers come in the same syscall.
        """
        total = dest.nbytes
        got = min(self._rend - self._rpos, total)
        if got:
            dest[:got] = self._rview[self._rpos : self._rpos + got]
            self._rpos += got
        while got < total:
            if total - got >= _DIRECT_RECV:
                got += self._recv_into(dest[got:])
            else:
                self._recv_some()
                take = min(self._rend - self._rpos, total - got)
                dest[got : got + take] = self._rview[self._rpos : self._rpos + take]
                self._rpos += take
                got += take

    def _queue_pong(self, payload: bytes) -> None:
        """Answer a ping without ever blocking the reader on the send lock (see release)."""
        self._pending_pong = payload
        if self._send_lock.acquire(blocking=False):
            self._release_send_lock()  # sends the queued pong

    def _on_close_frame(self, payload: bytes) -> ETPTransportError:
        """Handle the peer's close frame: reply if it started the handshake; return the error."""
        if len(payload) >= 2:
            (code,) = struct.unpack_from("!H", payload)
            reason = payload[2:].decode("utf-8", "replace")
        else:
            code, reason = CLOSE_NO_STATUS, ""
        with self._state_lock:
            by_peer = self._state == _OPEN
            if by_peer:
                self._state = _CLOSING
            self._close_info = (code, reason, by_peer)
        self._peer_closed.set()
        _log.debug("close frame from %s: code %d %r", self._safe_url, code, reason)
        if by_peer:
            self._send_close_frame(payload[:2], self.close_timeout)
            self._shutdown()
        return self._closed_error()

    # ---------------------------------------------------------------- closing and failure

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close the websocket: send a close frame, wait briefly for the peer's, close the socket.

        Idempotent and safe from any thread; never raises because the connection is already
        dead (such trouble is logged at debug level). Waits at most about ``close_timeout``.
        """
        if not _sendable_close_code(code):
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
        if self._send_close_frame(struct.pack("!H", code) + raw_reason, self.close_timeout):
            if self._recv_lock.acquire(blocking=False):
                try:
                    self._drain_until_close(deadline)
                finally:
                    self._recv_lock.release()
            else:  # the reader thread will see the peer's close frame
                self._peer_closed.wait(max(deadline - time.monotonic(), 0.0))
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
        if self._send_lock.acquire(blocking=False):
            self._sbuf = np.empty(0, dtype=np.uint8)
            self._send_lock.release()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            _log.debug("shutdown of socket to %s: %s", self._safe_url, exc)

    def _close_socket(self) -> None:
        """Release the file descriptor (receive lock held, or no reader running)."""
        if self._poller is not None:
            try:
                self._poller.unregister(self._sock.fileno())
            except (KeyError, ValueError, OSError):
                pass
            self._poller = None
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
            if self._send_close_frame(struct.pack("!H", close_code), min(self.close_timeout, 1.0)):
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
        self._rpos = self._rend = 0  # whatever was buffered belongs to the dropped input
        try:
            self._sock.shutdown(socket.SHUT_WR)
            while (left := deadline - time.monotonic()) > 0 and self._wait_readable(deadline):
                self._sock.settimeout(left)
                if not self._sock.recv_into(self._rview):
                    return
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
