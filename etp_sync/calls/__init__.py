"""High-level calls of :class:`~etp_sync.ETPSession`, one mixin module per ETP protocol family.

Each mixin relies only on the session's raw API (``request``, ``send``, ``send_and_recv``,
``server``, ``max_message_size``) so it can be read and tested on its own.
"""

from __future__ import annotations


class CallsMixin:
    """All high-level calls (assembled from the per-protocol mixins)."""
