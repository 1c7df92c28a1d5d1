"""The session layer: :class:`ETPSession` (reconnecting, thread-safe, with every high-level call)
over the session engine (:mod:`etp_sync.session.engine`: handshake, correlation, reader and
dispatch threads)."""

from __future__ import annotations

from ._etp_connect import etp_connect
from ._request_handle import RequestHandle
from .engine import SessionEngine
from .etp_session import DEFAULT_MAX_MESSAGE_SIZE, Authorization, ETPSession
from .handlers import Handler, HandlerRegistry

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Authorization",
    "ETPSession",
    "Handler",
    "HandlerRegistry",
    "RequestHandle",
    "SessionEngine",
    "etp_connect",
]
