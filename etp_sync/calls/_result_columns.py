"""What the result types of :mod:`.results` share: their table columns (times, counts, object
URIs shown as type, uuid and dataspace) and the ``datetime`` views of their microsecond times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._display import Column, local_time
from ..uri import DataObjectURI, DataspaceURI
from ._values import datetime_from_us

__all__ = [
    "ObjectTimes",
    "StoreTimes",
    "count_column",
    "dataspace_text",
    "object_columns",
    "shape_text",
    "short_uri",
    "time_column",
    "when",
]


def when(us: int) -> datetime | None:
    """A store time for tables: None when the store did not give one (0)."""
    return datetime_from_us(us) if us else None


def time_column(title: str, attribute: str) -> Column:
    return Column(title, lambda r: when(getattr(r, attribute)), local_time)


def count_column(title: str, get: Any) -> Column:
    return Column(title, get, align=">")


def dataspace_text(uri: DataspaceURI) -> str:
    return "eml:///" if uri.path is None else uri.path


def object_columns(get_uri: Any = lambda r: r.uri) -> tuple[Column, ...]:
    """Type and UUID of an object URI shown; its dataspace shown once when common to all rows;
    the whole URI in frames only."""
    return (
        Column("type", lambda r: get_uri(r).qualified_type, trim="end"),
        Column("uuid", lambda r: str(get_uri(r).uuid), trim="middle", first=True),
        Column("dataspace", lambda r: dataspace_text(get_uri(r).dataspace), common=True),
        Column("uri", lambda r: str(get_uri(r)), shown=False),
    )


def shape_text(dimensions: Sequence[int]) -> str:
    return " x ".join(str(n) for n in dimensions) or "scalar"


def short_uri(uri: DataObjectURI) -> str:
    """An object URI without its dataspace: ``type(uuid)``."""
    return f"{uri.qualified_type}({uri.uuid})"


class StoreTimes:
    """``datetime`` views of the microsecond store times every stored thing carries."""

    store_last_write_us: int
    store_created_us: int

    @property
    def store_last_write(self) -> datetime:
        return datetime_from_us(self.store_last_write_us)

    @property
    def store_created(self) -> datetime:
        return datetime_from_us(self.store_created_us)


class ObjectTimes(StoreTimes):
    """Store times plus the object's own last change and its qualified type."""

    uri: DataObjectURI
    last_changed_us: int

    @property
    def qualified_type(self) -> str:
        return self.uri.qualified_type

    @property
    def last_changed(self) -> datetime:
        return datetime_from_us(self.last_changed_us)
