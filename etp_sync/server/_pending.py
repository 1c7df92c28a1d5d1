"""Unfinished multipart requests of one session, bounded in bytes and in time.

A multipart request (a PutDataObjects without FIN, then more parts or Chunk messages) holds its
parts in memory until its FIN arrives. Without bounds a client could send parts forever, or start
a request and never finish it. :class:`PendingRequests` keeps each request with its size and the
time of its last part: a part that takes the session's total past ``max_bytes`` cancels its
request with ELIMIT_EXCEEDED, and :meth:`PendingRequests.expire` hands back the requests that got
no part for ``timeout`` seconds, for the session to cancel (EMULTIPART_CANCELLED). Parts that
arrive after their request was cancelled are dropped quietly (the client has its error already).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from etp_sync.errors import ErrorCode, ETPError

__all__ = ["MAX_CONCURRENT", "PendingRequests"]

# Ids of cancelled requests remembered, so that their late parts are dropped quietly.
_REMEMBER_CANCELLED = 64
# Unfinished multipart requests one session may have at once (ETP's MaxConcurrentMultipart).
MAX_CONCURRENT = 64


@dataclass
class _Entry:
    item: Any
    protocol: int
    size: int
    last_part: float


class PendingRequests:
    """The multipart requests of one session still waiting for their last part."""

    def __init__(self, max_bytes: int, timeout: float) -> None:
        self.max_bytes = int(max_bytes)
        self.timeout = float(timeout)
        self._entries: dict[int, _Entry] = {}
        self._cancelled: deque[int] = deque(maxlen=_REMEMBER_CANCELLED)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Bytes held by all pending requests of the session."""
        return sum(entry.size for entry in self._entries.values())

    def get(self, request_id: int) -> Any:
        """The state kept for ``request_id`` (None if it is not pending)."""
        entry = self._entries.get(request_id)
        return None if entry is None else entry.item

    def hold(self, request_id: int, protocol: int, item: Any, added: int) -> None:
        """Keep ``item`` for ``request_id``, which just received a part of ``added`` bytes.

        Raises ETPError(ELIMIT_EXCEEDED) and forgets the request when the session's pending
        requests would hold more than ``max_bytes``.
        """
        entry = self._entries.get(request_id)
        if entry is None and len(self._entries) >= MAX_CONCURRENT:
            self.cancel(request_id)
            raise ETPError(
                f"multipart request {request_id} refused: this session has {MAX_CONCURRENT} "
                "unfinished multipart requests already",
                ErrorCode.ELIMIT_EXCEEDED,
            )
        if self.total_bytes + added > self.max_bytes:
            size = added + (entry.size if entry is not None else 0)
            self.cancel(request_id)
            raise ETPError(
                f"multipart request {request_id} cancelled: with its {size} bytes this "
                f"session's unfinished multipart requests would hold more than "
                f"{self.max_bytes} bytes (the server's max_pending_bytes)",
                ErrorCode.ELIMIT_EXCEEDED,
            )
        now = time.monotonic()
        if entry is None:
            self._entries[request_id] = _Entry(item, protocol, added, now)
        else:
            entry.item, entry.size, entry.last_part = item, entry.size + added, now

    def pop(self, request_id: int) -> Any:
        """Forget ``request_id`` (its last part arrived, or it failed); its state or None."""
        entry = self._entries.pop(request_id, None)
        return None if entry is None else entry.item

    def cancel(self, request_id: int) -> None:
        """Forget ``request_id`` and drop its later parts quietly."""
        self._entries.pop(request_id, None)
        self._cancelled.append(request_id)

    def was_cancelled(self, request_id: int) -> bool:
        """Whether ``request_id`` was cancelled lately (its error was sent already)."""
        return request_id in self._cancelled

    def expire(self, now: float | None = None) -> list[tuple[int, int]]:
        """Cancel the requests without a part for ``timeout`` s; their ``(id, protocol)``."""
        if not self._entries:
            return []
        now = time.monotonic() if now is None else now
        late = [
            (request_id, entry.protocol)
            for request_id, entry in self._entries.items()
            if now - entry.last_part >= self.timeout
        ]
        for request_id, _protocol in late:
            self.cancel(request_id)
        return late

    def clear(self) -> None:
        """Forget every pending request (the session ended)."""
        self._entries.clear()
