"""Casts of numpy values to the item type of an array that changes no value (beyond a float's
precision) or says why not: records built by users, the codec encoding them, the client's reads
and the embedded server's writes all cast with :func:`cast_within_range`, so that an int64 of
2**40 never goes out as an int32 of 0, nor 1.7 as 1."""

from __future__ import annotations

from typing import Any

import numpy as np

_CAST_ERRORS = (OverflowError, ValueError, TypeError)  # what astype raises for values it refuses


def cast_within_range(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray | str:
    """``values`` cast to ``dtype``, or why not, without a word either way:

    - integers only when every one fits (int32 values read as int8 would wrap, 300 becoming 44);
    - floats to integers only when every one is a whole number in range (no fraction, NaN or
      infinity: 1.7 would become 1, NaN the smallest int64);
    - numbers to booleans only when every one is 0 or 1;
    - floats only when no finite value is beyond a narrower type's range (1e300 as float32
      would become inf); precision is lost as any such cast loses it.

    Values of ``dtype`` already come back as they are."""
    if values.dtype == dtype:
        return values
    kind, source = dtype.kind, values.dtype.kind
    whole = kind not in "iu" or source != "f" or not values.size
    if not whole and (not np.isfinite(values).all() or (values != np.trunc(values)).any()):
        return f"values with a fraction, NaN or infinity do not fit {dtype}"
    if kind in "iu" and source in "iuf" and values.size and not np.can_cast(values.dtype, dtype):
        low, high, fits = int(values.min()), int(values.max()), np.iinfo(dtype)
        if low < fits.min or high > fits.max:
            return f"values from {low} to {high} do not fit {dtype} (from {fits.min} to {fits.max})"
    if kind == "b" and source in "iuf" and values.size and ((values != 0) & (values != 1)).any():
        return f"values other than 0 and 1 do not fit {dtype}"
    if kind == "f" and source == "f" and values.dtype.itemsize > dtype.itemsize:
        with np.errstate(over="ignore"):
            cast = values.astype(dtype)
        overflowed = np.isinf(cast)
        if overflowed.any() and np.isfinite(values[overflowed]).any():
            limit = np.finfo(dtype).max
            return f"values beyond {limit:.6g} in magnitude do not fit {dtype}"
        return cast
    try:  # e.g. Python ints beyond 64 bits (object arrays), or text that is no number
        return values.astype(dtype)
    except _CAST_ERRORS as exc:
        return f"{values.dtype} values do not fit {dtype}: {exc}"


def fitted_values(values: Any, dtype: np.dtype[Any], error: type[Exception]) -> np.ndarray:
    """``values`` (array-like) as a flat array of ``dtype`` (no copy when they are one), cast
    by :func:`cast_within_range`; ``error`` (a message) when they do not fit."""
    arr = np.asarray(values)
    if arr.dtype != dtype:
        cast = cast_within_range(arr, dtype)
        if isinstance(cast, str):
            raise error(cast)
        arr = cast
    return arr.reshape(-1)
