"""The receiving half of a :class:`~etp_sync.session.engine.SessionEngine`: the reading of the
connection, which decodes every frame and routes responses by correlation id to the requests
waiting for them (Pings are answered, CloseSession honoured, everything else goes to the
dispatch thread, so that a slow user callback never stalls the reading), and the dispatch
thread's loop.

Who reads: one thread at a time, the one that holds the read turn (:attr:`_reading`, under
:attr:`_turn`). The reader thread reads whenever a caller cannot, but a caller waiting for its
reply with nobody else reading takes the turn and reads in its own thread (:meth:`_read_for`):
its reply then reaches it without a hand-over between threads. On this project's 2-core test VM,
that hand-over (a futex wake of the waiting thread on the other core, then the GIL) was ~45 µs
of a ~190 µs request, which a caller reading for itself made in ~100-135 µs. A caller reads only
small binary messages (one frame that fits the read-ahead buffer, see
:meth:`~etp_sync.transport._websocket.WebSocketTransport.recv_bounded`) and never past its own
deadline; at anything else (a large message, say) it hands the turn to the reader thread.
Before it sleeps waiting for bytes, it polls the socket for up to the session's ``spin_wait``
(:mod:`etp_sync.transport._spin`): a quick reply then needs no wake-up either.

The reader thread parks (the turn free) when callers are active, no request is in flight and the
last :data:`LONE` messages came for one request at a time (:meth:`_leave_turn`), and reads again
when a caller hands it the turn: one met a message it does not read, or left requests of other
threads in flight; or when no caller waited for :data:`IDLE` seconds (so notifications, Pings
and a lost connection are seen within about twice that while nobody waits). With many threads in
flight the reader thread keeps the turn, as it always did. Over TLS callers never read (see
``reads_bounded``): the thread always does.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from ..codec import MessageFlags, decode_frame, peek_header
from ..errors import ETPConnectionLost, ETPDecodeError, ETPError, ETPSessionClosed
from ..protocol.correlation import PendingRequest
from ..protocol.negotiation import now_us
from ..protocol.replies import PROTOCOL_EXCEPTION
from ..schema import messages
from ._engine_sending import EngineSender
from ._trace import trace_message

log = logging.getLogger("etp_sync.session.engine")

LONE: Final = 2
"""Messages in a row that the reader thread must route with at most one request in flight
before it may park: while several threads wait it keeps the turn (their callers would only
wake it again)."""
IDLE: Final = 0.01
"""Seconds without a caller waiting for a reply after which the parked reader thread reads
again."""


class EngineReceiver(EngineSender):
    """The reader thread's loop and what it does with each message; the dispatch thread's."""

    def _read_loop(self) -> None:
        """The reader thread: read while it holds the turn, park while callers read."""
        recv = self.transport.recv_data
        handle = self._handle_frame
        clock = time.monotonic
        in_flight = self.correlator.in_flight
        try:
            while self._take_turn():
                lone = 0  # messages in a row that came with at most one request in flight
                try:
                    while self.close_error is None:
                        received = recv(None)
                        if received is not None:
                            self.last_frame = clock()
                            lone = lone + 1 if in_flight() <= 1 else 0
                            handle(received[0])
                            del received  # don't keep the last message alive meanwhile
                        if lone >= LONE and self._leave_turn():
                            break
                except BaseException:
                    self._reading = False
                    raise
        except Exception as exc:
            self._reading_failed(exc)

    def _take_turn(self) -> bool:
        """Wait (the reader thread) until it should read: a caller handed it the turn, or none
        waited for a reply for :data:`IDLE` seconds; False once the connection is closed."""
        turn = self._turn
        with turn:
            while self.close_error is None:
                if not self._reading and (self._wanted or not self._active):
                    self._reading = True
                    self._wanted = False
                    return True
                self._active = False
                turn.wait(IDLE)
            return False

    def _leave_turn(self) -> bool:
        """Whether the reader thread, after a message, gives up the turn: callers are active
        and may read for themselves, and nothing is in flight or buffered."""
        if not self._direct or not self._active or self.correlator.in_flight():
            return False
        with self._turn_lock:
            if self._active and not self.correlator.in_flight() and not self.transport.buffered:
                self._reading = False
                return True
        return False

    def _read_for(self, pending: PendingRequest, deadline: float | None) -> None:
        """A caller's wait for ``pending`` (its :attr:`~PendingRequest.assist`): when nobody
        else reads, read in this thread until a part of its reply (or a failure) is queued,
        ``deadline`` passes, or a message comes that the reader thread must read; then give
        the turn back, to the reader thread when other requests are in flight."""
        with self._turn_lock:  # decided under it: whoever reads sees this request in flight
            self._active = True
            if self._reading or self.close_error is not None:
                return  # the one reading goes on while this request is in flight
            if self.correlator.others_in_flight(pending.message_id):
                self._wanted = True  # several threads wait: the reader thread serves them
                self._turn.notify()
                return
            self._reading = True
        hand_over = False
        try:
            recv = self.transport.recv_bounded
            nothing_queued = pending.nothing_queued
            while nothing_queued():
                received = recv(deadline)
                if received is None:
                    break  # the deadline: the caller's wait says so
                if received is False:
                    hand_over = True
                    break
                self.last_frame = time.monotonic()
                self._handle_frame(received)
        except Exception as exc:
            self._reading_failed(exc)
        finally:
            with self._turn_lock:
                self._reading = False
                if (
                    hand_over
                    or self.correlator.others_in_flight(pending.message_id)
                    or self.transport.buffered
                ):
                    self._wanted = True
                    self._turn.notify()

    def _reading_failed(self, exc: Exception) -> None:
        """The reading ended with ``exc``: fail the connection (every waiter gets the error)."""
        if isinstance(exc, ETPSessionClosed):
            reason = getattr(exc, "reason", "") or str(exc)
            self._fail(ETPSessionClosed(f"the server closed the connection: {reason}", reason))
        elif isinstance(exc, ETPError):  # transport failure or a websocket protocol violation
            self._fail(ETPConnectionLost(f"connection lost: {exc}"))
            self.transport.close()
        else:  # a bug must not leave callers hanging
            log.error("reading the connection failed", exc_info=exc)
            self._fail(ETPConnectionLost(f"reader thread failed: {exc!r}"))

    def _place(self, prefix: memoryview, length: int) -> tuple[int, memoryview] | None:
        """The transport's placer (reader thread): memory for part of an arriving frame, when
        the request it answers has a reply target that takes it."""
        peek = peek_header(prefix)
        target = None if peek is None else self.correlator.target_for(peek[2])
        spot = None if target is None else target.place(prefix, length)
        self._placed = target if spot is not None else None
        return spot

    def _handle_frame(self, frame: bytearray) -> None:
        target, self._placed = self._placed, None
        try:
            if target is not None:
                header, body = target.decode(frame)
                size = len(frame) + target.nbytes
            else:
                header, _, body = decode_frame(frame, max_size=self._decode_limit)
                size = len(frame)
        except ETPDecodeError as exc:
            if self.trace:
                trace_message("<-", bytes(frame[:64]), len(frame), None)
            self._route_decode_error(frame, exc)
            return
        if self.trace:
            trace_message("<-", bytes(frame[:64]), len(frame), body)
        if self.correlator.route(header, body, size):
            return
        key = (header.protocol, header.message_type)
        if key == (0, 8):  # Ping
            self._reply_pong(header)
        elif isinstance(body, messages.Core.CloseSession):
            reason = body.reason or "no reason given"
            log.info("server closed the ETP session: %s", reason)
            self._fail(ETPSessionClosed(f"the server closed the session: {reason}", reason))
            self.transport.close()
        else:
            self._dispatch(header, body)

    def _dispatch(self, header: Any, body: Any) -> None:
        """Queue an unsolicited message for the dispatch thread (by the thread reading), or log
        that it is dropped when the session is closing: the dispatch thread ends at the
        closing mark (:meth:`_fail` puts it under the same lock), so nothing queued after it
        would ever be delivered."""
        with self._fail_lock:
            closing = self.close_error is not None
            if not closing:
                if self._dispatcher.ident is None:
                    self._dispatcher.start()  # by the one thread reading
                self._dispatch_queue.put((header, body))
        if closing:
            log.log(
                logging.WARNING if header.message_type == PROTOCOL_EXCEPTION else logging.DEBUG,
                "unsolicited %s (protocol %s) dropped: the session is closing",
                body.etp_name,
                header.protocol,
            )

    def _route_decode_error(self, frame: bytearray, exc: ETPDecodeError) -> None:
        """Fail the request an undecodable response belongs to (if its header is readable)."""
        peek = peek_header(frame)
        correlation_id = peek[2] if peek is not None else 0
        log.error("undecodable message from the server (request %s): %s", correlation_id, exc)
        if correlation_id:
            final = peek is not None and bool(peek[4] & MessageFlags.FIN)
            self.correlator.fail(correlation_id, exc, final=final)

    def _reply_pong(self, ping_header: Any) -> None:
        """Answer the server's Ping (the thread reading): queued for :meth:`_send_replies`."""
        self._reply(messages.Core.Pong(current_date_time=now_us()), ping_header.message_id)

    def _dispatch_loop(self) -> None:
        while True:
            item = self._dispatch_queue.get()
            if item is None:
                return
            header, body = item
            if self._on_unsolicited is None:
                log.debug("unsolicited %s dropped (no handler)", body.etp_name)
                continue
            try:
                self._on_unsolicited(header, body)
            except Exception:
                log.exception("handler for %s raised", body.etp_name)
