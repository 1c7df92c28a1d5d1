"""The store changes waiting for one session's notifier thread, bounded in bytes.

The store calls a session's listener in the writer's thread, so :meth:`NotificationQueue.put`
never blocks and never sends: the session's notifier thread takes the batches with
:meth:`NotificationQueue.get` and sends them. A subscriber that reads more slowly than other
clients write would otherwise let the queue, and the documents it holds, grow without end. Past
``max_bytes`` the queue drops every change it holds (and those that come until the notifier has
noticed) and hands the notifier one :class:`Overflow` instead; the session then ends its
subscriptions with SubscriptionEnded, whose reason says what was lost, as ETP lets a store end a
subscription at any time. The customer knows it missed changes and can subscribe again.

A batch that arrives when nothing is waiting is always queued, however big: its changes were
just committed, and a subscriber that keeps up must not lose its subscriptions to one large
commit. So the queue holds at most ``max_bytes``, or one batch.

The server listens to its store once for all its sessions (:class:`ChangeFanOut`): each batch is
measured once and queued to every session that watches the store, not measured again by each.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from etp_sync.errors import ETPInvalidArgument

from .store import ChangeEvent, Store
from .store._core import RECORD_BYTES, object_bytes

__all__ = ["ChangeFanOut", "NotificationQueue", "Overflow", "change_bytes"]


def change_bytes(events: Sequence[ChangeEvent]) -> int:
    """What a batch of changes counts against the bound: each URI, and each document it keeps
    alive (counted as the store counts it, though the store may still share it)."""
    return sum(
        len(e.uri) + (object_bytes(e.obj) if e.obj is not None else RECORD_BYTES) for e in events
    )


@dataclass(frozen=True)
class Overflow:
    """What the notifier gets in place of the changes dropped when the queue overflowed."""

    max_bytes: int
    dropped_changes: int
    dropped_bytes: int
    first_change_us: int  # change time of the earliest dropped change (µs since the epoch)

    @property
    def reason(self) -> str:
        """The SubscriptionEnded reason: what was lost, why, and what to do."""
        return (
            f"notifications not delivered: {self.dropped_changes} change(s) of "
            f"{self.dropped_bytes} bytes since changeTime {self.first_change_us} overflowed the "
            f"server's notification queue of this session ({self.max_bytes} bytes, its "
            "max_notification_bytes) because the session reads more slowly than the store "
            "changes; subscribe again and re-read what changed"
        )


class NotificationQueue:
    """Batches of store changes for one session, at most ``max_bytes`` of them (or one batch).

    :meth:`put` is called by writers (never blocks), :meth:`get` by the one notifier thread,
    :meth:`close` when the session ends.
    """

    def __init__(self, max_bytes: int) -> None:
        if not max_bytes > 0:
            raise ETPInvalidArgument(f"max_bytes must be positive (got {max_bytes!r})")
        self.max_bytes = int(max_bytes)
        self._batches: deque[tuple[list[ChangeEvent], int]] = deque()
        self._nbytes = 0
        self._overflow: Overflow | None = None
        self._closed = False
        self._ready = threading.Condition(threading.Lock())
        self.overflows = 0  # how many times the queue overflowed (for logs and tests)

    @property
    def nbytes(self) -> int:
        """Bytes of the changes waiting (see :func:`change_bytes`)."""
        return self._nbytes

    def put(self, events: list[ChangeEvent], size: int | None = None) -> None:
        """Queue a committed batch of ``size`` bytes (None: :func:`change_bytes` of it); past
        the bound, drop it with everything waiting."""
        if not events:
            return
        if size is None:
            size = change_bytes(events)
        with self._ready:
            if self._closed:
                return
            if self._overflow is None and (
                not self._batches or self._nbytes + size <= self.max_bytes
            ):
                self._batches.append((events, size))
                self._nbytes += size
                self._ready.notify()
                return
            dropped = [events, *(batch for batch, _ in self._batches)]
            first = min(e.time_us for batch in dropped for e in batch)
            count = sum(len(batch) for batch in dropped)
            previous = self._overflow
            if previous is None:
                self.overflows += 1
                self._overflow = Overflow(self.max_bytes, count, self._nbytes + size, first)
            else:  # the notifier has not taken the overflow yet: these changes are lost too
                self._overflow = Overflow(
                    self.max_bytes,
                    previous.dropped_changes + count,
                    previous.dropped_bytes + size,
                    min(previous.first_change_us, first),
                )
            self._batches.clear()
            self._nbytes = 0
            self._ready.notify()

    def get(self) -> list[ChangeEvent] | Overflow | None:
        """The next batch, or the :class:`Overflow` that replaced the lost ones; None once
        closed. Blocks until there is one."""
        with self._ready:
            while True:
                if self._closed:
                    return None
                overflow = self._overflow
                if overflow is not None:
                    self._overflow = None
                    return overflow
                if self._batches:
                    events, size = self._batches.popleft()
                    self._nbytes -= size
                    return events
                self._ready.wait()

    def close(self) -> None:
        """Drop what waits and wake the notifier (:meth:`get` returns None from now on)."""
        with self._ready:
            self._closed = True
            self._batches.clear()
            self._nbytes = 0
            self._overflow = None
            self._ready.notify_all()


class ChangeFanOut:
    """The one store listener of a server for all its sessions' queues: each committed batch
    is measured once (:func:`change_bytes`) and put in every queue added here.

    Listens to ``store`` only while it has a queue, so a server without subscribers costs a
    commit nothing. :meth:`add` and :meth:`remove` may be called from any thread.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._queues: tuple[NotificationQueue, ...] = ()  # replaced whole, read without lock
        self.last_change_us = 0
        """changeTime of the last batch handed out while listening (batches go out in commit
        order, their times increasing): a subscription made after reading it wants only later
        changes, not those still waiting in its session's queue."""

    def add(self, queue: NotificationQueue) -> None:
        """Queue every batch committed from now on to ``queue`` too (idempotent)."""
        with self._lock:
            if queue in self._queues:
                return
            if not self._queues:
                self._store.add_listener(self._on_changes)
            self._queues = (*self._queues, queue)

    def remove(self, queue: NotificationQueue) -> None:
        """Stop queueing to ``queue`` (unknown queues are ignored)."""
        with self._lock:
            if queue not in self._queues:
                return
            self._queues = tuple(q for q in self._queues if q is not queue)
            if not self._queues:
                self._store.remove_listener(self._on_changes)

    def _on_changes(self, events: list[ChangeEvent]) -> None:
        """The store's listener (in the writer's thread): measure once, queue to each."""
        queues = self._queues
        if not queues or not events:
            return
        self.last_change_us = max(e.time_us for e in events)
        size = change_bytes(events)
        for queue in queues:
            queue.put(events, size)
