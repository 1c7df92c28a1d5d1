"""``array get|put|info`` (``.npy`` files) and ``upload`` / ``download`` (EPC + HDF5): the
commands that move arrays, block by block, with a progress bar."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..calls._array_meta import ArrayMetadata
from ..epc import download_dataspace, download_epc, upload_epc
from ..epc._blocks import ByteMeter, slices, stream_in, stream_out
from ..errors import EPCError, ETPInvalidArgument
from ..uri import as_dataspace_uri, as_object_uri
from ._common import emit, open_session, progress_bar

__all__ = ["add_transfer_commands"]


def _meta_row(uri: Any, path: str, meta: ArrayMetadata) -> dict[str, Any]:
    return {
        "uri": str(uri),
        "path": path,
        "shape": list(meta.dimensions),
        "dtype": str(meta.dtype),
        "transport_type": meta.transport_type,
        "logical_type": meta.logical_type,
        "nbytes": meta.nbytes,
    }


def _array_info(args: argparse.Namespace) -> int:
    with open_session(args) as session:
        meta = session.get_data_array_metadata(args.uri, args.path)
    row = _meta_row(args.uri, args.path, meta)
    emit(args, row, [f"{k}: {v}" for k, v in row.items()])
    return 0


def _write_into(memmap: np.ndarray, starts: tuple[int, ...], counts: tuple[int, ...],
                values: np.ndarray) -> None:  # fmt: skip
    memmap[slices(starts, counts)] = values


def _array_get(args: argparse.Namespace) -> int:
    target = Path(args.output)
    uri = as_object_uri(args.uri)
    with open_session(args) as session, progress_bar(args, "array get") as progress:
        meta = session.get_data_array_metadata(uri, args.path)
        meter = ByteMeter(meta.nbytes, progress)
        saved = meta.dtype
        if meta.dtype.kind == "U":  # width unknown until read: whole, then saved
            values = session.get_data_array(uri, args.path)
            np.save(target, values)
            saved = values.dtype
        else:  # straight into a memory-mapped .npy, block by block
            out = np.lib.format.open_memmap(
                target, mode="w+", dtype=meta.dtype, shape=tuple(meta.dimensions)
            )
            stream_out(session, uri, args.path, meta, functools.partial(_write_into, out), meter)
            out.flush()
            del out
    row = {**_meta_row(uri, args.path, meta), "file": str(target)}
    emit(args, row, [f"{target}: {saved} {tuple(meta.dimensions)}"])
    return 0


def _array_put(args: argparse.Namespace) -> int:
    source = Path(args.file)
    try:
        with source.open("rb") as head:
            magic = head.read(6)
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # .npy, or .npz (a zip)
            raise ValueError("it has no .npy header (the one np.save writes)")
        values = np.load(source, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise EPCError(f"{source} is not a .npy array file: {exc}") from None
    if not isinstance(values, np.ndarray):
        raise ETPInvalidArgument(f"{source} holds several arrays (.npz): give one .npy file")
    uri = as_object_uri(args.uri)
    shape = tuple(int(n) for n in values.shape)

    def read(starts: tuple[int, ...], counts: tuple[int, ...]) -> np.ndarray:
        return np.asarray(values[slices(starts, counts)], order="C")  # a 0-d array stays 0-d

    with open_session(args) as session, progress_bar(args, "array put") as progress:
        meter = ByteMeter(int(values.nbytes), progress)
        stream_in(session, uri, args.path, shape, values.dtype, read, meter)
    row = {"uri": str(uri), "path": args.path, "shape": list(shape), "dtype": str(values.dtype)}
    emit(args, row, [f"stored {values.dtype} {shape} at {uri} {args.path}"])
    return 0


def _upload(args: argparse.Namespace) -> int:
    with open_session(args) as session, progress_bar(args, "upload") as progress:
        if args.create_dataspace and not _exists(session, args.dataspace):
            session.put_dataspace(args.dataspace)
        result = upload_epc(session, args.epc, args.dataspace, progress=progress)
    data = {
        "dataspace": str(result.dataspace),
        "objects": [str(u) for u in result.objects],
        "arrays": [{"uri": str(u), "path": p} for u, p in result.arrays],
        "array_bytes": result.array_bytes,
    }
    emit(args, data, [
        f"uploaded {len(result.objects)} objects and {len(result.arrays)} arrays "
        f"({result.array_bytes:,} bytes) to {result.dataspace}"
    ])  # fmt: skip
    return 0


def _exists(session: Any, dataspace: str) -> bool:
    wanted = as_dataspace_uri(dataspace)
    return any(ds.uri == wanted for ds in session.get_dataspaces())


def _download(args: argparse.Namespace) -> int:
    if bool(args.uris) == bool(args.dataspace):
        raise ETPInvalidArgument("give data object URIs or --dataspace PATH (one of the two)")
    with open_session(args) as session, progress_bar(args, "download") as progress:
        if args.dataspace:
            result = download_dataspace(session, args.dataspace, args.output, progress=progress)
        else:
            result = download_epc(
                session,
                args.uris,
                args.output,
                linked=args.linked,
                scope=args.scope,
                progress=progress,
            )
    data = {
        "epc": str(result.epc),
        "hdf5": [str(p) for p in result.hdf5_files],
        "objects": [str(u) for u in result.objects],
        "arrays": [{"uri": str(u), "path": p} for u, p in result.arrays],
        "array_bytes": result.array_bytes,
    }
    files = ", ".join([str(result.epc), *map(str, result.hdf5_files)])
    emit(args, data, [
        f"wrote {len(result.objects)} objects and {len(result.arrays)} arrays "
        f"({result.array_bytes:,} bytes): {files}"
    ])  # fmt: skip
    return 0


def add_transfer_commands(
    sub: Any, client: argparse.ArgumentParser, progress: argparse.ArgumentParser
) -> None:
    """Register array, upload and download on the top-level subparsers."""
    ar = sub.add_parser("array", help="arrays of a data object (.npy files)")
    ar_sub = ar.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ar_sub.add_parser("info", parents=[client], help="shape and types of a stored array")
    p.add_argument("uri", metavar="URI", help="URI of the object owning the array (HDF proxy)")
    p.add_argument("path", metavar="PATH", help="path in resource, e.g. /RESQML/<uuid>/points")
    p.set_defaults(func=_array_info)
    p = ar_sub.add_parser("get", parents=[client, progress], help="read an array into .npy")
    p.add_argument("uri", metavar="URI")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-o", "--output", required=True, metavar="FILE.npy")
    p.set_defaults(func=_array_get)
    p = ar_sub.add_parser("put", parents=[client, progress], help="store a .npy array")
    p.add_argument("uri", metavar="URI")
    p.add_argument("path", metavar="PATH")
    p.add_argument("file", metavar="FILE.npy")
    p.set_defaults(func=_array_put)

    p = sub.add_parser(
        "upload", parents=[client, progress], help="an .epc and its HDF5 file into a dataspace"
    )
    p.add_argument("epc", metavar="MODEL.epc")
    p.add_argument("dataspace", metavar="DATASPACE")
    p.add_argument(
        "--create-dataspace", action="store_true", help="create the dataspace if it is missing"
    )
    p.set_defaults(func=_upload)
    p = sub.add_parser(
        "download", parents=[client, progress], help="objects or a dataspace into .epc + .h5"
    )
    p.add_argument("uris", nargs="*", metavar="URI", help="data object URIs")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.epc")
    p.add_argument("--dataspace", metavar="PATH", help="download a whole dataspace instead")
    p.add_argument(
        "--linked", type=int, default=0, metavar="N", help="also objects linked up to depth N"
    )
    p.add_argument(
        "--scope",
        choices=("targets", "sources"),
        default="targets",
        help="follow references from (targets) or to (sources) the objects",
    )
    p.set_defaults(func=_download)
