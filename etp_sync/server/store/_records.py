"""The store's records: what its calls return (frozen) and what it keeps (dataspaces, stages).

Times are microseconds since the epoch. Objects are keyed by lower-case uuid inside a dataspace,
arrays by ``(uuid of the owning object, pathInResource)``.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from etp_sync.xmlinfo import ObjectInfo

from ._chunked import ChunkedArray

Scope = Literal["self", "sources", "targets", "sourcesOrSelf", "targetsOrSelf"]
SCOPES = frozenset({"self", "sources", "targets", "sourcesOrSelf", "targetsOrSelf"})


@dataclass(frozen=True, slots=True)
class DataspaceRecord:
    """A dataspace as ETP's ``Dataspace`` record describes it."""

    uri: str
    path: str
    store_created_us: int
    store_last_write_us: int
    custom_data: dict[str, Any] = field(default_factory=dict)
    # XML of its objects and values of its arrays; None when the caller did not ask for it.
    size_bytes: int | None = 0


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A committed (or staged) data object: its parsed identity plus the XML exactly as put."""

    uri: str
    info: ObjectInfo
    xml: bytes
    format: str
    store_created_us: int
    store_last_write_us: int
    active: bool = True

    def stamped(self, store_created_us: int, store_last_write_us: int) -> StoredObject:
        """This object with the store's times set (what a commit keeps)."""
        return stored_object(
            self.uri,
            self.info,
            self.xml,
            self.format,
            store_created_us,
            store_last_write_us,
            self.active,
        )


_new = object.__new__


def _slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of the slots of a frozen dataclass's fields, in field order.

    A commit makes a record or two of each object it applies; a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__``, about twice the time of these setters.
    Unpacked into one name per field below, so a field added to the class fails at import
    until its setter is used (tests/test_server_records.py compares with the constructors)."""
    return tuple(cls.__dict__[f.name].__set__ for f in fields(cls))


(
    _set_uri,
    _set_info,
    _set_xml,
    _set_format,
    _set_created,
    _set_last_write,
    _set_active,
) = _slot_setters(StoredObject)


def stored_object(
    uri: str,
    info: ObjectInfo,
    xml: bytes,
    format: str,
    store_created_us: int,
    store_last_write_us: int,
    active: bool = True,
) -> StoredObject:
    """``StoredObject(...)`` of these fields, made field by field (see :func:`_slot_setters`):
    a put makes one per object, and a commit one more per object of a transaction."""
    obj = _new(StoredObject)
    _set_uri(obj, uri)
    _set_info(obj, info)
    _set_xml(obj, xml)
    _set_format(obj, format)
    _set_created(obj, store_created_us)
    _set_last_write(obj, store_last_write_us)
    _set_active(obj, active)
    return obj


def resource_custom_data(obj: StoredObject) -> dict[str, Any]:
    """``created`` (µs: the citation's Creation, else when the store created the object) and
    ``creator`` (the citation's Originator) of a Resource, as open-etp-server fills them."""
    return {
        "created": obj.info.created_us or obj.store_created_us,
        "creator": obj.info.originator,
    }


@dataclass(frozen=True, slots=True)
class ObjectPut:
    """One object to put: the document, and optionally the URI the customer gave it."""

    data: bytes
    uri: str | None = None
    format: str = "xml"


@dataclass(frozen=True, slots=True)
class PutResult:
    """Outcome of one put: the canonical object URI and whether it was new (else replaced)."""

    uri: str
    created: bool


_set_put_data, _set_put_uri, _set_put_format = _slot_setters(ObjectPut)
_set_result_uri, _set_result_created = _slot_setters(PutResult)


def object_put(data: bytes, uri: str | None, format: str) -> ObjectPut:
    """``ObjectPut(data, uri, format)``, made field by field (one per object of a
    PutDataObjects: see :func:`_slot_setters`)."""
    put = _new(ObjectPut)
    _set_put_data(put, data)
    _set_put_uri(put, uri)
    _set_put_format(put, format)
    return put


def put_result(uri: str, created: bool) -> PutResult:
    """``PutResult(uri, created)``, made field by field (one per object put)."""
    result = _new(PutResult)
    _set_result_uri(result, uri)
    _set_result_created(result, created)
    return result


@dataclass(frozen=True, slots=True)
class DeletedResource:
    """An object deleted from a dataspace (for GetDeletedResources)."""

    uri: str
    deleted_time_us: int
    qualified_type: str


@dataclass(frozen=True)
class ResourceInfo:
    """What Discovery reports of an object (ETP ``Resource``); counts are None unless asked.

    ``custom_data`` holds ``created`` (µs, the citation's Creation) and ``creator`` (its
    Originator), as open-etp-server reports them (see :func:`resource_custom_data`).
    """

    uri: str
    name: str
    qualified_type: str
    source_count: int | None
    target_count: int | None
    last_changed_us: int
    store_last_write_us: int
    store_created_us: int
    active: bool = True
    custom_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeInfo:
    """A reference from ``source_uri`` to ``target_uri`` (ETP ``Edge``); ``custom_data`` holds
    the ``path`` of the referencing element, as open-etp-server reports it."""

    source_uri: str
    target_uri: str
    relationship: str = "Primary"
    custom_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArrayMeta:
    """Metadata of a stored array (ETP ``DataArrayMetadata``)."""

    dimensions: tuple[int, ...]
    dtype: np.dtype[Any]
    transport_type: str
    logical_type: str
    store_created_us: int
    store_last_write_us: int


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A committed object change; ``obj`` is the new state for inserts and updates."""

    kind: Literal["insert", "update", "delete"]
    dataspace_uri: str
    uri: str
    time_us: int
    obj: StoredObject | None = None


_set_kind, _set_dataspace_uri, _set_event_uri, _set_time, _set_obj = _slot_setters(ChangeEvent)


(
    _set_space_uri,
    _set_space_path,
    _set_space_created,
    _set_space_last_write,
    _set_space_custom_data,
    _set_space_size,
) = _slot_setters(DataspaceRecord)


def dataspace_record(
    uri: str,
    path: str,
    store_created_us: int,
    store_last_write_us: int,
    custom_data: dict[str, Any],
    size_bytes: int | None,
) -> DataspaceRecord:
    """``DataspaceRecord(...)`` of these fields, made field by field (see
    :func:`_slot_setters`): every GetDataspaces makes one per dataspace."""
    record = _new(DataspaceRecord)
    _set_space_uri(record, uri)
    _set_space_path(record, path)
    _set_space_created(record, store_created_us)
    _set_space_last_write(record, store_last_write_us)
    _set_space_custom_data(record, custom_data)
    _set_space_size(record, size_bytes)
    return record


def change_event(
    kind: Literal["insert", "update", "delete"],
    dataspace_uri: str,
    uri: str,
    time_us: int,
    obj: StoredObject | None = None,
) -> ChangeEvent:
    """``ChangeEvent(kind, dataspace_uri, uri, time_us, obj)``, made field by field (a commit
    makes one per object: see :func:`_slot_setters`)."""
    event = _new(ChangeEvent)
    _set_kind(event, kind)
    _set_dataspace_uri(event, dataspace_uri)
    _set_event_uri(event, uri)
    _set_time(event, time_us)
    _set_obj(event, obj)
    return event


ChangeListener = Callable[[list[ChangeEvent]], None]


@dataclass
class StoredArray:
    """An array as kept: its values in blocks plus its ETP type names and times."""

    data: ChunkedArray
    transport_type: str
    logical_type: str
    created_us: int
    last_write_us: int


@dataclass
class Space:
    """A dataspace with its committed objects, arrays and deletion records."""

    path: str
    uri: str
    created_us: int
    last_write_us: int
    custom_data: dict[str, Any]
    objects: dict[str, StoredObject] = field(default_factory=dict)  # uuid → object
    arrays: dict[tuple[str, str], StoredArray] = field(default_factory=dict)  # (uuid, path) →
    deleted: dict[str, DeletedResource] = field(default_factory=dict)  # uri → record

    def record(self, *, size: bool = True) -> DataspaceRecord:
        """The public view of this dataspace; its ``size_bytes`` (a sum over every object and
        array in it) only if ``size`` is asked, None otherwise."""
        nbytes = None
        if size:
            nbytes = sum(len(o.xml) for o in self.objects.values())
            nbytes += sum(a.data.nbytes for a in self.arrays.values())
        return dataspace_record(
            self.uri, self.path, self.created_us, self.last_write_us, dict(self.custom_data), nbytes
        )


@dataclass
class Stage:
    """A transaction, or the scratch stage of one non-transactional write call."""

    id: uuid_mod.UUID
    session_id: Hashable
    read_only: bool
    spaces: frozenset[str] | None  # None = every dataspace
    message: str = ""
    touched: float = 0.0  # time.monotonic() of the last call through this transaction
    held_bytes: int = 0  # memory the staged writes hold beyond the committed state
    # Per dataspace path: staged objects by uuid (None = deleted) and arrays (None = deleted).
    objects: dict[str, dict[str, StoredObject | None]] = field(default_factory=dict)
    arrays: dict[str, dict[tuple[str, str], StoredArray | None]] = field(default_factory=dict)
    # Per dataspace path: the dataspace its first staged write went to. A commit into another
    # one of that path (deleted and created again meanwhile) applies nothing.
    written: dict[str, Space] = field(default_factory=dict)
    # A scratch stage's objects are staged with the store time it is applied with (in the same
    # locked section): StoreCore._apply then keeps them as they are.
    stamp: int | None = None

    def covers(self, space: str) -> bool:
        """Whether this stage may write in the dataspace with path ``space``."""
        return self.spaces is None or space in self.spaces
