"""What both halves of a :class:`~etp_sync.session.engine.SessionEngine` share: its attributes
(set by the engine's ``__init__``), the limits negotiated, and failing the connection, which
either half may find broken (:meth:`EngineState._fail`)."""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..codec import MessageFramer
from ..errors import ETPConnectionLost, ETPError, fresh_error
from ..protocol.correlation import Correlator, MessageIds, PendingRequest, ReplyTarget
from ..protocol.negotiation import ServerInfo, object_room
from ..schema import Record
from ..transport._websocket import WebSocketTransport

log = logging.getLogger("etp_sync.session.engine")

Handler = Callable[[Any, Any], None]
RESPONSE_MESSAGES = 4
"""Default bound of one reply, all its parts together: this many negotiated maximum-size
messages, or room for the largest data object the server takes (see :func:`object_room`),
whichever is larger (see ``max_response_size``)."""

# Per message class: (protocol, message type, name, the message types that may answer it, the
# framer that encodes it).
_Kind = tuple[int, int, str, "frozenset[int] | None", MessageFramer]


class EngineState:
    """The engine's attributes, its limits and its failure (see the module docstring)."""

    transport: WebSocketTransport
    trace: bool
    client_max_message_size: int
    max_response_size: int | None
    compression_wanted: bool
    server: ServerInfo | None
    ids: MessageIds
    correlator: Correlator
    close_error: ETPError | None
    last_frame: float
    _order: threading.Lock
    _replies: collections.deque[tuple[Record, int]]
    _on_unsolicited: Handler | None
    _on_close: Callable[[ETPError], None] | None
    _opened: bool
    _dispatch_queue: queue.SimpleQueue[tuple[Any, Any] | None]
    _closed: threading.Event
    _fail_lock: threading.Lock
    _placed: ReplyTarget | None
    _kinds: dict[type, _Kind]
    _compress: bool | None
    _limit: int
    _send_limit: int
    _decode_limit: int
    _reader: threading.Thread
    _dispatcher: threading.Thread
    # Who reads the connection (see _engine_receiving): under _turn, whose condition the
    # reader thread parks on.
    _turn: threading.Condition
    _turn_lock: threading.Lock  # _turn's lock, taken directly where no wait or notify follows
    _reading: bool  # a thread (the reader thread or a caller) reads the connection
    _wanted: bool  # a caller asks the reader thread to read
    _active: bool  # a caller waited for a reply since the reader thread last looked
    _direct: bool  # callers may read (see WebSocketTransport.reads_bounded)
    _read_for: Callable[[PendingRequest, float | None], None]  # a request's assist (receiving)

    @property
    def is_open(self) -> bool:
        return self.close_error is None

    @property
    def max_message_size(self) -> int:
        """The effective message size limit (the smaller of both endpoints' limits)."""
        return self.server.max_message_size if self.server else self.client_max_message_size

    @property
    def response_limit(self) -> int:
        """The most bytes one reply may amount to, all its parts together."""
        if self.max_response_size is not None:
            return self.max_response_size
        limit = RESPONSE_MESSAGES * self.max_message_size
        if self.server is not None:
            limit = max(limit, object_room(self.server))
        return limit

    def _check_open(self) -> None:
        if self.close_error is not None:
            raise self._error_to_raise()

    def _error_to_raise(self) -> ETPError:
        """This thread's own copy of the error that ended the connection."""
        if self.close_error is None:
            return ETPConnectionLost("the connection is closed")
        return fresh_error(self.close_error)

    def _fail(self, error: ETPError) -> None:
        """The connection is unusable: fail every waiter, refuse new requests, let the
        dispatch thread end after delivering what arrived before."""
        with self._fail_lock:
            first = self.close_error is None
            if first:
                error.__traceback__ = None
                self.close_error = error
                self._dispatch_queue.put(None)  # the dispatch thread's last item (see _dispatch)
            self._closed.set()
        self.correlator.fail_all(self.close_error or error, close=True)
        with self._turn:
            self._turn.notify()  # a parked reader thread ends
        if first and self._opened and self._on_close is not None:  # once, whoever noticed first
            try:
                self._on_close(fresh_error(self.close_error or error))
            except Exception:
                log.exception("on_close callback failed")
