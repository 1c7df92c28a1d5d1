"""High-level calls of :class:`~etp_sync.ETPSession`, one mixin module per ETP protocol family.

Each mixin derives from :class:`~etp_sync.calls._core.SessionAPI`, the protocol of what the
calls need from a session (``request``, ``send``, ``send_and_recv``, ``server``, ...), holds no
state, and writes through the session's :class:`TransactionManager`; notification state lives in
its :class:`SubscriptionRegistry`. So each can be read, type-checked and tested on its own.
"""

from __future__ import annotations

from ._array_meta import ArrayMetadata
from ._core import ResponseHandle, SessionAPI
from ._subscription_registry import SubscriptionRegistry
from .arrays import ArrayCalls
from .dataspaces import DataspaceCalls
from .discovery import DiscoveryCalls
from .notifications import NotificationCalls
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
from .subscriptions import NotificationEvent, Subscription
from .transactions import Transaction, TransactionCalls, TransactionError, TransactionManager

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
    "ResponseHandle",
    "SessionAPI",
    "Subscription",
    "SubscriptionRegistry",
    "SupportedType",
    "Transaction",
    "TransactionError",
    "TransactionManager",
]


class CallsMixin(
    ArrayCalls, DataspaceCalls, DiscoveryCalls, NotificationCalls, StoreCalls, TransactionCalls
):
    """All high-level calls (assembled from the per-protocol mixins)."""
