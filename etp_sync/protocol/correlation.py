"""Message ids, and routing of response parts to the request that is waiting for them.

Pure protocol state, free of sockets: whichever thread reads the connection calls
:meth:`Correlator.route` for each decoded message; a caller blocks in
:meth:`PendingRequest.result` on its own queue until the part flagged FIN arrives, its deadline
passes or the connection fails. Before it blocks, it calls the request's ``assist``, if the
connection gave it one: the connection may then read in the caller's own thread (see
:mod:`etp_sync.session._engine_receiving`).

Replies are checked as they arrive, on the reader thread, before they reach the waiter: a
message type that does not answer the request (see :mod:`~etp_sync.protocol.replies`) fails it
with :class:`~etp_sync.errors.ETPProtocolError`, and so does a multipart reply that grows past
the request's byte budget (each part counted at least :data:`PART_COST` bytes, so endless tiny
parts are bounded too). The request is then forgotten: later parts are dropped, so memory stays
bounded whatever the peer sends. Every waiter raises its own copy of a shared failure
(:func:`~etp_sync.errors.fresh_error`).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import (
    ETPConnectionLost,
    ETPError,
    ETPProtocolError,
    ETPReadTimeout,
    ETPRemoteError,
    ETPResponseTooLarge,
    error_name,
    fresh_error,
)
from .replies import ACKNOWLEDGE, PROTOCOL_EXCEPTION, reply_types

log = logging.getLogger("etp_sync.protocol")

FIN = 0x02
PART_COST = 512
"""The least number of bytes a reply part counts against its request's budget (a decoded
message costs memory beyond its wire size)."""


class ReplyTarget(Protocol):
    """Memory a request's reply may be received into (see :mod:`etp_sync.codec._placement`):
    the reader thread asks :meth:`place` with a frame's first bytes, receives the bytes it
    names there, and has :meth:`decode` make the message from the rest."""

    @property
    def nbytes(self) -> int: ...

    def place(self, prefix: memoryview, length: int) -> tuple[int, memoryview] | None: ...

    def decode(self, rest: bytes | bytearray | memoryview) -> tuple[Any, Any]: ...


class MessageIds:
    """Strictly increasing message ids: even from 2 for a client, odd from 1 for a server."""

    def __init__(self, *, server: bool = False) -> None:
        self.next: Callable[[], int] = itertools.count(1 if server else 2, 2).__next__
        """The next id; thread-safe (``itertools.count`` advances atomically, in C: no
        Python frame per message)."""


@dataclass
class Response:
    """Every part of a (possibly multipart) response, in arrival order.

    ``messages`` are the ordinary response bodies; ``errors`` collects ProtocolException bodies
    that arrived under the same correlation id (per-item failures of a multi-item request).
    """

    messages: list[Any]
    errors: list[Any]

    def collect(self, field: str, convert: Callable[[Any], Any]) -> list[Any]:
        """Every item of the list field ``field`` across all parts, converted.

        Raises :class:`ETPRemoteError` carrying those items as successes if any
        ProtocolException arrived.
        """
        items = [convert(x) for m in self.messages for x in getattr(m, field, ())]
        if self.errors:
            raise protocol_exception_error(self.errors, items)
        return items

    def raise_for_errors(self) -> None:
        """Raise :class:`ETPRemoteError` if any ProtocolException arrived (successes kept)."""
        if not self.errors:
            return
        raise protocol_exception_error(self.errors, self.messages)


def protocol_exception_error(errors: list[Any], successes: Any = None) -> ETPRemoteError:
    """Build one :class:`ETPRemoteError` from ProtocolException bodies."""
    whole = [e.error for e in errors if e.error is not None]
    per_item: dict[str, tuple[int, str]] = {}
    for e in errors:
        for key, info in e.errors.items():
            per_item[key] = (info.code, info.message)
    if whole:
        code, text = whole[0].code, whole[0].message
    elif per_item:
        code, text = next(iter(per_item.values()))
    else:
        code, text = None, "ProtocolException without error details"
    if per_item:
        detail = "; ".join(
            f"{k}: {m} ({error_name(c)})" for k, (c, m) in list(per_item.items())[:5]
        )
        more = f" and {len(per_item) - 5} more" if len(per_item) > 5 else ""
        text = f"{len(per_item)} item(s) failed: {detail}{more}" if not whole else text
    cls: type[ETPRemoteError] = ETPRemoteError
    if per_item and not whole and successes:
        from ..errors import ETPPartialFailure

        cls = ETPPartialFailure
    return cls(text, code, per_item, successes)


class PendingRequest:
    """A request in flight: its parts arrive on a private queue.

    ``replies`` holds the message types that may answer it (None: not checked), ``max_bytes``
    the most its reply may amount to, all parts together (None: unbounded).
    """

    __slots__ = (
        "_correlator",
        "_queue",
        "assist",
        "max_bytes",
        "message_id",
        "name",
        "nothing_queued",
        "protocol",
        "received",
        "replies",
        "target",
    )

    def __init__(
        self,
        message_id: int,
        name: str,
        correlator: Correlator,
        protocol: int | None = None,
        replies: frozenset[int] | None = None,
        max_bytes: int | None = None,
        target: ReplyTarget | None = None,
    ) -> None:
        self.message_id = message_id
        self.target = target
        self.name = name
        self.protocol = protocol
        self.replies = replies
        self.max_bytes = max_bytes
        self.received = 0
        self._queue: queue.SimpleQueue[tuple[Any, Any] | BaseException] = queue.SimpleQueue()
        self._correlator = correlator
        self.nothing_queued: Callable[[], bool] = self._queue.empty
        """Whether no reply part (nor a failure) waits to be taken by :meth:`result`."""
        self.assist: Callable[[PendingRequest, float | None], None] | None = None
        """Called by :meth:`result` before it waits with nothing queued, with this request and
        the wait's deadline: it may bring parts in (route them) and must return by then."""

    def put(self, item: tuple[Any, Any] | BaseException) -> None:
        self._queue.put(item)

    def check(self, header: Any, size: int) -> ETPProtocolError | None:
        """The error a reply part breaks this request with (wrong type, too big), else None;
        counts the part against the byte budget."""
        kind = header.message_type
        if self.replies is not None and (
            kind not in self.replies
            or (kind not in (PROTOCOL_EXCEPTION, ACKNOWLEDGE) and header.protocol != self.protocol)
        ):
            return ETPProtocolError(
                f"the server answered {self.name} (message {self.message_id}) with message "
                f"type {kind} of protocol {header.protocol}, which does not answer it"
            )
        self.received += max(size, PART_COST)
        if self.max_bytes is not None and self.received > self.max_bytes:
            return ETPResponseTooLarge(
                f"the reply to {self.name} (message {self.message_id}) exceeded "
                f"{self.max_bytes} bytes (max_response_size) without ending; a session "
                "with a larger max_response_size accepts it"
            )
        return None

    def result(self, timeout: float | None = None, *, deadline: float | None = None) -> Response:
        """Block until the final part (FIN) arrives; raise on timeout or connection failure.

        ``deadline`` (a ``time.monotonic()`` value) wins over ``timeout`` when given. On
        timeout the request is forgotten: late parts are dropped (and logged) by the correlator.
        """
        if deadline is None and timeout is not None:
            deadline = time.monotonic() + timeout
        messages: list[Any] = []
        errors: list[Any] = []
        get = self._queue.get
        assist = self.assist
        try:
            while True:
                if assist is not None and self._queue.empty():
                    assist(self, deadline)
                if deadline is None:
                    item = get()
                else:
                    left = deadline - time.monotonic()
                    try:
                        item = get(True, left if left > 0.0 else 0.0)  # block, timeout
                    except queue.Empty:
                        raise ETPReadTimeout(
                            f"no complete response to {self.name} (message {self.message_id}) "
                            "within its deadline"
                            + (f" of {timeout:g} s" if timeout is not None else "")
                        ) from None
                if not isinstance(item, tuple):
                    raise fresh_error(item)
                header, body = item
                kind = header.message_type
                if kind == PROTOCOL_EXCEPTION:
                    errors.append(body)
                elif kind != ACKNOWLEDGE:
                    messages.append(body)
                if header.message_flags & FIN and kind != ACKNOWLEDGE:
                    # The correlator forgot the request when it routed the final part.
                    return Response(messages, errors)
        except BaseException:
            self._correlator.forget(self.message_id)
            raise


_GIVEN_UP_KEPT = 64
"""Requests given up in the middle of their reply whose later parts are still recognised."""


class Correlator:
    """Requests in flight, by message id; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[int, PendingRequest] = {}
        self._lock = threading.Lock()
        self._closed_error: ETPError | None = None
        # Requests given up before the final part of their reply (a part broke them, see
        # route, or their waiter stopped waiting, see forget): the rest of that reply is
        # dropped, not handed on as unsolicited. Bounded; under _given_up_lock.
        self._given_up: dict[int, None] = {}
        self._given_up_lock = threading.Lock()

    def register(
        self,
        message_id: int,
        name: str,
        *,
        protocol: int | None = None,
        replies: frozenset[int] | None = None,
        max_bytes: int | None = None,
        target: ReplyTarget | None = None,
    ) -> PendingRequest:
        """Expect a reply to request ``message_id`` (see :class:`PendingRequest`); ``target``
        is where its values may be received (see :meth:`target_for`).

        Lock-free: :meth:`fail_all` records the closing error before it empties the table, so
        a request entered while it runs is either failed by it or refused here."""
        pending = PendingRequest(message_id, name, self, protocol, replies, max_bytes, target)
        self._pending[message_id] = pending
        if self._closed_error is not None:
            self._pending.pop(message_id, None)
            raise fresh_error(self._closed_error)
        return pending

    def target_for(self, correlation_id: int) -> ReplyTarget | None:
        """The reply target of the request ``correlation_id`` answers, if it is waiting."""
        pending = self._pending.get(correlation_id)  # one dict lookup: atomic under the GIL
        return None if pending is None else pending.target

    def forget(self, message_id: int) -> None:
        """Stop waiting for a reply to ``message_id`` (timed out, or its send failed): parts
        of it that still arrive are dropped (see :meth:`route`)."""
        if self._pending.pop(message_id, None) is not None:  # atomic
            self._give_up(message_id)

    def _give_up(self, message_id: int) -> None:
        with self._given_up_lock:
            self._given_up[message_id] = None
            if len(self._given_up) > _GIVEN_UP_KEPT:
                del self._given_up[next(iter(self._given_up))]

    def route(self, header: Any, body: Any, size: int = 0) -> bool:
        """Hand a message (``size`` bytes on the wire) to the request it answers; False if it
        answers no request of ours (a notification, ...). A reply to a request nobody waits for
        (late, or repeated after its final part) is dropped (True). A part that breaks its
        request (see :meth:`PendingRequest.check`) fails it instead, and the request is
        forgotten.

        Called by the connection's one reader thread only; the dictionary operations are
        atomic, so no lock is needed against :meth:`register`, :meth:`forget` or
        :meth:`fail_all` (a waiter takes the first item that reaches its queue)."""
        correlation_id = header.correlation_id
        if not correlation_id:
            return False
        pending = self._pending.get(correlation_id)
        if pending is None:
            if self._given_up:
                with self._given_up_lock:
                    given_up = correlation_id in self._given_up
                    if given_up and header.message_flags & FIN:
                        del self._given_up[correlation_id]
                if given_up:
                    log.debug("dropping a late part of the reply to request %s", correlation_id)
                    return True  # the rest of a reply given up: dropped
            if correlation_id % 2 == 0 and header.message_type in reply_types(header.protocol):
                # A reply to a request of ours (client ids are even) that nobody waits for: late
                # (its waiter gave up), or repeated after its final part. Not a notification.
                log.debug(
                    "dropping message (%s, %s) for request %s: nobody is waiting (timed out?)",
                    header.protocol,
                    header.message_type,
                    correlation_id,
                )
                return True
            return False
        error = pending.check(header, size)
        if error is not None:
            self._pending.pop(correlation_id, None)
            if not header.message_flags & FIN:
                self._give_up(correlation_id)
            # The waiter raises it; a reply too large is the caller's to handle (a get asks
            # again for fewer objects), a reply of the wrong kind is the server's fault.
            (log.info if isinstance(error, ETPResponseTooLarge) else log.error)("%s", error)
            pending._queue.put(error)
            return True
        if header.message_flags & FIN and header.message_type != ACKNOWLEDGE:
            # Final part: later duplicates find nobody; result() needs no forget.
            self._pending.pop(correlation_id, None)
            if self._given_up:  # its waiter may have given up just now (forget)
                with self._given_up_lock:
                    self._given_up.pop(correlation_id, None)
        pending._queue.put((header, body))
        return True

    def fail(self, message_id: int, error: ETPError, *, final: bool = True) -> None:
        """Fail one request (e.g. its response could not be decoded); unless that part was
        ``final``, the rest of the reply is dropped as it arrives (see :meth:`route`)."""
        error.__traceback__ = None  # the waiter raises a copy; keep no frame of ours alive
        pending = self._pending.pop(message_id, None)
        if pending is not None:
            if not final:
                self._give_up(message_id)
            pending.put(error)

    def fail_all(self, error: ETPError, *, close: bool = False) -> None:
        """Fail every request in flight (connection lost); with ``close`` refuse new ones.

        Each waiter raises its own copy of ``error``: they share no traceback."""
        error.__traceback__ = None
        with self._lock:
            if close:
                self._closed_error = error
            pending = list(self._pending.values())
            self._pending.clear()
        for p in pending:
            p.put(error)

    def in_flight(self) -> int:
        return len(self._pending)

    def others_in_flight(self, message_id: int) -> bool:
        """Whether requests other than ``message_id`` wait for (more of) their replies."""
        pending = self._pending
        return len(pending) > (message_id in pending)


__all__ = [
    "Correlator",
    "ETPConnectionLost",
    "MessageIds",
    "PendingRequest",
    "ReplyTarget",
    "Response",
    "protocol_exception_error",
]
