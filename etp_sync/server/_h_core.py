"""Core (0) messages a server answers once the session is open: Ping, Pong, CloseSession,
Authorize (a renewed token, checked like the upgrade's), and the refusal of requests made with
an expired token (EAUTHORIZATION_EXPIRED: the session stays open for an Authorize)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from etp_sync.errors import ErrorCode
from etp_sync.protocol.negotiation import now_us
from etp_sync.schema import messages

if TYPE_CHECKING:
    from ._session import ServerSession

__all__ = ["authorize", "core_message", "refuse_expired"]

log = logging.getLogger("etp_sync.server")


def core_message(session: ServerSession, header: Any, body: Any) -> None:
    """A Core (protocol 0) message after the handshake: Ping, Pong, CloseSession, Authorize."""
    mt = header.message_type
    if mt == 8:  # Ping
        session.send_parts([messages.Core.Pong(current_date_time=now_us())], header.message_id)
    elif mt == 9 or mt == 1001:  # Pong, Acknowledge
        return
    elif mt == 5:  # CloseSession
        log.info("%s: CloseSession (%s)", session.peer, body.reason or "no reason")
        session.close(1000, "CloseSession")  # the run loop ends: the session is closed
    elif mt == 6 and session.server.authorize:  # Authorize
        authorize(session, header, body)
    elif mt == 1000:
        log.warning("%s: ProtocolException from the client: %r", session.peer, body)
    elif mt == 1:
        session.send_error(
            ErrorCode.EINVALID_STATE, "the session is already open", header.message_id
        )
    else:
        session.send_error(
            ErrorCode.EINVALID_MESSAGETYPE,
            f"{body.etp_name} is not a message a server accepts",
            header.message_id,
        )


def refuse_expired(session: ServerSession, header: Any, body: Any) -> None:
    """A request made with an expired token: EAUTHORIZATION_EXPIRED (the session stays
    open for an Authorize with a new token)."""
    ago = time.time() - session.token_expiry
    log.info("%s: %s refused: the token expired %.1f s ago", session.peer, body.etp_name, ago)
    session.send_error(
        ErrorCode.EAUTHORIZATION_EXPIRED,
        "the session's token has expired: send Core Authorize with a new one",
        header.message_id,
        header.protocol,
    )


def authorize(session: ServerSession, header: Any, body: Any) -> None:
    """Core Authorize: a new token for this session, checked like the upgrade's."""
    expiry = session.server.tokens.expiry(body.authorization)
    if expiry is None:
        log.info("%s: Authorize refused: invalid or expired token", session.peer)
    else:
        session.token_expiry = expiry
        log.info(
            "%s: token renewed (Authorize), valid for %.1f s",
            session.peer,
            expiry - time.time(),
        )
    ok = expiry is not None
    session.send_parts(
        [
            messages.Core.AuthorizeResponse(
                success=ok, challenges=[] if ok else ['Bearer realm="etp_sync"']
            )
        ],
        header.message_id,
    )
