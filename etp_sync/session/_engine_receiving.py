"""The receiving half of a :class:`~etp_sync.session.engine.SessionEngine`: the reader thread,
the only one that receives, decodes every frame and routes responses by correlation id to the
requests waiting for them; Pings are answered, CloseSession honoured, and everything else goes
to the dispatch thread, so that a slow user callback never stalls the reader."""

from __future__ import annotations

import logging
import time
from typing import Any

from ..codec import MessageFlags, decode_frame, peek_header
from ..errors import ETPConnectionLost, ETPDecodeError, ETPError, ETPSessionClosed
from ..protocol.negotiation import now_us
from ..protocol.replies import PROTOCOL_EXCEPTION
from ..schema import messages
from ._engine_sending import EngineSender
from ._trace import trace_message

log = logging.getLogger("etp_sync.session.engine")


class EngineReceiver(EngineSender):
    """The reader thread's loop and what it does with each message; the dispatch thread's."""

    def _read_loop(self) -> None:
        recv = self.transport.recv_data
        handle = self._handle_frame
        clock = time.monotonic
        try:
            while self.close_error is None:
                received = recv(None)
                if received is not None:
                    self.last_frame = clock()
                    handle(received[0])
                    del received  # don't keep the last message alive while the next one arrives
        except ETPSessionClosed as exc:
            reason = getattr(exc, "reason", "") or str(exc)
            self._fail(ETPSessionClosed(f"the server closed the connection: {reason}", reason))
        except ETPError as exc:  # transport failure or a protocol violation at websocket level
            self._fail(ETPConnectionLost(f"connection lost: {exc}"))
            self.transport.close()
        except Exception as exc:  # a bug must not leave callers hanging
            log.exception("reader thread failed")
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
        """Queue an unsolicited message for the dispatch thread (reader thread only), or log
        that it is dropped when the session is closing: the dispatch thread ends at the
        closing mark (:meth:`_fail` puts it under the same lock), so nothing queued after it
        would ever be delivered."""
        with self._fail_lock:
            closing = self.close_error is not None
            if not closing:
                if self._dispatcher.ident is None:
                    self._dispatcher.start()  # only the reader thread starts it
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
        """Answer the server's Ping (reader thread): queued for :meth:`_send_replies`."""
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
