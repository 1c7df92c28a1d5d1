"""Stopping a connection that another thread is opening: :class:`ConnectCancel`.

Opening a connection blocks in socket calls (the TCP connect, a proxy's CONNECT, TLS, the HTTP
upgrade) and then in the ETP handshake. A session closed meanwhile cancels the opening: each
blocking step runs :meth:`ConnectCancel.watching` what would wake it (a shutdown of the socket,
an abort of the transport), which :meth:`ConnectCancel.cancel` runs at once; the step then
fails, and a step that starts after the cancel raises the cancel's error without blocking.

A shutdown never releases a descriptor, and the opener closes its socket only after it stopped
watching it: both happen under the cancel's lock, so a shutdown never reaches a descriptor
closed (and perhaps reused) meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator

from etp_sync.errors import ETPError, fresh_error

__all__ = ["ConnectCancel", "watching"]

_log = logging.getLogger("etp_sync.transport")


class ConnectCancel:
    """Lets one thread stop the opening of a connection that another thread runs.

    ``event`` is set once :meth:`cancel` was called (a retry policy waits on it between
    attempts); :meth:`watching` wraps each blocking step of the opening.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._error: ETPError | None = None
        self._wakers: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"ConnectCancel(cancelled={self.cancelled})"

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    def error(self) -> ETPError:
        """A fresh copy of the error given to :meth:`cancel` (to raise in the opener)."""
        assert self._error is not None, "not cancelled"
        return fresh_error(self._error)

    def cancel(self, error: ETPError) -> None:
        """Stop the opening: wake the step in progress (its waker runs now, on this thread);
        later steps raise a copy of ``error``. Idempotent (the first error stays)."""
        with self._lock:
            if self._error is None:
                self._error = error
            self.event.set()
            for wake in self._wakers:
                try:
                    wake()
                except Exception:
                    _log.exception("waking a connection being opened failed")

    @contextlib.contextmanager
    def watching(self, wake: Callable[[], None]) -> Iterator[None]:
        """Run the block as a step that :meth:`cancel` ends by calling ``wake`` (which must
        not block); raises the cancel's error at once when it was cancelled already."""
        with self._lock:
            if self._error is not None:
                raise self.error()
            self._wakers.append(wake)
        try:
            yield
        finally:
            with self._lock:
                self._wakers.remove(wake)


def shutdown_of(sock: socket.socket) -> Callable[[], None]:
    """A waker that shuts ``sock`` down (both ways), so that a thread blocked on it wakes up.

    The base class's shutdown is called on a TLS socket too: ``SSLSocket.shutdown`` also drops
    its TLS state, which the thread blocked in a TLS call is using."""

    def wake() -> None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError as exc:  # not connected yet, or already closed
            _log.debug("shutdown of a socket being opened: %s", exc)

    return wake


@contextlib.contextmanager
def watching(cancel: ConnectCancel | None, sock: socket.socket) -> Iterator[None]:
    """:meth:`ConnectCancel.watching` a blocking step on ``sock`` (a shutdown wakes it); does
    nothing without a ``cancel``."""
    if cancel is None:
        yield
        return
    with cancel.watching(shutdown_of(sock)):
        yield
