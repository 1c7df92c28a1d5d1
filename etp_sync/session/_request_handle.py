"""``RequestHandle``: a request in flight, as :meth:`ETPSession.send
<etp_sync.session.ETPSession.send>` returns it (the session's side of
:class:`~etp_sync.calls._core.ResponseHandle`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._timeouts import seconds
from ..errors import ETPError, ETPReadTimeout, fresh_error
from ..protocol.correlation import PendingRequest, Response


class RequestHandle:
    """A request in flight; :meth:`result` blocks for its response messages.

    Without a ``timeout`` of its own, the wait ends at the deadline the request was sent with
    (sending and receiving share one deadline). A wait that times out calls ``on_timeout`` with
    the time the request was sent (``time.monotonic()``): the session then drops a connection
    that went silent, as after a request's own timeout.

    The response, once received, stays on the handle: later calls return it again (the parts
    were taken off the request's queue, and waiting for more would only time out). So does a
    failed wait's error (a timeout, a lost connection: the request is then forgotten, nothing
    more can arrive for it): later calls raise it again at once.
    """

    def __init__(
        self,
        pending: PendingRequest,
        deadline: float | None,
        on_timeout: Callable[[float], None] | None = None,
        sent: float = 0.0,
    ) -> None:
        self._pending = pending
        self._deadline = deadline
        self._on_timeout = on_timeout
        self._sent = sent
        self._response: Response | None = None
        self._failure: ETPError | None = None

    @property
    def message_id(self) -> int:
        return self._pending.message_id

    def response(self, timeout: float | None = None) -> Response:
        """All response parts, ProtocolExceptions included (no error raised for them).
        ``timeout`` 0 takes only a response already in whole (else ETPReadTimeout at once, and
        the request is forgotten: its late parts are dropped). Called again after a response,
        returns that same response at once."""
        if self._response is not None:
            return self._response
        if self._failure is not None:
            raise fresh_error(self._failure)
        wait = None if timeout is None else seconds(timeout, zero=True)
        try:
            if wait is not None:
                response = self._pending.result(wait)
            else:
                response = self._pending.result(deadline=self._deadline)
        except ETPError as exc:
            self._failure = exc
            if isinstance(exc, ETPReadTimeout) and self._on_timeout is not None:
                self._on_timeout(self._sent)
            raise
        except BaseException as exc:  # e.g. KeyboardInterrupt: the request is forgotten too
            self._failure = ETPReadTimeout(
                f"the wait for the response to message {self.message_id} was interrupted "
                f"({type(exc).__name__}): the request was given up"
            )
            raise
        self._response = response
        return response

    def result(self, timeout: float | None = None) -> list[Any]:
        """The response messages; raises :class:`~etp_sync.errors.ETPRemoteError` on errors
        (again on every call, as the response stays on the handle)."""
        response = self.response(timeout)
        response.raise_for_errors()
        return response.messages


__all__ = ["RequestHandle"]
