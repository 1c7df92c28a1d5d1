"""Renewing a session's token in place: Core ``Authorize`` / ``AuthorizeResponse``.

ETP 1.2 lets a client hand the server a new token inside a live session (Core ``Authorize``,
answered by ``AuthorizeResponse {success, challenges}``). :class:`TokenRenewal` sends it when the
session's :class:`~._credentials.Credentials` say the token is due, and learns whether the server
supports it: a server that answers with a ProtocolException, or not at all within the session's
``connect_timeout``, does not, and the session then renews by reconnecting between requests
instead (see :meth:`ETPSession._renew <etp_sync.session.etp_session.ETPSession>`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..errors import ETPAuthorizationError, ETPReadTimeout
from ..schema import messages
from ._credentials import Credentials

if TYPE_CHECKING:
    from .engine import SessionEngine

log = logging.getLogger("etp_sync.session")

EXPIRY_CODES = frozenset({10, 28})
"""EAUTHORIZATION_EXPIRED and EAUTHORIZATION_EXPIRING: the server wants a new token."""


class TokenRenewal:
    """Sends ``Authorize`` with a fresh token; remembers whether the server supports it."""

    def __init__(self, credentials: Credentials, answer_timeout: float) -> None:
        self.credentials = credentials
        self.answer_timeout = answer_timeout
        self.supported: bool | None = None
        """Whether the server takes Authorize (None: not tried yet)."""
        self.count = 0
        """Tokens renewed in-session."""

    def authorize(self, conn: SessionEngine, deadline: float | None) -> bool:
        """Renew the token on ``conn``: True when the server accepted it, False when the server
        does not support Authorize. Raises :class:`~etp_sync.errors.ETPAuthorizationError`
        when it refused the token, and the request's errors (timeout, connection lost) when
        the call's ``deadline`` ran out or the connection failed."""
        header = self.credentials.fetch()
        if header is None:
            return True
        wait = time.monotonic() + self.answer_timeout
        until = wait if deadline is None else min(deadline, wait)
        pending = conn.send(
            messages.Core.Authorize(authorization=header, supplemental_authorization={}),
            deadline=until,
        )
        assert pending is not None
        try:
            response = pending.result(deadline=until)
        except ETPReadTimeout:
            conn.correlator.forget(pending.message_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise
            return self._unsupported(f"no answer within {self.answer_timeout:g} s")
        if response.errors:
            error = response.errors[0].error
            return self._unsupported(error.message if error is not None else "refused")
        answer = next(iter(response.messages), None)
        if answer is None or not answer.success:
            challenges = "; ".join(getattr(answer, "challenges", None) or []) or "none"
            raise ETPAuthorizationError(
                "the server refused the renewed token (AuthorizeResponse success=false, "
                f"challenges: {challenges}): check what the token callable returns and "
                "data_partition_id"
            )
        self.supported = True
        self.count += 1
        log.info("token renewed in-session (Authorize #%d)", self.count)
        return True

    def _unsupported(self, why: str) -> bool:
        if self.supported is None:
            log.info(
                "the server does not support Authorize (%s): tokens will be renewed by "
                "reconnecting between requests",
                why,
            )
        self.supported = False
        return False
