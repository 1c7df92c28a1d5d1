"""Which tokens the embedded server accepts, and until when.

Three policies: no credentials required (the default); one fixed ``required_token``; or a
``token_validator(token) -> expiry`` that returns when the token expires (seconds since the Unix
epoch, ``math.inf`` for never) or None to refuse it. :func:`jwt_expiry_validator` is a ready
validator for JWTs with an ``exp`` claim (their signature is NOT verified: a test server's check).
A session whose token expired gets EAUTHORIZATION_EXPIRED for each new request until the client
sends a valid token with Core ``Authorize``.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable

from ..auth import jwt_expiry

log = logging.getLogger("etp_sync.server")

TokenValidator = Callable[[str], float | None]
"""``validator(token)``: the token's expiry (Unix seconds, ``math.inf``: never) or None."""


def jwt_expiry_validator(token: str) -> float | None:
    """Accept a JWT whose ``exp`` lies in the future (signature not verified); its ``exp``."""
    return jwt_expiry(token)


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization`` value (``Bearer <token>`` or the bare token)."""
    if not value:
        return None
    token = value[7:] if value[:7].lower() == "bearer " else value
    return token.strip() or None


class TokenCheck:
    """The server's token policy: :meth:`expiry` of what a client presents."""

    def __init__(self, required_token: str | None, validator: TokenValidator | None) -> None:
        self.required_token = required_token
        self.validator = validator

    @property
    def required(self) -> bool:
        """Whether clients must present a token."""
        return self.required_token is not None or self.validator is not None

    def expiry(self, authorization: str | None) -> float | None:
        """When the credentials in ``authorization`` (a header value) expire: ``math.inf``
        for never, None when they are missing, wrong or already expired."""
        if not self.required:
            return math.inf
        token = bearer_token(authorization)
        if token is None:
            return None
        if self.required_token is not None and not hmac.compare_digest(
            token.encode(), self.required_token.encode()
        ):
            return None
        if self.validator is None:
            return math.inf
        try:
            expires = self.validator(token)
        except Exception:
            log.exception("token_validator failed: token refused")
            return None
        if expires is None or expires <= time.time():
            return None
        return float(expires)
