"""Reconnection policy: how often and how long to try to (re)open a session, driven by tenacity."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from .errors import ETPTransportError

log = logging.getLogger("etp_sync.retry")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and total time.

    ``attempts=1`` disables retrying. Only transport failures (refused connections, dropped
    sockets, timeouts while connecting, HTTP statuses that may change: 408, 425, 429, 5xx) are
    retried; a server that refuses the session or the credentials, or that is no websocket
    server at all, and TLS that cannot work (a certificate refused, a port without TLS), are
    not asked again.

    A call's deadline bounds the policy too: :meth:`run` makes no attempt that could only start
    after it, and each attempt gets only the time left (the caller's ``func`` reads it). So
    does a close of the session: :meth:`run`'s ``interrupt`` ends the wait between attempts at
    once and stops the retries.
    """

    attempts: int = 5
    total_time: float = 60.0
    initial_wait: float = 0.2
    max_wait: float = 5.0
    jitter: float = 0.2

    def run(
        self,
        func: Callable[[], T],
        what: str,
        *,
        deadline: float | None = None,
        interrupt: threading.Event | None = None,
    ) -> T:
        """Call ``func`` until it succeeds or the policy gives up (then re-raise its error).

        ``deadline`` (a ``time.monotonic()`` value) ends the retries early: no wait that would
        end past it is started, the last attempt's error is raised instead. So does
        ``interrupt`` once set: no attempt follows the one in progress (whose error is raised),
        and a wait between attempts ends at once (``func`` is then called once more: it should
        raise at once when interrupted).
        """

        def log_retry(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.2f s",
                what,
                state.attempt_number,
                self.attempts,
                exc,
                wait,
            )

        stop = tenacity.stop_after_attempt(max(1, self.attempts)) | tenacity.stop_after_delay(
            self.total_time
        )
        if deadline is not None:
            stop = stop | _StopBefore(deadline)
        if interrupt is not None:
            stop = stop | _StopWhenSet(interrupt)
        retrying = tenacity.Retrying(
            stop=stop,
            sleep=tenacity.nap.sleep if interrupt is None else _waiter(interrupt),
            wait=tenacity.wait_exponential_jitter(
                multiplier=self.initial_wait, max=self.max_wait, jitter=self.jitter
            ),
            retry=tenacity.retry_if_exception(_retryable),
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(func)


class _StopBefore(tenacity.stop.stop_base):
    """Stop when the coming wait would end at or past ``deadline`` (``time.monotonic()``)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline


def _waiter(interrupt: threading.Event) -> Callable[[float], None]:
    """A sleep between attempts that ``interrupt`` ends at once."""

    def wait(seconds: float) -> None:
        interrupt.wait(seconds)

    return wait


class _StopWhenSet(tenacity.stop.stop_base):
    """Stop once ``event`` is set (the session was closed)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.event.is_set()


# HTTP statuses of a refused upgrade that asking again may change: a timeout, "too early", too
# many requests, server errors. Any other answer to an upgrade (a bad request, missing or wrong
# credentials, a path the server does not serve, a plain web page) stays the same.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})


def _retryable(exc: BaseException) -> bool:
    """Transport failures are retried, except refusals that asking again will not change."""
    if not isinstance(exc, ETPTransportError) or exc.permanent:
        return False
    status = exc.status
    return status is None or status in TRANSIENT_HTTP_STATUSES or status >= 500
