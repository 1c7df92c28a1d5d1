"""The state every part of the store shares, and the rules of reading and writing it.

One re-entrant lock guards everything, held only for in-memory updates (documents are parsed and
values converted before it is taken). Reads see the committed state, overlaid with the staged
writes of the transaction they pass; writes go into a :class:`Stage` (the transaction's, or a
scratch stage applied at the end of the call) that :meth:`StoreCore._apply` commits atomically
with one timestamp, returning the change events listeners then get (outside the lock, in commit
order: each batch is queued under the lock when committed, and :meth:`StoreCore._emit` hands the
queue out one batch at a time, so two simultaneous commits are never notified out of order).

Limits: the memory of dataspaces (path, URI, customData), committed objects and arrays (their
URIs included), deletion records (while retained) plus what open transactions stage is counted
(:attr:`StoreCore.used_bytes`) and a write past ``max_store_bytes`` is refused with
ELIMIT_EXCEEDED; a transaction idle longer than ``transaction_timeout`` is rolled back (its
session then gets ETIMED_OUT until it commits, rolls back or starts another); deleted-object
records are kept for ``change_retention_period`` and then pruned.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
import uuid as uuid_mod
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Literal

from etp_sync.errors import ErrorCode, ETPInvalidArgument, StoreError

from ._integrity import add_import_activities, check_references
from ._records import (
    ChangeEvent,
    ChangeListener,
    DeletedResource,
    Space,
    Stage,
    StoredArray,
    StoredObject,
    change_event,
)
from ._uris import canonical_split, dataspace_uri, object_parts

__all__ = [  # + DEFAULT_*
    "StoreCore",
    "array_bytes",
    "deleted_bytes",
    "keyed",
    "object_bytes",
    "type_matcher",
]

_log = logging.getLogger("etp_sync.server.store")

DEFAULT_MAX_STORE_BYTES = 1 << 30  # objects and arrays of every dataspace, staged writes included
DEFAULT_MAX_OBJECT_BYTES = 64 << 20  # one data object's XML (bounds parse time and memory)
DEFAULT_MAX_ARRAY_BYTES = 1 << 31  # one array's declared size (written blocks count to the store)
DEFAULT_TRANSACTION_TIMEOUT = 120.0  # seconds a transaction may stay idle
DEFAULT_CHANGE_RETENTION_PERIOD = 3600.0  # seconds deleted-object records are kept
RECORD_BYTES = 256  # what one object or array record costs beyond its data (an estimate)
DELETED_RECORD_BYTES = 128  # what one deletion record costs beyond its URI (an estimate)


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
    types, ``import_activities`` adds open-etp-server's provenance objects to every write of
    objects (see :mod:`._provenance`; ``activity_creator`` is their creator). Limits (None =
    unlimited): ``max_store_bytes`` bounds the memory of all dataspaces, objects (URIs
    included), written array blocks and retained deletion records, staged ones included
    (ELIMIT_EXCEEDED), ``max_object_bytes`` one
    object's XML (EMAXSIZE_EXCEEDED), ``max_array_bytes`` one array's declared size
    (ELIMIT_EXCEEDED), ``transaction_timeout`` (seconds) how long a transaction may stay idle
    before it is rolled back, ``change_retention_period`` (seconds) how long deleted-object
    records are kept.
    """

    def __init__(
        self,
        *,
        require_transactions: bool = False,
        require_two_level_paths: bool = True,
        allow_default_dataspace: bool = False,
        supported_types: Sequence[str] = (),
        max_store_bytes: int | None = DEFAULT_MAX_STORE_BYTES,
        max_object_bytes: int | None = DEFAULT_MAX_OBJECT_BYTES,
        max_array_bytes: int | None = DEFAULT_MAX_ARRAY_BYTES,
        transaction_timeout: float | None = DEFAULT_TRANSACTION_TIMEOUT,
        change_retention_period: float | None = DEFAULT_CHANGE_RETENTION_PERIOD,
        import_activities: bool = False,
        activity_creator: str = "osdu_user",
    ) -> None:
        for name, value in (
            ("max_store_bytes", max_store_bytes),
            ("max_object_bytes", max_object_bytes),
            ("max_array_bytes", max_array_bytes),
            ("transaction_timeout", transaction_timeout),
            ("change_retention_period", change_retention_period),
        ):
            if value is not None and not value > 0:
                raise ETPInvalidArgument(f"{name} must be positive (or None for no limit)")
        self._lock = threading.RLock()
        self.require_transactions = require_transactions
        self.require_two_level_paths = require_two_level_paths
        self.allow_default_dataspace = allow_default_dataspace
        self.supported_types = tuple(supported_types)
        self.max_store_bytes = max_store_bytes
        self.max_object_bytes = max_object_bytes
        self.max_array_bytes = max_array_bytes
        self.transaction_timeout = transaction_timeout
        self.change_retention_period = change_retention_period
        self.import_activities = import_activities
        self.activity_creator = activity_creator
        self._last_us = 0
        self.created_us = self._now()  # the store knows no change before it existed
        self._committed_bytes = 0
        self._spaces: dict[str, Space] = {}
        self._txs: dict[uuid_mod.UUID, Stage] = {}
        self._session_tx: dict[Hashable, uuid_mod.UUID] = {}
        # Transactions rolled back for idleness, until their session hears of it: by session,
        # and by id with their session and why they are gone.
        self._session_expired: dict[Hashable, uuid_mod.UUID] = {}
        self._expired: dict[uuid_mod.UUID, tuple[Hashable, str]] = {}
        self._listeners: list[ChangeListener] = []
        # Committed batches of changes not yet handed to the listeners, in commit order (filled
        # under the lock); the thread holding _emitting (its id in _emitter) hands them out.
        self._unsent: deque[list[ChangeEvent]] = deque()
        self._emitting = threading.Lock()
        self._emitter: int | None = None
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

    def _queue_events(self, events: list[ChangeEvent]) -> None:
        """Queue a committed batch for the listeners (lock held: the queue is in commit order)."""
        if events:
            self._unsent.append(events)

    def _emit(self, events: list[ChangeEvent]) -> None:
        """Call the listeners (outside the store lock) with every batch committed up to
        ``events``, the batch the caller committed and queued: batches leave in commit order,
        one at a time, and when this returns ``events`` has been handed out (unless a listener
        wrote to the store: its batch goes out after the one being handed out)."""
        if not events or self._emitter == threading.get_ident():
            return
        with self._emitting:
            self._emitter = threading.get_ident()
            try:
                while True:
                    with self._lock:
                        if not self._unsent:
                            return
                        batch = self._unsent.popleft()
                        listeners = list(self._listeners)
                    for listener in listeners:
                        try:
                            listener(list(batch))
                        except Exception:  # a listener must never break a store write
                            _log.exception("store change listener %r failed", listener)
            finally:
                self._emitter = None

    # ---- lookups ---------------------------------------------------------------------------

    @staticmethod
    def _monotonic() -> float:
        """Seconds of the idle clock of transactions."""
        return time.monotonic()

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
        """The open transaction ``tx`` (its idle clock restarted); None for no transaction."""
        if tx is None:
            return None
        self._expire_idle()
        t = self._txs.get(tx)
        if t is None:
            expired = self._expired.get(tx)
            if expired is not None:
                raise StoreError(ErrorCode.ETIMED_OUT, expired[1])
            raise StoreError(ErrorCode.EINVALID_STATE, f"no open transaction {tx}")
        t.touched = self._monotonic()
        return t

    def _expire_idle(self) -> None:
        """Roll back every transaction idle longer than ``transaction_timeout``."""
        if self.transaction_timeout is None or not self._txs:
            return
        cutoff = self._monotonic() - self.transaction_timeout
        for t in [t for t in self._txs.values() if t.touched < cutoff]:
            del self._txs[t.id]
            del self._session_tx[t.session_id]
            self._session_expired[t.session_id] = t.id
            self._expired[t.id] = (
                t.session_id,
                f"transaction {t.id} was rolled back after {self.transaction_timeout:g} s "
                "without a request (TransactionTimeoutPeriod)",
            )
            _log.info("transaction %s rolled back: idle past the timeout", t.id)

    def _forget_expired(self, session_id: Hashable) -> uuid_mod.UUID | None:
        """Drop the session's record of a timed-out transaction; its id, if there was one."""
        tx_id = self._session_expired.pop(session_id, None)
        if tx_id is not None:
            self._expired.pop(tx_id, None)
        return tx_id

    @staticmethod
    def _obj(sp: Space, uid: str, t: Stage | None) -> StoredObject | None:
        if t is not None:
            staged = t.objects.get(sp.path)
            if staged is not None and uid in staged:
                return staged[uid]
        return sp.objects.get(uid)

    @staticmethod
    def _iter_objects(sp: Space, t: Stage | None) -> Iterator[StoredObject]:
        """The values of :meth:`_objects` in the same order, without copying the dataspace's
        objects: a search that stops at its first match costs what it reads."""
        staged = t.objects.get(sp.path) if t is not None else None
        if not staged:
            yield from sp.objects.values()
            return
        for uid, obj in sp.objects.items():
            if uid in staged:
                replaced = staged[uid]
                if replaced is not None:
                    yield replaced
            else:
                yield obj
        for uid, new in staged.items():
            if new is not None and uid not in sp.objects:
                yield new

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
        """The object a URI names (type and version must match); ENOT_FOUND otherwise.

        A get usually names objects by the URIs the store gave them: a canonical URI that
        splits into a kept object's dataspace and uuid (a key of the store's, so canonical:
        see :func:`canonical_split`) names it with no parse of the URI."""
        split = canonical_split(uri)
        if split is not None:
            space, qualified_type, uid = split
            sp = self._spaces.get(space)
            obj = self._obj(sp, uid, t) if sp is not None else None
            if obj is not None and (
                obj.info.qualified_type == qualified_type  # the usual URI spells it alike
                or obj.info.qualified_type.lower() == qualified_type.lower()
            ):
                return obj
        u = object_parts(uri)
        assert u.uuid is not None and u.qualified_type is not None
        obj = self._obj(self._space(u.space), u.uuid, t)
        if (
            obj is None
            or (
                obj.info.qualified_type != u.qualified_type  # the usual URI spells it alike
                and obj.info.qualified_type.lower() != u.qualified_type.lower()
            )
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
            self._expire_idle()
            for other in self._txs.values():
                if not other.read_only and other.covers(path):
                    raise StoreError(
                        ErrorCode.EMAX_TRANSACTIONS_EXCEEDED,
                        f"dataspace {sp.uri} is locked by an open write transaction",
                    )
        return sp

    def _is_scratch(self, stage: Stage) -> bool:
        return stage.id not in self._txs

    # ---- memory ----------------------------------------------------------------------------

    @property
    def used_bytes(self) -> int:
        """Memory counted against ``max_store_bytes``: dataspaces, deletion records, committed
        plus staged objects and arrays."""
        with self._lock:
            return self._used_bytes()

    def _used_bytes(self) -> int:
        """:attr:`used_bytes` (lock held)."""
        txs = self._txs
        return self._committed_bytes + (sum(t.held_bytes for t in txs.values()) if txs else 0)

    def _check_room(self, nbytes: int, uncounted: int = 0) -> None:
        """ELIMIT_EXCEEDED if ``nbytes`` more (besides ``uncounted`` bytes held but not in
        :attr:`used_bytes` yet) would take the store past ``max_store_bytes``."""
        limit = self.max_store_bytes
        if limit is not None and nbytes > 0:
            used = self._used_bytes() + uncounted
            if used + nbytes > limit:
                raise StoreError(
                    ErrorCode.ELIMIT_EXCEEDED,
                    f"the store is full: {used} of {limit} bytes used, {nbytes} more asked "
                    "(max_store_bytes)",
                )

    def _charge(self, stage: Stage, nbytes: int) -> None:
        """Count ``nbytes`` more for ``stage``; ELIMIT_EXCEEDED if the store would overflow."""
        if self.max_store_bytes is not None:  # else there is no room to check
            self._check_room(nbytes, stage.held_bytes if self._is_scratch(stage) else 0)
        stage.held_bytes += nbytes

    def _stage_object(self, stage: Stage, path: str, uid: str, obj: StoredObject | None) -> None:
        """Stage a put (charged) or a delete; a replaced staged object is no longer counted."""
        staged = stage.objects.get(path)
        if staged is None:  # the stage's first object in ``path`` (a put stages many)
            self._note_written(stage, path)
            staged = stage.objects[path] = {}
        prev = staged.get(uid)
        if obj is not None:
            self._charge(stage, object_bytes(obj))
        if prev is not None:
            stage.held_bytes -= object_bytes(prev)
        staged[uid] = obj

    def _stage_array(
        self, stage: Stage, path: str, key: tuple[str, str], rec: StoredArray | None
    ) -> None:
        """Stage an array (charged) or its deletion; a replaced staged one is no longer counted."""
        self._note_written(stage, path)
        staged = stage.arrays.setdefault(path, {})
        prev = staged.get(key)
        if rec is not None:
            self._charge(stage, array_bytes(rec, held=True))
        if prev is not None:
            stage.held_bytes -= array_bytes(prev, held=True)
        staged[key] = rec

    def _note_written(self, stage: Stage, path: str) -> None:
        """Remember the dataspace of ``path`` that ``stage`` first writes in (see _apply)."""
        if path not in stage.written:
            space = self._spaces.get(path)
            if space is not None:
                stage.written[path] = space

    def _prune_deleted(self, sp: Space) -> None:
        """Drop deletion records older than ``change_retention_period`` (kept oldest first)."""
        if self.change_retention_period is None:
            return
        cutoff = self.earliest_retained_change_us()
        while sp.deleted:
            uri, oldest = next(iter(sp.deleted.items()))
            if oldest.deleted_time_us >= cutoff:
                return
            self._forget_deleted(sp, uri)

    def earliest_retained_change_us(self) -> int:
        """Since when (µs since the epoch) the store can answer for every change, deletions
        included: its creation, or the start of the ``change_retention_period`` for which it
        keeps deletion records, whichever is later (ETP's earliestRetainedChangeTime)."""
        if self.change_retention_period is None:
            return self.created_us
        now = time.time_ns() // 1000
        return max(self.created_us, now - int(self.change_retention_period * 1e6))

    def _record_deleted(self, sp: Space, obj: StoredObject, now: int) -> None:
        """Keep (and count) the deletion record of ``obj``; never refused: it costs less than
        the object did."""
        self._forget_deleted(sp, obj.uri)  # re-inserted last: the records stay in time order
        sp.deleted[obj.uri] = DeletedResource(obj.uri, now, obj.info.qualified_type)
        self._committed_bytes += deleted_bytes(obj.uri)

    def _forget_deleted(self, sp: Space, uri: str) -> None:
        """Drop the deletion record of ``uri`` in ``sp`` (if any) and what it counted."""
        if sp.deleted.pop(uri, None) is not None:
            self._committed_bytes -= deleted_bytes(uri)

    def _apply(self, stage: Stage) -> list[ChangeEvent]:
        """Apply staged changes atomically with one timestamp; returns the change events.

        The timestamp is the stage's ``stamp`` when it has one (a scratch stage's objects
        staged with it then need no new stamp: they are kept as they are, not copied), else
        a new one. Nothing is applied when a dataspace was deleted meanwhile (even if one of
        the same path was created since: the writes were made in the old one) or a deletion
        would leave a reference dangling (StoreError).

        The events are made only when the store has listeners (see :meth:`_emit`): a listener
        added after this call gets the batches committed after it, as one added just after
        this batch was handed out would, so none of them would be read."""
        touched = {p for p, objs in stage.objects.items() if objs}
        touched |= {p for p, arrs in stage.arrays.items() if arrs}
        for path in touched:
            space = self._spaces.get(path)
            if space is None or stage.written.get(path, space) is not space:
                raise StoreError(
                    ErrorCode.ENOT_FOUND,
                    f"dataspace {dataspace_uri(path)} was deleted meanwhile",
                )
        if not touched:
            return []
        if self.import_activities:
            add_import_activities(self, stage)
        check_references(self, stage)
        now = stage.stamp
        if now is None or self.import_activities:  # the activities were stamped after it
            now = self._now()
        events: list[ChangeEvent] = []
        notify = bool(self._listeners)
        for path, objects in stage.objects.items():
            sp = self._spaces[path]
            for uid, new in objects.items():
                old = sp.objects.get(uid)
                if old is not None:
                    self._committed_bytes -= object_bytes(old)
                if new is None:
                    if old is None:
                        continue
                    del sp.objects[uid]
                    self._record_deleted(sp, old, now)
                    if notify:
                        events.append(change_event("delete", sp.uri, old.uri, now))
                    continue
                if old is not None and old.uri != new.uri:
                    self._record_deleted(sp, old, now)
                self._committed_bytes += object_bytes(new)
                created = old.store_created_us if old is not None else now
                if new.store_last_write_us == now and new.store_created_us == created:
                    stamped = new  # staged with the times the commit gives it
                else:
                    stamped = new.stamped(created, now)
                sp.objects[uid] = stamped
                if sp.deleted:  # (a put into a dataspace with no deletion records forgets none)
                    self._forget_deleted(sp, stamped.uri)
                if notify:
                    kind: Literal["insert", "update"] = "update" if old is not None else "insert"
                    events.append(change_event(kind, sp.uri, stamped.uri, now, stamped))
        for path, arrays in stage.arrays.items():
            sp = self._spaces[path]
            for key, arr in arrays.items():
                old_arr = sp.arrays.get(key)
                if old_arr is not None:
                    self._committed_bytes -= array_bytes(old_arr)
                if arr is None:
                    sp.arrays.pop(key, None)
                    continue
                arr.data.adopt()
                self._committed_bytes += array_bytes(arr)
                arr.created_us = old_arr.created_us if old_arr is not None else now
                arr.last_write_us = now
                sp.arrays[key] = arr
        for path in touched:
            self._spaces[path].last_write_us = now
            self._prune_deleted(self._spaces[path])
        self._queue_events(events)
        return events


def object_bytes(obj: StoredObject) -> int:
    """What a stored object counts against ``max_store_bytes``: its XML, its URI, a record."""
    return len(obj.xml) + len(obj.uri) + RECORD_BYTES


def deleted_bytes(uri: str) -> int:
    """What the deletion record of ``uri`` counts against ``max_store_bytes`` while retained
    (less than the object it records did)."""
    return len(uri) + DELETED_RECORD_BYTES


def array_bytes(rec: StoredArray, *, held: bool = False) -> int:
    """What an array counts: all its blocks, or (``held``) those only this version holds."""
    return (rec.data.held if held else rec.data.nbytes) + RECORD_BYTES
