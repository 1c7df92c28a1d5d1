"""What every ``etp-sync`` command shares: connection options and the session they open,
output (text or ``--json``), progress bars, and the mapping of errors to one-line messages and
exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._progress import Progress, ProgressBar
from ..errors import (
    EPCError,
    ErrorCode,
    ETPAuthorizationError,
    ETPError,
    ETPInvalidArgument,
    ETPMissingDependency,
    ETPRemoteError,
    ETPTimeout,
    ETPTransportError,
)
from ..session import ETPSession

EXIT_OK = 0
EXIT_FAILED = 1  # the server refused or failed the request
EXIT_USAGE = 2  # bad command line or argument (argparse uses 2 too)
EXIT_CONNECTION = 3  # cannot connect, connection lost, timed out
EXIT_AUTH = 4  # credentials refused (HTTP 401/403, authorization errors)
EXIT_FILE = 5  # a local file cannot be read or written, or is not what it should be
EXIT_DEPENDENCY = 6  # an optional package the command needs is missing
EXIT_INTERRUPTED = 130  # Ctrl-C

_AUTH_CODES = {ErrorCode.EAUTHORIZATION_EXPIRED, ErrorCode.EAUTHORIZATION_REQUIRED}


def client_options(json_output: bool = True) -> argparse.ArgumentParser:
    """The options of every command that talks to a server (a parent parser); ``--json``
    unless ``json_output`` is False (an interactive command has no output to format)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("url", metavar="URL", help="ws:// or wss:// address of the server ($ETP_URL)")
    auth = p.add_argument_group("connection")
    auth.add_argument("--token", help="bearer token (default: $ETP_TOKEN); never logged")
    auth.add_argument(
        "--token-command",
        metavar="CMD",
        help="shell command printing the bearer token, run at every connect",
    )
    auth.add_argument("--partition", help="OSDU data-partition-id header")
    auth.add_argument("--timeout", type=float, default=60.0, help="seconds per request (60)")
    auth.add_argument(
        "--insecure", action="store_true", help="wss://: do not verify the server certificate"
    )
    auth.add_argument("--ca-file", help="wss://: CA bundle to verify the server with")
    auth.add_argument(
        "--proxy",
        metavar="URL",
        help="HTTP proxy to tunnel through (HTTP CONNECT), http://[user:password@]host:port; "
        "its credentials are never printed (default: $https_proxy for wss://, $http_proxy for "
        "ws://, honouring $no_proxy)",
    )
    auth.add_argument(
        "--no-proxy",
        action="store_true",
        help="connect directly, even when the environment names a proxy",
    )
    out = p.add_argument_group("output")
    if json_output:
        out.add_argument("--json", action="store_true", help="print JSON (errors too)")
    out.add_argument(
        "-v", "--verbose", action="store_true", help="show warnings (e.g. connection retries)"
    )
    out.add_argument("--debug", action="store_true", help="debug logging; tracebacks on errors")
    out.add_argument(
        "--trace",
        action="store_true",
        help="one line on stderr per ETP message sent or received: protocol, type, ids, flags, "
        "size; never bodies or tokens (default: on when $ETP_SYNC_TRACE=1)",
    )
    return p


def progress_options() -> argparse.ArgumentParser:
    """``--progress`` / ``--no-progress`` for commands that move arrays (a parent parser)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal; needs tqdm)",
    )
    return p


def _token_command(command: str) -> Callable[[], str]:
    """A token provider running ``command``; its output is never shown or logged."""

    def token() -> str:
        try:
            done = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ETPInvalidArgument(f"--token-command did not run: {type(exc).__name__}") from None
        if done.returncode != 0:
            raise ETPInvalidArgument(f"--token-command failed with exit status {done.returncode}")
        value = done.stdout.strip()
        if not value:
            raise ETPInvalidArgument("--token-command printed no token")
        return value

    return token


def session_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~etp_sync.ETPSession` keywords the connection options give (all but the URL)."""
    authorization: str | Callable[[], str] | None
    if args.token_command:
        authorization = _token_command(args.token_command)
    else:
        authorization = args.token or os.environ.get("ETP_TOKEN") or None
    if args.proxy and args.no_proxy:
        raise ETPInvalidArgument("--proxy and --no-proxy exclude each other: give one")
    return {
        "authorization": authorization,
        "data_partition_id": args.partition,
        "timeout": args.timeout,
        "verify": not args.insecure,
        "ca_file": args.ca_file,
        "proxy": False if args.no_proxy else args.proxy,  # None: from the environment
        "trace": True if args.trace else None,  # None: from $ETP_SYNC_TRACE
    }


def open_session(args: argparse.Namespace) -> ETPSession:
    """An (unconnected) session from the connection options."""
    return ETPSession(args.url, **session_options(args))


def emit(args: argparse.Namespace, data: Any, lines: Sequence[str] | None = None) -> None:
    """Print ``data`` as JSON with ``--json``, otherwise ``lines`` (``str(data)`` if None)."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    elif lines is None:
        print(data)
    else:
        for line in lines:
            print(line)


@contextlib.contextmanager
def progress_bar(args: argparse.Namespace, label: str) -> Iterator[Progress | None]:
    """A ``progress(done, total)`` callback drawing a bar on stderr (a
    :class:`~etp_sync._progress.ProgressBar`, closed on leaving), or None when no bar is wanted
    (``--no-progress``, or stderr is not a terminal) or tqdm is missing: then a one-line note
    says how to get it."""
    wanted = args.progress if args.progress is not None else sys.stderr.isatty()
    if not wanted:
        yield None
        return
    try:
        bar = ProgressBar(label)
    except ETPMissingDependency:
        print(
            "etp-sync: no progress bar: tqdm is not installed (pip install 'etp_sync[cli]')",
            file=sys.stderr,
        )
        yield None
        return
    try:
        yield bar
    finally:
        bar.close()


def exit_code(exc: BaseException) -> int:
    """The documented exit status for an error (see the ``etp-sync`` help)."""
    if isinstance(exc, ETPMissingDependency):
        return EXIT_DEPENDENCY
    if isinstance(exc, EPCError | OSError):
        return EXIT_FILE
    if isinstance(exc, ETPInvalidArgument):
        return EXIT_USAGE
    if isinstance(exc, ETPAuthorizationError):
        return EXIT_AUTH
    if isinstance(exc, ETPRemoteError) and exc.code in _AUTH_CODES:
        return EXIT_AUTH
    if isinstance(exc, ETPTransportError | ETPTimeout):
        return EXIT_CONNECTION
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if not isinstance(exc, ETPError | OSError):  # a bug of ours: say so, the traceback helps
        return f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return str(exc) or type(exc).__name__


def report_error(
    args: argparse.Namespace | None, exc: BaseException, prog: str = "etp-sync"
) -> int:
    """Print one line on stderr, ``prog: kind: message`` (and a JSON object on stdout with
    ``--json``); return the exit status. With ``--debug`` the traceback comes first."""
    code = exit_code(exc)
    kind = type(exc).__name__ if isinstance(exc, ETPError) else "error"
    text = " ".join(_message(exc).split())
    if args is not None and getattr(args, "debug", False):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(f"{prog}: {kind}: {text}", file=sys.stderr)
    if args is not None and getattr(args, "json", False):
        error = {
            "type": type(exc).__name__,
            "message": text,
            "code": getattr(exc, "code", None) if isinstance(exc, ETPError) else None,
            "exit_code": code,
        }
        print(json.dumps({"error": error}))
    return code
