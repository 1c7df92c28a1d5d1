"""``etp_connect``: an :class:`~etp_sync.session.ETPSession` opened and returned connected, with
the session's exact parameters (for help() and completion)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import ParamSpec

from .etp_session import ETPSession

P = ParamSpec("P")


def _connecting(factory: Callable[P, ETPSession]) -> Callable[P, ETPSession]:
    """``etp_connect``: ``factory``'s exact parameters (for help() and completion), connected."""

    def etp_connect(*args: P.args, **kwargs: P.kwargs) -> ETPSession:
        """Open an :class:`ETPSession` (same parameters) and return it, connected.

        Works three ways: ``with etp_connect(url) as s:``; ``s = etp_connect(url)`` ...
        ``s.close()``; and ``for s in etp_connect(url):`` which yields a fresh session each time
        the loop comes back (reconnect after a drop in long-running jobs). pyetp's keyword
        arguments work unchanged: ``etp_connect(uri=..., data_partition_id=...,
        authorization=SecretStr("Bearer ..."), etp_timeout=..., max_message_size=...,
        use_compression=...)`` (use ``with`` where pyetp uses ``async with``).
        """
        session = factory(*args, **kwargs)
        session.connect()
        return session

    etp_connect.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    return etp_connect


etp_connect = _connecting(ETPSession)


__all__ = ["etp_connect"]
