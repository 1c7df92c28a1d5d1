"""The write gate of a session: who may write on it now.

ETP allows one open transaction per session and its messages do not name it, so every write
sent while it is open belongs to it. The :class:`WriteGate` makes the thread that opened the
transaction the only writer until it ends; other threads' writes wait for it (bounded by their
own deadline, and ended by a close of the session) while their reads go on. Held by the
session's :class:`~etp_sync.calls.transactions.TransactionManager`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import ETPSessionClosed, ETPTimeout, TransactionError
from ._core import Deadline


class WriteGate:
    """Who may write on a session now: the one thread holding its transaction (exclusive), or
    any number of threads writing outside a transaction (shared). Waiting transactions go
    before new shared writers, so a stream of plain writes cannot starve them.

    ``closed()`` says whether the session is closed: a write waiting here then raises
    :class:`~etp_sync.errors.ETPSessionClosed` instead of waiting for its deadline; the session
    calls :meth:`wake` as it closes."""

    def __init__(self, closed: Callable[[], bool] = lambda: False) -> None:
        self._closed = closed
        self._cond = threading.Condition()
        self.owner: int | None = None
        self._shared = 0
        self._waiting = 0

    def __repr__(self) -> str:
        return f"WriteGate(owner={self.owner}, shared={self._shared}, waiting={self._waiting})"

    def hold(self, deadline: Deadline) -> None:
        """Take the gate for a transaction of this thread (waits for the other writers)."""
        with self._cond:
            if self.owner == threading.get_ident():
                raise TransactionError(
                    "this thread already has the session's open transaction: transactions do "
                    "not nest (ETP allows one per session); write inside the open one"
                )
            self._waiting += 1
            try:
                self._wait(lambda: self.owner is None and self._shared == 0, deadline)
            except BaseException:
                self._waiting -= 1
                self._cond.notify_all()  # plain writers held back by this transaction may go
                raise
            self._waiting -= 1
            self.owner = threading.get_ident()

    def wake(self) -> None:
        """The session was closed: every write waiting here raises ETPSessionClosed now."""
        with self._cond:
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            if self.owner == threading.get_ident():
                self.owner = None
                self._cond.notify_all()

    @contextmanager
    def shared(self, deadline: Deadline) -> Iterator[None]:
        """Write outside a transaction: wait while another thread's transaction is open (or
        waiting). The common case, no transaction at all, takes one test and no wake-ups."""
        with self._cond:
            if self.owner is not None or self._waiting:
                self._wait(lambda: self.owner is None and self._waiting == 0, deadline)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if self._waiting and not self._shared:  # a transaction waits for the last one
                    self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool], deadline: Deadline) -> None:
        while not ready():
            if self._closed():
                raise ETPSessionClosed("the session was closed", "closed by the client")
            left = deadline.at - time.monotonic()
            if left <= 0:
                raise ETPTimeout(
                    "another thread's transaction kept the session's writes busy beyond the "
                    f"timeout of {deadline.seconds:g} s"
                )
            self._cond.wait(left)
