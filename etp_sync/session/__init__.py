"""The session layer: :class:`ETPSession` (reconnecting, thread-safe, with every high-level call)
over the session engine (:mod:`etp_sync.session.engine`: handshake, correlation, reader and
dispatch threads)."""

from __future__ import annotations

from .engine import SessionEngine
from .etp_session import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Authorization,
    ETPSession,
    RequestHandle,
    etp_connect,
)
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
