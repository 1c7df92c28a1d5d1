"""The state every part of the store shares, and the rules of reading and writing it.

One re-entrant lock guards everything. Reads see the committed state, overlaid with the staged
writes of the transaction they pass; writes go into a :class:`Stage` (the transaction's, or a
scratch stage applied at the end of the call) that :meth:`StoreCore._apply` commits atomically
with one timestamp, returning the change events listeners then get (outside the lock).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
import uuid as uuid_mod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Literal

from etp_sync.errors import ErrorCode, StoreError

from ._records import (
    ChangeEvent,
    ChangeListener,
    DeletedResource,
    Space,
    Stage,
    StoredArray,
    StoredObject,
)
from ._uris import dataspace_uri, object_parts

__all__ = ["StoreCore", "keyed", "type_matcher"]

_log = logging.getLogger("etp_sync.server.store")


def keyed(items: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    """ETP requests are maps of client keys; a plain list of URIs keys each by itself."""
    if isinstance(items, Mapping):
        return dict(items)
    return {u: u for u in items}


def type_matcher(types: Iterable[str]) -> Callable[[str], bool]:
    """Case-insensitive qualified-type filter with ``*`` wildcards; empty = everything."""
    patterns = [t.lower() for t in types if t]
    if not patterns:
        return lambda _qt: True
    return lambda qt: any(fnmatch.fnmatchcase(qt.lower(), p) for p in patterns)


class StoreCore:
    """Shared state and helpers of the store parts (call the ``_`` helpers with the lock held).

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
        self._spaces: dict[str, Space] = {}
        self._txs: dict[uuid_mod.UUID, Stage] = {}
        self._session_tx: dict[Hashable, uuid_mod.UUID] = {}
        self._listeners: list[ChangeListener] = []
        if allow_default_dataspace:
            now = self._now()
            self._spaces[""] = Space("", dataspace_uri(""), now, now, {})

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

    # ---- lookups ---------------------------------------------------------------------------

    def _now(self) -> int:
        """Microseconds since the epoch, strictly increasing within this store."""
        t = time.time_ns() // 1000
        if t <= self._last_us:
            t = self._last_us + 1
        self._last_us = t
        return t

    def _space(self, path: str) -> Space:
        sp = self._spaces.get(path)
        if sp is None:
            raise StoreError(ErrorCode.ENOT_FOUND, f"dataspace {dataspace_uri(path)} not found")
        return sp

    def _reader(self, tx: uuid_mod.UUID | None) -> Stage | None:
        if tx is None:
            return None
        t = self._txs.get(tx)
        if t is None:
            raise StoreError(ErrorCode.EINVALID_STATE, f"no open transaction {tx}")
        return t

    @staticmethod
    def _obj(sp: Space, uid: str, t: Stage | None) -> StoredObject | None:
        if t is not None:
            staged = t.objects.get(sp.path)
            if staged is not None and uid in staged:
                return staged[uid]
        return sp.objects.get(uid)

    @staticmethod
    def _objects(sp: Space, t: Stage | None) -> dict[str, StoredObject]:
        view = dict(sp.objects)
        if t is not None:
            for uid, obj in t.objects.get(sp.path, {}).items():
                if obj is None:
                    view.pop(uid, None)
                else:
                    view[uid] = obj
        return view

    @staticmethod
    def _array(sp: Space, key: tuple[str, str], t: Stage | None) -> StoredArray | None:
        if t is not None:
            staged = t.arrays.get(sp.path)
            if staged is not None and key in staged:
                return staged[key]
        return sp.arrays.get(key)

    def _lookup(self, uri: str, t: Stage | None) -> StoredObject:
        """The object a URI names (type and version must match); ENOT_FOUND otherwise."""
        u = object_parts(uri)
        assert u.uuid is not None and u.qualified_type is not None
        obj = self._obj(self._space(u.space), u.uuid, t)
        if (
            obj is None
            or obj.info.qualified_type.lower() != u.qualified_type.lower()
            or (u.version is not None and u.version != (obj.info.object_version or ""))
        ):
            raise StoreError(ErrorCode.ENOT_FOUND, f"data object {uri} not found")
        return obj

    # ---- writing ---------------------------------------------------------------------------

    def _check_writes_allowed(self, tx: uuid_mod.UUID | None) -> Stage:
        """Whole-request checks of a write call; returns the stage to write into."""
        if tx is None:
            if self.require_transactions:
                raise StoreError(
                    ErrorCode.EINVALID_STATE,
                    "this store requires a transaction for writes: send StartTransaction first",
                )
            return Stage(uuid_mod.uuid4(), None, False, None)
        t = self._reader(tx)
        assert t is not None
        if t.read_only:
            raise StoreError(ErrorCode.EINVALID_STATE, f"transaction {tx} is read-only")
        return t

    def _check_space_writable(self, path: str, stage: Stage) -> Space:
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

    def _is_scratch(self, stage: Stage) -> bool:
        return stage.id not in self._txs

    def _apply(self, stage: Stage) -> list[ChangeEvent]:
        """Apply staged changes atomically with one timestamp; returns the change events."""
        touched = {p for p, objs in stage.objects.items() if objs}
        touched |= {p for p, arrs in stage.arrays.items() if arrs}
        for path in touched:
            if path not in self._spaces:
                raise StoreError(
                    ErrorCode.ENOT_FOUND,
                    f"dataspace {dataspace_uri(path)} was deleted meanwhile",
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
