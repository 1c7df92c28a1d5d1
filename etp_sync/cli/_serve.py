"""``etp-sync serve``: the embedded server, with exactly the options of
``python -m etp_sync.server`` (the arguments are handed to it as they are)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["serve"]

_URL = re.compile(r"\b(wss?://\S+)")


class _JsonAnnouncer(io.TextIOBase):
    """Stdout for the server with ``--json``: its "listening on URL" line becomes
    ``{"listening": URL}``; other output passes through unchanged."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        match = _URL.search(text)  # print() writes the line, then its "\n"
        self._out.write(json.dumps({"listening": match.group(1)}) if match else text)
        return len(text)

    def flush(self) -> None:
        self._out.flush()


def serve(argv: Sequence[str]) -> int:
    """Run ``python -m etp_sync.server`` with ``argv`` (``--json`` handled here)."""
    from ..server.__main__ import main as server_main

    args = [a for a in argv if a != "--json"]
    if len(args) == len(argv):
        return server_main(args)
    with contextlib.redirect_stdout(_JsonAnnouncer(sys.stdout)):
        return server_main(args)
