"""How a server session's messages go out: message ids, one send lock, and batched replies.

:class:`ReplySender` is the sending half of :class:`~._session.ServerSession` (a base class, so
that a reply costs no extra call): every send takes one lock that allocates the message ids and
writes the parts of a message, so ids reach the client strictly increasing. Replies to pipelined
requests are held and written together (see :meth:`ReplySender._emit`): a reply under
:data:`BATCH_MESSAGE` bytes is held, and the held ones go out once they reach :data:`BATCH_BYTES`
or the first of them has waited :data:`BATCH_DELAY` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from etp_sync.codec import EncodedBody, MessageFlags, MessageFramer
from etp_sync.protocol.correlation import MessageIds
from etp_sync.schema import messages
from etp_sync.transport._websocket import WebSocketTransport

from ._common import Outgoing, error_info

__all__ = ["BATCH_BYTES", "BATCH_DELAY", "BATCH_MESSAGE", "ReplySender"]

log = logging.getLogger("etp_sync.server")

BATCH_MESSAGE = 16 * 1024
BATCH_BYTES = 64 * 1024
BATCH_DELAY = 0.001
_FIN = int(MessageFlags.FIN)
# The framer of each (message class, header protocol) a server has sent: framers hold no state
# of a message, so every session shares them (a few dozen classes, a few protocols each).
_FRAMERS: dict[tuple[type, int], MessageFramer] = {}


def _framer(cls: type, protocol: int) -> MessageFramer:
    """A new framer for ``cls`` under ``protocol``, kept in :data:`_FRAMERS`."""
    framer = _FRAMERS[cls, protocol] = MessageFramer(cls, protocol)
    return framer


class ReplySender:
    """Sending for a session: the session sets ``transport``, ``peer`` and ``compression`` and
    calls :meth:`_init_sending`; its own thread sets ``_holding`` while pipelined requests are
    waiting (its replies are then held for one write)."""

    transport: WebSocketTransport
    peer: str
    compression: bool

    def _init_sending(self) -> None:
        self._ids = MessageIds(server=True)
        self._send_lock = threading.Lock()
        # Replies held while more requests wait whole in the transport's buffer (send lock).
        self._batch: list[list[Any]] = []
        self._batch_bytes = 0
        self._batch_since = 0.0  # time.monotonic() when the first held reply was held
        self._holding = False  # set by the session's thread only, for its own replies
        self._thread_id: int | None = None  # the session's thread, once it runs

    def send_parts(
        self,
        bodies: Iterable[Outgoing],
        correlation_id: int | None,
        protocol: int = 0,
    ) -> None:
        """Send a (multipart) message: FIN on the last part.

        ``correlation_id`` None sends an unsolicited exchange: the first part has correlation 0
        and the later parts correlate to it. ``protocol`` is the header protocol of
        ProtocolException/Acknowledge parts (the protocol of the request they answer).
        A part already encoded (:class:`~etp_sync.codec.EncodedBody`, when a handler sized
        it) is framed as it is, not encoded again. ``bodies`` may be an iterator making the
        parts as they are taken (a lazy reply): each is taken after the one before it went out
        but one (the part after it decides its FIN), and no other message goes in between.
        """
        parts_in = iter(bodies)
        upcoming = next(parts_in, None)
        if upcoming is None:
            return
        compress = None if self.compression else False
        with self._send_lock:
            first_id = 0
            i = 0
            while upcoming is not None:
                outgoing = upcoming
                upcoming = next(parts_in, None)
                if isinstance(outgoing, EncodedBody):
                    encoded, body = outgoing, outgoing.body
                else:
                    encoded, body = None, outgoing
                message_id = self._ids.next()
                if correlation_id is None:
                    corr = first_id
                    if i == 0:
                        first_id = message_id
                else:
                    corr = correlation_id
                i += 1
                mt = body.etp_message_type
                proto = protocol if mt in (1000, 1001) else body.etp_protocol or 0
                framer = _FRAMERS.get((body.__class__, proto)) or _framer(body.__class__, proto)
                flags = _FIN if upcoming is None else 0
                if encoded is None:
                    parts, size = framer.parts(body, corr, message_id, flags, compress)
                else:
                    parts, size = framer.frame(
                        encoded.parts, encoded.size, corr, message_id, flags, compress
                    )
                name = body.etp_name
                # The message's values are let go of before the next part is made.
                del outgoing, encoded, body
                self._emit(parts)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s <- %s id=%s corr=%s flags=%s (%d B)",
                        self.peer,
                        name,
                        message_id,
                        corr,
                        flags,
                        size,
                    )
                del parts

    def _emit(self, parts: list[Any]) -> None:
        """Send one message, or hold it (send lock held).

        While the session's thread answers requests that arrived together (more of them are
        whole in the transport's buffer), its short replies are held and then written with one
        ``send`` (:meth:`flush`) instead of one each; the reply to the last request that is in
        goes out with them. Everything else (a long reply, a send from another thread) first
        sends what is held, so ids still reach the client in order and no reply waits for a
        request to come in. A reply waits at most :data:`BATCH_DELAY` and the handling of one
        more request, of a kind (protocol, messageType) last handled in under BATCH_DELAY: the
        run loop sends what is held before any other request, and after each one once due.
        """
        size = 0
        for part in parts:
            if type(part) is not bytes and type(part) is not bytearray:
                size = -1  # an array's memory: never copied into a batch
                break
            size += len(part)
        batch = self._batch
        if (
            0 <= size < BATCH_MESSAGE
            and (self._holding or batch)
            and threading.get_ident() == self._thread_id
        ):
            if not batch:
                self._batch_since = time.monotonic()
            batch.append(parts)
            self._batch_bytes += size
            if not self._holding or self._batch_bytes >= BATCH_BYTES:
                self._flush_locked()
            return
        if batch:
            self._flush_locked()
        if size < 0:
            self.transport.send_message(parts)
        else:  # bytes and bytearrays, counted: the transport takes them as they are
            self.transport.send_counted(parts, size)

    def flush(self) -> None:
        """Send the replies held for a batch, if any."""
        with self._send_lock:
            if self._batch:
                self._flush_locked()

    def _flush_locked(self) -> None:
        batch, size = self._batch, self._batch_bytes
        self._batch, self._batch_bytes = [], 0
        if len(batch) == 1:
            self.transport.send_counted(batch[0], size)
        else:
            self.transport.send_batch(batch)

    def send_error(self, code: int, message: str, correlation_id: int, protocol: int = 0) -> None:
        """A ProtocolException for a whole request (or the session when correlation is 0)."""
        body = messages.Core.ProtocolException(error=error_info(code, message), errors={})
        self.send_parts([body], correlation_id, protocol)
