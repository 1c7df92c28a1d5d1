"""What the calls layer needs from a session: the :class:`SessionAPI` protocol.

Every mixin in :mod:`etp_sync.calls` derives from :class:`SessionAPI`, so mypy checks each call
against exactly these members and :class:`~etp_sync.session.ETPSession`, which provides them,
is checked against the same list. The mixins hold no state: the open transaction lives in the
:class:`~etp_sync.calls.transactions.TransactionManager`, subscriptions in the
:class:`~etp_sync.calls._subscription_registry.SubscriptionRegistry`, both composed into the
session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .._timeouts import seconds as checked_seconds
from ..errors import ETPError, ETPInvalidArgument, ETPTimeout

if TYPE_CHECKING:
    from ..protocol.correlation import ReplyTarget, Response
    from ..protocol.negotiation import ServerInfo
    from ..schema import Record
    from ._subscription_registry import SubscriptionRegistry
    from .transactions import TransactionManager

Handler = Callable[[Any, Any], None]


def one_or_many(value: Any, single: type | tuple[type, ...], name: str, what: str) -> list[Any]:
    """``value`` as a list: one ``single`` item (``()``: none is) is a list of one, any other
    iterable (list, tuple, set, generator) is listed. Anything else is the caller's mistake:
    ETPInvalidArgument saying that ``name`` must be ``what``, not a bare TypeError from a loop
    ("'int' object is not iterable")."""
    if isinstance(value, single):
        return [value]
    try:
        items = iter(value)
    except TypeError:
        raise ETPInvalidArgument(f"{name} must be {what}, got {type(value).__name__}") from None
    return list(items)


class Deadline:
    """The one deadline of a public call made of several requests (waits, retries included):
    each request gets the time still left, never a fresh ``timeout`` of its own."""

    def __init__(self, seconds: float) -> None:
        self.seconds = checked_seconds(seconds)  # the one check of a call's timeout
        self.at = time.monotonic() + self.seconds

    def __repr__(self) -> str:
        return f"Deadline({self.seconds} s, {self.at - time.monotonic():.2f} s left)"

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def remaining(self, what: str = "the call") -> float:
        """Seconds left; raises :class:`~etp_sync.errors.ETPTimeout` when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise ETPTimeout(f"{what} did not complete within its timeout of {self.seconds:g} s")
        return left


class ResponseHandle(Protocol):
    """A request in flight (what :meth:`SessionAPI.send` returns)."""

    @property
    def message_id(self) -> int: ...

    def response(self, timeout: float | None = None) -> Response:
        """All response parts, ProtocolExceptions included (no error raised for them)."""
        ...

    def result(self, timeout: float | None = None) -> list[Any]:
        """The response messages; raises ETPRemoteError on ProtocolExceptions."""
        ...


class SessionAPI(Protocol):
    """The session as the calls layer sees it."""

    timeout: float
    """Default seconds to wait for a response."""
    max_message_size: int
    """Our own message size limit (``server.max_message_size`` is the negotiated one)."""
    connect_count: int
    """How many times the session connected: a transaction belongs to one connection."""
    auto_reconnect: bool
    """Reconnect on next use after a drop (otherwise raise)."""
    DEADLINE_MARGIN: float
    """Seconds a call may run past its ``timeout``."""
    transaction_manager: TransactionManager
    subscription_registry: SubscriptionRegistry

    @property
    def server(self) -> ServerInfo:
        """What the server granted in OpenSession (connects first if needed)."""
        ...

    def _granted(self, deadline: float) -> ServerInfo:
        """:attr:`server`, connecting (if needed) within ``deadline`` (``time.monotonic()``)."""
        ...

    def _reply_limit(self, deadline: float) -> int:
        """The most bytes one reply may amount to on the connection (``max_response_size``,
        or its default), connecting (if needed) within ``deadline`` (``time.monotonic()``)."""
        ...

    def _note_refused_commit(self) -> None:
        """The server refused a commit: if it then refuses the next request with
        EINVALID_STATE (open-etp-server ends such a session), reconnect and send it again."""
        ...

    def _abort_connection(self, reason: str) -> None:
        """Drop the connection at once (requests in flight fail with ETPConnectionLost); the
        next call reconnects."""
        ...

    @property
    def is_open(self) -> bool:
        """A connection is open now."""
        ...

    @property
    def closed(self) -> bool:
        """``close()`` was called (and no ``connect()`` since)."""
        ...

    def request(
        self,
        message: Record | Sequence[Record],
        *,
        timeout: float | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Send a request and collect its response, ProtocolExceptions not raised."""
        ...

    def send(
        self, message: Record, *, timeout: float | None = None, target: ReplyTarget | None = None
    ) -> ResponseHandle:
        """Send a request without waiting for its response (``target``: memory its reply's
        array values may be received into)."""
        ...

    def send_and_recv(self, message: Record, *, timeout: float | None = None) -> list[Any]:
        """Send a request and return its response messages (ProtocolExceptions raised)."""
        ...

    def add_handler(
        self, callback: Handler, *, protocol: int | None = None, message_type: int | None = None
    ) -> Callable[[], None]:
        """Call ``callback(header, message)`` for matching server-initiated messages."""
        ...

    def add_after_connect(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after every (re)connect."""
        ...

    def add_on_disconnect(self, hook: Callable[[ETPError], None]) -> None:
        """Call ``hook(error)`` when the connection is lost: dropped (as soon as the engine
        notices, on its thread) or closed by ``close()`` (``closed`` is then True)."""
        ...
