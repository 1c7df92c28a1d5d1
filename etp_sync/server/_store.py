"""The thread-safe in-memory model behind the embedded ETP 1.2 store server.

No sockets and no ETP messages here: the protocol handlers translate requests into calls on
:class:`Store` and its results (or :class:`StoreError`) back into messages. The model follows
open-etp-server where ETP leaves room (two-level dataspace paths, no default dataspace, an existing
dataspace cannot be re-created, one write transaction per dataspace), each switchable.

Identity: dataspaces are keyed by path (``""`` is the default dataspace ``eml:///``); inside a
dataspace objects are keyed by uuid (a uuid names one object, whatever type a URI spells) and arrays
by ``(uuid of the owning object, pathInResource)``; the owning object need not exist. References
between objects are resolved by uuid within the same dataspace.

Transactions: a write transaction stages object puts/deletes and array writes; reads that pass the
same ``tx`` see them, everybody else sees the committed state until :meth:`Store.commit_transaction`
applies them atomically, stamped with one commit time. Writes without ``tx`` are applied at once
(unless ``require_transactions``) and are refused while another transaction write-locks the
dataspace.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import time
import uuid as uuid_mod
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from etp_sync.errors import ErrorCode, ETPError
from etp_sync.server._xml import ObjectInfo, parse_data_object

__all__ = [
    "LOGICAL_ARRAY_TYPES",
    "TRANSPORT_ARRAY_TYPES",
    "ArrayMeta",
    "ChangeEvent",
    "ChangeListener",
    "DataspaceRecord",
    "DeletedResource",
    "EdgeInfo",
    "ObjectPut",
    "PutResult",
    "ResourceInfo",
    "Scope",
    "Store",
    "StoreError",
    "StoredObject",
    "default_array_types",
]

_log = logging.getLogger(__name__)

Scope = Literal["self", "sources", "targets", "sourcesOrSelf", "targetsOrSelf"]
_SCOPES = frozenset({"self", "sources", "targets", "sourcesOrSelf", "targetsOrSelf"})

TRANSPORT_ARRAY_TYPES = frozenset(
    {
        "arrayOfBoolean",
        "arrayOfInt",
        "arrayOfLong",
        "arrayOfFloat",
        "arrayOfDouble",
        "arrayOfString",
        "bytes",
    }
)
LOGICAL_ARRAY_TYPES = frozenset(
    {"arrayOfBoolean", "arrayOfString", "arrayOfCustom", "arrayOfInt8", "arrayOfUInt8"}
    | {
        f"arrayOf{name}{order}"
        for name in (
            "Int16",
            "Int32",
            "Int64",
            "UInt16",
            "UInt32",
            "UInt64",
            "Float32",
            "Double64",
        )
        for order in ("LE", "BE")
    }
)
# numpy dtype (kind + itemsize) → (transport, logical): the mapping of the sourced notes (§4).
_ARRAY_TYPES: dict[str, tuple[str, str]] = {
    "b1": ("arrayOfBoolean", "arrayOfBoolean"),
    "i1": ("bytes", "arrayOfInt8"),
    "u1": ("bytes", "arrayOfUInt8"),
    "i2": ("arrayOfInt", "arrayOfInt16LE"),
    "u2": ("arrayOfInt", "arrayOfUInt16LE"),
    "i4": ("arrayOfInt", "arrayOfInt32LE"),
    "u4": ("arrayOfLong", "arrayOfUInt32LE"),
    "i8": ("arrayOfLong", "arrayOfInt64LE"),
    "u8": ("arrayOfLong", "arrayOfUInt64LE"),
    "f4": ("arrayOfFloat", "arrayOfFloat32LE"),
    "f8": ("arrayOfDouble", "arrayOfDouble64LE"),
}


class StoreError(ETPError):
    """A store operation failed with an ETP error ``code`` (sent back as a ProtocolException)."""

    def __init__(self, code: ErrorCode | int, message: str) -> None:
        super().__init__(message, int(code))


# --------------------------------------------------------------------------------------------
# URIs (minimal private parsing; canonical forms only)

_UUID_PAT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_URI_RE = re.compile(
    r"^eml:///(?:dataspace\('(?P<ds>(?:[^']|'')*)'\))?"
    r"(?:(?(ds)/)(?P<type>(?:witsml|resqml|prodml|eml)\d\d\.\w+)"
    rf"(?:\((?:(?P<uuid>{_UUID_PAT})|uuid=(?P<uuid2>{_UUID_PAT}),"
    r"version='(?P<version>(?:[^']|'')*)')\))?)?$"
)


@dataclass(frozen=True)
class _Uri:
    space: str  # dataspace path; "" = default dataspace
    qualified_type: str | None = None
    uuid: str | None = None
    version: str | None = None


def _parse_uri(uri: str) -> _Uri:
    m = _URI_RE.match(uri) if isinstance(uri, str) else None
    if m is None:
        raise StoreError(ErrorCode.EINVALID_URI, f"invalid ETP URI {uri!r}")
    ds = m.group("ds")
    if ds == "":
        raise StoreError(ErrorCode.EINVALID_URI, f"empty dataspace path in {uri!r}")
    raw_uuid = m.group("uuid") or m.group("uuid2")
    version = m.group("version")
    return _Uri(
        space=(ds or "").replace("''", "'"),
        qualified_type=m.group("type"),
        uuid=raw_uuid.lower() if raw_uuid else None,
        version=version.replace("''", "'") if version is not None else None,
    )


def _parse_dataspace_uri(uri: str) -> str:
    """Dataspace path of a dataspace URI (``""`` for ``eml:///``)."""
    u = _parse_uri(uri)
    if u.qualified_type is not None:
        raise StoreError(ErrorCode.EINVALID_URI, f"{uri!r} is not a dataspace URI")
    return u.space


def _parse_object_uri(uri: str) -> _Uri:
    u = _parse_uri(uri)
    if u.uuid is None:
        raise StoreError(ErrorCode.EINVALID_URI, f"{uri!r} is not a data object URI")
    return u


def _ds_uri(space: str) -> str:
    return "eml:///" if space == "" else "eml:///dataspace('" + space.replace("'", "''") + "')"


def _obj_uri(space: str, qualified_type: str, uuid: str) -> str:
    prefix = "eml:///" if space == "" else _ds_uri(space) + "/"
    return f"{prefix}{qualified_type}({uuid})"


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class DataspaceRecord:
    """A dataspace as ETP's ``Dataspace`` record describes it (times in µs since the epoch)."""

    uri: str
    path: str
    store_created_us: int
    store_last_write_us: int
    custom_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredObject:
    """A committed (or staged) data object: its parsed identity plus the XML exactly as put."""

    uri: str
    info: ObjectInfo
    xml: bytes
    format: str
    store_created_us: int
    store_last_write_us: int
    active: bool = True


@dataclass(frozen=True)
class ObjectPut:
    """One object to put: the document, and optionally the URI the customer gave it."""

    data: bytes
    uri: str | None = None
    format: str = "xml"


@dataclass(frozen=True)
class PutResult:
    """Outcome of one put: the canonical object URI and whether it was new (else replaced)."""

    uri: str
    created: bool


@dataclass(frozen=True)
class DeletedResource:
    """An object deleted from a dataspace (for GetDeletedResources)."""

    uri: str
    deleted_time_us: int
    qualified_type: str


@dataclass(frozen=True)
class ResourceInfo:
    """What Discovery reports of an object (ETP ``Resource``); counts are None unless asked."""

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
    """A reference from ``source_uri`` to ``target_uri`` (ETP ``Edge``)."""

    source_uri: str
    target_uri: str
    relationship: str = "Primary"


@dataclass(frozen=True)
class ArrayMeta:
    """Metadata of a stored array (ETP ``DataArrayMetadata``)."""

    dimensions: tuple[int, ...]
    dtype: np.dtype[Any]
    transport_type: str
    logical_type: str
    store_created_us: int
    store_last_write_us: int


@dataclass(frozen=True)
class ChangeEvent:
    """A committed object change; ``obj`` is the new state for inserts and updates."""

    kind: Literal["insert", "update", "delete"]
    dataspace_uri: str
    uri: str
    time_us: int
    obj: StoredObject | None = None


ChangeListener = Callable[[list[ChangeEvent]], None]


def default_array_types(dtype: np.dtype[Any] | type | str) -> tuple[str, str]:
    """(transport, logical) array type names ETP uses for values of a numpy dtype."""
    dt = np.dtype(dtype)
    if dt.kind in "USO":
        return "arrayOfString", "arrayOfString"
    if dt.kind == "b":
        return _ARRAY_TYPES["b1"]
    types = _ARRAY_TYPES.get(f"{dt.kind}{dt.itemsize}")
    if types is None:
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unsupported array dtype {dt}")
    return types


# --------------------------------------------------------------------------------------------
# Internal state


@dataclass
class _Array:
    data: np.ndarray[Any, Any]
    transport_type: str
    logical_type: str
    created_us: int
    last_write_us: int


@dataclass
class _Space:
    path: str
    uri: str
    created_us: int
    last_write_us: int
    custom_data: dict[str, Any]
    objects: dict[str, StoredObject] = field(default_factory=dict)  # uuid → object
    arrays: dict[tuple[str, str], _Array] = field(default_factory=dict)  # (uuid, path) → array
    deleted: dict[str, DeletedResource] = field(default_factory=dict)  # uri → record

    def record(self) -> DataspaceRecord:
        return DataspaceRecord(
            self.uri,
            self.path,
            self.created_us,
            self.last_write_us,
            dict(self.custom_data),
        )


@dataclass
class _Tx:
    """A transaction, or the scratch stage of one non-transactional write call."""

    id: uuid_mod.UUID
    session_id: Hashable
    read_only: bool
    spaces: frozenset[str] | None  # None = every dataspace
    message: str = ""
    # Per dataspace path: staged objects by uuid (None = deleted) and arrays (None = deleted).
    objects: dict[str, dict[str, StoredObject | None]] = field(default_factory=dict)
    arrays: dict[str, dict[tuple[str, str], _Array | None]] = field(default_factory=dict)

    def covers(self, space: str) -> bool:
        return self.spaces is None or space in self.spaces


_TWO_LEVEL_RE = re.compile(r"^[^/]+/[^/]+$")


def _keyed(items: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    """ETP requests are maps of client keys; a plain list of URIs keys each by itself."""
    if isinstance(items, Mapping):
        return dict(items)
    return {u: u for u in items}


def _type_matcher(types: Iterable[str]) -> Callable[[str], bool]:
    """Case-insensitive qualified-type filter with ``*`` wildcards; empty = everything."""
    patterns = [t.lower() for t in types if t]
    if not patterns:
        return lambda _qt: True
    return lambda qt: any(fnmatch.fnmatchcase(qt.lower(), p) for p in patterns)


def _graph(
    view: Mapping[str, StoredObject],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(targets, sources) adjacency by uuid; references to absent objects are dropped."""
    targets: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {uid: [] for uid in view}
    for uid, obj in sorted(view.items(), key=lambda kv: kv[1].uri):
        outs: list[str] = []
        for _qt, ref in obj.info.references:
            if ref in view and ref != uid and ref not in outs:
                outs.append(ref)
        targets[uid] = outs
        for ref in outs:
            sources[ref].append(uid)
    return targets, sources


def _as_ints(values: Sequence[int] | np.ndarray[Any, Any], what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"{what} must be integers") from None


def _block(
    shape: tuple[int, ...], starts: Sequence[int], counts: Sequence[int]
) -> tuple[slice, ...]:
    """Validate a subarray request against ``shape`` and return its index."""
    s = _as_ints(starts, "starts")
    c = _as_ints(counts, "counts")
    if len(s) != len(shape) or len(c) != len(shape):
        raise StoreError(
            ErrorCode.EINVALID_ARGUMENT,
            f"starts/counts of rank {len(s)}/{len(c)} for an array of rank {len(shape)}",
        )
    for axis, (st, ct, n) in enumerate(zip(s, c, shape, strict=True)):
        if st < 0 or ct < 0 or st + ct > n:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"subarray [{st}, {st + ct}) is out of bounds 0..{n} on axis {axis}",
            )
    return tuple(slice(st, st + ct) for st, ct in zip(s, c, strict=True))


def _conform(values: Any, counts: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Values for a subarray write, shaped ``counts`` and cast to the array's dtype.

    A flat array with the right number of values is accepted too (the wire carries flat data).
    """
    v = np.asarray(values)
    if v.shape != counts:
        if v.ndim == 1 and v.size == int(np.prod(counts, dtype=np.int64)):
            v = v.reshape(counts)
        else:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"values of shape {v.shape} do not match counts {list(counts)}",
            )
    if dtype.kind == "O":
        if v.dtype.kind not in "USO":
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "a string array takes string values")
        return v.astype(object)
    integral = dtype.kind in "iu" and v.dtype.kind in "iub"
    if not integral and not np.can_cast(v.dtype, dtype, "same_kind"):
        raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"{v.dtype} values for a {dtype} array")
    if dtype.kind in "iu" and v.dtype.kind in "iu" and v.size:
        info = np.iinfo(dtype)
        if int(v.min()) < info.min or int(v.max()) > info.max:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"values out of range for {dtype}")
    return v.astype(dtype, copy=False)


def _store_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """Strings are kept as Python objects so later writes are never truncated."""
    return np.dtype(object) if dtype.kind in "US" else dtype


# --------------------------------------------------------------------------------------------


class Store:
    """Dataspaces, data objects, arrays and transactions of one embedded server; thread-safe.

    Options: ``require_transactions`` refuses writes outside a transaction (EINVALID_STATE),
    ``require_two_level_paths`` accepts only ``project/scenario`` dataspace paths,
    ``allow_default_dataspace`` provides ``eml:///`` (always present, cannot be deleted),
    ``supported_types`` lists the qualified types GetSupportedTypes reports when asked for empty
    types, and ``max_array_bytes`` bounds one array (ELIMIT_EXCEEDED).
    """

    def __init__(
        self,
        *,
        require_transactions: bool = False,
        require_two_level_paths: bool = True,
        allow_default_dataspace: bool = False,
        supported_types: Sequence[str] = (),
        max_array_bytes: int | None = 1 << 31,
    ) -> None:
        self._lock = threading.RLock()
        self.require_transactions = require_transactions
        self.require_two_level_paths = require_two_level_paths
        self.allow_default_dataspace = allow_default_dataspace
        self.supported_types = tuple(supported_types)
        self.max_array_bytes = max_array_bytes
        self._last_us = 0
        self._spaces: dict[str, _Space] = {}
        self._txs: dict[uuid_mod.UUID, _Tx] = {}
        self._session_tx: dict[Hashable, uuid_mod.UUID] = {}
        self._listeners: list[ChangeListener] = []
        if allow_default_dataspace:
            now = self._now()
            self._spaces[""] = _Space("", _ds_uri(""), now, now, {})

    # ---- helpers (call with the lock held) ------------------------------------------------

    def _now(self) -> int:
        """Microseconds since the epoch, strictly increasing within this store."""
        t = time.time_ns() // 1000
        if t <= self._last_us:
            t = self._last_us + 1
        self._last_us = t
        return t

    def _space(self, path: str) -> _Space:
        sp = self._spaces.get(path)
        if sp is None:
            raise StoreError(ErrorCode.ENOT_FOUND, f"dataspace {_ds_uri(path)} not found")
        return sp

    def _reader(self, tx: uuid_mod.UUID | None) -> _Tx | None:
        if tx is None:
            return None
        t = self._txs.get(tx)
        if t is None:
            raise StoreError(ErrorCode.EINVALID_STATE, f"no open transaction {tx}")
        return t

    def _check_writes_allowed(self, tx: uuid_mod.UUID | None) -> _Tx:
        """Whole-request checks of a write call; returns the stage to write into."""
        if tx is None:
            if self.require_transactions:
                raise StoreError(
                    ErrorCode.EINVALID_STATE,
                    "this store requires a transaction for writes: send StartTransaction first",
                )
            return _Tx(uuid_mod.uuid4(), None, False, None)
        t = self._reader(tx)
        assert t is not None
        if t.read_only:
            raise StoreError(ErrorCode.EINVALID_STATE, f"transaction {tx} is read-only")
        return t

    def _check_space_writable(self, path: str, stage: _Tx) -> _Space:
        """Per-dataspace write checks: exists, covered by the transaction, not locked by another."""
        sp = self._space(path)
        if stage.id in self._txs:
            if not stage.covers(path):
                raise StoreError(
                    ErrorCode.EINVALID_STATE,
                    f"transaction {stage.id} does not include dataspace {sp.uri}",
                )
        else:
            for other in self._txs.values():
                if not other.read_only and other.covers(path):
                    raise StoreError(
                        ErrorCode.EMAX_TRANSACTIONS_EXCEEDED,
                        f"dataspace {sp.uri} is locked by an open write transaction",
                    )
        return sp

    def _is_scratch(self, stage: _Tx) -> bool:
        return stage.id not in self._txs

    @staticmethod
    def _obj(sp: _Space, uid: str, t: _Tx | None) -> StoredObject | None:
        if t is not None:
            staged = t.objects.get(sp.path)
            if staged is not None and uid in staged:
                return staged[uid]
        return sp.objects.get(uid)

    @staticmethod
    def _objects(sp: _Space, t: _Tx | None) -> dict[str, StoredObject]:
        view = dict(sp.objects)
        if t is not None:
            for uid, obj in t.objects.get(sp.path, {}).items():
                if obj is None:
                    view.pop(uid, None)
                else:
                    view[uid] = obj
        return view

    @staticmethod
    def _array(sp: _Space, key: tuple[str, str], t: _Tx | None) -> _Array | None:
        if t is not None:
            staged = t.arrays.get(sp.path)
            if staged is not None and key in staged:
                return staged[key]
        return sp.arrays.get(key)

    def _apply(self, stage: _Tx) -> list[ChangeEvent]:
        """Apply staged changes atomically with one timestamp; returns the change events."""
        touched = {p for p, objs in stage.objects.items() if objs}
        touched |= {p for p, arrs in stage.arrays.items() if arrs}
        for path in touched:
            if path not in self._spaces:
                raise StoreError(
                    ErrorCode.ENOT_FOUND,
                    f"dataspace {_ds_uri(path)} was deleted meanwhile",
                )
        if not touched:
            return []
        now = self._now()
        events: list[ChangeEvent] = []
        for path, objects in stage.objects.items():
            sp = self._spaces[path]
            for uid, new in objects.items():
                old = sp.objects.get(uid)
                if new is None:
                    if old is None:
                        continue
                    del sp.objects[uid]
                    sp.deleted[old.uri] = DeletedResource(old.uri, now, old.info.qualified_type)
                    events.append(ChangeEvent("delete", sp.uri, old.uri, now))
                    continue
                if old is not None and old.uri != new.uri:
                    sp.deleted[old.uri] = DeletedResource(old.uri, now, old.info.qualified_type)
                stamped = replace(
                    new,
                    store_created_us=old.store_created_us if old is not None else now,
                    store_last_write_us=now,
                )
                sp.objects[uid] = stamped
                sp.deleted.pop(stamped.uri, None)
                kind: Literal["insert", "update"] = "update" if old is not None else "insert"
                events.append(ChangeEvent(kind, sp.uri, stamped.uri, now, stamped))
        for path, arrays in stage.arrays.items():
            sp = self._spaces[path]
            for key, arr in arrays.items():
                old_arr = sp.arrays.get(key)
                if arr is None:
                    sp.arrays.pop(key, None)
                    continue
                arr.created_us = old_arr.created_us if old_arr is not None else now
                arr.last_write_us = now
                sp.arrays[key] = arr
        for path in touched:
            self._spaces[path].last_write_us = now
        return events

    def _emit(self, events: list[ChangeEvent]) -> None:
        """Call the listeners (outside the lock) with one batch of committed changes."""
        if not events:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(list(events))
            except Exception:  # a listener must never break a store write
                _log.exception("store change listener %r failed", listener)

    # ---- listeners -------------------------------------------------------------------------

    def add_listener(self, callback: ChangeListener) -> None:
        """Call ``callback(events)`` after every committed batch of object changes."""
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: ChangeListener) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    # ---- dataspaces ------------------------------------------------------------------------

    def put_dataspace(
        self,
        uri: str,
        path: str | None = None,
        custom_data: Mapping[str, Any] | None = None,
    ) -> DataspaceRecord:
        """Create a dataspace; ``path`` (if given) must agree with ``uri``.

        An existing dataspace gives EINVALID_ARGUMENT (as open-etp-server); a path that is not
        ``project/scenario`` (when required) or the unsupported default dataspace EINVALID_URI.
        """
        space = _parse_dataspace_uri(uri)
        if path and path != space:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"path {path!r} does not match the URI {uri!r}",
            )
        with self._lock:
            if space == "" and not self.allow_default_dataspace:
                raise StoreError(ErrorCode.EINVALID_URI, "this store has no default dataspace")
            if space and self.require_two_level_paths and not _TWO_LEVEL_RE.match(space):
                raise StoreError(
                    ErrorCode.EINVALID_URI,
                    f"dataspace path {space!r} must have two levels: 'project/scenario'",
                )
            if space in self._spaces:
                raise StoreError(
                    ErrorCode.EINVALID_ARGUMENT,
                    f"dataspace {_ds_uri(space)} already exists",
                )
            now = self._now()
            sp = _Space(space, _ds_uri(space), now, now, dict(custom_data or {}))
            self._spaces[space] = sp
            return sp.record()

    def get_dataspaces(self, store_last_write_filter: int | None = None) -> list[DataspaceRecord]:
        """All dataspaces (by path), or those written after ``store_last_write_filter``."""
        with self._lock:
            return [
                sp.record()
                for _, sp in sorted(self._spaces.items())
                if store_last_write_filter is None or sp.last_write_us > store_last_write_filter
            ]

    def get_dataspace(self, uri: str) -> DataspaceRecord:
        """One dataspace; ENOT_FOUND if missing."""
        space = _parse_dataspace_uri(uri)
        with self._lock:
            return self._space(space).record()

    def delete_dataspace(self, uri: str) -> None:
        """Delete a dataspace with its objects and arrays (listeners get one delete per object).

        Not transactional: open transactions that staged writes in it fail at commit.
        """
        space = _parse_dataspace_uri(uri)
        with self._lock:
            sp = self._space(space)
            if space == "":
                raise StoreError(
                    ErrorCode.EREQUEST_DENIED, "the default dataspace cannot be deleted"
                )
            del self._spaces[space]
            now = self._now()
            events = [
                ChangeEvent("delete", sp.uri, obj.uri, now)
                for obj in sorted(sp.objects.values(), key=lambda o: o.uri)
            ]
        self._emit(events)

    # ---- data objects ----------------------------------------------------------------------

    def put_objects(
        self,
        dataspace_uri: str | None,
        objects: Mapping[str, bytes | ObjectPut],
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> tuple[dict[str, PutResult], dict[str, StoreError]]:
        """Put (create or replace) objects; returns per-key results and per-key errors.

        The object URI comes from the XML (type, uuid) and the dataspace: ``dataspace_uri``, or the
        URI of each :class:`ObjectPut` when ``dataspace_uri`` is None. A URI given with an object
        must name the XML's type and uuid (EINVALID_OBJECT otherwise) and lie in ``dataspace_uri``.
        Missing/unusable transaction → the whole call raises.
        """
        base = _parse_dataspace_uri(dataspace_uri) if dataspace_uri is not None else None
        results: dict[str, PutResult] = {}
        errors: dict[str, StoreError] = {}
        with self._lock:
            stage = self._check_writes_allowed(tx)
            for key, item in objects.items():
                try:
                    results[key] = self._put_one(base, item, stage)
                except StoreError as exc:
                    errors[key] = exc
            events = self._apply(stage) if self._is_scratch(stage) else []
        self._emit(events)
        return results, errors

    def _put_one(self, base: str | None, item: bytes | ObjectPut, stage: _Tx) -> PutResult:
        put = item if isinstance(item, ObjectPut) else ObjectPut(bytes(item))
        if put.format.lower() != "xml":
            raise StoreError(ErrorCode.ENOTSUPPORTED, f"format {put.format!r} is not supported")
        info = parse_data_object(put.data)
        space = base
        if put.uri:
            given = _parse_object_uri(put.uri)
            if (given.qualified_type or "").lower() != info.qualified_type.lower() or (
                given.uuid != info.uuid
            ):
                raise StoreError(
                    ErrorCode.EINVALID_OBJECT,
                    f"URI {put.uri!r} does not name the XML's object "
                    f"{info.qualified_type}({info.uuid})",
                )
            if given.version is not None and given.version != (info.object_version or ""):
                raise StoreError(
                    ErrorCode.EINVALID_OBJECT,
                    f"URI version {given.version!r} differs from the XML's objectVersion",
                )
            if base is not None and given.space != base:
                raise StoreError(
                    ErrorCode.EINVALID_ARGUMENT,
                    f"URI {put.uri!r} is not in dataspace {_ds_uri(base)}",
                )
            space = given.space
        if space is None:
            raise StoreError(ErrorCode.EINVALID_URI, "no dataspace given for the object")
        sp = self._check_space_writable(space, stage)
        old = self._obj(sp, info.uuid, stage)
        if old is not None and old.info.qualified_type.lower() != info.qualified_type.lower():
            raise StoreError(
                ErrorCode.EINVALID_OBJECT,
                f"uuid {info.uuid} is already used by {old.uri} in this dataspace",
            )
        now = self._now()
        obj = StoredObject(
            uri=_obj_uri(space, info.qualified_type, info.uuid),
            info=info,
            xml=bytes(put.data),
            format="xml",
            store_created_us=old.store_created_us if old is not None else now,
            store_last_write_us=now,
            active=old.active if old is not None else True,
        )
        stage.objects.setdefault(space, {})[info.uuid] = obj
        return PutResult(obj.uri, old is None)

    def get_objects(
        self,
        uris: Mapping[str, str] | Iterable[str],
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> tuple[dict[str, StoredObject], dict[str, StoreError]]:
        """Objects by key (a list of URIs is keyed by URI); misses go to the error map."""
        found: dict[str, StoredObject] = {}
        errors: dict[str, StoreError] = {}
        with self._lock:
            t = self._reader(tx)
            for key, uri in _keyed(uris).items():
                try:
                    found[key] = self._lookup(uri, t)
                except StoreError as exc:
                    errors[key] = exc
        return found, errors

    def _lookup(self, uri: str, t: _Tx | None) -> StoredObject:
        u = _parse_object_uri(uri)
        assert u.uuid is not None and u.qualified_type is not None
        sp = self._space(u.space)
        obj = self._obj(sp, u.uuid, t)
        if (
            obj is None
            or obj.info.qualified_type.lower() != u.qualified_type.lower()
            or (u.version is not None and u.version != (obj.info.object_version or ""))
        ):
            raise StoreError(ErrorCode.ENOT_FOUND, f"data object {uri} not found")
        return obj

    def delete_objects(
        self,
        uris: Mapping[str, str] | Iterable[str],
        prune_contained_objects: bool = False,
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> tuple[dict[str, list[str]], dict[str, StoreError]]:
        """Delete objects (and the arrays they own); returns the URIs deleted per key, and errors.

        Deleting an object that others reference is allowed (their references dangle). With
        ``prune_contained_objects`` the objects it referenced that nothing references any more
        are deleted too, transitively.
        """
        deleted: dict[str, list[str]] = {}
        errors: dict[str, StoreError] = {}
        with self._lock:
            stage = self._check_writes_allowed(tx)
            for key, uri in _keyed(uris).items():
                try:
                    u = _parse_object_uri(uri)
                    self._check_space_writable(u.space, stage)
                    obj = self._lookup(uri, stage)
                    deleted[key] = self._delete_one(self._spaces[u.space], obj, stage)
                    if prune_contained_objects:
                        deleted[key] += self._prune(self._spaces[u.space], obj, stage)
                except StoreError as exc:
                    errors[key] = exc
            events = self._apply(stage) if self._is_scratch(stage) else []
        self._emit(events)
        return deleted, errors

    def _delete_one(self, sp: _Space, obj: StoredObject, stage: _Tx) -> list[str]:
        uid = obj.info.uuid
        stage.objects.setdefault(sp.path, {})[uid] = None
        staged_arrays = stage.arrays.setdefault(sp.path, {})
        for key in list(sp.arrays) + list(staged_arrays):
            if key[0] == uid:
                staged_arrays[key] = None
        return [obj.uri]

    def _prune(self, sp: _Space, root: StoredObject, stage: _Tx) -> list[str]:
        """Delete the objects ``root`` referenced that are now referenced by nothing."""
        pruned: list[str] = []
        pending = [ref for _qt, ref in root.info.references]
        while pending:
            uid = pending.pop(0)
            view = self._objects(sp, stage)
            obj = view.get(uid)
            if obj is None:
                continue
            _targets, sources = _graph(view)
            if sources[uid]:
                continue
            pruned += self._delete_one(sp, obj, stage)
            pending += [ref for _qt, ref in obj.info.references]
        return pruned

    def get_deleted_resources(
        self,
        dataspace_uri: str,
        delete_time_filter: int | None = None,
        types: Sequence[str] = (),
    ) -> list[DeletedResource]:
        """Objects deleted from a dataspace (after ``delete_time_filter``), oldest first.

        An object put again is no longer listed.
        """
        space = _parse_dataspace_uri(dataspace_uri)
        match = _type_matcher(types)
        with self._lock:
            sp = self._space(space)
            return sorted(
                (
                    d
                    for d in sp.deleted.values()
                    if (delete_time_filter is None or d.deleted_time_us > delete_time_filter)
                    and match(d.qualified_type)
                ),
                key=lambda d: (d.deleted_time_us, d.uri),
            )

    # ---- discovery -------------------------------------------------------------------------

    def get_resources(
        self,
        context_uri: str,
        scope: str = "self",
        depth: int = 1,
        types: Sequence[str] = (),
        store_last_write_filter: int | None = None,
        active_status_filter: bool | None = None,
        count_objects: bool = False,
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> tuple[list[ResourceInfo], list[EdgeInfo]]:
        """Discovery: resources around a context URI, plus the edges between them.

        A dataspace context (``eml:///dataspace('p/s')``, or a type collection
        ``…/resqml20.obj_X`` which keeps only that type) lists every object in the
        dataspace whatever the scope, sorted by URI, as open-etp-server does. An object context
        walks ``depth`` hops along references: ``targets`` are the objects it references,
        ``sources`` the objects referencing it, ``*OrSelf`` put the object itself first.
        ``types`` (``*`` wildcards), ``store_last_write_filter`` (strictly after) and
        ``active_status_filter`` (True = active only) select what is returned, not what is
        walked through. Edges link returned resources (and the context object).
        """
        if scope not in _SCOPES:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown scope {scope!r}")
        if depth < 0:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"negative depth {depth}")
        u = _parse_uri(context_uri)
        match = _type_matcher(types)
        # A type-collection context (dataspace/type, no uuid) narrows further.
        in_collection = _type_matcher(
            [u.qualified_type] if u.uuid is None and u.qualified_type else []
        )
        with self._lock:
            t = self._reader(tx)
            sp = self._space(u.space)
            view = self._objects(sp, t)
            targets, sources = _graph(view)
            edge_keys: dict[tuple[str, str], None] = {}
            if u.uuid is None:
                order = [uid for uid, _ in sorted(view.items(), key=lambda kv: kv[1].uri)]
                for uid in order:
                    for ref in targets[uid]:
                        edge_keys[(uid, ref)] = None
                start = None
            else:
                start = self._lookup(context_uri, t).info.uuid
                order = [start] if scope in ("self", "sourcesOrSelf", "targetsOrSelf") else []
                if scope != "self":
                    forward = scope.startswith("targets")
                    seen = {start}
                    frontier = [start]
                    for _hop in range(depth):
                        following: list[str] = []
                        for uid in frontier:
                            for other in (targets if forward else sources)[uid]:
                                edge_keys[(uid, other) if forward else (other, uid)] = None
                                if other not in seen:
                                    seen.add(other)
                                    following.append(other)
                                    order.append(other)
                        frontier = following
            kept = [
                view[uid]
                for uid in order
                if match(view[uid].info.qualified_type)
                and in_collection(view[uid].info.qualified_type)
                and (
                    store_last_write_filter is None
                    or view[uid].store_last_write_us > store_last_write_filter
                )
                and (active_status_filter is None or view[uid].active == active_status_filter)
            ]
            resources = [
                ResourceInfo(
                    uri=obj.uri,
                    name=obj.info.title,
                    qualified_type=obj.info.qualified_type,
                    source_count=len(sources[obj.info.uuid]) if count_objects else None,
                    target_count=len(targets[obj.info.uuid]) if count_objects else None,
                    last_changed_us=obj.info.last_update_us or obj.store_last_write_us,
                    store_last_write_us=obj.store_last_write_us,
                    store_created_us=obj.store_created_us,
                    active=obj.active,
                )
                for obj in kept
            ]
            linked = {obj.info.uuid for obj in kept}
            if start is not None:
                linked.add(start)
            edges = [
                EdgeInfo(view[src].uri, view[dst].uri)
                for src, dst in edge_keys
                if src in linked and dst in linked
            ]
        return resources, edges

    def get_supported_types(
        self,
        uri: str,
        scope: str = "self",
        return_empty_types: bool = False,
        count_objects: bool = False,
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> list[tuple[str, int | None]]:
        """Qualified types present around ``uri`` (as :meth:`get_resources` at depth 1), sorted.

        ``return_empty_types`` adds the store's ``supported_types`` that have no object (count 0);
        counts are None unless ``count_objects``.
        """
        resources, _edges = self.get_resources(uri, scope, 1, tx=tx)
        counts = Counter(r.qualified_type for r in resources)
        if return_empty_types:
            for qt in self.supported_types:
                if "*" not in qt:
                    counts.setdefault(qt, 0)
        return [(qt, n if count_objects else None) for qt, n in sorted(counts.items())]

    # ---- arrays ----------------------------------------------------------------------------

    def _array_space(self, uri: str, path_in_resource: str) -> tuple[_Space, tuple[str, str]]:
        u = _parse_object_uri(uri)
        assert u.uuid is not None
        if not path_in_resource:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, "empty pathInResource")
        return self._space(u.space), (u.uuid, path_in_resource)

    def _check_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        if self.max_array_bytes is None:
            return
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if size > self.max_array_bytes:
            raise StoreError(
                ErrorCode.ELIMIT_EXCEEDED,
                f"array of {size} bytes exceeds the store limit of {self.max_array_bytes}",
            )

    def _write_array(
        self,
        uri: str,
        path_in_resource: str,
        data: np.ndarray[Any, Any],
        transport_type: str | None,
        logical_type: str | None,
        tx: uuid_mod.UUID | None,
    ) -> None:
        default_transport, default_logical = default_array_types(data.dtype)
        transport = transport_type or default_transport
        logical = logical_type or default_logical
        if transport not in TRANSPORT_ARRAY_TYPES:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown transport type {transport!r}")
        if logical not in LOGICAL_ARRAY_TYPES:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown logical type {logical!r}")
        with self._lock:
            stage = self._check_writes_allowed(tx)
            sp, key = self._array_space(uri, path_in_resource)
            self._check_space_writable(sp.path, stage)
            now = self._now()
            old = self._array(sp, key, None if self._is_scratch(stage) else stage)
            created = old.created_us if old is not None else now
            rec = _Array(data, transport, logical, created, now)
            if self._is_scratch(stage):
                sp.arrays[key] = rec
                sp.last_write_us = now
            else:
                stage.arrays.setdefault(sp.path, {})[key] = rec

    def put_array(
        self,
        uri: str,
        path_in_resource: str,
        array: Any,
        *,
        transport_type: str | None = None,
        logical_type: str | None = None,
        tx: uuid_mod.UUID | None = None,
    ) -> None:
        """Store a whole array (copied, C order) under (object URI, path), replacing any.

        Transport/logical type names default from the dtype (:func:`default_array_types`).
        """
        arr = np.asarray(array)
        data = np.array(arr, dtype=_store_dtype(arr.dtype), order="C", copy=True)
        self._check_size(data.shape, data.dtype)
        self._write_array(uri, path_in_resource, data, transport_type, logical_type, tx)

    def put_uninitialized_array(
        self,
        uri: str,
        path_in_resource: str,
        dimensions: Sequence[int],
        dtype: np.dtype[Any] | type | str,
        *,
        transport_type: str | None = None,
        logical_type: str | None = None,
        tx: uuid_mod.UUID | None = None,
    ) -> None:
        """Allocate a zero-filled array (empty strings for strings) to fill with subarrays."""
        dims = _as_ints(dimensions, "dimensions")
        if any(d < 0 for d in dims):
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"negative dimension in {list(dims)}")
        try:
            dt = _store_dtype(np.dtype(dtype))
        except TypeError:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"invalid dtype {dtype!r}") from None
        self._check_size(dims, dt)
        data = np.full(dims, "", dtype=object) if dt.kind == "O" else np.zeros(dims, dtype=dt)
        self._write_array(uri, path_in_resource, data, transport_type, logical_type, tx)

    def put_subarray(
        self,
        uri: str,
        path_in_resource: str,
        starts: Sequence[int],
        counts: Sequence[int],
        values: Any,
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> None:
        """Write a block of an existing array; rank, bounds and value shape give EINVALID_ARGUMENT.

        ``values`` has shape ``counts`` (a flat array of ``prod(counts)`` values is accepted too)
        and is cast to the array's dtype.
        """
        with self._lock:
            stage = self._check_writes_allowed(tx)
            sp, key = self._array_space(uri, path_in_resource)
            self._check_space_writable(sp.path, stage)
            scratch = self._is_scratch(stage)
            rec = self._array(sp, key, None if scratch else stage)
            if rec is None:
                raise StoreError(
                    ErrorCode.ENOT_FOUND,
                    f"array {path_in_resource!r} of {uri} not found",
                )
            index = _block(rec.data.shape, starts, counts)
            block = _conform(values, _as_ints(counts, "counts"), rec.data.dtype)
            if not scratch and stage.arrays.get(sp.path, {}).get(key) is not rec:
                # First write of this transaction to a committed array: copy on write.
                rec = replace(rec, data=rec.data.copy())
                stage.arrays.setdefault(sp.path, {})[key] = rec
            rec.data[index] = block
            rec.last_write_us = self._now()
            if scratch:
                sp.last_write_us = rec.last_write_us

    def _get_array_rec(self, uri: str, path_in_resource: str, tx: uuid_mod.UUID | None) -> _Array:
        t = self._reader(tx)
        sp, key = self._array_space(uri, path_in_resource)
        rec = self._array(sp, key, t)
        if rec is None:
            raise StoreError(ErrorCode.ENOT_FOUND, f"array {path_in_resource!r} of {uri} not found")
        return rec

    def get_array(
        self, uri: str, path_in_resource: str, *, tx: uuid_mod.UUID | None = None
    ) -> np.ndarray[Any, Any]:
        """A copy of a whole array."""
        with self._lock:
            return self._get_array_rec(uri, path_in_resource, tx).data.copy()

    def get_subarray(
        self,
        uri: str,
        path_in_resource: str,
        starts: Sequence[int],
        counts: Sequence[int],
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> np.ndarray[Any, Any]:
        """A copy of the block ``starts``/``counts`` (shape ``counts``, C order)."""
        with self._lock:
            rec = self._get_array_rec(uri, path_in_resource, tx)
            return np.array(rec.data[_block(rec.data.shape, starts, counts)], order="C")

    def get_array_metadata(
        self, uri: str, path_in_resource: str, *, tx: uuid_mod.UUID | None = None
    ) -> ArrayMeta:
        """Dimensions, dtype, type names and times of an array."""
        with self._lock:
            rec = self._get_array_rec(uri, path_in_resource, tx)
            return ArrayMeta(
                dimensions=tuple(int(d) for d in rec.data.shape),
                dtype=rec.data.dtype,
                transport_type=rec.transport_type,
                logical_type=rec.logical_type,
                store_created_us=rec.created_us,
                store_last_write_us=rec.last_write_us,
            )

    # ---- transactions ----------------------------------------------------------------------

    def start_transaction(
        self,
        session_id: Hashable,
        dataspace_uris: Sequence[str] = (),
        read_only: bool = False,
        message: str = "",
    ) -> uuid_mod.UUID:
        """Open a transaction for a session over some dataspaces (empty = all; ``""`` = default).

        One open transaction per session, and one write transaction per dataspace across
        sessions: both give EMAX_TRANSACTIONS_EXCEEDED. Missing dataspaces give ENOT_FOUND.
        """
        paths = [_parse_dataspace_uri(u or "eml:///") for u in dataspace_uris]
        with self._lock:
            if session_id in self._session_tx:
                raise StoreError(
                    ErrorCode.EMAX_TRANSACTIONS_EXCEEDED,
                    f"session already has the open transaction {self._session_tx[session_id]}",
                )
            for path in paths:
                self._space(path)
            spaces = frozenset(paths) if paths else None
            if not read_only:
                for other in self._txs.values():
                    if other.read_only:
                        continue
                    if spaces is None or other.spaces is None or spaces & other.spaces:
                        shared = sorted(
                            (spaces or set(self._spaces)) & (other.spaces or set(self._spaces))
                        )
                        names = ", ".join(_ds_uri(p) for p in shared) or "all dataspaces"
                        raise StoreError(
                            ErrorCode.EMAX_TRANSACTIONS_EXCEEDED,
                            f"{names} locked by another session's write transaction",
                        )
            t = _Tx(uuid_mod.uuid4(), session_id, read_only, spaces, message)
            self._txs[t.id] = t
            self._session_tx[session_id] = t.id
            return t.id

    def _close_tx(self, tx_id: uuid_mod.UUID, session_id: Hashable | None) -> _Tx:
        t = self._txs.get(tx_id)
        if t is None or (session_id is not None and t.session_id != session_id):
            raise StoreError(ErrorCode.EINVALID_STATE, f"no open transaction {tx_id}")
        del self._txs[tx_id]
        del self._session_tx[t.session_id]
        return t

    def commit_transaction(self, tx_id: uuid_mod.UUID, session_id: Hashable | None = None) -> None:
        """Apply a transaction's staged writes atomically and close it.

        If they cannot be applied (a dataspace was deleted meanwhile) nothing is applied, the
        transaction is closed all the same, and StoreError is raised.
        """
        with self._lock:
            t = self._close_tx(tx_id, session_id)
            events = self._apply(t)
        self._emit(events)

    def rollback_transaction(
        self, tx_id: uuid_mod.UUID, session_id: Hashable | None = None
    ) -> None:
        """Discard a transaction's staged writes and close it."""
        with self._lock:
            self._close_tx(tx_id, session_id)

    def abort_session(self, session_id: Hashable) -> bool:
        """Roll back the session's open transaction (on disconnect); True if there was one."""
        with self._lock:
            tx_id = self._session_tx.get(session_id)
            if tx_id is None:
                return False
            self._close_tx(tx_id, session_id)
            return True

    def transaction_of(self, session_id: Hashable) -> uuid_mod.UUID | None:
        """The session's open transaction, if any (ETP messages do not name it)."""
        with self._lock:
            return self._session_tx.get(session_id)
