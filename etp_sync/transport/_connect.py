"""Opening a websocket: our TCP socket (through an HTTP proxy's CONNECT tunnel when one
applies), TLS for wss:// (its context built only when needed), the HTTP upgrade done by
websocket-client on that socket, redirects, and errors that say what to check.

:meth:`~etp_sync.transport._websocket.WebSocketTransport.connect` calls :func:`open_websocket`
and frames messages itself on the socket it returns.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit, urlunsplit

import websocket

from etp_sync.errors import (
    ETPAuthorizationError,
    ETPConnectTimeout,
    ETPError,
    ETPInvalidArgument,
    ETPTransportError,
)

from ._cancel import ConnectCancel, watching
from ._dial import dial
from ._upgrading import UpgradingSocket

__all__ = [
    "ETP_SUBPROTOCOL",
    "lazy_tls",
    "open_websocket",
    "proxy_for",
    "refusal_error",
    "request_secrets",
    "safe_url",
]

_log = logging.getLogger("etp_sync.transport")

ETP_SUBPROTOCOL: Final = "etp12.energistics.org"
_MAX_REDIRECTS: Final = 3
_MAX_PROXY_HEAD: Final = 16 << 10
_SUMMARY_CHARS: Final = 100
"""Longest excerpt of a non-websocket answer put in an error message (one line)."""


def safe_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: fit for logs, reprs and error messages.

    A text without ``//`` (a host given without its scheme, ``user:password@host/path``) keeps
    only what follows its last ``@``: a password may hold ``/``, so nothing before it is
    shown."""
    try:
        parts = urlsplit(url)
        if not parts.netloc:
            shown = url.split("#", 1)[0].split("?", 1)[0]
            return shown.rpartition("@")[2]
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
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)
"""OpenSSL's reasons for a reply that is no TLS record at all (versions word it differently):
the port speaks plain text, most likely HTTP, and asking again will not change that."""


def _tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """TLS settings for wss://: verify the server (system CAs or ``ca_file``) unless told not to."""
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _open_socket(
    url: str,
    timeout: float,
    context: TLSContext,
    proxy: str | None = None,
    cancel: ConnectCancel | None = None,
) -> socket.socket:
    """Our TCP socket to the host of ``url`` (through an HTTP ``CONNECT`` tunnel of ``proxy``
    when given), wrapped in TLS (SNI, verification) for wss://; ``cancel`` stops each step."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "wss"
    if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        raise ETPInvalidArgument(f"not a ws:// or wss:// URL: {safe_url(url)}")
    host = parts.hostname
    port = _port_of(parts, 443 if secure else 80, "the URL")
    deadline = time.monotonic() + timeout
    if proxy:
        sock = _tunnel(proxy, host, port, deadline, cancel)
    else:
        sock = _tcp(host, port, deadline, "", cancel)
    if not secure:
        return sock
    try:
        tls = context().wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    except BaseException:
        sock.close()
        raise
    try:
        with watching(cancel, tls):
            tls.do_handshake()
    except BaseException:
        tls.close()
        raise
    return tls


def _tcp(
    host: str, port: int, deadline: float, what: str, cancel: ConnectCancel | None = None
) -> socket.socket:
    """A TCP connection to ``host:port`` by ``deadline``, the name lookup included (see
    :mod:`._dial`); refusals and unknown hosts raise an
    :class:`~etp_sync.errors.ETPTransportError` that says what to check (``what`` names a
    proxy, or is empty for the server itself)."""
    where = f"{what}{host}:{port}"
    try:
        return dial(host, port, deadline, cancel)
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


def peer_is_loopback(sock: socket.socket) -> bool:
    """Whether the socket is connected to a loopback address (127.0.0.0/8, ::1, or an IPv4
    loopback address mapped into IPv6): the peer runs on this host. False when it cannot
    tell."""
    try:
        address = ipaddress.ip_address(sock.getpeername()[0].partition("%")[0])
    except (OSError, ValueError, IndexError, TypeError, AttributeError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _port_of(parts: SplitResult, default: int, what: str) -> int:
    """The port of a split URL (``default`` when it names none); ETPInvalidArgument when it is
    no number (the text is not quoted: with a password holding ``/``, it is part of it)."""
    try:
        port = parts.port
    except ValueError:
        raise ETPInvalidArgument(f"the port of {what} is not a number from 0 to 65535") from None
    return default if port is None else port


def _tunnel(
    proxy: str, host: str, port: int, deadline: float, cancel: ConnectCancel | None = None
) -> socket.socket:
    """A socket tunnelled to ``host:port`` by the HTTP proxy ``proxy`` (``CONNECT``), within
    ``deadline``; the proxy's credentials (``http://user:password@proxy:3128``) go as Basic
    ``Proxy-Authorization`` and never into messages."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ETPInvalidArgument(
            f"only http:// proxies (HTTP CONNECT) are supported, got {safe_url(proxy)!r}"
        )
    shown = safe_url(proxy)
    sock = _tcp(parts.hostname, _port_of(parts, 8080, "the proxy"), deadline, "the proxy ", cancel)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair.encode()).decode()}")
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        with watching(cancel, sock):
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
    cancel: ConnectCancel | None = None,
) -> tuple[socket.socket, dict[str, str]]:
    """Open our socket and let websocket-client do the HTTP upgrade on it (``socket=`` option).

    Returns the socket and the response headers. Redirects (at most three, when asked) open a
    fresh socket of ours to the new location: websocket-client never opens a socket itself.
    ``timeout`` bounds the whole upgrade, redirects included (TimeoutError past it); ``cancel``
    stops it (see :mod:`._cancel`).
    """
    target = url
    deadline = time.monotonic() + timeout
    for _ in range(_MAX_REDIRECTS + 1 if follow_redirects else 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock = _open_socket(target, left, context, proxy_for(target, proxy), cancel)
        handshake = websocket.WebSocket(skip_utf8_validation=True)
        try:
            with watching(cancel, sock):
                handshake.connect(
                    target,
                    socket=UpgradingSocket(sock, deadline),  # each operation bounded by it
                    header=headers,
                    timeout=max(deadline - time.monotonic(), 0.001),
                    redirect_limit=0,
                )
        except BaseException as exc:
            sock.close()
            refused = isinstance(exc, websocket.WebSocketBadStatusException)
            if not refused and time.monotonic() >= deadline:
                raise TimeoutError from exc  # the handshake ran out of time
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


_MIN_SECRET: Final = 4
"""Shorter values are not searched for in a server's answer (``a=1`` would blank every 1)."""


def request_secrets(url: str, headers: Sequence[tuple[str, str]] = ()) -> list[str]:
    """What a request to ``url`` with ``headers`` says that must not reach an error message
    when the server echoes it back (a 404 page showing the path and query, a page echoing
    the headers): the password, the query and fragment and each query value (as sent and
    decoded), and the values of credential headers (a bearer token alone too)."""
    found: list[str] = []
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        found += [parts.password or "", parts.query, parts.fragment]
        for _, value in parse_qsl(parts.query, keep_blank_values=True):
            found += [value, quote(value, safe="")]
        found += [v for part in parts.query.split("&") for v in part.split("=", 1)[1:]]
    for name, value in headers:
        if name.lower() in ("authorization", "proxy-authorization", "cookie"):
            found += [value, value.partition(" ")[2]]
    return sorted({f for f in found if len(f) >= _MIN_SECRET}, key=len, reverse=True)


def _redacted(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:  # the longest first: a secret may hold a shorter one
        text = text.replace(secret, "***")
    return text


def refusal_error(
    safe: str,
    status: int,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    secrets: Sequence[str] = (),
) -> ETPTransportError:
    """The error for an HTTP answer other than 101 to the upgrade of ``safe`` (a safe URL):
    one line naming the cause and what to check. What the answer quotes of the request's
    ``secrets`` (:func:`request_secrets`) is shown as ``***``."""
    answer = f"HTTP {status}{' ' + reason if reason else ''}{_summary(headers, body)}"
    answer = _redacted(answer, secrets)
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


def lazy_tls(verify: bool, ca_file: str | None, ssl_context: ssl.SSLContext | None) -> TLSContext:
    """The TLS context for wss://: ``ssl_context`` when given, else one built from ``verify``
    and ``ca_file`` when a socket first needs it."""
    if ssl_context is None:
        return functools.partial(_tls_context, verify, ca_file)
    given = ssl_context
    return lambda: given


def open_websocket(
    url: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None,
    timeout: float,
    tls: TLSContext,
    follow_redirects: bool,
    proxy: str | Literal[False] | None,
    cancel: ConnectCancel | None = None,
) -> socket.socket:
    """Our socket to ``url``, upgraded to a websocket with subprotocol ``etp12.energistics.org``
    within ``timeout`` (see :meth:`~etp_sync.transport._websocket.WebSocketTransport.connect`
    for the arguments); every failure is an :class:`~etp_sync.errors.ETPError` saying what to
    check. ``cancel`` stops the opening (another thread's close): a step it cut short fails
    as it may, a step after it raises the cancel's error."""
    safe = safe_url(url)
    if urlsplit(url).scheme.lower() not in ("ws", "wss"):
        raise ETPInvalidArgument(
            f"an ETP URL starts with ws:// or wss://, got {safe!r} (ETP runs over websockets: "
            "for http://host use ws://host, for https://host use wss://host)"
        )
    request_headers = [f"Sec-WebSocket-Protocol: {ETP_SUBPROTOCOL}"]
    given = list(headers.items() if isinstance(headers, Mapping) else (headers or ()))
    for name, value in given:
        _check_header(name, value)
        if name.lower() in ("sec-websocket-protocol", "sec-websocket-extensions"):
            raise ETPInvalidArgument(f"header {name!r} is set by the transport")
        request_headers.append(f"{name}: {value}")

    _log.debug("opening websocket to %s", safe)
    try:
        sock, resp_headers = _upgrade(
            url, request_headers, timeout, tls, follow_redirects, proxy, cancel
        )
    except websocket.WebSocketBadStatusException as exc:
        raise refusal_error(
            safe,
            int(exc.status_code),
            exc.status_message,
            exc.resp_headers,
            exc.resp_body,
            request_secrets(url, given),
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ETPTransportError(
            f"TLS certificate verification failed for {safe}: {exc.verify_message} (pass "
            "ca_file= with the server's CA, or verify=False for a test server)",
            permanent=True,
        ) from None
    except (TimeoutError, websocket.WebSocketTimeoutException):
        raise ETPConnectTimeout(
            f"timed out after {timeout:g} s opening websocket to {safe}: the host "
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
        if isinstance(exc, ssl.SSLError) and exc.reason in NOT_TLS_REASONS:
            raise ETPTransportError(
                f"{safe} does not answer in TLS ({exc.reason}): is it a plain ws:// endpoint?",
                permanent=True,
            ) from None
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
    return sock
