"""``python -m etp_sync.server``: run the embedded ETP 1.2 store until Ctrl-C or SIGTERM.

This process sets its own garbage collector policy (:func:`server_gc_policy`) once the server
listens: what was allocated at start-up (modules, codecs, the server) is frozen out of the
cyclic collector's scans, and the youngest generation is collected after 25,000 new objects
(:data:`GC_THRESHOLD`) instead of 700. A put of 1,000 small objects
allocates several thousand objects that live on in the store, so the default made the collector
run some 20 times a round, rescanning the store ever more often (~10 ms of a ~80 ms round).
Only this entry point does so: the server run from an application (``EmbeddedServer``, or
``etp-sync serve``) leaves the collector as the application set it.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from ..cli._common import report_error
from ..errors import ETPInvalidArgument
from ..transport._spin import DEFAULT_SPIN_WAIT, MAX_SPIN_WAIT
from ._profile import DEFAULT_PROFILE, PROFILES
from ._server import (
    DEFAULT_MAX_MESSAGE_SIZE,
    HANDSHAKE_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    MAX_NOTIFICATION_BYTES,
    MAX_PENDING_BYTES,
    MAX_SUBSCRIPTIONS,
    PENDING_TIMEOUT,
    REQUEST_SESSION_TIMEOUT,
    EmbeddedServer,
)
from ._tokens import jwt_expiry_validator
from .store import (
    DEFAULT_CHANGE_RETENTION_PERIOD,
    DEFAULT_MAX_ARRAY_BYTES,
    DEFAULT_MAX_OBJECT_BYTES,
    DEFAULT_MAX_STORE_BYTES,
    DEFAULT_TRANSACTION_TIMEOUT,
)

__all__ = [
    "DESCRIPTION",
    "GC_THRESHOLD",
    "add_server_arguments",
    "build_parser",
    "main",
    "serve",
    "server_gc_policy",
]

DESCRIPTION = "Embedded in-memory ETP 1.2 store server."
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
GC_THRESHOLD = (25_000, 10, 10)
"""The collector's thresholds in this process (:func:`gc.set_threshold`): the youngest
generation waits for 25,000 new container objects (Python's default is 700)."""
_GC_EPILOG = (
    "This process freezes what start-up allocated out of the garbage collector's scans "
    f"(gc.freeze) and collects its youngest generation every {GC_THRESHOLD[0]:,} new objects "
    "(gc.set_threshold): many small objects put at once no longer make the collector rescan "
    "the store."
)


def _add_store_limits(parser: argparse.ArgumentParser) -> None:
    """Flags of the store's limits; 0 means no limit."""
    sizes = (
        (
            "--max-store-bytes",
            DEFAULT_MAX_STORE_BYTES,
            "bytes of dataspaces, objects, written array blocks and deletion records",
        ),
        ("--max-object-bytes", DEFAULT_MAX_OBJECT_BYTES, "bytes of one data object's XML"),
        ("--max-array-bytes", DEFAULT_MAX_ARRAY_BYTES, "declared bytes of one array"),
    )
    for flag, size, what in sizes:
        parser.add_argument(
            flag, type=int, default=size, help=f"{what} ({size >> 20} MiB; 0 = no limit)"
        )
    periods = (
        ("--transaction-timeout", DEFAULT_TRANSACTION_TIMEOUT, "a transaction may stay idle"),
        ("--change-retention-period", DEFAULT_CHANGE_RETENTION_PERIOD, "deletions are listed"),
    )
    for flag, seconds, what in periods:
        parser.add_argument(
            flag, type=float, default=seconds, help=f"seconds {what} ({seconds:g}; 0 = no limit)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The server's argument parser (``etp-sync serve`` shares its options)."""
    parser = argparse.ArgumentParser(
        prog="python -m etp_sync.server", description=DESCRIPTION, epilog=_GC_EPILOG
    )
    add_server_arguments(parser)
    return parser


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every server option to ``parser`` (read back by :func:`serve`)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="TCP port (9100; 0 = any)")
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        help="MaxWebSocketMessagePayloadSize in bytes (16 MiB)",
    )
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN'")
    parser.add_argument(
        "--jwt-expiry",
        action="store_true",
        help="require JWT bearer tokens and refuse expired ones (exp; signature not checked); "
        "sessions renew them with Core Authorize",
    )
    parser.add_argument(
        "--no-authorize",
        action="store_true",
        help="answer Core Authorize with EINVALID_MESSAGETYPE (no in-session token renewal)",
    )
    parser.add_argument(
        "--require-transactions", action="store_true", help="refuse writes outside transactions"
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE.name,
        help="behave like ETP 1.2 (etp12) or like open-etp-server with its quirks "
        f"({DEFAULT_PROFILE.name})",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    parser.add_argument(
        "--handshake-timeout",
        type=float,
        default=HANDSHAKE_TIMEOUT,
        help=f"seconds a connection may take for its whole HTTP request ({HANDSHAKE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--request-session-timeout",
        type=float,
        default=REQUEST_SESSION_TIMEOUT,
        help=f"seconds from the upgrade to a complete RequestSession ({REQUEST_SESSION_TIMEOUT:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT,
        help="seconds a session without subscriptions may send nothing before it is closed "
        f"({IDLE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help=f"connections served at once; more get HTTP 503 ({MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--max-pending-bytes",
        type=int,
        default=MAX_PENDING_BYTES,
        help="bytes of unfinished multipart requests one session may hold "
        f"({MAX_PENDING_BYTES >> 20} MiB)",
    )
    parser.add_argument(
        "--pending-timeout",
        type=float,
        default=PENDING_TIMEOUT,
        help=f"seconds a multipart request may wait for its next part ({PENDING_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-notification-bytes",
        type=int,
        default=MAX_NOTIFICATION_BYTES,
        help="bytes of store changes waiting to be notified to one session; a session reading "
        "more slowly than the store changes has its subscriptions ended (SubscriptionEnded) "
        f"({MAX_NOTIFICATION_BYTES >> 20} MiB)",
    )
    parser.add_argument(
        "--max-subscriptions",
        type=int,
        default=MAX_SUBSCRIPTIONS,
        help="subscriptions one session may hold (MaxSubscriptionSessionCount); the ones past "
        f"it get ELIMIT_EXCEEDED ({MAX_SUBSCRIPTIONS})",
    )
    parser.add_argument(
        "--spin-wait",
        type=float,
        default=DEFAULT_SPIN_WAIT,
        help="seconds the server polls a lone connection for its next request before it sleeps "
        f"(0 to {MAX_SPIN_WAIT}; 0: never) ({DEFAULT_SPIN_WAIT})",
    )
    _add_store_limits(parser)
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="INFO",
        help="logging level (INFO)",
    )
    parser.add_argument("--debug", action="store_true", help="tracebacks on errors")


def _announce(url: str) -> None:
    print(f"ETP 1.2 store listening on {url}", flush=True)


def serve(args: argparse.Namespace, on_ready: Callable[[str], None] = _announce) -> int:
    """Serve with the options of :func:`add_server_arguments` until Ctrl-C or SIGTERM;
    ``on_ready(url)`` is called once the server listens (default: a line on stdout).
    Returns the exit status; a port that cannot be bound is an :class:`ETPInvalidArgument`."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = EmbeddedServer(
        args.host,
        args.port,
        max_message_size=args.max_message_size,
        required_token=args.token,
        token_validator=jwt_expiry_validator if args.jwt_expiry else None,
        authorize=not args.no_authorize,
        require_transactions=args.require_transactions,
        latency=args.latency,
        handshake_timeout=args.handshake_timeout,
        request_session_timeout=args.request_session_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
        max_pending_bytes=args.max_pending_bytes,
        pending_timeout=args.pending_timeout,
        max_notification_bytes=args.max_notification_bytes,
        max_subscriptions=args.max_subscriptions,
        max_store_bytes=args.max_store_bytes or None,
        max_object_bytes=args.max_object_bytes or None,
        max_array_bytes=args.max_array_bytes or None,
        transaction_timeout=args.transaction_timeout or None,
        change_retention_period=args.change_retention_period or None,
        profile=args.profile,
        spin_wait=args.spin_wait,
    )
    try:
        server.start()
    except OSError as exc:  # binding the port: a bad --host/--port (in use, unknown host)
        raise ETPInvalidArgument(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        on_ready(server.url)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def server_gc_policy() -> None:
    """The collector policy of the ``python -m etp_sync.server`` process, set once it listens:
    collect start-up's garbage, freeze what is left (it is never scanned again), and
    collect less often (:data:`GC_THRESHOLD`). A process-wide setting: never called from code
    an application imports."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _ready(url: str) -> None:
    server_gc_policy()
    _announce(url)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve with this process's collector policy
    (:func:`server_gc_policy`), and return the exit status; errors are one line on stderr with
    the exit codes of ``etp-sync`` (the traceback too with ``--debug``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return serve(args, on_ready=_ready)
    except (Exception, KeyboardInterrupt) as exc:
        return report_error(args, exc, prog=parser.prog)


if __name__ == "__main__":
    raise SystemExit(main())
