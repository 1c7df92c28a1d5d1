"""``etp-sync shell URL``: an interactive Python prompt with ``session`` open on the server
(:func:`etp_sync.shell.main`), connected with the same options as every other command."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import client_options, session_options

__all__ = ["add_shell_command"]


def _shell(args: argparse.Namespace) -> int:
    from ..shell import main

    return main(args.url, ipython=args.ipython, **session_options(args))


def add_shell_command(sub: Any) -> None:
    """Register ``shell`` on the top-level subparsers."""
    p = sub.add_parser(
        "shell",
        parents=[client_options(json_output=False)],
        help="interactive Python prompt with `session` open on the server",
        description="An interactive Python prompt (IPython when installed) with an open "
        "ETPSession bound to `session`; leave with exit() or Ctrl-D.",
    )
    p.add_argument(
        "--ipython",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use IPython (default: when installed) or the plain Python console",
    )
    p.set_defaults(func=_shell)
