"""The connection an :class:`~etp_sync.session.ETPSession` keeps: one open engine at a time.

:class:`ConnectionKeeper` (a base of ``ETPSession``) connects with the retry policy within a
call's deadline, reconnects on next use after a drop (or raises when ``auto_reconnect`` is off),
runs the after-connect hooks with the deadline of the call that reconnected, tells the
disconnect hooks of a drop or a close, and closes. How one connection is opened (the
handshake's settings, the headers) is the session's :meth:`_open_connection`.

Closing never waits for a thread that is connecting (it holds the connection lock for all the
retry policy's attempts): ``close()`` marks the session closed and takes the open connection
under a short lock of their own, and cancels the opening in progress (its sockets shut down,
its waits between attempts ended), which then raises ETPSessionClosed; a connection opened
just as the session closed is closed instead of kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from .._timeouts import seconds
from ..errors import (
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPError,
    ETPSessionClosed,
    fresh_error,
)
from ..retry import RetryPolicy
from ..transport._cancel import ConnectCancel
from ..transport._connect import safe_url
from ._engine_sending import REPLY_WAIT

if TYPE_CHECKING:
    from ..calls import TransactionManager
    from .engine import SessionEngine

log = logging.getLogger("etp_sync.session")


class ConnectionKeeper:
    """One open :class:`~etp_sync.session.engine.SessionEngine` at a time, (re)connected on
    demand; thread-safe (one thread connects, the others wait for it within their deadline)."""

    url: str
    timeout: float
    retry: RetryPolicy
    auto_reconnect: bool
    transaction_manager: TransactionManager

    def __init__(self) -> None:
        self._conn: SessionEngine | None = None
        self._conn_lock = threading.RLock()  # held by the thread connecting, for all attempts
        # Short: whether the session is closed, the open connection and the opening in
        # progress change together under it (close() never waits for _conn_lock).
        self._state_lock = threading.Lock()
        self._closed = threading.Event()
        self._opening: ConnectCancel | None = None
        # The dropped connection whose loss a call has raised already (see _connection).
        self._reported: SessionEngine | None = None
        self._after_connect: list[Callable[[], None]] = []
        self._on_disconnect: list[Callable[[ETPError], None]] = []
        self._hook_deadline = threading.local()  # .at: the deadline of the call running hooks
        self.connect_count = 0

    def _open_connection(
        self, deadline: float | None = None, cancel: ConnectCancel | None = None
    ) -> SessionEngine:
        """Open one connection (websocket and ETP handshake) within ``deadline``; ``cancel``
        stops it (a close meanwhile)."""
        raise NotImplementedError

    @property
    def is_open(self) -> bool:
        """A connection is open now."""
        conn = self._conn
        return conn is not None and conn.is_open

    @property
    def closed(self) -> bool:
        """``close()`` was called (and the iterator has not reopened the session since)."""
        return self._closed.is_set()

    def connect(self, *, timeout: float | None = None) -> Self:
        """Open the websocket and the ETP session (retrying per ``retry``); idempotent.

        ``timeout`` (default: the session's ``timeout``, as for any call) bounds the whole,
        every attempt and the waits between them: then
        :class:`~etp_sync.errors.ETPConnectTimeout` (``math.inf``: only the retry policy
        bounds it). Raises :class:`~etp_sync.errors.ETPSessionClosed` after :meth:`close`.
        """
        deadline = time.monotonic() + seconds(self.timeout if timeout is None else timeout)
        self._connection(deadline)
        return self

    def _lock_connection(self, deadline: float | None) -> None:
        """Take the connection lock (held by a thread connecting), within ``deadline``."""
        if deadline is None:
            self._conn_lock.acquire()
        elif not self._conn_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise ETPConnectTimeout(
                f"another thread was still connecting to {safe_url(self.url)} at the deadline"
            )

    def _open(self, deadline: float | None) -> SessionEngine:
        """Connect (lock held): the retry policy's attempts, within ``deadline``; a close
        meanwhile cancels them (ETPSessionClosed)."""
        cancel = ConnectCancel()
        with self._state_lock:
            if self._closed.is_set():
                raise _closed_error()
            self._opening = cancel

        def attempt() -> SessionEngine:
            if cancel.cancelled:  # woken from the wait between attempts
                raise cancel.error()
            return self._open_connection(deadline, cancel)

        try:
            conn = self.retry.run(
                attempt,
                f"connecting to {safe_url(self.url)}",
                deadline=deadline,
                interrupt=cancel.event,
            )
        except Exception as exc:
            if cancel.cancelled and not isinstance(exc, ETPSessionClosed):
                raise cancel.error() from exc  # the attempt cut short failed as it could
            raise
        finally:
            with self._state_lock:
                self._opening = None
        with self._state_lock:
            kept = not self._closed.is_set()
            if kept:
                self._conn = conn
        if not kept:  # opened as the session closed
            conn.close(reason="the session was closed", error=_closed_error("was"))
            raise _closed_error()
        self.connect_count += 1
        return conn

    def _drop_reported(self) -> None:
        """A call raised the loss of the session's connection (its request was cut off):
        without ``auto_reconnect`` the next call connects again rather than raise it twice."""
        conn = self._conn
        if conn is not None and not conn.is_open:
            self._reported = conn

    def _take_connection(self) -> SessionEngine | None:
        """The open connection, which the session no longer holds."""
        with self._state_lock:
            conn, self._conn = self._conn, None
        return conn

    def _drop_connection(self) -> None:
        with self._conn_lock:
            conn = self._take_connection()
        if conn is not None:
            conn.close()

    def _abort_connection(self, reason: str) -> None:
        """Drop the connection at once (no CloseSession, no closing handshake): for a peer that
        did not confirm a commit or rollback in time, so that it rolls back the transaction
        still open on it. Requests in flight fail with ETPConnectionLost(``reason``); the next
        call reconnects (when ``auto_reconnect``)."""
        with self._conn_lock:
            conn = self._take_connection()
        if conn is not None:
            conn.close(
                send_close_session=False,
                abort=True,
                wait=REPLY_WAIT,
                error=ETPConnectionLost(reason),
            )

    def close(self, reason: str = "") -> None:
        """Send CloseSession, close the websocket and stop the threads; idempotent.

        Requests still waiting, and every later call, raise
        :class:`~etp_sync.errors.ETPSessionClosed`; so do, at once, a call connecting meanwhile
        on another thread (its connection attempts are cancelled: close never waits for them)
        and writes waiting for another thread's transaction.
        """
        with self._state_lock:
            self._closed.set()
            conn, self._conn = self._conn, None
            opening = self._opening
        self.transaction_manager.session_closed()  # wakes the writes waiting at its gate
        if opening is not None:
            opening.cancel(_closed_error("was"))
        if conn is not None:
            conn.close(reason=reason, error=_closed_error("was"))
        self._disconnected(_closed_error("was"))

    def _engine_closed(self, error: ETPError) -> None:
        """An engine of ours closed (its reader noticed a drop, or it was closed)."""
        if not self._closed.is_set():
            self._disconnected(error)

    def _disconnected(self, error: ETPError) -> None:
        for hook in list(self._on_disconnect):
            try:
                hook(error)
            except Exception:
                log.exception("disconnect hook %r failed", hook)

    def _connection(self, deadline: float | None = None) -> SessionEngine:
        """The open engine, connecting (or reconnecting after a drop) within ``deadline``."""
        self.transaction_manager.check_bound()  # a dead transaction: nothing sent outside it
        conn = self._conn
        if conn is not None and conn.is_open:
            return conn
        if self._closed.is_set():
            raise _closed_error()
        self._lock_connection(deadline)
        try:
            conn = self._conn
            if conn is not None and conn.is_open:
                return conn
            if conn is not None:
                error = conn.close_error
                with self._state_lock:
                    if self._conn is conn:
                        self._conn = None
                left = 2.0 if deadline is None else deadline - time.monotonic()
                conn.close(send_close_session=False, wait=min(2.0, max(left, 0.0)))
                reported, self._reported = self._reported is conn, None
                if not self.auto_reconnect and not reported:  # the caller learns of the drop
                    raise fresh_error(error) if error else ETPConnectionLost("connection lost")
                log.info("connection lost (%s); reconnecting", error)
            conn = self._open(deadline)
            hooks = list(self._after_connect)
        finally:
            self._conn_lock.release()
        outer = getattr(self._hook_deadline, "at", None)
        self._hook_deadline.at = deadline  # the hooks' requests share the caller's deadline
        try:
            for hook in hooks:
                hook()
        finally:
            self._hook_deadline.at = outer
        return conn

    def _deadline(self, timeout: float | None) -> float:
        """The deadline of a request made now with ``timeout`` (None: the session's), capped
        by the caller's when an after-connect hook makes it."""
        deadline = time.monotonic() + (self.timeout if timeout is None else seconds(timeout))
        cap = getattr(self._hook_deadline, "at", None)
        return deadline if cap is None else min(deadline, cap)

    def _reopen(self) -> None:
        """Let the session connect again after :meth:`close` (the iterator's next round)."""
        with self._state_lock:
            self._closed.clear()

    def add_after_connect(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after every (re)connect, e.g. to restore subscriptions."""
        self._after_connect.append(hook)

    def add_on_disconnect(self, hook: Callable[[ETPError], None]) -> None:
        """Call ``hook(error)`` when the connection is lost: as soon as a drop is noticed (on
        the engine's thread: keep it short) or when ``close()`` is called (``closed`` is then
        True), e.g. to resubscribe in the background."""
        self._on_disconnect.append(hook)


def _closed_error(tense: str = "is") -> ETPSessionClosed:
    return ETPSessionClosed(f"the session {tense} closed", "closed by the client")
