"""Timeouts given by callers, checked once where they enter (one rule for every ``timeout``).

A timeout is a positive number of seconds, of any real number type (int, float, Decimal,
Fraction, numpy scalars). Infinity, or anything longer than :data:`MAX_WAIT` (about 24.8 days),
means no deadline in practice and is taken as that longest wait, which every wait below
(``Lock.acquire``, ``Queue.get``, ``poll``, kernel socket timeouts) accepts: ``math.inf`` used
to escape as OverflowError from them. Zero, negatives, NaN, bools, strings and non-numbers raise
:class:`~etp_sync.errors.ETPInvalidArgument` (a wait that may be zero, a poll, says so).
"""

from __future__ import annotations

import contextlib
import math
from typing import Final

import numpy as np

from .errors import ETPInvalidArgument

MAX_WAIT: Final = 2_147_483.0
"""The longest wait in seconds (``poll``'s limit of 2**31 - 1 ms, about 24.8 days); a longer
timeout, infinity too, is this long: no deadline in practice."""


def _as_seconds(value: object) -> float:
    """``float(value)`` for a real number (an integer beyond any float is +-inf), else NaN."""
    if isinstance(value, bool | np.bool_ | str | bytes | bytearray):  # numpy's True is no 1 s
        return math.nan
    with contextlib.suppress(TypeError, ValueError):
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:  # an integer beyond any float: longer than any wait
            return math.inf if value > 0 else -math.inf  # type: ignore[operator]
    return math.nan


def seconds(value: object, name: str = "timeout", *, zero: bool = False) -> float:
    """``value`` checked as a timeout in seconds (see the module), capped at :data:`MAX_WAIT`.

    ``zero``: 0 is allowed too (a wait that may end at once, e.g. polling a queue).
    """
    if (value.__class__ is float or value.__class__ is int) and 0 < value < MAX_WAIT:
        return float(value)
    number = _as_seconds(value)
    if number > 0 or (zero and number == 0):
        return min(number, MAX_WAIT)
    what = "a non-negative" if zero else "a positive"
    raise ETPInvalidArgument(f"{name} must be {what} number of seconds, got {value!r}")


def optional_seconds(value: object, name: str = "timeout", *, zero: bool = False) -> float | None:
    """:func:`seconds`, with None (no timeout of the call's own) kept as None."""
    return None if value is None else seconds(value, name, zero=zero)


__all__ = ["MAX_WAIT", "optional_seconds", "seconds"]
