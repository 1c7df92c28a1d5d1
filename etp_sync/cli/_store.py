"""``ping``, ``info``, ``dataspace list|create|delete`` and ``objects list|get|put|delete``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._xmlpeek import peek_data_object
from ..calls.results import Dataspace, Resource
from ..epc import part_name
from ..errors import EPCError, ETPError, ETPInvalidArgument
from ..uri import DataObjectURI, DataspaceURI, as_dataspace_uri
from ._common import emit, open_session

__all__ = ["add_store_commands"]

Sub = Any  # argparse's private _SubParsersAction


def _ping(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        ms = session.ping() * 1000
    emit(args, {"url": args.url, "round_trip_ms": round(ms, 3)}, [f"{ms:.2f} ms"])
    return 0


def _info(args: argparse.Namespace) -> int:
    with open_session(args) as session:
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
    emit(args, data, [f"{key}: {value}" for key, value in data.items()])
    return 0


# -- dataspaces --------------------------------------------------------------------------------


def _dataspace_row(ds: Dataspace) -> dict[str, Any]:
    return {
        "uri": str(ds.uri),
        "path": ds.path,
        "store_last_write": ds.store_last_write.isoformat(),
        "store_created": ds.store_created.isoformat(),
        "legal_tags": ds.legal_tags,
        "owners": ds.owners,
        "viewers": ds.viewers,
        "countries": ds.countries,
        "custom_data": ds.custom_data,
    }


def _dataspace_list(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        rows = [_dataspace_row(ds) for ds in session.get_dataspaces()]
    emit(args, rows, [f"{r['path'] or '(default)'}\t{r['store_last_write']}" for r in rows])
    return 0


def _dataspace_create(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        uris = session.put_dataspaces(
            args.paths,
            legal_tags=args.legal_tag,
            owners=args.owner,
            viewers=args.viewer,
            countries=args.country,
        )
    emit(args, [str(u) for u in uris], [str(u) for u in uris])
    return 0


def _dataspace_delete(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        session.delete_dataspaces(args.paths)
    deleted = [str(as_dataspace_uri(p)) for p in args.paths]
    emit(args, deleted, deleted)
    return 0


# -- objects -----------------------------------------------------------------------------------


def _resource_row(r: Resource) -> dict[str, Any]:
    return {
        "uri": str(r.uri),
        "name": r.name,
        "type": r.qualified_type,
        "last_changed": r.last_changed.isoformat(),
        "store_last_write": r.store_last_write.isoformat(),
        "active": r.active,
    }


def _objects_list(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        resources = session.get_resources(
            args.context, scope=args.scope, depth=args.depth, types=args.type or ()
        )
    rows = [_resource_row(r) for r in resources]
    emit(args, rows, [f"{r['uri']}\t{r['name']}" for r in rows])
    return 0


def _objects_get(args: argparse.Namespace) -> int:
    if len(args.uris) > 1 and args.output is None and not args.json:
        raise ETPInvalidArgument("several objects: give -o DIR (one file per object) or --json")
    with open_session(args) as session:
        objects = session.get_data_objects(args.uris)
    if args.output is not None:
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for uri, obj in objects.items():
            target = folder / part_name(uri.qualified_type, str(uri.uuid))
            target.write_bytes(obj.xml)
            rows.append({"uri": str(uri), "file": str(target)})
        emit(args, rows, [r["file"] for r in rows])
    elif args.json:
        emit(args, [{"uri": str(u), "name": o.name, "xml": o.text} for u, o in objects.items()])
    else:
        (obj,) = objects.values()
        print(obj.text.rstrip("\n"))
    return 0


def _objects_put(args: argparse.Namespace) -> int:
    space = as_dataspace_uri(args.dataspace)
    documents: dict[DataObjectURI, bytes] = {}
    for name in args.files:
        uri, data = _document(Path(name), space)
        documents[uri] = data
    with open_session(args) as session:
        results = session.put_data_objects(documents)
    uris = [str(u) for u in results]
    emit(args, uris, uris)
    return 0


def _document(path: Path, space: DataspaceURI) -> tuple[DataObjectURI, bytes]:
    """A file's URI in ``space`` and its bytes, read before anything is sent: a file that is
    no Energistics document is a local file error naming it (exit status 5), not a usage error
    about "object 3" of the call. Keyed by URI, the put reads only each document's head."""
    data = path.read_bytes()
    try:
        info = peek_data_object(data)
        return DataObjectURI.from_type(space, info.qualified_type, info.uuid), data
    except ETPError as exc:
        raise EPCError(f"{path} is not a data object: {exc.message}", exc.code) from None


def _objects_delete(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        deleted = session.delete_data_objects(args.uris)
    rows = {str(u): [str(d) for d in gone] for u, gone in deleted.items()}
    emit(args, rows, [d for gone in rows.values() for d in gone])
    return 0


def add_store_commands(sub: Sub, client: argparse.ArgumentParser) -> None:
    """Register ping, info, dataspace and objects on the top-level subparsers."""
    p = sub.add_parser("ping", parents=[client], help="round-trip time of an ETP Ping")
    p.set_defaults(func=_ping)
    p = sub.add_parser("info", parents=[client], help="what the server granted in OpenSession")
    p.set_defaults(func=_info)

    ds = sub.add_parser("dataspace", help="list, create or delete dataspaces")
    ds_sub = ds.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ds_sub.add_parser("list", parents=[client], help="every dataspace")
    p.set_defaults(func=_dataspace_list)
    p = ds_sub.add_parser("create", parents=[client], help="create dataspaces (with ACLs)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="e.g. project/scenario")
    for name, what in (
        ("legal-tag", "legal tag"),
        ("owner", "owner (group e-mail)"),
        ("viewer", "viewer (group e-mail)"),
        ("country", "other relevant data country"),
    ):
        p.add_argument(f"--{name}", action="append", default=[], help=f"{what}; repeatable")
    p.set_defaults(func=_dataspace_create)
    p = ds_sub.add_parser("delete", parents=[client], help="delete dataspaces and their content")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_dataspace_delete)

    ob = sub.add_parser("objects", help="list, get, put or delete data objects")
    ob_sub = ob.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ob_sub.add_parser("list", parents=[client], help="objects in a dataspace or around one")
    p.add_argument("context", metavar="DATASPACE|URI", help="dataspace path or URI, object URI")
    p.add_argument(
        "--scope",
        default="self",
        choices=("self", "sources", "targets", "sourcesOrSelf", "targetsOrSelf"),
    )
    p.add_argument("--depth", type=int, default=1, help="for sources/targets (1)")
    p.add_argument("--type", action="append", help="qualified type filter, e.g. resqml20.*")
    p.set_defaults(func=_objects_list)
    p = ob_sub.add_parser("get", parents=[client], help="XML of data objects")
    p.add_argument("uris", nargs="+", metavar="URI")
    p.add_argument(
        "-o", "--output", metavar="DIR", help="write one file per object, named by type and uuid"
    )
    p.set_defaults(func=_objects_get)
    p = ob_sub.add_parser("put", parents=[client], help="store XML files in a dataspace")
    p.add_argument("dataspace", metavar="DATASPACE")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_objects_put)
    p = ob_sub.add_parser("delete", parents=[client], help="delete data objects")
    p.add_argument("uris", nargs="+", metavar="URI")
    p.set_defaults(func=_objects_delete)
