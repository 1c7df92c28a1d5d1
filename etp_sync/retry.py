"""Reconnection policy: how often and how long to try to (re)open a session, driven by tenacity."""

from __future__ import annotations

import logging
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
    sockets, timeouts while connecting) are retried; a server that refuses the session or the
    credentials is not asked again.
    """

    attempts: int = 5
    total_time: float = 60.0
    initial_wait: float = 0.2
    max_wait: float = 5.0
    jitter: float = 0.2

    def run(self, func: Callable[[], T], what: str) -> T:
        """Call ``func`` until it succeeds or the policy gives up (then re-raise its error)."""

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

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.attempts))
            | tenacity.stop_after_delay(self.total_time),
            wait=tenacity.wait_exponential_jitter(
                multiplier=self.initial_wait, max=self.max_wait, jitter=self.jitter
            ),
            retry=tenacity.retry_if_exception(_retryable),
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(func)


# HTTP statuses of a refused upgrade that asking again will not change: a bad request, missing
# or wrong credentials, a path the server does not serve.
PERMANENT_HTTP_STATUSES = frozenset({400, 401, 403, 404})


def _retryable(exc: BaseException) -> bool:
    """Transport failures are retried, except refusals that asking again will not change."""
    return isinstance(exc, ETPTransportError) and exc.status not in PERMANENT_HTTP_STATUSES
