"""etp_sync: a synchronous, thread-backed client for the Energistics Transfer Protocol 1.2.

One persistent, thread-safe, blocking session that reconnects by itself, covers the store
protocols, moves numpy arrays at close to memory speed, and ships an embedded ETP server
(:mod:`etp_sync.server`) for offline testing::

    from etp_sync import ETPSession
    with ETPSession("ws://localhost:9100") as session:
        print(session.server.protocols)
"""

from __future__ import annotations

from ._version import __version__
from .calls import (
    ArrayMetadata,
    DataObject,
    Dataspace,
    DeletedResource,
    Edge,
    NotificationEvent,
    PutResult,
    Resource,
    Resources,
    Subscription,
    SupportedType,
    Transaction,
)
from .errors import (
    EPCError,
    ErrorCode,
    ETPAuthorizationError,
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPDecodeError,
    ETPEncodeError,
    ETPError,
    ETPInvalidArgument,
    ETPMessageTooLarge,
    ETPMissingDependency,
    ETPNotNegotiated,
    ETPPartialFailure,
    ETPProtocolError,
    ETPReadTimeout,
    ETPRemoteError,
    ETPResponseTooLarge,
    ETPSessionClosed,
    ETPTimeout,
    ETPTransportError,
    ETPWriteTimeout,
    InvalidURIError,
    TransactionError,
)
from .protocol.negotiation import ServerInfo
from .retry import RetryPolicy
from .session import ETPSession, RequestHandle, etp_connect
from .uri import DataObjectURI, DataspaceURI, parse_uri

__all__ = [
    "ArrayMetadata",
    "DataObject",
    "DataObjectURI",
    "Dataspace",
    "DataspaceURI",
    "DeletedResource",
    "EPCError",
    "ETPAuthorizationError",
    "ETPConnectTimeout",
    "ETPConnectionLost",
    "ETPDecodeError",
    "ETPEncodeError",
    "ETPError",
    "ETPInvalidArgument",
    "ETPMessageTooLarge",
    "ETPMissingDependency",
    "ETPNotNegotiated",
    "ETPPartialFailure",
    "ETPProtocolError",
    "ETPReadTimeout",
    "ETPRemoteError",
    "ETPResponseTooLarge",
    "ETPSession",
    "ETPSessionClosed",
    "ETPTimeout",
    "ETPTransportError",
    "ETPWriteTimeout",
    "Edge",
    "ErrorCode",
    "InvalidURIError",
    "NotificationEvent",
    "PutResult",
    "RequestHandle",
    "Resource",
    "Resources",
    "RetryPolicy",
    "ServerInfo",
    "Subscription",
    "SupportedType",
    "Transaction",
    "TransactionError",
    "__version__",
    "etp_connect",
    "parse_uri",
]
