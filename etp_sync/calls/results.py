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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from ..errors import ETPInvalidArgument, ETPProtocolError
from ..schema import Float32, Int32, datatypes
from ..uri import DataObjectURI, DataspaceURI, InvalidURIError, parse_uri

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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- times -------------------------------------------------------------------------------------


def datetime_from_us(us: int) -> datetime:
    """ETP time (µs since the Unix epoch) as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(us))


def to_us(value: datetime | int | None, what: str = "time") -> int | None:
    """A time argument as ETP microseconds: a datetime (naive means UTC) or an int (µs)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
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
    """A record's ``customData`` map as a plain dict (DataValues unwrapped)."""
    return {str(k): from_data_value(v) for k, v in custom_data.items()}


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


def server_object_uri(text: str) -> DataObjectURI:
    """A data object URI sent by the server (ETPProtocolError if it is not one)."""
    try:
        uri = parse_uri(text)
    except InvalidURIError as exc:
        raise ETPProtocolError(f"the server sent an invalid data object URI: {exc}") from None
    if not isinstance(uri, DataObjectURI):
        raise ETPProtocolError(f"the server sent {text!r} where a data object URI belongs")
    return uri


def server_dataspace_uri(text: str, path: str = "") -> DataspaceURI:
    """A dataspace URI sent by the server (falls back to its ``path`` when the URI is empty)."""
    if not text and path:
        return DataspaceURI(path)
    try:
        uri = parse_uri(text)
    except InvalidURIError as exc:
        raise ETPProtocolError(f"the server sent an invalid dataspace URI: {exc}") from None
    if not isinstance(uri, DataspaceURI):
        raise ETPProtocolError(f"the server sent {text!r} where a dataspace URI belongs")
    return uri


# -- table columns -----------------------------------------------------------------------------


def _when(us: int) -> datetime | None:
    """A store time for tables: None when the store did not give one (0)."""
    return datetime_from_us(us) if us else None


def _time_column(title: str, attribute: str) -> Column:
    return Column(title, lambda r: _when(getattr(r, attribute)), local_time)


def _count_column(title: str, get: Any) -> Column:
    return Column(title, get, align=">")


def _dataspace_text(uri: DataspaceURI) -> str:
    return "eml:///" if uri.path is None else uri.path


def _object_columns(get_uri: Any = lambda r: r.uri) -> tuple[Column, ...]:
    """Type and UUID of an object URI shown; its dataspace shown once when common to all rows;
    the whole URI in frames only."""
    return (
        Column("type", lambda r: get_uri(r).qualified_type, trim="end"),
        Column("uuid", lambda r: str(get_uri(r).uuid), trim="middle", first=True),
        Column("dataspace", lambda r: _dataspace_text(get_uri(r).dataspace), common=True),
        Column("uri", lambda r: str(get_uri(r)), shown=False),
    )


def _shape_text(dimensions: Sequence[int]) -> str:
    return " x ".join(str(n) for n in dimensions) or "scalar"


def _short(uri: DataObjectURI) -> str:
    """An object URI without its dataspace: ``type(uuid)``."""
    return f"{uri.qualified_type}({uri.uuid})"


# -- result types ------------------------------------------------------------------------------


class _StoreTimes:
    """``datetime`` views of the microsecond store times every stored thing carries."""

    store_last_write_us: int
    store_created_us: int

    @property
    def store_last_write(self) -> datetime:
        return datetime_from_us(self.store_last_write_us)

    @property
    def store_created(self) -> datetime:
        return datetime_from_us(self.store_created_us)


class _ObjectTimes(_StoreTimes):
    """Store times plus the object's own last change and its qualified type."""

    uri: DataObjectURI
    last_changed_us: int

    @property
    def qualified_type(self) -> str:
        return self.uri.qualified_type

    @property
    def last_changed(self) -> datetime:
        return datetime_from_us(self.last_changed_us)


@dataclass(frozen=True, repr=False)
class Dataspace(_StoreTimes, TableRow):
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
        Column("path", lambda r: _dataspace_text(r.uri), trim="end"),
        _time_column("last write", "store_last_write_us"),
        _time_column("created", "store_created_us"),
        Column("custom data", lambda r: ", ".join(sorted(r.custom_data)), trim="end"),
        Column("uri", lambda r: str(r.uri), shown=False),
    )

    def __repr__(self) -> str:
        written = local_time(_when(self.store_last_write_us))
        return f"Dataspace({_dataspace_text(self.uri)!r}, last write {written or 'unknown'})"

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
class Resource(_ObjectTimes, TableRow):
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
        *_object_columns(),
        _time_column("last changed", "last_changed_us"),
        _count_column("sources", lambda r: r.source_count),
        _count_column("targets", lambda r: r.target_count),
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
        Column("source", lambda r: _short(r.source), trim="middle"),
        Column("target", lambda r: _short(r.target), trim="middle"),
        Column("kind", lambda r: r.relationship_kind),
        Column("dataspace", lambda r: _dataspace_text(r.source.dataspace), common=True),
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
        *_object_columns(),
        _time_column("deleted", "deleted_time_us"),
    )

    def __repr__(self) -> str:
        deleted = local_time(_when(self.deleted_time_us))
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
        _count_column("objects", lambda r: r.object_count),
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
class DataObject(_ObjectTimes, TableRow):
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
        *_object_columns(),
        Column("size", lambda r: len(r.xml), human_size, align=">"),
        _time_column("last changed", "last_changed_us"),
    )

    @classmethod
    def from_record(cls, record: Any, data: bytes, uri: DataObjectURI | None = None) -> DataObject:
        res = record.resource
        fields = {
            "uri": uri if uri is not None else server_object_uri(res.uri),
            "xml": bytes(data),
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
        Column("shape", lambda r: r.dimensions, _shape_text),
        Column("dtype", lambda r: str(r.dtype)),
        Column("size", lambda r: r.nbytes or None, human_size, align=">"),
        Column("transport", lambda r: r.transport_type),
        Column("logical", lambda r: r.logical_type),
        _time_column("last write", "store_last_write"),
    )

    def __repr__(self) -> str:
        size = f", {human_size(self.nbytes)}" if self.nbytes else ""
        return f"ArrayMetadata({_shape_text(self.dimensions)} {self.dtype}{size})"


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
        *_object_columns(),
        _count_column("created", lambda r: len(r.created_contained)),
        _count_column("deleted", lambda r: len(r.deleted_contained)),
        _count_column("joined", lambda r: len(r.joined_contained)),
        _count_column("unjoined", lambda r: len(r.unjoined_contained)),
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
