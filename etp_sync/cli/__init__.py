"""``etp-sync`` / ``python -m etp_sync``: the command line over :class:`~etp_sync.ETPSession`.

The server URL comes first after the command (or from ``$ETP_URL``)::

    etp-sync serve --port 9100
    etp-sync ping ws://localhost:9100
    etp-sync dataspace create ws://localhost:9100 project/model --legal-tag my-tag
    etp-sync upload ws://localhost:9100 model.epc project/model
    etp-sync objects list ws://localhost:9100 project/model
    etp-sync download ws://localhost:9100 "eml:///dataspace('p/m')/resqml20.obj_X(<uuid>)" \\
        -o copy.epc --linked 2
    etp-sync array get ws://localhost:9100 URI /RESQML/<uuid>/points -o points.npy
    etp-sync shell ws://localhost:9100        # Python prompt with ``session`` open

Every command has ``--help`` and ``--json``; transfers draw a progress bar on a terminal (tqdm:
``pip install 'etp_sync[cli]'``). The token comes from ``--token``, ``$ETP_TOKEN`` or
``--token-command`` and is never printed or logged. ``--proxy URL`` tunnels through an HTTP
proxy (``--no-proxy``: never; by default ``$https_proxy`` / ``$http_proxy``), and ``--trace``
writes one line per ETP message to stderr (headers and sizes, never bodies or tokens). Errors
are one line on stderr (the traceback too with ``--debug``) and set the exit status:

====  =============================================================================
0     success
1     the server refused or failed the request (not found, invalid object, ...)
2     bad command line or argument (malformed URI, --token-command failing, ...)
3     cannot connect, connection lost, or timed out
4     credentials refused (HTTP 401/403, authorization errors)
5     a local file cannot be read or written, or is not a valid EPC / HDF5 / .npy
6     an optional package the command needs is missing (h5py, ...)
130   interrupted (Ctrl-C)
====  =============================================================================
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from ._common import (
    EXIT_AUTH,
    EXIT_CONNECTION,
    EXIT_DEPENDENCY,
    EXIT_FAILED,
    EXIT_FILE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    client_options,
    progress_options,
    report_error,
)
from ._serve import add_serve_command
from ._shell import add_shell_command
from ._store import add_store_commands
from ._transfer import add_transfer_commands

__all__ = [
    "EXIT_AUTH",
    "EXIT_CONNECTION",
    "EXIT_DEPENDENCY",
    "EXIT_FAILED",
    "EXIT_FILE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

log = logging.getLogger("etp_sync.cli")

GROUPS = ("dataspace", "objects", "array")  # commands with an ACTION word after them
NO_URL = ("serve",)  # commands that take no server URL


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="etp-sync",
        description="The command line over an etp_sync.ETPSession (ETP 1.2).",
        epilog="exit status: 0 ok, 1 request failed, 2 usage, 3 connection, 4 credentials, "
        "5 local file, 6 missing package, 130 interrupted. The URL may come from $ETP_URL.",
    )
    parser.add_argument("--version", action="version", version=f"etp-sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    client = client_options()
    add_store_commands(sub, client)
    add_transfer_commands(sub, client, progress_options())
    add_shell_command(sub)
    add_serve_command(sub)
    return parser


def _with_url(argv: list[str]) -> list[str]:
    """``argv`` with ``$ETP_URL`` put where the URL goes when no ws:// URL is given."""
    url = os.environ.get("ETP_URL")
    if not url or any(a.lower().startswith(("ws://", "wss://")) for a in argv):
        return argv
    words = [i for i, a in enumerate(argv) if not a.startswith("-")]
    if not words or argv[words[0]] in NO_URL:
        return argv
    at = words[0] + 1
    if argv[words[0]] in GROUPS and len(words) > 1 and words[1] == at:
        at += 1
    if any(a in ("-h", "--help") for a in argv) or at > len(argv):
        return argv
    return [*argv[:at], url, *argv[at:]]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_with_url(args_list))
    if args.command not in NO_URL:  # the server sets its own logging (--log-level)
        level = logging.WARNING if args.verbose else logging.ERROR  # retries: noise by default
        logging.basicConfig(
            level=logging.DEBUG if args.debug else level,
            format="%(levelname)s %(name)s: %(message)s",
        )
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (e.g. ``| head``): stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (Exception, KeyboardInterrupt) as exc:  # one line, whatever failed (--debug: all)
        return report_error(args, exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
