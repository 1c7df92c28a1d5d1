"""High-level calls of :class:`~etp_sync.ETPSession`, one mixin module per ETP protocol family.

Each mixin relies only on the session's raw API (``request``, ``send``, ``send_and_recv``,
``server``, ``max_message_size``, ``add_handler``, ``add_after_connect``) and on
:meth:`TransactionCalls._write` for writes, so it can be read and tested on its own.
"""

from __future__ import annotations

from .transactions import Transaction, TransactionCalls, TransactionError

__all__ = ["CallsMixin", "Transaction", "TransactionError"]


class CallsMixin(TransactionCalls):
    """All high-level calls (assembled from the per-protocol mixins)."""
