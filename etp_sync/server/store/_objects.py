"""Data objects: put (create or replace), get, delete (optionally pruning what they contained)."""

from __future__ import annotations

import functools
import itertools
import uuid as uuid_mod
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from etp_sync.errors import ErrorCode, StoreError

from .._xml import ObjectInfo, parse_data_object
from ._core import StoreCore, keyed, type_matcher
from ._graph import links
from ._records import (
    DeletedResource,
    ObjectPut,
    PutResult,
    Space,
    Stage,
    StoredObject,
    put_result,
    stored_object,
)
from ._uris import canonical_split, dataspace_path, dataspace_uri, object_parts, object_uri

__all__ = ["ObjectStore"]


class _Remaining:
    """What a delete request leaves of one dataspace (as staged): its objects, who links to
    each, the datasets they name and the arrays stored under each uuid. Each part is built at
    its first use, once per request, and kept up to date as objects go (:meth:`remove`): a
    deletion then costs its own links and datasets, not a pass over the dataspace."""

    def __init__(self, sp: Space, stage: Stage) -> None:
        self._sp = sp
        self._stage = stage

    @functools.cached_property
    def objects(self) -> dict[str, StoredObject]:
        """The objects left, by uuid."""
        return StoreCore._objects(self._sp, self._stage)

    @functools.cached_property
    def graph(self) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
        """(targets, sources) of the objects left, by uuid (see :func:`links`)."""
        targets, sources = links(self.objects)
        return targets, {uid: set(around) for uid, around in sources.items()}

    @functools.cached_property
    def needed(self) -> Counter[tuple[str, str]]:
        """How many times the objects left name each dataset (part uuid, path)."""
        return Counter(
            (part, path) for obj in self.objects.values() for path, part in obj.info.hdf_datasets
        )

    @functools.cached_property
    def arrays(self) -> dict[str, set[tuple[str, str]]]:
        """The keys of the arrays stored (or staged) in the dataspace, by owner uuid."""
        owned: dict[str, set[tuple[str, str]]] = {}
        for key in [*self._sp.arrays, *self._stage.arrays.get(self._sp.path, {})]:
            owned.setdefault(key[0], set()).add(key)
        return owned

    def remove(self, uid: str) -> None:
        """``uid`` was staged deleted: take it out of what is left. Nothing to do before the
        objects were first needed: they are read then from the stage, which has the deletion
        (a plain delete makes no pass over the dataspace)."""
        if "objects" not in self.__dict__:
            return
        obj = self.objects.pop(uid, None)
        if obj is None:  # gone already (or the view was built without it)
            return
        if "graph" in self.__dict__:
            targets, sources = self.graph
            for ref in targets.pop(uid):
                sources[ref].discard(uid)
            for src in sources.pop(uid):  # objects left may link to it (in a transaction)
                targets[src].remove(uid)
        if "needed" in self.__dict__:
            for path, part in obj.info.hdf_datasets:
                self.needed[(part, path)] -= 1


def _given_place(base: str | None, given_uri: str, info: ObjectInfo) -> tuple[str, str | None]:
    """The dataspace path of an object put under ``given_uri``, and that URI when it is the
    one :func:`object_uri` would spell (else None); StoreError when it does not name the
    XML's object (EINVALID_OBJECT) or lies outside dataspace ``base`` (EINVALID_ARGUMENT).

    The usual URI is the object's canonical one: read with no parse, its parts compared with
    the XML's type and uuid (canonical: see :func:`canonical_split`)."""
    split = canonical_split(given_uri)
    uri: str | None
    if split is not None and split[2] == info.uuid and split[1] == info.qualified_type:
        space, uri = split[0], given_uri
    else:
        given = object_parts(given_uri)
        given_type = given.qualified_type
        if (
            given_type != info.qualified_type  # the usual URI spells it as the XML does
            and (given_type or "").lower() != info.qualified_type.lower()
        ) or given.uuid != info.uuid:
            raise StoreError(
                ErrorCode.EINVALID_OBJECT,
                f"URI {given_uri!r} does not name the XML's object "
                f"{info.qualified_type}({info.uuid})",
            )
        if given.version is not None and given.version != (info.object_version or ""):
            raise StoreError(
                ErrorCode.EINVALID_OBJECT,
                f"URI version {given.version!r} differs from the XML's objectVersion",
            )
        space = given.space
        same = given_type == info.qualified_type and given.version is None
        uri = given.text if same else None  # what object_uri would spell
    if base is not None and space != base:
        raise StoreError(
            ErrorCode.EINVALID_ARGUMENT,
            f"URI {given_uri!r} is not in dataspace {dataspace_uri(base)}",
        )
    return space, uri


def _refusal(uri: str, kept_by: str) -> StoreError:
    return StoreError(
        ErrorCode.EINVALID_OPERATION, f"cannot delete {uri}: still referenced by {kept_by}"
    )


class ObjectStore(StoreCore):
    """The data object calls of the store."""

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
        base = dataspace_path(dataspace_uri) if dataspace_uri is not None else None
        results: dict[str, PutResult] = {}
        # Per-key errors are kept without their tracebacks (here and below): a traceback holds
        # this frame, ``errors`` with it (a cycle), and so every document of the call until the
        # cyclic collector ran.
        errors: dict[str, StoreError] = {}
        # Documents are parsed before the lock is taken: a big one stalls only its own call.
        parsed: dict[str, tuple[ObjectPut, ObjectInfo]] = {}
        for key, item in objects.items():
            try:
                parsed[key] = self._parse_put(item)
            except StoreError as exc:
                errors[key] = exc.with_traceback(None)
        with self._lock:
            stage = self._check_writes_allowed(tx)
            # One time for the call's objects: a scratch stage is applied with it (below), so
            # they are kept as staged; a transaction's are stamped again when it commits.
            now = self._now()
            if self._is_scratch(stage):
                stage.stamp = now
            writable: dict[str, Space] = {}  # dataspaces checked by this call (lock held)
            for key, (put, info) in parsed.items():
                try:
                    results[key] = self._put_one(base, put, info, stage, writable, now)
                except StoreError as exc:
                    errors[key] = exc.with_traceback(None)
            events = self._apply(stage) if self._is_scratch(stage) else []
        self._emit(events)
        return results, errors

    def _parse_put(self, item: bytes | ObjectPut) -> tuple[ObjectPut, ObjectInfo]:
        """The put and the document's identity (no lock needed); size and format checked first."""
        put = item if isinstance(item, ObjectPut) else ObjectPut(bytes(item))
        if put.format.lower() != "xml":
            raise StoreError(ErrorCode.ENOTSUPPORTED, f"format {put.format!r} is not supported")
        limit = self.max_object_bytes
        if limit is not None and len(put.data) > limit:
            raise StoreError(
                ErrorCode.EMAXSIZE_EXCEEDED,
                f"data object of {len(put.data)} bytes exceeds MaxDataObjectSize {limit}",
            )
        if type(put.data) is not bytes:  # our own copy, made outside the lock
            put = replace(put, data=bytes(put.data))
        return put, parse_data_object(put.data)

    def _put_one(
        self,
        base: str | None,
        put: ObjectPut,
        info: ObjectInfo,
        stage: Stage,
        writable: dict[str, Space],
        now: int,
    ) -> PutResult:
        """Stage one put with the store times of ``now``; ``writable`` remembers the
        dataspaces this call found writable."""
        space, uri = base, None
        if put.uri:
            space, uri = _given_place(base, put.uri, info)
        if space is None:
            raise StoreError(ErrorCode.EINVALID_URI, "no dataspace given for the object")
        sp = writable.get(space)
        if sp is None:
            sp = writable[space] = self._check_space_writable(space, stage)
        old = self._obj(sp, info.uuid, stage)
        if old is not None and old.info.qualified_type.lower() != info.qualified_type.lower():
            raise StoreError(
                ErrorCode.EINVALID_OBJECT,
                f"uuid {info.uuid} is already used by {old.uri} in this dataspace",
            )
        obj = stored_object(
            uri or object_uri(space, info.qualified_type, info.uuid),  # uri
            info,
            put.data,  # xml
            "xml",  # format
            old.store_created_us if old is not None else now,  # store_created_us
            now,  # store_last_write_us
            old.active if old is not None else True,  # active
        )
        self._stage_object(stage, space, info.uuid, obj)
        return put_result(obj.uri, old is None)

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
            for key, uri in keyed(uris).items():
                try:
                    found[key] = self._lookup(uri, t)
                except StoreError as exc:
                    errors[key] = exc.with_traceback(None)
        return found, errors

    def delete_objects(
        self,
        uris: Mapping[str, str] | Iterable[str],
        prune_contained_objects: bool = False,
        *,
        tx: uuid_mod.UUID | None = None,
    ) -> tuple[dict[str, list[str]], dict[str, StoreError]]:
        """Delete objects; returns the URIs deleted per key, and errors.

        An object that objects left in its dataspace still link to cannot be deleted (referential
        integrity, as open-etp-server): inside a transaction the commit fails; outside one that
        key fails with EINVALID_OPERATION. An object's arrays go with the last object that needs
        them (see :meth:`_delete_one`). With ``prune_contained_objects`` the objects it linked to
        that nothing links to any more are deleted too, transitively.
        """
        deleted: dict[str, list[str]] = {}
        errors: dict[str, StoreError] = {}
        with self._lock:
            stage = self._check_writes_allowed(tx)
            found: dict[str, StoredObject] = {}
            for key, uri in keyed(uris).items():
                try:
                    self._check_space_writable(object_parts(uri).space, stage)
                    found[key] = self._lookup(uri, stage)
                except StoreError as exc:
                    errors[key] = exc.with_traceback(None)
            remaining: dict[str, _Remaining] = {}  # by dataspace path
            if self._is_scratch(stage):
                errors.update(self._still_linked(found, remaining, stage))
            for key, obj in found.items():
                if key in errors:
                    continue
                sp = self._spaces[object_parts(obj.uri).space]
                left = self._remaining(remaining, sp.path, stage)
                deleted[key] = self._delete_one(sp, obj, stage, left)
                if prune_contained_objects:
                    deleted[key] += self._prune(sp, obj, stage, left)
            events = self._apply(stage) if self._is_scratch(stage) else []
        self._emit(events)
        return deleted, errors

    def _remaining(self, remaining: dict[str, _Remaining], space: str, stage: Stage) -> _Remaining:
        """What the request leaves of dataspace ``space`` (``remaining`` keeps one per path)."""
        left = remaining.get(space)
        if left is None:
            left = remaining[space] = _Remaining(self._spaces[space], stage)
        return left

    def _still_linked(
        self, found: Mapping[str, StoredObject], remaining: dict[str, _Remaining], stage: Stage
    ) -> dict[str, StoreError]:
        """Keys of ``found`` (committed objects) whose object an object left behind would still
        link to; objects deleted by the same request do not count, but a refused one stays and
        may keep those it links to. Refusals spread along links level by level (each object
        looked at once): one of level k is linked to by objects kept or refused before it."""
        keys: dict[tuple[str, str], list[str]] = {}  # the keys of each object, by place
        for key, obj in found.items():
            keys.setdefault((object_parts(obj.uri).space, obj.info.uuid), []).append(key)
        refused: dict[tuple[str, str], int] = {}  # level, by place
        order = {key: n for n, key in enumerate(found)}
        errors: list[tuple[int, int, str, StoreError]] = []
        level = list(keys)
        for depth in itertools.count():
            blocked: dict[tuple[str, str], list[str]] = {}  # place -> URIs of what keeps it
            for space, uid in level:
                if (space, uid) in refused:
                    continue
                left = self._remaining(remaining, space, stage)
                kept_by = [
                    left.objects[src].uri
                    for src in left.graph[1][uid]
                    if (space, src) not in keys or (space, src) in refused
                ]
                if kept_by:
                    blocked[(space, uid)] = kept_by
            if not blocked:
                break
            for place, kept_by in blocked.items():
                refused[place] = depth
                message = ", ".join(sorted(set(kept_by)))
                for key in keys[place]:
                    errors.append((depth, order[key], key, _refusal(found[key].uri, message)))
            # Next: what the objects refused now link to (they stay, and keep it).
            level = list(
                dict.fromkeys(
                    (space, ref)
                    for space, uid in blocked
                    for ref in remaining[space].graph[0][uid]
                    if (space, ref) in keys
                )
            )
        return {key: error for _depth, _n, key, error in sorted(errors)}

    def _delete_one(
        self, sp: Space, obj: StoredObject, stage: Stage, left: _Remaining
    ) -> list[str]:
        """Stage the deletion of ``obj`` and of the arrays no object left needs any more: those
        its datasets name and those stored under its own URI (an EpcExternalPartReference's),
        unless an object left still names them, so arrays stay readable after their part
        reference is deleted, as on open-etp-server. ``left`` is what the request leaves of
        ``sp`` (``obj`` is taken out of it)."""
        uid = obj.info.uuid
        self._stage_object(stage, sp.path, uid, None)
        left.remove(uid)
        keys = {(part, path) for path, part in obj.info.hdf_datasets if part}
        keys |= left.arrays.get(uid, set())
        for key in keys:
            if not left.needed[key] and self._array(sp, key, stage) is not None:
                self._stage_array(stage, sp.path, key, None)
        return [obj.uri]

    def _prune(self, sp: Space, root: StoredObject, stage: Stage, left: _Remaining) -> list[str]:
        """Delete the objects ``root`` linked to that are now linked to by nothing, and so on
        from each (breadth first; one linked to again by an object pruned later is looked at
        again then). ``left`` (what the request leaves of ``sp``) says who links to what."""
        pruned: list[str] = []
        pending = deque(ref for _qt, ref, _path in root.info.links)
        while pending:
            uid = pending.popleft()
            obj = left.objects.get(uid)
            if obj is None or left.graph[1][uid]:  # still linked to
                continue
            pruned += self._delete_one(sp, obj, stage, left)
            pending.extend(ref for _qt, ref, _path in obj.info.links)
        return pruned

    def get_deleted_resources(
        self,
        dataspace_uri: str,
        delete_time_filter: int | None = None,
        types: Sequence[str] = (),
    ) -> list[DeletedResource]:
        """Objects deleted from a dataspace (after ``delete_time_filter``), oldest first.

        An object put again is no longer listed; records older than ``change_retention_period``
        are gone.
        """
        space = dataspace_path(dataspace_uri)
        match = type_matcher(types)
        with self._lock:
            sp = self._space(space)
            self._prune_deleted(sp)
            return sorted(
                (
                    d
                    for d in sp.deleted.values()
                    if (delete_time_filter is None or d.deleted_time_us > delete_time_filter)
                    and match(d.qualified_type)
                ),
                key=lambda d: (d.deleted_time_us, d.uri),
            )
