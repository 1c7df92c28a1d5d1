"""Download data objects (optionally with the objects they link to) or a whole dataspace into
an ``.epc`` and its HDF5 file(s), arrays streamed block by block into h5py datasets."""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid as uuid_module
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode, ETPInvalidArgument, ETPRemoteError
from ..samples import epc_external_part_reference
from ..uri import DataObjectURI, DataspaceURI, as_dataspace_uri, as_object_uri
from ._blocks import DEFAULT_BLOCK_BYTES, ByteMeter, Progress, stream_out
from ._hdf5 import Hdf5Output, create_dataset, h5py_module, write_block
from ._package import EpcWriter, is_hdf_proxy
from ._upload import DEFAULT_PROXY_TYPE, array_refs

if TYPE_CHECKING:
    from ..session import ETPSession

__all__ = ["DownloadResult", "download_dataspace", "download_epc"]

log = logging.getLogger("etp_sync.epc")

LINK_SCOPES = {"targets": "targetsOrSelf", "sources": "sourcesOrSelf"}
FETCH_BATCH = 256  # objects asked for per get_data_objects call (bounds memory, not messages)


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_epc` wrote: the package, its HDF5 file(s), the objects and arrays."""

    epc: Path
    hdf5_files: list[Path] = field(default_factory=list)
    objects: list[DataObjectURI] = field(default_factory=list)
    arrays: list[tuple[DataObjectURI, str]] = field(default_factory=list)
    array_bytes: int = 0


def download_epc(
    session: ETPSession,
    uris: Iterable[str | DataObjectURI],
    epc: str | Path,
    *,
    linked: int = 0,
    scope: str = "targets",
    progress: Progress | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> DownloadResult:
    """Write the objects ``uris`` (plus, with ``linked`` > 0, the objects they refer to up to
    that depth; ``scope="sources"`` follows the objects referring to them instead) and every
    array they point at into ``epc`` and ``<epc stem>.h5`` beside it.

    The HDF proxies (EpcExternalPartReference) that own those arrays are always included, so
    RESQML tools find the arrays. Each proxy's arrays go to one HDF5 file under their
    ``PathInHdfFile``, with the stored shape and dtype. ``progress(done, total)`` reports
    array bytes.
    """
    h5py_module()  # fail before any request when h5py is missing
    wanted = [as_object_uri(u) for u in ([uris] if isinstance(uris, str) else uris)]
    if not wanted:
        raise ETPInvalidArgument("download_epc needs at least one data object URI")
    if linked < 0:
        raise ETPInvalidArgument(f"linked must be 0 or more, not {linked}")
    if scope not in LINK_SCOPES:
        raise ETPInvalidArgument(f"scope must be one of {', '.join(LINK_SCOPES)}, not {scope!r}")
    found: dict[DataObjectURI, None] = dict.fromkeys(wanted)
    if linked:
        for uri in wanted:
            resources = session.get_resources(uri, scope=LINK_SCOPES[scope], depth=linked)
            found.update(dict.fromkeys(resources.uris))
    return _download(session, list(found), Path(epc), progress, block_bytes)


def download_dataspace(
    session: ETPSession,
    dataspace: str | DataspaceURI,
    epc: str | Path,
    *,
    progress: Progress | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> DownloadResult:
    """Write every object of ``dataspace`` and every array they point at into ``epc`` (and
    ``<epc stem>.h5``), as :func:`download_epc` does."""
    h5py_module()
    space = as_dataspace_uri(dataspace)
    uris = session.get_resources(space, scope="self").uris
    return _download(session, uris, Path(epc), progress, block_bytes)


def _download(
    session: ETPSession,
    uris: Sequence[DataObjectURI],
    epc: Path,
    progress: Progress | None,
    block_bytes: int,
) -> DownloadResult:
    spaces = {u.dataspace for u in uris}
    objects: list[DataObjectURI] = []
    with EpcWriter(epc) as writer:
        for start in range(0, len(uris), FETCH_BATCH):
            for uri, obj in session.get_data_objects(uris[start : start + FETCH_BATCH]).items():
                writer.add(obj.xml)
                objects.append(uri)
        proxies = _proxies(session, writer, spaces, objects)
        refs = array_refs(writer.infos, proxies)
        files = _file_names(epc, sorted({r.proxy_uuid for r in refs} | set(proxies)))
        for proxy_uuid, file_name in files.items():
            writer.set_external_file(proxy_uuid, file_name)
        located = [(ref, proxies[ref.proxy_uuid]) for ref in refs]
        metas = [
            session.get_data_array_metadata(uri, ref.path) for ref, uri in located
        ]  # every size first: the progress total
        meter = ByteMeter(sum(m.nbytes for m in metas), progress)
        written: list[Path] = []
        with contextlib.ExitStack() as stack:
            handles: dict[str, Any] = {}
            for (ref, uri), meta in zip(located, metas, strict=True):
                name = files[ref.proxy_uuid]
                if name not in handles:
                    path = epc.parent / name
                    handles[name] = stack.enter_context(Hdf5Output(path)).file
                    written.append(path)
                dataset = create_dataset(handles[name], ref.path, meta)
                write = functools.partial(write_block, dataset)
                stream_out(session, uri, ref.path, meta, write, meter, block_bytes)
    log.info("downloaded %d objects and %d arrays into %s", len(objects), len(refs), epc)
    return DownloadResult(epc, written, objects, [(u, r.path) for r, u in located], meter.done)


def _proxies(
    session: ETPSession,
    writer: EpcWriter,
    spaces: set[DataspaceURI],
    objects: list[DataObjectURI],
) -> dict[str, DataObjectURI]:
    """The URI of every HDF proxy that the package's documents point at, fetched into the
    package when it is not there yet (a proxy missing from the store is written fresh)."""
    by_uuid = {str(u.uuid): u for u in objects}
    proxies: dict[str, DataObjectURI] = {
        i.uuid: by_uuid[i.uuid] for i in writer.infos if is_hdf_proxy(i.qualified_type)
    }
    if len(spaces) > 1:
        log.debug("objects from %d dataspaces in one package", len(spaces))
    for info in list(writer.infos):
        if not info.hdf_datasets:
            continue
        types = {ref_uuid: qt for qt, ref_uuid in info.references}
        for _path, proxy_uuid in info.hdf_datasets:
            if not proxy_uuid or proxy_uuid in proxies:
                continue
            qualified = types.get(proxy_uuid) or DEFAULT_PROXY_TYPE
            uri = DataObjectURI.from_type(by_uuid[info.uuid].dataspace, qualified, proxy_uuid)
            try:
                writer.add(session.get_data_object(uri).xml)
                objects.append(uri)  # not a Discovery target of its users: listed here
            except ETPRemoteError as exc:
                if exc.code != ErrorCode.ENOT_FOUND:
                    raise
                log.warning("HDF proxy %s is not in the store: writing a new one", uri)
                writer.add(epc_external_part_reference(uuid_module.UUID(proxy_uuid)))
            proxies[proxy_uuid] = uri
    return proxies


def _file_names(epc: Path, proxy_uuids: list[str]) -> dict[str, str]:
    """One HDF5 file per proxy: ``<stem>.h5`` for the first, ``<stem>_<uuid>.h5`` after."""
    names: dict[str, str] = {}
    for i, proxy in enumerate(proxy_uuids):
        names[proxy] = f"{epc.stem}.h5" if i == 0 else f"{epc.stem}_{proxy}.h5"
    return names
