"""ETP record values as Python values and back: times, ``DataValue`` and the server's URIs.

Times are integer microseconds since the Unix epoch (UTC), as ETP sends them; a ``DataValue``
becomes a plain Python value (``ArrayOf*`` records become lists) and a Python value a
``DataValue``; a URI the server sends is parsed, and one that does not parse is an
:class:`~etp_sync.errors.ETPProtocolError`. The result types of :mod:`.results` are made of
these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from ..errors import ETPInvalidArgument, ETPProtocolError
from ..schema import Float32, Int32, datatypes
from ..uri import DataObjectURI, DataspaceURI, InvalidURIError, parse_uri

T = TypeVar("T", DataObjectURI, DataspaceURI)

__all__ = [
    "custom_data_dict",
    "custom_data_map",
    "datetime_from_us",
    "from_data_value",
    "server_dataspace_uri",
    "server_object_uri",
    "to_data_value",
    "to_us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- times -------------------------------------------------------------------------------------


def datetime_from_us(us: int) -> datetime:
    """ETP time (µs since the Unix epoch) as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(us))


def to_us(value: datetime | int | None, what: str = "time") -> int | None:
    """A time argument as ETP microseconds: a datetime or an int (µs since the epoch, UTC).
    A naive datetime is local time, as ``datetime.timestamp()`` reads it (``datetime.now() -
    timedelta(minutes=5)`` means five minutes ago): it was read as UTC, off by the zone."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.astimezone(UTC)  # a naive datetime is local time
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    raise ETPInvalidArgument(
        f"{what} must be a datetime or an int of microseconds since the epoch, "
        f"got {type(value).__name__}"
    )


# -- DataValue ---------------------------------------------------------------------------------


_ARRAYS = (
    datatypes.ArrayOfBoolean,
    datatypes.ArrayOfNullableBoolean,
    datatypes.ArrayOfInt,
    datatypes.ArrayOfNullableInt,
    datatypes.ArrayOfLong,
    datatypes.ArrayOfNullableLong,
    datatypes.ArrayOfFloat,
    datatypes.ArrayOfDouble,
    datatypes.ArrayOfString,
    datatypes.ArrayOfBytes,
)


_PLAIN_ITEMS = frozenset((str, int, float, bool, bytes, type(None)))
"""Types of DataValue items that are plain Python values already (Int32, Float32 and the
ArrayOf records are not)."""


def from_data_value(value: Any) -> Any:
    """A ``DataValue`` (or its ``item``) as a plain Python value; arrays become lists."""
    item = value.item if isinstance(value, datatypes.DataValue) else value
    if type(item) in _PLAIN_ITEMS:
        return item
    if isinstance(item, Int32):
        return int(item)
    if isinstance(item, Float32):
        return float(item)
    if isinstance(item, _ARRAYS):
        values = item.values
        if isinstance(values, np.ndarray):
            return values.tolist()
        return list(values)
    return item


def _array_of(values: Sequence[Any]) -> Any:
    items = list(values)
    if all(isinstance(v, str) for v in items):
        return datatypes.ArrayOfString(values=items)
    if all(isinstance(v, bool | np.bool_) for v in items):
        return datatypes.ArrayOfBoolean(values=items)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
        return datatypes.ArrayOfLong(values=items)
    if all(isinstance(v, float | int | np.floating) and not isinstance(v, bool) for v in items):
        return datatypes.ArrayOfDouble(values=items)
    if all(isinstance(v, bytes) for v in items):
        return datatypes.ArrayOfBytes(values=items)
    raise ETPInvalidArgument(
        "a custom data list must hold only str, bool, int, float or bytes values of one kind"
    )


def to_data_value(value: Any) -> Any:
    """Wrap a Python value as a ``DataValue``: None, str, bool, int (long), float (double),
    bytes, or a list/tuple of str/bool/int/float/bytes (``ArrayOf*``); a DataValue passes as is."""
    if isinstance(value, datatypes.DataValue):
        return value
    if value is None or isinstance(value, str | bool | bytes):
        return datatypes.DataValue(item=value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int | float):
        return datatypes.DataValue(item=value)
    if isinstance(value, bytearray | memoryview):
        return datatypes.DataValue(item=bytes(value))
    if isinstance(value, list | tuple | np.ndarray):
        return datatypes.DataValue(item=_array_of(list(value)))
    raise ETPInvalidArgument(
        f"cannot send a {type(value).__name__} as custom data: use str, int, float, bool, bytes "
        "or a list of them"
    )


def custom_data_dict(custom_data: Mapping[str, Any]) -> dict[str, Any]:
    """A record's ``customData`` map as a plain dict (DataValues unwrapped): each value as
    :func:`from_data_value` makes it, the plain ones (str, int, ...) taken as they are here (a
    get or a listing unwraps a few per object)."""
    plain: dict[str, Any] = {}
    for key, value in custom_data.items():
        item = value.item if isinstance(value, datatypes.DataValue) else value
        plain[str(key)] = item if type(item) in _PLAIN_ITEMS else from_data_value(item)
    return plain


def custom_data_map(custom_data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A user's custom data dict as a ``map<DataValue>``."""
    if custom_data is None:
        return {}
    if not isinstance(custom_data, Mapping):
        raise ETPInvalidArgument(
            f"custom_data must be a mapping of str keys, got {type(custom_data).__name__}"
        )
    out: dict[str, Any] = {}
    for key, value in custom_data.items():
        if not isinstance(key, str):
            raise ETPInvalidArgument(f"custom data keys must be str, got {key!r}")
        out[key] = to_data_value(value)
    return out


# -- URIs from the server ----------------------------------------------------------------------


def _server_uri(text: str, cls: type[T], what: str) -> T:
    """``text``, sent by the server, parsed as a URI of class ``cls`` (ETPProtocolError if not)."""
    try:
        uri = parse_uri(text)
    except InvalidURIError as exc:
        raise ETPProtocolError(f"the server sent an invalid {what}: {exc}") from None
    if not isinstance(uri, cls):
        raise ETPProtocolError(f"the server sent {text!r} where a {what} belongs")
    return uri


def server_object_uri(text: str) -> DataObjectURI:
    """A data object URI sent by the server (ETPProtocolError if it is not one)."""
    return _server_uri(text, DataObjectURI, "data object URI")


def server_dataspace_uri(text: str, path: str = "") -> DataspaceURI:
    """A dataspace URI sent by the server (falls back to its ``path`` when the URI is empty)."""
    if not text and path:
        return DataspaceURI(path)
    return _server_uri(text, DataspaceURI, "dataspace URI")
