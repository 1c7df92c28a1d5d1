"""HDF5 access for EPC transfers: h5py behind the ``[epc]`` extra, dataset reads and writes of
one block, string datasets as ``str``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..calls._array_meta import ArrayMetadata
from ..errors import EPCError, ETPMissingDependency
from ._blocks import slices

__all__ = ["Hdf5Output", "create_dataset", "h5py_module", "read_block", "storage_dtype"]


def h5py_module() -> Any:
    """The h5py module, or :class:`~etp_sync.errors.ETPMissingDependency` saying how to get it."""
    try:
        import h5py
    except ImportError:
        raise ETPMissingDependency(
            "EPC files need h5py, which is not installed: pip install 'etp_sync[epc]'", "h5py"
        ) from None
    return h5py


def _is_string(dataset: Any) -> bool:
    return h5py_module().check_string_dtype(dataset.dtype) is not None


def storage_dtype(dataset: Any) -> np.dtype[Any]:
    """The numpy dtype a dataset's values travel with (``str`` for HDF5 strings)."""
    return np.dtype(np.str_) if _is_string(dataset) else np.dtype(dataset.dtype)


def read_block(dataset: Any, starts: tuple[int, ...], counts: tuple[int, ...]) -> np.ndarray:
    """One hyperslab of a dataset, strings decoded to ``str``."""
    where = slices(starts, counts)
    try:
        if _is_string(dataset):
            return np.asarray(dataset.asstr()[where], dtype=np.str_)
        return np.asarray(dataset[where])
    except OSError as exc:
        raise EPCError(f"cannot read {dataset.name} from {dataset.file.filename}: {exc}") from None


def create_dataset(h5file: Any, path: str, meta: ArrayMetadata) -> Any:
    """A dataset at ``path`` with the stored array's shape and dtype (strings as UTF-8)."""
    if path in h5file:
        raise EPCError(f"two arrays at {path!r} in one HDF5 file")
    strings = meta.dtype.kind == "U"
    dtype = h5py_module().string_dtype("utf-8") if strings else meta.dtype
    return h5file.create_dataset(path, shape=tuple(meta.dimensions), dtype=dtype)


def write_block(
    dataset: Any, starts: tuple[int, ...], counts: tuple[int, ...], values: np.ndarray
) -> None:
    """Write one block of values into a dataset made by :func:`create_dataset`."""
    dataset[slices(starts, counts)] = values.astype(object) if values.dtype.kind == "U" else values


class Hdf5Output:
    """An HDF5 file written under a temporary name, renamed when complete (removed on error)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".part")
        try:
            self.file = h5py_module().File(self._tmp, "w")
        except OSError as exc:
            raise EPCError(f"cannot write HDF5 file {str(path)!r}: {exc}") from None

    def __enter__(self) -> Hdf5Output:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.file.close()
        if exc_type is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)
