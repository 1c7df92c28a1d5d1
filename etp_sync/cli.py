"""``etp-sync`` / ``python -m etp_sync``: a small command line over :class:`~etp_sync.ETPSession`.

Commands print plain text (or JSON with ``--json``) so they compose with shell tools::

    etp-sync serve --port 9100
    etp-sync ping ws://localhost:9100
    etp-sync info ws://localhost:9100
    etp-sync dataspaces ws://localhost:9100
    etp-sync resources ws://localhost:9100 "project/scenario"
    etp-sync get ws://localhost:9100 "eml:///dataspace('p/s')/resqml20.obj_X(<uuid>)" > x.xml
    etp-sync put ws://localhost:9100 project/scenario a.xml b.xml

The bearer token is read from ``--token`` or the ``ETP_TOKEN`` environment variable and never
printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ETPError
from .session import ETPSession

log = logging.getLogger("etp_sync.cli")


def _session(args: argparse.Namespace) -> ETPSession:
    token = args.token or os.environ.get("ETP_TOKEN") or None
    return ETPSession(
        args.url,
        authorization=token,
        data_partition_id=args.partition,
        timeout=args.timeout,
    )


def _emit(args: argparse.Namespace, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        print("\t".join(str(row.get(c, "")) for c in columns))


def _cmd_ping(args: argparse.Namespace) -> int:
    with _session(args) as session:
        print(f"{session.ping() * 1000:.2f} ms")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    with _session(args) as session:
        info = session.server
        data = {
            "application": f"{info.application_name} {info.application_version}",
            "session_id": str(info.session_id),
            "protocols": {str(p): g.role for p, g in sorted(info.protocols.items())},
            "compression": info.compression,
            "formats": list(info.formats),
            "max_message_size": info.max_message_size,
            "data_objects": list(info.supported_data_objects),
        }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")
    return 0


def _cmd_dataspaces(args: argparse.Namespace) -> int:
    with _session(args) as session:
        rows = [
            {"uri": str(ds.uri), "path": ds.path, "custom_data": ds.custom_data}
            for ds in session.get_dataspaces()
        ]
    _emit(args, rows, ("uri", "path"))
    return 0


def _cmd_resources(args: argparse.Namespace) -> int:
    with _session(args) as session:
        resources = session.get_resources(args.uri, scope=args.scope, depth=args.depth)
        items = getattr(resources, "resources", resources)
        rows = [{"uri": str(r.uri), "name": r.name} for r in items]
    _emit(args, rows, ("uri", "name"))
    return 0


def _cmd_get(args: argparse.Namespace) -> int:
    with _session(args) as session:
        objects = session.get_data_objects(args.uris)
    for obj in objects.values():
        sys.stdout.buffer.write(obj.xml)
        sys.stdout.buffer.write(b"\n")
    return 0


def _cmd_put(args: argparse.Namespace) -> int:
    documents = [Path(f).read_bytes() for f in args.files]
    with _session(args) as session:
        results = session.put_data_objects(documents, dataspace=args.dataspace)
    for uri in results:
        print(uri)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .server.__main__ import main as serve_main

    argv = ["--host", args.host, "--port", str(args.port)]
    return serve_main(argv)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="etp-sync", description=__doc__.split("\n")[0])
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("url", help="ws:// or wss:// address of the ETP server")
        p.add_argument("--token", help="bearer token (default: $ETP_TOKEN)")
        p.add_argument("--partition", help="OSDU data-partition-id")
        p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
        p.add_argument("--json", action="store_true", help="print JSON")
        return p

    client("ping", "round-trip time of an ETP Ping").set_defaults(func=_cmd_ping)
    client("info", "what the server granted in OpenSession").set_defaults(func=_cmd_info)
    client("dataspaces", "list dataspaces").set_defaults(func=_cmd_dataspaces)
    p = client("resources", "list resources under a dataspace or object URI")
    p.add_argument("uri", help="dataspace path, dataspace URI or object URI")
    p.add_argument("--scope", default="self")
    p.add_argument("--depth", type=int, default=1)
    p.set_defaults(func=_cmd_resources)
    p = client("get", "print data objects (XML)")
    p.add_argument("uris", nargs="+")
    p.set_defaults(func=_cmd_get)
    p = client("put", "store XML data objects in a dataspace")
    p.add_argument("dataspace", help="dataspace path or URI")
    p.add_argument("files", nargs="+", help="XML files")
    p.set_defaults(func=_cmd_put)
    p = sub.add_parser("serve", help="run the embedded ETP server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for ETP errors)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ETPError as exc:
        print(f"etp-sync: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. ``| head``): stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
