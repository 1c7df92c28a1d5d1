"""How an :class:`~etp_sync.session.ETPSession` sends a request and gets its response: one
deadline for the whole, the token renewed first when due, an idempotent read resent once after
a drop, a request refused for an expired token sent again after a renewal, and recovery from a
connection the server ended (after a refused commit) or that went silent (see
:meth:`RequestSender.request`).

:class:`RequestSender` is a base of ``ETPSession``, over :class:`~._connection.ConnectionKeeper`
(which keeps the connection); the session sets the attributes it declares.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Container, Sequence
from typing import Any

from .._timeouts import MAX_WAIT, seconds
from ..errors import (
    ErrorCode,
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPInvalidArgument,
    ETPReadTimeout,
    ETPSessionClosed,
)
from ..protocol.correlation import ReplyTarget, Response
from ..protocol.negotiation import now_us
from ..schema import Record, messages
from ..transport._connect import safe_url
from ._connection import ConnectionKeeper
from ._credentials import Credentials
from ._renewal import EXPIRY_CODES, TokenRenewal
from ._request_handle import RequestHandle
from .engine import SessionEngine

log = logging.getLogger("etp_sync.session")

__all__ = ["RequestSender"]


class RequestSender(ConnectionKeeper):
    """Requests and their responses over the kept connection (see the module docstring)."""

    SILENT_DROP_AFTER = 10.0
    """Seconds without any message from the server after which a call that timed out drops the
    connection, so that the next one reconnects (see :meth:`_drop_if_silent`)."""

    _credentials: Credentials
    _renewal: TokenRenewal
    _renew_lock: threading.RLock
    _commit_refused: bool

    # -- raw requests --------------------------------------------------------------------------

    def send(
        self, message: Record, *, timeout: float | None = None, target: ReplyTarget | None = None
    ) -> RequestHandle:
        """Send a request without waiting; ``.result()`` on the handle blocks for the response.

        One thread can keep many requests in flight this way. ``target``: memory the reply's
        array values may be received into (see :mod:`etp_sync.codec._placement`). A wait on
        the handle that times out drops a silent connection as :meth:`request` does.
        """
        (message,) = _records(message, "send", several=False)
        deadline = self._deadline(timeout)
        conn = self._ready(deadline)
        sent = time.monotonic()
        pending = conn.send(message, deadline=deadline, target=target)
        del conn
        assert pending is not None
        return RequestHandle(pending, deadline, self._drop_if_silent, sent)

    def send_and_recv(self, message: Record, *, timeout: float | None = None) -> list[Any]:
        """Send a request and return every response message (multipart assembled).

        A ProtocolException answer raises :class:`~etp_sync.errors.ETPRemoteError` (for partial
        failures :class:`~etp_sync.errors.ETPPartialFailure`, with the successes attached).
        """
        response = self.request(message, timeout=timeout)
        response.raise_for_errors()
        return response.messages

    def request(
        self,
        message: Record | Sequence[Record],
        *,
        timeout: float | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Send a request (several bodies = one multipart request) and collect its response.

        ProtocolExceptions are returned in ``Response.errors``, not raised. Idempotent reads
        (``Get*``/``Find*`` messages unless told otherwise) are resent once on a fresh connection
        when the connection drops while they are in flight, within the same deadline.
        """
        bodies = [message] if isinstance(message, Record) else _records(message)
        if idempotent is None:
            idempotent = len(bodies) == 1 and bodies[0].etp_name.startswith(("Get", "Find"))
        # _deadline(timeout), inline (every request comes this way)
        if timeout is None:
            timeout = self.timeout
        elif timeout.__class__ is not float or not 0.0 < timeout < MAX_WAIT:
            timeout = seconds(timeout)
        deadline = time.monotonic() + timeout
        cap = getattr(self._hook_deadline, "at", None)
        if cap is not None and cap < deadline:
            deadline = cap
        resends = 1 if idempotent and self.auto_reconnect else 0
        renewed = False
        while True:
            conn = self._conn  # _ready(deadline), inline
            tm_open = self.transaction_manager.current is not None
            if conn is None or conn.close_error is not None or tm_open:
                conn = self._connection(deadline)
            if self._credentials.due():
                conn = self._renew(conn, deadline)
            sent = time.monotonic()
            try:
                if len(bodies) == 1:
                    pending = conn.send(bodies[0], deadline=deadline)
                    assert pending is not None
                else:
                    pending = conn.send_multipart(bodies, deadline=deadline)
                del conn  # a dead connection must not outlive its failure in this frame
                response = pending.result(deadline=deadline)
            except ETPReadTimeout:
                self._drop_if_silent(sent)
                raise
            except ETPConnectionLost as exc:
                if isinstance(exc, ETPSessionClosed) or resends <= 0:
                    self._drop_reported()
                    raise
                resends -= 1
                log.info("retrying %s after connection loss: %s", bodies[0].etp_name, exc)
                continue
            if self._commit_refused:
                # open-etp-server ends a session whose commit it refused: every request after
                # it gets EINVALID_STATE. The first such refusal reconnects and resends.
                self._commit_refused = False
                if _refused_whole(response, _SESSION_ENDED):
                    log.warning(
                        "%s refused (EINVALID_STATE) after a refused commit: the server ended "
                        "the session; reconnecting and sending it again",
                        bodies[0].etp_name,
                    )
                    self._abort_connection("the server ended the session after a refused commit")
                    continue
            if (
                not response.errors
                or renewed
                or not _refused_whole(response, EXPIRY_CODES)
                or not self._credentials.expire()
            ):
                return response
            renewed = True  # refused unprocessed: renew the token, then send it once more
            log.info("%s refused: the token expired; renewing it", bodies[0].etp_name)

    def _drop_if_silent(self, since: float) -> None:
        """After a call timed out: drop the connection when not one message came from the
        server since its request went out (``since``, ``time.monotonic()``) nor for
        :attr:`SILENT_DROP_AFTER` seconds. A path that went dead (a load balancer or NAT that
        forgot the connection, a frame cut off midway) would otherwise fail every later call
        until TCP gives up, many minutes on; the next call reconnects. A short timeout on a
        server that answers keeps the connection (it gets messages); a server silent for that
        long on every request in flight is not told apart from a dead path."""
        conn = self._conn
        if (
            conn is not None
            and conn.last_frame < since
            and time.monotonic() - conn.last_frame >= self.SILENT_DROP_AFTER
        ):
            log.warning(
                "no message from %s in the %.1f s the call waited: dropping the connection "
                "(the next call reconnects)",
                safe_url(self.url),
                time.monotonic() - since,
            )
            self._abort_connection("connection dropped: the server sent nothing for a whole call")

    def _note_refused_commit(self) -> None:
        """Called when the server refused a commit: open-etp-server then refuses every later
        request of the session with EINVALID_STATE until the client reconnects. The next
        response decides: refused so, the session reconnects and sends the request again (a
        server that goes on serving costs nothing)."""
        self._commit_refused = True

    # -- tokens --------------------------------------------------------------------------------

    def _ready(self, deadline: float | None) -> SessionEngine:
        """The open engine for a request, the token renewed first when it is due.

        The common case (open, no transaction, no renewal due) costs three attribute tests
        and :meth:`Credentials.due`."""
        conn = self._conn
        tm_open = self.transaction_manager.current is not None
        if conn is None or conn.close_error is not None or tm_open:
            conn = self._connection(deadline)
        if self._credentials.due():
            conn = self._renew(conn, deadline)
        return conn

    def _renew(self, conn: SessionEngine, deadline: float | None) -> SessionEngine:
        """Renew the token: ``Authorize`` on ``conn``, or for a server without it a
        reconnection, when no request is in flight and no transaction is open (otherwise at a
        later request). One thread renews; the others wait for it within their deadline."""
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self._renew_lock.acquire(timeout=-1 if left is None else left):
            raise ETPConnectTimeout("another thread was still renewing the token at the deadline")
        try:
            if not self._credentials.due():
                return self._connection(deadline)
            if self._renewal.supported is not False and self._renewal.authorize(conn, deadline):
                return conn
            if not self._between_requests(conn):
                log.debug("token renewal by reconnection postponed: a transfer is under way")
                return conn
            log.info("renewing the token by reconnecting to %s", safe_url(self.url))
            with self._conn_lock:
                if self._conn is conn:
                    self._conn = None
            conn.close(reason="renewing the token")
            return self._connection(deadline)
        finally:
            self._renew_lock.release()

    def _between_requests(self, conn: SessionEngine) -> bool:
        """Nothing would be cut by closing ``conn``: no transaction open (it belongs to the
        connection) and no request in flight (a multipart one included). A write of several
        requests outside a transaction goes on over the new connection, each request whole."""
        return self.transaction_manager.current is None and conn.correlator.in_flight() == 0

    def _on_protocol_exception(self, header: Any, body: Any) -> None:
        """An unsolicited ProtocolException saying the token expired (or soon will): renew it
        at the next request."""
        error = body.error
        if error is not None and error.code in EXPIRY_CODES and self._credentials.expire():
            log.info("the server says the token expires (%s): renewing it", error.message)

    @property
    def token_renewals(self) -> int:
        """Tokens renewed in-session with Authorize so far."""
        return self._renewal.count

    def ping(self, *, timeout: float | None = None) -> float:
        """Send a Ping and return the round-trip time in seconds."""
        start = time.perf_counter()
        self.send_and_recv(messages.Core.Ping(current_date_time=now_us()), timeout=timeout)
        return time.perf_counter() - start


def _records(message: Any, call: str = "send_and_recv", *, several: bool = True) -> list[Record]:
    """The bodies of a request: ``message`` if it is a message record, else (``several``: a
    multipart request) a non-empty sequence of them. Anything else is the caller's mistake:
    ETPInvalidArgument naming ``call``, not an error from deep inside the encoder."""
    if isinstance(message, Record):
        return [message]
    bodies: list[Any] = []
    if several and not isinstance(message, str | bytes):
        try:
            bodies = list(message)
        except TypeError:  # not iterable
            pass
    if not bodies or not all(isinstance(b, Record) for b in bodies):
        wanted = "a message record or a list of them" if several else "one message record"
        raise ETPInvalidArgument(f"{call} takes {wanted}, got {type(message).__name__}")
    return bodies


def _refused_whole(response: Response, codes: Container[int]) -> bool:
    """The request was refused as a whole (no message, no per-item errors) with one of
    ``codes``: EINVALID_STATE (the server ended the session), an expired token."""
    return not response.messages and any(
        e.error is not None and e.error.code in codes and not e.errors for e in response.errors
    )


_SESSION_ENDED = frozenset({ErrorCode.EINVALID_STATE})
