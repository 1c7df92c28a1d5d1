"""Callbacks for server-initiated messages (notifications, unsolicited ProtocolExceptions).

The registry outlives connections: the session hands :meth:`HandlerRegistry.dispatch` to every
engine it opens, so handlers keep working across reconnects. ``dispatch`` runs on the engine's
dispatch thread, never on its reader thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("etp_sync.session")

Handler = Callable[[Any, Any], None]


class HandlerRegistry:
    """Handlers matched by protocol and message type (``None`` matches any)."""

    def __init__(self) -> None:
        self._entries: list[tuple[int | None, int | None, Handler]] = []
        self._lock = threading.Lock()

    def add(
        self, callback: Handler, *, protocol: int | None = None, message_type: int | None = None
    ) -> Callable[[], None]:
        """Register ``callback(header, message)``; returns a function that removes it."""
        entry = (protocol, message_type, callback)
        with self._lock:
            self._entries.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in self._entries:
                    self._entries.remove(entry)

        return remove

    def dispatch(self, header: Any, body: Any) -> None:
        """Call every matching handler; one that raises is logged and the others still run."""
        if header.message_type == 1000:
            log.warning("unsolicited ProtocolException from the server: %r", body)
        with self._lock:
            handlers = [
                cb
                for p, mt, cb in self._entries
                if (p is None or p == header.protocol) and (mt is None or mt == header.message_type)
            ]
        if not handlers:
            log.debug("no handler for unsolicited %s", body.etp_name)
        for cb in handlers:
            try:
                cb(header, body)
            except Exception:
                log.exception("handler %r for %s raised", cb, body.etp_name)
