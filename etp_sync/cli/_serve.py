"""``etp-sync serve``: the embedded server, with exactly the options of
``python -m etp_sync.server`` (the same parser code adds them) plus ``--json``."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_serve_command"]


def _print_json_url(url: str) -> None:
    print(json.dumps({"listening": url}), flush=True)


def _serve(args: argparse.Namespace) -> int:
    from ..server.__main__ import serve

    if args.json:
        return serve(args, on_ready=_print_json_url)
    return serve(args)


def add_serve_command(sub: Any) -> None:
    """Register ``serve`` on the top-level subparsers."""
    from ..server.__main__ import DESCRIPTION, add_server_arguments

    p = sub.add_parser("serve", help="run the embedded server", description=DESCRIPTION)
    add_server_arguments(p)
    p.add_argument(
        "--json", action="store_true", help='announce the URL as {"listening": URL} on stdout'
    )
    p.set_defaults(func=_serve)
