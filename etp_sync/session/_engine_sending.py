"""The sending half of a :class:`~etp_sync.session.engine.SessionEngine`: message ids taken in
order under one lock, framing, requests registered with the correlator before they go, and the
reader thread's own replies (ETP Pong), which never wait for a caller's send."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from ..codec import MessageFlags, MessageFramer
from ..errors import (
    ETPConnectionLost,
    ETPError,
    ETPInvalidArgument,
    ETPMessageTooLarge,
    ETPNotNegotiated,
    ETPTransportError,
    ETPWriteTimeout,
)
from ..protocol.correlation import PendingRequest, ReplyTarget
from ..protocol.replies import expected_replies
from ..schema import Record
from ._engine_state import EngineState, _Kind
from ._trace import trace_message

log = logging.getLogger("etp_sync.session.engine")

REPLY_WAIT = 0.25
"""Seconds a reply of the reader thread's own (ETP Pong) may wait for the socket to take it
(:meth:`EngineSender._send_replies`); like the websocket's pongs."""
MAX_QUEUED_REPLIES = 32
"""Replies of the reader thread waiting for the send-order lock at most (the oldest go)."""

_FIN = int(MessageFlags.FIN)


class EngineSender(EngineState):
    """Sending: any thread may send; a message's id is taken under the send-order lock, held
    until the message is written, so ids reach the wire strictly increasing."""

    def _numbers(self, body: Record) -> tuple[int, int]:
        """``(protocol, message type)`` of a message this session may send: refuses records
        that are not messages and messages of protocols the server did not grant."""
        protocol, message_type = body.etp_protocol, body.etp_message_type
        if protocol is None or message_type is None:
            raise ETPInvalidArgument(f"{body.etp_name} is a datatype record, not an ETP message")
        if self.server is not None and protocol != 0 and not self.server.supports(protocol):
            raise ETPNotNegotiated(
                f"{body.etp_name} belongs to protocol {protocol}, which the server did not grant "
                f"(granted: {sorted(self.server.protocols)})"
            )
        return protocol, message_type

    def _kind(self, body: Record) -> _Kind:
        """What sending ``body`` needs to know of its class (checked by :meth:`_numbers`),
        remembered per class once the session is open (the grants are then fixed)."""
        kind = self._kinds.get(body.__class__)
        if kind is None:
            protocol, message_type = self._numbers(body)
            kind = (
                protocol,
                message_type,
                body.etp_name,
                expected_replies(body),
                MessageFramer(body.__class__),
            )
            if self.server is not None:
                self._kinds[body.__class__] = kind
        return kind

    def _compress_choice(self) -> bool | None:
        if not self.compression_wanted or self.server is None or self.server.compression != "gzip":
            return False
        return None  # compress when it pays

    def _framer(self, body: Record, kind: _Kind, protocol: int | None) -> MessageFramer:
        """The framer of ``body`` (of message class ``kind``) under ``protocol`` (None: its
        own; ProtocolException and Acknowledge may be sent under any)."""
        if protocol is None or protocol == kind[0]:
            return kind[4]
        return MessageFramer(body.__class__, protocol)

    def _transmit(self, parts: list[Any], size: int, body: Record, deadline: float | None) -> None:
        """Send one encoded message (``parts``, ``size`` bytes together) within ``deadline``."""
        if size > self._send_limit:
            raise ETPMessageTooLarge(
                f"{body.etp_name} is {size} bytes, more than the negotiated maximum message "
                f"size of {self._send_limit} bytes"
            )
        if self.trace:
            trace_message("->", parts[0], size, body)
        try:
            for part in parts:
                if part.__class__ is not bytes and part.__class__ is not bytearray:
                    self.transport.send_message(parts, deadline=deadline)
                    break
            else:  # every part is bytes or bytearray (see WebSocketTransport.send_counted)
                self.transport.send_counted(parts, size, deadline=deadline)
        except ETPWriteTimeout as exc:
            if not self.transport.is_open:  # cut off mid-message: the connection is gone
                self._fail(ETPConnectionLost(f"connection lost: {exc} (message cut off)"))
            raise
        except ETPTransportError as exc:
            self._fail(exc)
            raise self._error_to_raise() from None

    def send(
        self,
        body: Record,
        *,
        correlation_id: int = 0,
        protocol: int | None = None,
        expect_response: bool = True,
        final: bool = True,
        deadline: float | None = None,
        target: ReplyTarget | None = None,
    ) -> PendingRequest | None:
        """Send one message; with ``expect_response`` return the handle its response arrives on.

        ``protocol`` overrides the header protocol (for ProtocolException/Acknowledge, which can
        belong to any protocol). ``deadline`` (``time.monotonic()``) bounds the send. ``target``:
        memory the reply's values may be received into (see :mod:`etp_sync.codec._placement`).
        """
        if self.close_error is not None:
            raise self._error_to_raise()
        kind = self._kinds.get(body.__class__) or self._kind(body)
        framer = kind[4] if protocol is None else self._framer(body, kind, protocol)
        if not self._order.acquire(False):  # a free lock is taken at once, without a call
            self._take_order(body, deadline)
        try:
            message_id = self.ids.next()
            parts, size = framer.parts(
                body, correlation_id, message_id, _FIN if final else 0, self._compress
            )
            if not expect_response:
                self._transmit(parts, size, body, deadline)
                return None
            pending = self._expect(message_id, kind, target)
            try:
                self._transmit(parts, size, body, deadline)
            except BaseException:
                self.correlator.forget(message_id)
                raise
            return pending
        finally:
            self._order.release()
            if self._replies:
                self._send_replies()

    def _take_order(self, body: Record, deadline: float | None) -> None:
        """Take :attr:`_order` (at once when free), within ``deadline`` (ETPWriteTimeout)."""
        if self._order.acquire(False):
            return
        if deadline is None:
            self._order.acquire()
        elif not self._order.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise ETPWriteTimeout(
                f"could not send {body.etp_name} within the deadline: another send held the "
                "connection"
            )

    def _expect(
        self, message_id: int, kind: _Kind, target: ReplyTarget | None = None
    ) -> PendingRequest:
        """Register the request (of message class ``kind``, see :meth:`_kind`): its reply is
        checked against the answers expected of it."""
        pending = self.correlator.register(
            message_id,
            kind[2],
            protocol=kind[0],
            replies=kind[3],
            max_bytes=self._limit or self.response_limit,
            target=target,
        )
        if self._direct:
            pending.assist = self._read_for
        return pending

    def send_multipart(
        self, bodies: Sequence[Record], *, deadline: float | None = None
    ) -> PendingRequest:
        """Send a multipart request (e.g. PutDataObjects followed by Chunk messages).

        The first part has correlation id 0, the others correlate to it; FIN is on the last.
        """
        if not bodies:
            raise ETPInvalidArgument("a multipart request needs at least one part")
        self._check_open()
        kinds = [self._kind(b) for b in bodies]
        first_id = 0
        pending: PendingRequest | None = None
        try:
            for i, (body, kind) in enumerate(zip(bodies, kinds, strict=True)):
                self._take_order(body, deadline)
                try:  # each part's id is taken when it can be written (see _order)
                    message_id = self.ids.next()
                    if pending is None:
                        first_id = message_id
                        pending = self._expect(first_id, kind)
                    parts, size = kind[4].parts(
                        body,
                        0 if i == 0 else first_id,
                        message_id,
                        _FIN if i == len(bodies) - 1 else 0,
                        self._compress,
                    )
                    self._transmit(parts, size, body, deadline)
                finally:
                    self._order.release()
                    if self._replies:
                        self._send_replies()
        except BaseException:
            if pending is not None:
                self.correlator.forget(first_id)
            raise
        assert pending is not None
        return pending

    def _reply(self, body: Record, correlation_id: int) -> None:
        """Send a reply of the reader thread's own (ETP Pong) without ever waiting for the
        send-order lock: a caller may hold it for as long as its deadline allows, blocked on a
        socket that the peer does not empty, perhaps because it waits for us to read, which the
        reader would never do again. The reply is queued, and sent by whoever releases the lock
        (or at once by this thread when the lock is free), within :data:`REPLY_WAIT`."""
        self._replies.append((body, correlation_id))
        self._send_replies()

    def _send_replies(self) -> None:
        """Send the queued replies unless another thread holds the send-order lock (it sends
        them when it releases it); each may wait :data:`REPLY_WAIT` for the socket, and one
        that cannot go then is dropped (logged) with every one queued after it, which a socket
        that took nothing for that long would not take either: a peer that does not read our
        bytes is not worth a blocked thread, least of all the reader (nor 32 waits of it)."""
        replies = self._replies
        while replies and self._order.acquire(False):
            try:
                while replies:
                    body, correlation_id = replies.popleft()
                    if self.close_error is not None:
                        continue
                    kind = self._kinds.get(body.__class__) or self._kind(body)
                    parts, size = kind[4].parts(
                        body, correlation_id, self.ids.next(), _FIN, self._compress
                    )
                    try:
                        self._transmit(parts, size, body, time.monotonic() + REPLY_WAIT)
                    except ETPError as exc:
                        dropped = len(replies)
                        replies.clear()
                        log.warning(
                            "could not send %s: %s (%d queued replies dropped with it)",
                            body.etp_name,
                            exc,
                            dropped,
                        )
            finally:
                self._order.release()
