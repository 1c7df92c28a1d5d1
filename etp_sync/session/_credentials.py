"""The session's credentials: where its bearer tokens come from and when each is due for renewal.

A token is a string, a secret object with ``get_secret_value()`` (pydantic's ``SecretStr``), or
a callable returning either (a token provider such as :mod:`etp_sync.auth`'s, called again
for every renewal). A JWT is due ``refresh_margin`` seconds before its ``exp`` (at most halfway
through its life; decoded without verification, only to schedule); any other token from a
callable is due every ``refresh_interval`` seconds when one is set. A fixed token is never due:
there is nothing to renew it with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

from ..auth import DEFAULT_REFRESH_MARGIN, SecretLike, jwt_expiry, renewal_time, reveal
from ..errors import ETPInvalidArgument

Authorization = str | SecretLike | Callable[[], "str | SecretLike"] | None
"""What ``authorization=`` accepts."""


def bearer_header(token: str) -> str:
    """``Authorization`` header value for ``token`` (which may already start with Bearer)."""
    token = token.strip()
    return token if token[:7].lower() == "bearer " else f"Bearer {token}"


class Credentials:
    """The token source of one session and the renewal schedule of its current token.

    :meth:`fetch` obtains a token (calling the source when it is callable) and schedules its
    renewal; :meth:`due` says whether that time has come (or :meth:`expire` forced it).
    Thread-safe; the token itself is never stored in a repr or an error.
    """

    def __init__(
        self,
        source: Authorization,
        *,
        refresh_interval: float | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        if source is not None and not (
            isinstance(source, str) or callable(source) or hasattr(source, "get_secret_value")
        ):
            raise ETPInvalidArgument(
                "authorization must be a token string, a secret with get_secret_value(), or a "
                f"callable returning one; got {type(source).__name__}"
            )
        if refresh_interval is not None and not refresh_interval > 0:
            raise ETPInvalidArgument("token_refresh_interval must be positive (or None)")
        if not refresh_margin >= 0:
            raise ETPInvalidArgument("token_refresh_margin must not be negative")
        self._source = source
        self.refresh_interval = refresh_interval
        self.refresh_margin = float(refresh_margin)
        self._lock = threading.Lock()
        self.due_at: float | None = None
        """``time.monotonic()`` of the next renewal (None: never); read-only outside."""
        self.renewals = 0
        """Tokens fetched after the first one (at renewal or reconnection)."""
        self._fetched = 0

    def __repr__(self) -> str:
        kind = "none" if self._source is None else "callable" if self.renewable else "fixed"
        return f"Credentials({kind}, due_in={self.due_in()})"

    @property
    def renewable(self) -> bool:
        """A new token can be asked for (the source is callable)."""
        return callable(self._source) and not hasattr(self._source, "get_secret_value")

    def fetch(self) -> str | None:
        """The ``Authorization`` header value of a current token (None without credentials),
        its renewal scheduled. Calls the source when it is callable (user code: not bounded
        by the call's deadline)."""
        source = self._source
        if source is None:
            return None
        raw = source
        if callable(raw) and self.renewable:
            raw = raw()
        token = reveal(cast("str | SecretLike", raw)).strip()
        now_wall, now = time.time(), time.monotonic()
        due_at: float | None = None
        if self.renewable:
            expires = jwt_expiry(token)
            if expires is not None:
                due_at = now + renewal_time(now_wall, expires, self.refresh_margin) - now_wall
            elif self.refresh_interval is not None:
                due_at = now + self.refresh_interval
        with self._lock:
            self.due_at = due_at
            if self._fetched:
                self.renewals += 1
            self._fetched += 1
        return bearer_header(token) if token else None

    def due(self) -> bool:
        """The current token should be renewed now."""
        due_at = self.due_at
        return due_at is not None and time.monotonic() >= due_at

    def due_in(self) -> float | None:
        """Seconds until the current token is due (negative: overdue; None: never)."""
        due_at = self.due_at
        return None if due_at is None else round(due_at - time.monotonic(), 3)

    def expire(self) -> bool:
        """The server says the token expired: make it due now; False when it cannot be
        renewed (a fixed token)."""
        if not self.renewable:
            return False
        with self._lock:
            self.due_at = time.monotonic()
        return True
