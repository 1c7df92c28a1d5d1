"""Shared by the examples: the server to talk to.

Each example takes an optional ``ws://`` URL; without one it starts the embedded ETP server on
a free port of 127.0.0.1 for the length of the run (and stops it afterwards).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from etp_sync.server import EmbeddedServer


@contextlib.contextmanager
def server_url(**server_options: Any) -> Iterator[str]:
    """``sys.argv[1]`` when given, otherwise the URL of a fresh embedded server."""
    if len(sys.argv) > 1:
        yield sys.argv[1]
        return
    with EmbeddedServer(port=0, **server_options) as server:
        yield server.url
