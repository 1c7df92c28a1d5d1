"""Links between objects (references in their XML) and the Discovery walk along them.

A link is a data object reference in a document, except the part reference of an external
dataset (the ``HdfProxy`` of an ``Hdf5Dataset``: it says where array values live), as on
open-etp-server: a Grid2dRepresentation referencing its CRS and, for its z values, an
EpcExternalPartReference has one target, the CRS. Edges carry the referencing element's path.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections import Counter
from collections.abc import Mapping, Sequence

from etp_sync.errors import ErrorCode, StoreError

from ._core import StoreCore, type_matcher
from ._records import SCOPES, EdgeInfo, ResourceInfo, StoredObject, resource_custom_data
from ._uris import parse_context

__all__ = ["GraphStore", "link_path", "links"]


def links(
    view: Mapping[str, StoredObject],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(targets, sources) adjacency by uuid; references to absent objects are dropped."""
    targets: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {uid: [] for uid in view}
    for uid, obj in sorted(view.items(), key=lambda kv: kv[1].uri):
        outs: list[str] = []
        for _qt, ref, _path in obj.info.links:
            if ref in view and ref != uid and ref not in outs:
                outs.append(ref)
        targets[uid] = outs
        for ref in outs:
            sources[ref].append(uid)
    return targets, sources


def link_path(source: StoredObject, target_uuid: str) -> str:
    """The element path of ``source``'s first link to ``target_uuid`` (``""`` if none)."""
    return next((path for _qt, ref, path in source.info.links if ref == target_uuid), "")


def _resource(
    obj: StoredObject, sources: list[str], targets: list[str], count_objects: bool
) -> ResourceInfo:
    return ResourceInfo(
        uri=obj.uri,
        name=obj.info.title,
        qualified_type=obj.info.qualified_type,
        source_count=len(sources) if count_objects else None,
        target_count=len(targets) if count_objects else None,
        last_changed_us=obj.info.last_update_us or obj.store_last_write_us,
        store_last_write_us=obj.store_last_write_us,
        store_created_us=obj.store_created_us,
        active=obj.active,
        custom_data=resource_custom_data(obj),
    )


class GraphStore(StoreCore):
    """The Discovery calls of the store: resources around a context, and their types."""

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
        if scope not in SCOPES:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"unknown scope {scope!r}")
        if depth < 0:
            raise StoreError(ErrorCode.EINVALID_ARGUMENT, f"negative depth {depth}")
        u = parse_context(context_uri)
        match = type_matcher(types)
        # A type-collection context (dataspace/type, no uuid) narrows further.
        in_collection = type_matcher(
            [u.qualified_type] if u.uuid is None and u.qualified_type else []
        )
        with self._lock:
            t = self._reader(tx)
            if u.space == "" and u.uuid is None and "" not in self._spaces:
                return [], []
            view = self._objects(self._space(u.space), t)
            targets, sources = links(view)
            edge_keys: dict[tuple[str, str], None] = {}
            start: str | None = None
            if u.uuid is None:
                order = [uid for uid, _ in sorted(view.items(), key=lambda kv: kv[1].uri)]
                for uid in order:
                    for ref in targets[uid]:
                        edge_keys[(uid, ref)] = None
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
                _resource(obj, sources[obj.info.uuid], targets[obj.info.uuid], count_objects)
                for obj in kept
            ]
            linked = {obj.info.uuid for obj in kept}
            if start is not None:
                linked.add(start)
            edges = [
                EdgeInfo(
                    view[src].uri, view[dst].uri, custom_data={"path": link_path(view[src], dst)}
                )
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
