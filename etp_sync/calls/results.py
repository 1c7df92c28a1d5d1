"""What the high-level calls return: small frozen dataclasses instead of raw Avro records.

Times are kept exactly as ETP sends them, integer microseconds since the Unix epoch (UTC), in the
``*_us`` fields (they can be fed back into filters without rounding); the property of the same name
without ``_us`` gives a timezone-aware :class:`~datetime.datetime`. ``custom_data`` is a plain
dict: each ``DataValue`` is unwrapped, ``ArrayOf*`` records become lists (``ArrayOfString`` →
``list[str]``).

Lists of results print as aligned tables in a terminal and as HTML in Jupyter (local times,
human sizes, see :mod:`etp_sync._display`) and have ``to_pandas()``; they stay equal to the plain
lists, tuples and dicts they hold. Single records have a short repr.

URIs returned by the server are parsed into :class:`~etp_sync.uri.DataObjectURI` /
:class:`~etp_sync.uri.DataspaceURI`; a server URI that does not parse raises
:class:`~etp_sync.errors.ETPProtocolError` rather than being passed on half-understood.

The conversions of values (times, ``DataValue``, server URIs) are in :mod:`._values`, the table
columns the result types share in :mod:`._result_columns`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np

from .._display import (
    MAX_ROWS,
    Column,
    ResultTuple,
    TableRow,
    TableView,
    human_size,
    local_time,
)
from .._frozen import frozen_record
from ..schema import datatypes
from ..uri import DataObjectURI, DataspaceURI
from ._result_columns import (
    ObjectTimes,
    StoreTimes,
    count_column,
    dataspace_text,
    object_columns,
    shape_text,
    short_uri,
    time_column,
    when,
)
from ._values import (
    custom_data_dict,
    datetime_from_us,
    server_dataspace_uri,
    server_object_uri,
)
from ._values import custom_data_map as custom_data_map
from ._values import from_data_value as from_data_value
from ._values import to_data_value as to_data_value
from ._values import to_us as to_us

__all__ = [
    "ArrayMetadataView",
    "DataObject",
    "Dataspace",
    "DeletedResource",
    "Edge",
    "PutResult",
    "Resource",
    "Resources",
    "SupportedType",
    "datetime_from_us",
    "from_data_value",
    "to_data_value",
    "to_us",
]

# -- result types ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Dataspace(StoreTimes, TableRow):
    """A dataspace (protocol 24). ``path`` is None for the default dataspace ``eml:///``.

    open-etp-server keeps access control in ``custom_data`` (``legaltags``, ``owners``,
    ``viewers``, ``otherRelevantDataCountries``: lists of str), see the properties below.
    """

    uri: DataspaceURI
    path: str | None
    store_last_write_us: int
    store_created_us: int
    custom_data: dict[str, Any] = field(default_factory=dict, hash=False)

    table_noun: ClassVar[str] = "dataspaces"
    table_columns: ClassVar[tuple[Column, ...]] = (
        Column("path", lambda r: dataspace_text(r.uri), trim="end"),
        time_column("last write", "store_last_write_us"),
        time_column("created", "store_created_us"),
        Column("custom data", lambda r: ", ".join(sorted(r.custom_data)), trim="end"),
        Column("uri", lambda r: str(r.uri), shown=False),
    )

    def __repr__(self) -> str:
        written = local_time(when(self.store_last_write_us))
        return f"Dataspace({dataspace_text(self.uri)!r}, last write {written or 'unknown'})"

    @classmethod
    def from_record(cls, record: Any) -> Dataspace:
        uri = server_dataspace_uri(record.uri, record.path)
        return cls(
            uri=uri,
            path=uri.path,
            store_last_write_us=int(record.store_last_write),
            store_created_us=int(record.store_created),
            custom_data=custom_data_dict(record.custom_data),
        )

    def _strings(self, key: str) -> list[str]:
        value = self.custom_data.get(key, [])
        return list(value) if isinstance(value, list) else [str(value)]

    @property
    def legal_tags(self) -> list[str]:
        """``customData["legaltags"]`` (open-etp-server ACL)."""
        return self._strings("legaltags")

    @property
    def owners(self) -> list[str]:
        return self._strings("owners")

    @property
    def viewers(self) -> list[str]:
        return self._strings("viewers")

    @property
    def countries(self) -> list[str]:
        """``customData["otherRelevantDataCountries"]``."""
        return self._strings("otherRelevantDataCountries")


@dataclass(frozen=True, repr=False)
class Resource(ObjectTimes, TableRow):
    """A data object as Discovery describes it (no XML). ``name`` is the citation title."""

    uri: DataObjectURI
    name: str
    last_changed_us: int
    store_last_write_us: int
    store_created_us: int
    active: bool = True
    source_count: int | None = None
    target_count: int | None = None
    alternate_uris: tuple[str, ...] = ()
    custom_data: dict[str, Any] = field(default_factory=dict, hash=False)

    table_noun: ClassVar[str] = "resources"
    table_columns: ClassVar[tuple[Column, ...]] = (
        Column("name", lambda r: r.name, trim="end"),
        *object_columns(),
        time_column("last changed", "last_changed_us"),
        count_column("sources", lambda r: r.source_count),
        count_column("targets", lambda r: r.target_count),
        Column("active", lambda r: r.active, lambda v: "" if v else "inactive"),
    )

    def __repr__(self) -> str:
        return f"Resource({self.name!r}, {str(self.uri)!r})"

    @classmethod
    def from_record(cls, record: Any) -> Resource:
        fields = {
            "uri": server_object_uri(record.uri),
            "name": record.name,
            "last_changed_us": int(record.last_changed),
            "store_last_write_us": int(record.store_last_write),
            "store_created_us": int(record.store_created),
            "active": _is_active(record.active_status),
            "source_count": record.source_count,
            "target_count": record.target_count,
            "alternate_uris": tuple(record.alternate_uris),
            "custom_data": custom_data_dict(record.custom_data),
        }
        return frozen_record(cls, fields)  # a listing makes one per object


def _status_name(status: Any) -> str:
    return str(getattr(status, "value", status))


_ACTIVE = datatypes.Object.ActiveStatusKind.Active


def _is_active(status: Any) -> bool:
    """Whether an ``activeStatus`` (the decoded enum, or its name) is Active."""
    return status is _ACTIVE or _status_name(status) == "Active"


@dataclass(frozen=True, repr=False)
class Edge(TableRow):
    """A reference between two objects: ``source`` refers to ``target``."""

    source: DataObjectURI
    target: DataObjectURI
    relationship_kind: str = "Primary"
    custom_data: dict[str, Any] = field(default_factory=dict, hash=False)

    table_noun: ClassVar[str] = "edges"
    table_columns: ClassVar[tuple[Column, ...]] = (
        Column("source", lambda r: short_uri(r.source), trim="middle"),
        Column("target", lambda r: short_uri(r.target), trim="middle"),
        Column("kind", lambda r: r.relationship_kind),
        Column("dataspace", lambda r: dataspace_text(r.source.dataspace), common=True),
        Column("source uri", lambda r: str(r.source), shown=False),
        Column("target uri", lambda r: str(r.target), shown=False),
    )

    def __repr__(self) -> str:
        return f"Edge({str(self.source)!r} -> {str(self.target)!r}, {self.relationship_kind})"

    @classmethod
    def from_record(cls, record: Any) -> Edge:
        return cls(
            source=server_object_uri(record.source_uri),
            target=server_object_uri(record.target_uri),
            relationship_kind=_status_name(record.relationship_kind),
            custom_data=custom_data_dict(record.custom_data),
        )


@dataclass(frozen=True, repr=False)
class Resources(TableView, Sequence[Resource]):
    """The answer of GetResources: a sequence of :class:`Resource` (iterate, index, ``len``),
    plus the ``edges`` between them when they were asked for (``include_edges=True``).

    Prints as a table of the resources followed by one of the edges; ``to_pandas()`` gives the
    resources (``edges.to_pandas()`` the edges).
    """

    resources: tuple[Resource, ...] = ()
    edges: tuple[Edge, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", tuple(self.resources))
        object.__setattr__(self, "edges", ResultTuple(self.edges))

    def _table_rows(self) -> Sequence[Resource]:
        return self.resources

    def _plain_repr(self) -> str:
        return f"Resources({len(self.resources)} resources, {len(self.edges)} edges)"

    def to_text(self, *, width: int | None = None, max_rows: int = MAX_ROWS) -> str:
        """The resources table, then the edges table when there are edges."""
        parts = [TableView.to_text(self, width=width, max_rows=max_rows)]
        if self.edges:
            parts.append(ResultTuple(self.edges).to_text(width=width, max_rows=max_rows))
        return "\n\n".join(parts)

    def _repr_html_(self) -> str | None:
        parts = [TableView._repr_html_(self), ResultTuple(self.edges)._repr_html_()]
        shown = [p for p in parts if p is not None]
        return "".join(shown) or None

    @overload
    def __getitem__(self, index: int) -> Resource: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Resource]: ...
    def __getitem__(self, index: int | slice) -> Resource | Sequence[Resource]:
        return self.resources[index]

    def __len__(self) -> int:
        return len(self.resources)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    @property
    def uris(self) -> list[DataObjectURI]:
        """The URIs of the resources, in order."""
        return [r.uri for r in self.resources]


@dataclass(frozen=True, repr=False)
class DeletedResource(TableRow):
    """An object deleted from a dataspace (Discovery GetDeletedResources)."""

    uri: DataObjectURI
    deleted_time_us: int
    custom_data: dict[str, Any] = field(default_factory=dict, hash=False)

    table_noun: ClassVar[str] = "deleted resources"
    table_columns: ClassVar[tuple[Column, ...]] = (
        *object_columns(),
        time_column("deleted", "deleted_time_us"),
    )

    def __repr__(self) -> str:
        deleted = local_time(when(self.deleted_time_us))
        return f"DeletedResource({str(self.uri)!r}, deleted {deleted or 'unknown'})"

    @classmethod
    def from_record(cls, record: Any) -> DeletedResource:
        return cls(
            uri=server_object_uri(record.uri),
            deleted_time_us=int(record.deleted_time),
            custom_data=custom_data_dict(record.custom_data),
        )

    @property
    def deleted_time(self) -> datetime:
        return datetime_from_us(self.deleted_time_us)


@dataclass(frozen=True)
class SupportedType(TableRow):
    """A data object type present (or supported) around a URI; ``object_count`` may be None."""

    data_object_type: str
    object_count: int | None
    relationship_kind: str

    table_noun: ClassVar[str] = "types"
    table_columns: ClassVar[tuple[Column, ...]] = (
        Column("type", lambda r: r.data_object_type, trim="end"),
        count_column("objects", lambda r: r.object_count),
        Column("relationship", lambda r: r.relationship_kind),
    )

    @classmethod
    def from_record(cls, record: Any) -> SupportedType:
        return cls(
            data_object_type=record.data_object_type,
            object_count=record.object_count,
            relationship_kind=_status_name(record.relationship_kind),
        )


@dataclass(frozen=True)
class DataObject(ObjectTimes, TableRow):
    """A data object with its document: ``xml`` holds the bytes exactly as stored.

    ``name`` is the citation title the store reports (also as ``title``).
    """

    uri: DataObjectURI
    xml: bytes = field(repr=False)
    format: str = "xml"
    name: str = ""
    last_changed_us: int = 0
    store_last_write_us: int = 0
    store_created_us: int = 0
    active: bool = True
    custom_data: dict[str, Any] = field(default_factory=dict, hash=False)

    table_noun: ClassVar[str] = "objects"
    table_columns: ClassVar[tuple[Column, ...]] = (
        Column("name", lambda r: r.name, trim="end"),
        *object_columns(),
        Column("size", lambda r: len(r.xml), human_size, align=">"),
        time_column("last changed", "last_changed_us"),
    )

    @classmethod
    def from_record(cls, record: Any, data: bytes, uri: DataObjectURI | None = None) -> DataObject:
        res = record.resource
        fields = {
            "uri": uri if uri is not None else server_object_uri(res.uri),
            "xml": data if type(data) is bytes else bytes(data),
            "format": record.format,
            "name": res.name,
            "last_changed_us": int(res.last_changed),
            "store_last_write_us": int(res.store_last_write),
            "store_created_us": int(res.store_created),
            "active": _is_active(res.active_status),
            "custom_data": custom_data_dict(res.custom_data) if res.custom_data else {},
        }
        return frozen_record(cls, fields)  # a get makes one per object

    @property
    def text(self) -> str:
        """The document decoded as UTF-8."""
        return self.xml.decode("utf-8")

    @property
    def title(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"DataObject({str(self.uri)!r}, name={self.name!r}, {len(self.xml)} bytes)"


class ArrayMetadataView(TableRow):
    """Display of :class:`~etp_sync.calls._array_meta.ArrayMetadata` (a mixin, so that the
    record stays beside the DataArray calls): a short repr and its table columns."""

    dimensions: tuple[int, ...]
    dtype: np.dtype[Any]
    transport_type: str
    logical_type: str
    store_last_write: int
    store_created: int

    if TYPE_CHECKING:

        @property
        def nbytes(self) -> int: ...

    table_noun: ClassVar[str] = "arrays"
    table_columns: ClassVar[tuple[Column, ...]] = (
        Column("shape", lambda r: r.dimensions, shape_text),
        Column("dtype", lambda r: str(r.dtype)),
        Column("size", lambda r: r.nbytes or None, human_size, align=">"),
        Column("transport", lambda r: r.transport_type),
        Column("logical", lambda r: r.logical_type),
        time_column("last write", "store_last_write"),
    )

    def __repr__(self) -> str:
        size = f", {human_size(self.nbytes)}" if self.nbytes else ""
        return f"ArrayMetadata({shape_text(self.dimensions)} {self.dtype}{size})"


@dataclass(frozen=True, repr=False)
class PutResult(TableRow):
    """What the store did with a put object's contained objects (usually all empty)."""

    uri: DataObjectURI
    created_contained: tuple[str, ...] = ()
    deleted_contained: tuple[str, ...] = ()
    joined_contained: tuple[str, ...] = ()
    unjoined_contained: tuple[str, ...] = ()

    table_noun: ClassVar[str] = "objects put"
    table_columns: ClassVar[tuple[Column, ...]] = (
        *object_columns(),
        count_column("created", lambda r: len(r.created_contained)),
        count_column("deleted", lambda r: len(r.deleted_contained)),
        count_column("joined", lambda r: len(r.joined_contained)),
        count_column("unjoined", lambda r: len(r.unjoined_contained)),
    )

    def __repr__(self) -> str:
        changes = [
            f"{len(v)} {k}"
            for k, v in (
                ("created", self.created_contained),
                ("deleted", self.deleted_contained),
                ("joined", self.joined_contained),
                ("unjoined", self.unjoined_contained),
            )
            if v
        ]
        return f"PutResult({str(self.uri)!r}{''.join(', ' + c for c in changes)})"

    @classmethod
    def from_record(cls, uri: DataObjectURI, record: Any) -> PutResult:
        if not (
            record.created_contained_object_uris
            or record.deleted_contained_object_uris
            or record.joined_contained_object_uris
            or record.unjoined_contained_object_uris
        ):  # the usual answer
            return frozen_record(cls, {"uri": uri}, _NOTHING_CONTAINED)
        fields = {
            "uri": uri,
            "created_contained": tuple(record.created_contained_object_uris),
            "deleted_contained": tuple(record.deleted_contained_object_uris),
            "joined_contained": tuple(record.joined_contained_object_uris),
            "unjoined_contained": tuple(record.unjoined_contained_object_uris),
        }
        return frozen_record(cls, fields)  # a put makes one per object


_NOTHING_CONTAINED: dict[str, tuple[str, ...]] = {
    "created_contained": (),
    "deleted_contained": (),
    "joined_contained": (),
    "unjoined_contained": (),
}
