"""Sessions of a worker process: one per (url, credentials), shared by every task it runs.

Tasks carry a :class:`SessionSpec` (the URL, the session options, and a key naming them), never
a session. The first task of a process that needs a spec opens the session; later ones reuse it,
and a connection that dropped is reopened by the session itself on its next call (its retry
policy). Every cached session is closed when the process exits (``atexit``) or when
:func:`close_sessions` is called; a forked child starts with an empty cache (the parent's sockets
are not its own).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import pickle
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..errors import ETPInvalidArgument
from ..session import ETPSession
from ..transport._websocket import safe_url

log = logging.getLogger("etp_sync.dask")


class HiddenToken:
    """A bearer token given as a string, made a callable whose repr never shows it.

    Strings passed as ``authorization`` are wrapped in one so that the task graph, its reprs and
    the logs never print the token. Better still, pass a callable that fetches the token where it
    runs (from the worker's environment or a credentials service): then no secret travels at all.
    """

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "HiddenToken(<hidden>)"

    def __reduce__(self) -> tuple[type[HiddenToken], tuple[str]]:
        return (HiddenToken, (self._token,))


@dataclass(frozen=True, repr=False)
class SessionSpec:
    """How a worker opens its session: URL, ETPSession options, and the cache ``key``.

    ``key`` is a digest of the URL and the pickled options (credentials callable and data
    partition included), computed once where the graph is built, so that every task of a
    read or write, and of later ones with the same options, finds the same session.
    """

    url: str
    options: tuple[tuple[str, Any], ...]
    key: str

    @classmethod
    def of(cls, url: str, options: Mapping[str, Any]) -> SessionSpec:
        """The spec of ``ETPSession(url, **options)``; the options must pickle (cloudpickle)."""
        opts = dict(options)
        auth = opts.get("authorization")
        if isinstance(auth, str):
            opts["authorization"] = HiddenToken(auth)
        items = tuple(sorted(opts.items()))
        try:
            pickled = cloudpickle.dumps((url, items))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            names = ", ".join(name for name, _ in items)
            raise ETPInvalidArgument(
                f"the session options ({names}) must pickle to travel to the workers: "
                f"{type(exc).__name__}"
            ) from None
        return cls(url, items, hashlib.sha256(pickled).hexdigest()[:24])

    def __repr__(self) -> str:
        return f"SessionSpec({safe_url(self.url)!r}, key={self.key!r})"

    def open(self) -> ETPSession:
        """A new session (not cached): for the client's own short calls."""
        return ETPSession(self.url, **dict(self.options))


_lock = threading.Lock()
_sessions: dict[str, ETPSession] = {}


def session_for(spec: SessionSpec) -> ETPSession:
    """This process's session for ``spec``: the cached one, or a new one (connected on first
    use). A session closed by :func:`close_sessions` or by its owner is replaced."""
    with _lock:
        session = _sessions.get(spec.key)
        if session is None or session.closed:
            session = spec.open()
            _sessions[spec.key] = session
            log.debug("process %d: new session for %r", os.getpid(), spec)
        return session


def close_sessions() -> int:
    """Close every cached session of this process (CloseSession sent); returns how many."""
    with _lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        try:
            session.close("worker done")
        except Exception:
            log.exception("closing %r failed", session)
    return len(sessions)


def cached_sessions() -> list[str]:
    """Reprs of the sessions this process holds (URL and state, never credentials)."""
    with _lock:
        return [repr(session) for session in _sessions.values()]


def _forget_after_fork() -> None:
    """In a forked child the parent's sessions are not ours: drop them without closing."""
    global _lock
    _lock = threading.Lock()
    _sessions.clear()


atexit.register(close_sessions)
os.register_at_fork(after_in_child=_forget_after_fork)

__all__ = [
    "HiddenToken",
    "SessionSpec",
    "cached_sessions",
    "close_sessions",
    "session_for",
]
