"""The :class:`ArrayMetadata` result of GetDataArrayMetadata and its conversion from the ETP
``DataArrayMetadata`` record; :func:`same_array` says whether two reads saw one stored version."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..codec.arrays import checked_shape, dtype_for
from .results import ArrayMetadataView


@dataclass(frozen=True, repr=False)
class ArrayMetadata(ArrayMetadataView):
    """What GetDataArrayMetadata says about a stored array.

    ``dtype`` is the numpy dtype the values come back with: from the logical type, or from the
    transport type when the server did not keep a logical type that fits it.
    """

    dimensions: tuple[int, ...]
    dtype: np.dtype[Any]
    transport_type: str
    logical_type: str
    store_last_write: int = 0
    store_created: int = 0
    preferred_subarray_dimensions: tuple[int, ...] = ()
    custom_data: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Same as ``dimensions`` (numpy spelling)."""
        return self.dimensions

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.dimensions)

    @property
    def nbytes(self) -> int:
        """Bytes of the array in memory (strings: unknown, 0)."""
        return 0 if self.dtype.kind == "U" else self.size * self.dtype.itemsize


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value))


def metadata_from_record(record: Any) -> ArrayMetadata:
    """Our :class:`ArrayMetadata` from an ETP ``DataArrayMetadata`` record (ETPDecodeError for
    dimensions numpy cannot shape, see :func:`checked_shape`)."""
    transport = _enum_text(record.transport_array_type)
    logical = _enum_text(record.logical_array_type)
    dtype = dtype_for(transport, logical)
    return ArrayMetadata(
        dimensions=checked_shape(record.dimensions, dtype.itemsize),
        dtype=dtype,
        transport_type=transport,
        logical_type=logical,
        store_last_write=int(record.store_last_write),
        store_created=int(record.store_created),
        preferred_subarray_dimensions=tuple(int(n) for n in record.preferred_subarray_dimensions),
        custom_data=dict(record.custom_data),
    )


def same_array(a: ArrayMetadata, b: ArrayMetadata) -> bool:
    """Whether two metadata describe one stored version of an array (same shape, types and
    ``store_last_write``): a read of several requests that sees another was replaced meanwhile."""
    return (a.dimensions, a.transport_type, a.logical_type, a.store_last_write) == (
        b.dimensions,
        b.transport_type,
        b.logical_type,
        b.store_last_write,
    )


__all__ = ["ArrayMetadata", "metadata_from_record", "same_array"]
