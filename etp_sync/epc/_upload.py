"""Upload an ``.epc`` and its HDF5 file(s) into a dataspace, in one transaction."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EPCError
from ..uri import DataObjectURI, DataspaceURI, as_dataspace_uri
from ..xmlinfo import ObjectInfo
from ._blocks import DEFAULT_BLOCK_BYTES, ByteMeter, Progress, stream_in
from ._hdf5 import h5py_module, read_block, storage_dtype
from ._package import EpcPart, EpcReader, is_hdf_proxy

if TYPE_CHECKING:
    from ..session import ETPSession

__all__ = ["DEFAULT_PROXY_TYPE", "ArrayRef", "UploadResult", "array_refs", "upload_epc"]

log = logging.getLogger("etp_sync.epc")

DEFAULT_PROXY_TYPE = "eml20.obj_EpcExternalPartReference"


@dataclass(frozen=True)
class ArrayRef:
    """A dataset a document points at: the HDF proxy (EpcExternalPartReference) that owns it
    and its ``PathInHdfFile``; in ETP the array is addressed by the proxy's URI and that path."""

    proxy_uuid: str
    path: str


@dataclass(frozen=True)
class UploadResult:
    """What :func:`upload_epc` stored."""

    dataspace: DataspaceURI
    objects: list[DataObjectURI] = field(default_factory=list)
    arrays: list[tuple[DataObjectURI, str]] = field(default_factory=list)
    array_bytes: int = 0


def array_refs(parts: Iterable[ObjectInfo], proxies: Collection[str]) -> list[ArrayRef]:
    """The arrays the documents (``ObjectInfo``) point at, each once, proxy uuid resolved: a
    reference without a proxy uuid belongs to the only proxy (EPCError when there are several)."""
    refs: dict[ArrayRef, None] = {}
    for info in parts:
        for path, proxy in info.hdf_datasets:
            if not proxy:
                if len(proxies) != 1:
                    raise EPCError(
                        f"{info.qualified_type} {info.uuid} points at {path!r} without naming "
                        f"its HDF proxy, and the package has {len(proxies)} proxies"
                    )
                proxy = next(iter(proxies))
            refs[ArrayRef(proxy, path)] = None
    return list(refs)


def upload_epc(
    session: ETPSession,
    epc: str | Path,
    dataspace: str | DataspaceURI,
    *,
    progress: Progress | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    message: str | None = None,
) -> UploadResult:
    """Store every data object of ``epc`` and every array its documents point at (the datasets
    named by ``PathInHdfFile`` in the HDF5 file of their EpcExternalPartReference) in
    ``dataspace``, inside one transaction (rolled back if anything fails).

    Arrays are read block by block (at most ``block_bytes`` each) and written with
    PutUninitializedDataArrays + PutDataSubarrays, so memory stays bounded whatever the file
    size. ``progress(done, total)`` reports array bytes. The dataspace must exist.
    """
    h5py = h5py_module()
    space = as_dataspace_uri(dataspace)
    with EpcReader(epc) as reader:
        parts: list[EpcPart] = list(reader.parts())
        proxies = {
            p.info.uuid: p.info.qualified_type for p in parts if is_hdf_proxy(p.info.qualified_type)
        }
        files = {p.info.uuid: reader.external_file(p.name) for p in parts if p.info.uuid in proxies}
        refs = array_refs([p.info for p in parts], proxies)
    with contextlib.ExitStack() as stack:
        handles: dict[Path, Any] = {}
        datasets = []
        for ref in refs:
            path = files.get(ref.proxy_uuid)
            if path is None:
                raise EPCError(
                    f"an array {ref.path!r} belongs to HDF proxy {ref.proxy_uuid}, which is not "
                    f"in {Path(epc).name}"
                )
            if path not in handles:
                try:
                    handles[path] = stack.enter_context(h5py.File(path, "r"))
                except OSError as exc:
                    raise EPCError(f"cannot open HDF5 file {str(path)!r}: {exc}") from None
            dataset = handles[path].get(ref.path)
            if dataset is None or not isinstance(dataset, h5py.Dataset):
                raise EPCError(f"{path.name} has no dataset {ref.path!r}")
            datasets.append((ref, dataset))
        meter = ByteMeter(sum(int(d.size) * d.dtype.itemsize for _r, d in datasets), progress)
        objects: list[DataObjectURI] = []
        arrays: list[tuple[DataObjectURI, str]] = []
        with session.transaction(space, message=message or f"etp_sync upload {Path(epc).name}"):
            stored = session.put_data_objects([p.xml for p in parts], dataspace=space)
            objects.extend(stored)
            for ref, dataset in datasets:
                uri = DataObjectURI.from_type(
                    space, proxies.get(ref.proxy_uuid, DEFAULT_PROXY_TYPE), ref.proxy_uuid
                )
                stream_in(
                    session, uri, ref.path, tuple(int(n) for n in dataset.shape),
                    storage_dtype(dataset), functools.partial(read_block, dataset), meter,
                    block_bytes,
                )  # fmt: skip
                arrays.append((uri, ref.path))
        log.info("uploaded %d objects and %d arrays to %s", len(objects), len(arrays), space)
    return UploadResult(space, objects, arrays, meter.done)
