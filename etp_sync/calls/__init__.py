"""High-level calls of :class:`~etp_sync.ETPSession`, one mixin module per ETP protocol family.

Each mixin relies only on the session's raw API (``request``, ``send``, ``send_and_recv``,
``server``, ``max_message_size``, ``add_handler``, ``add_after_connect``) and on
:meth:`TransactionCalls._write` for writes, so it can be read and tested on its own.
"""

from __future__ import annotations

from .arrays import ArrayCalls, ArrayMetadata
from .dataspaces import DataspaceCalls
from .discovery import DiscoveryCalls
from .notifications import NotificationCalls, NotificationEvent, Subscription
from .results import (
    DataObject,
    Dataspace,
    DeletedResource,
    Edge,
    PutResult,
    Resource,
    Resources,
    SupportedType,
)
from .store import StoreCalls
from .transactions import Transaction, TransactionCalls, TransactionError

__all__ = [
    "ArrayMetadata",
    "CallsMixin",
    "DataObject",
    "Dataspace",
    "DeletedResource",
    "Edge",
    "NotificationEvent",
    "PutResult",
    "Resource",
    "Resources",
    "Subscription",
    "SupportedType",
    "Transaction",
    "TransactionError",
]


class CallsMixin(
    ArrayCalls, DataspaceCalls, DiscoveryCalls, NotificationCalls, StoreCalls, TransactionCalls
):
    """All high-level calls (assembled from the per-protocol mixins)."""
