"""The opt-in wire trace: one log line per ETP message, never its body.

Enabled by ``trace=True`` or the environment variable ``ETP_SYNC_TRACE=1``; lines go to the
``etp_sync.trace`` logger at DEBUG level: direction, protocol and message type (number and
name), message id, correlation id, flags and size in bytes. Bodies (and so tokens, which only
travel in bodies and HTTP headers) are never logged. When nothing in the program configured
logging, enabling the trace adds a handler writing to stderr, so that it shows.
"""

from __future__ import annotations

import logging
import os

from ..codec import MessageFlags, peek_header
from ..schema import Record

trace_log = logging.getLogger("etp_sync.trace")

_FLAG_NAMES = (
    (MessageFlags.FIN, "FIN"),
    (MessageFlags.COMPRESSED, "COMPRESSED"),
    (MessageFlags.ACKNOWLEDGE, "ACK"),
    (MessageFlags.HEADER_EXTENSION, "EXT"),
)


def trace_enabled(trace: bool | None) -> bool:
    """``trace`` when given, else whether ``ETP_SYNC_TRACE`` is set to a true value; makes
    sure the lines show when tracing is on."""
    if trace is None:
        trace = os.environ.get("ETP_SYNC_TRACE", "").strip().lower() in ("1", "true", "yes", "on")
    if trace:
        if trace_log.level == logging.NOTSET or trace_log.level > logging.DEBUG:
            trace_log.setLevel(logging.DEBUG)
        if not trace_log.hasHandlers():
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            trace_log.addHandler(handler)
    return trace


def flag_names(flags: int) -> str:
    """``FIN|COMPRESSED`` style names of the set bits (``-`` for none)."""
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    return "|".join(names) or "-"


def trace_message(direction: str, frame_start: bytes, size: int, body: Record | None) -> None:
    """Log one message: ``direction`` is ``->`` (sent) or ``<-`` (received); the header is
    read from the first bytes of the frame (so flags are the ones on the wire)."""
    header = peek_header(frame_start)
    name = body.etp_name if body is not None else "?"
    if header is None:
        trace_log.debug("%s %s (unreadable header) %d B", direction, name, size)
        return
    protocol, message_type, correlation_id, message_id, flags = header
    trace_log.debug(
        "%s %d.%d %s id=%d corr=%d flags=%s %d B",
        direction,
        protocol,
        message_type,
        name,
        message_id,
        correlation_id,
        flag_names(flags),
        size,
    )
