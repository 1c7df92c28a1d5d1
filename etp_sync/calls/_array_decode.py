"""How a read decodes the values it receives: the dtype it reads them as (:func:`reading_as`),
each reply checked against what was asked (:func:`decode`), and whether replies can be received
straight into the result (:func:`placeable`, :func:`same_memory`)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .._value_casts import cast_within_range
from ..codec._placement import takes_varints
from ..codec.arrays import (
    TRANSPORT_DTYPES,
    array_types,
    dtype_for,
    fitting_logical,
    from_any_array,
    transport_of,
)
from ..errors import ETPDecodeError, ETPEncodeError, ETPInvalidArgument, ETPProtocolError
from ._array_meta import ArrayMetadata

# The logger of the DataArray calls, whose reads these messages are about.
log = logging.getLogger("etp_sync.arrays")


def reading_as(meta: ArrayMetadata, dtype: Any) -> ArrayMetadata:
    """The metadata a read decodes with: ``dtype`` when the caller states one (ETPInvalidArgument
    unless it travels as the array's transport type), else the server's, with a warning when its
    logical type contradicts its transport type (the transport type's dtype is then used)."""
    if dtype is None:
        if fitting_logical(meta.transport_type, meta.logical_type) != meta.logical_type:
            read_as = "str" if meta.dtype.kind == "U" else str(meta.dtype)
            message = (
                f"the server reports logical type {meta.logical_type} for values that travel "
                f"as {meta.transport_type}: the transport type wins and they are read as "
                f"{read_as}; pass dtype= to read them as the dtype they were written with"
            )
            log.debug(message)
            warnings.warn(message, UserWarning, stacklevel=3)
        return meta
    try:
        stated = np.dtype(dtype)
        logical = array_types(stated).logical
    except (TypeError, ETPEncodeError) as exc:
        raise ETPInvalidArgument(f"dtype {dtype!r} cannot be read from ETP: {exc}") from None
    if fitting_logical(meta.transport_type, logical) != logical:
        raise ETPInvalidArgument(
            f"the array travels as {meta.transport_type}, which cannot carry {stated} values"
        )
    return replace(meta, dtype=dtype_for(meta.transport_type, logical))


def _decoded_as(meta: ArrayMetadata) -> str:
    """The logical type values are decoded as: the one ``meta.dtype`` travels with when it fits
    the transport (a stated dtype), else the server's."""
    if meta.dtype.kind != "U":
        own = array_types(meta.dtype).logical
        if fitting_logical(meta.transport_type, own) == own:
            return own
    return fitting_logical(meta.transport_type, meta.logical_type)


def placeable(meta: ArrayMetadata) -> bool:
    """Whether values of this array arrive with exactly the dtype they are read as (so they can
    be received straight into the result: raw doubles, floats or bytes, or varints decoded
    into it bit for bit: int64 or uint64 longs, int32 or uint32 ints)."""
    transport = meta.transport_type
    if transport not in ("arrayOfDouble", "arrayOfFloat", "bytes", "arrayOfLong", "arrayOfInt"):
        return False
    wire = dtype_for(transport, _decoded_as(meta))
    if wire != meta.dtype:
        return False
    if transport in ("arrayOfLong", "arrayOfInt"):
        return takes_varints(wire, transport)
    return transport == "bytes" or wire == TRANSPORT_DTYPES[transport]


def same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` is ``b``'s memory seen the same way (values already where they belong)."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


# Kinds of values that may arrive for an array of each kind (the codec converts them).
_COMPATIBLE_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "fiu", "U": "U"}


def decode(
    any_array: Any, dimensions: Sequence[int], expected: Sequence[int], meta: ArrayMetadata
) -> np.ndarray:
    """The values of a received DataArray, checked against what was asked: decoded with the
    reply's own ``dimensions`` (ETPDecodeError before allocating when they claim more values
    than the ``expected`` counts), which must equal ``expected``, and a transport type that can
    carry the array's dtype (ETPProtocolError otherwise). Returned in the array's dtype
    (ETPProtocolError for values it cannot hold, which a cast would wrap or make infinite)."""
    dims = tuple(int(n) for n in dimensions)
    want = tuple(int(n) for n in expected)
    if any(n < 0 for n in dims) or len(dims) > len(want) + 32 or math.prod(dims) > math.prod(want):
        raise ETPDecodeError(
            f"the reply claims dimensions {list(dims)}, more values than the {list(want)} asked for"
        )
    transport = transport_of(any_array)
    logical = _decoded_as(meta)
    if fitting_logical(transport, logical) != logical and TRANSPORT_DTYPES[
        transport
    ].kind not in _COMPATIBLE_KINDS.get(meta.dtype.kind, meta.dtype.kind):
        raise ETPProtocolError(
            f"the reply carries {transport} values for an array of {meta.dtype} ({logical})"
        )
    values = from_any_array(any_array, dims, logical)
    if dims != want:
        raise ETPProtocolError(f"the reply has dimensions {list(dims)}, not the {list(want)} asked")
    if meta.dtype.kind != "U" and values.dtype != meta.dtype:
        cast = cast_within_range(values, meta.dtype)
        if isinstance(cast, str):  # the server's values are not its array's
            raise ETPProtocolError(f"the reply's {cast}, the array's type")
        values = cast
    return values


__all__ = ["decode", "placeable", "reading_as", "same_memory"]
