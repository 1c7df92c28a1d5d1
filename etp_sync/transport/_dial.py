"""TCP connections within a deadline, the host name lookup included.

``socket.getaddrinfo`` cannot be interrupted, and takes as long as the system's resolver decides
(seconds per DNS server and attempt), so :func:`dial` runs it in a daemon thread and waits only
for the time the connect has left: past it the connect fails with
:class:`~etp_sync.errors.ETPConnectTimeout` and the thread ends on its own later. A lookup of the
same host and port that is still running is waited for rather than started again, so retries
against a dead DNS server do not pile up threads. Addresses given as numbers need no lookup.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

from etp_sync.errors import ETPConnectTimeout, ETPTransportError

from ._cancel import ConnectCancel, watching

__all__ = ["dial", "lookup"]

AddrInfo = tuple[Any, ...]  # (family, type, proto, canonname, sockaddr), as getaddrinfo gives


class _Lookup:
    """One running lookup: its outcome once ``done`` is set."""

    __slots__ = ("addresses", "done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.addresses: list[AddrInfo] = []
        self.error: BaseException | None = None


_running: dict[tuple[str, int], _Lookup] = {}
_running_lock = threading.Lock()


def _numeric(host: str, port: int) -> list[AddrInfo] | None:
    """The address of a host given as an IP address (no lookup needed), else None."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    if ip.scope_id:  # a scoped address: the system knows how to read the scope
        return None
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]


def _run(key: tuple[str, int], pending: _Lookup) -> None:
    try:
        pending.addresses = socket.getaddrinfo(key[0], key[1], 0, socket.SOCK_STREAM)
    except BaseException as exc:  # handed to every waiter (gaierror, UnicodeError, ...)
        pending.error = exc
    finally:
        with _running_lock:
            if _running.get(key) is pending:
                del _running[key]
        pending.done.set()


def lookup(host: str, port: int, deadline: float) -> list[AddrInfo]:
    """The TCP addresses of ``host:port``, looked up by ``deadline`` (monotonic seconds).

    :class:`~etp_sync.errors.ETPConnectTimeout` when the lookup has not finished by then;
    ``socket.gaierror`` when the name does not resolve.
    """
    numeric = _numeric(host, port)
    if numeric is not None:
        return numeric
    key = (host, port)
    with _running_lock:
        pending = _running.get(key)
        if pending is None:
            pending = _running[key] = _Lookup()
            threading.Thread(
                target=_run, args=(key, pending), name=f"etp-lookup-{host}", daemon=True
            ).start()
    if not pending.done.wait(max(deadline - time.monotonic(), 0.0)):
        raise ETPConnectTimeout(
            f"timed out looking up the host {host!r}: the name resolver did not answer within "
            "the connect timeout (check the host name and the DNS settings)"
        )
    error = pending.error
    if isinstance(error, socket.gaierror):
        raise socket.gaierror(error.errno, error.strerror)  # a fresh one per waiter
    if error is not None:
        raise ETPTransportError(
            f"cannot look up the host {host!r}: {type(error).__name__}: {error}"
        ) from None
    return pending.addresses


def dial(
    host: str, port: int, deadline: float, cancel: ConnectCancel | None = None
) -> socket.socket:
    """A TCP connection to ``host:port`` opened by ``deadline`` (monotonic seconds): the name
    looked up (see :func:`lookup`), then each address tried in turn with the time left, as
    ``socket.create_connection`` does. Raises the last address's error (TimeoutError when the
    time ran out). ``cancel`` stops a connect in progress (see :mod:`._cancel`)."""
    last: OSError | None = None
    for family, kind, proto, _name, address in lookup(host, port, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no TCP connection to {host}:{port} in time")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            with watching(cancel, sock):
                sock.connect(address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:  # cancelled before the connect began
            sock.close()
            raise
        return sock
    raise last if last is not None else OSError(f"no address found for {host}:{port}")
