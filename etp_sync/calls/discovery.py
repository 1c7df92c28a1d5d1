"""Discovery (3), SupportedTypes (25), DiscoveryQuery (13) and StoreQuery (14) calls.

Scopes follow ETP: ``self``, ``sources`` (objects that refer to the context object),
``targets`` (objects it refers to), ``sourcesOrSelf`` and ``targetsOrSelf``; ``depth`` counts
hops. A dataspace URI with scope ``self`` lists the objects in that dataspace (as open-etp-server
and pyetp do). Multipart responses are assembled; a truncated answer (ProtocolException with
ERESPONSECOUNT_EXCEEDED) raises :class:`~etp_sync.errors.ETPRemoteError` whose ``successes``
hold what did arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from .._display import ResultList
from ..errors import ETPInvalidArgument, ETPNotNegotiated, ETPProtocolError
from ..protocol.correlation import Response, protocol_exception_error
from ..schema import datatypes, messages
from ..uri import (
    DataObjectURI,
    DataspaceURI,
    QualifiedType,
    as_dataspace_uri,
    parse_uri,
    validate_qualified_type,
)
from ._core import SessionAPI
from .results import (
    DataObject,
    DeletedResource,
    Edge,
    Resource,
    Resources,
    SupportedType,
    to_us,
)

__all__ = ["DiscoveryCalls"]

SCOPES = ("self", "sources", "targets", "sourcesOrSelf", "targetsOrSelf")
RELATIONSHIPS = ("Primary", "Secondary", "Both")
ACTIVE_STATUS = ("Active", "Inactive")

ContextURI = str | DataspaceURI | DataObjectURI
TypeFilter = Iterable[str | QualifiedType]
TimeFilter = datetime | int | None


def context_uri(value: ContextURI) -> DataspaceURI | DataObjectURI:
    """A dataspace or object URI: a URI object, an ``eml:///...`` string or a dataspace path."""
    if isinstance(value, DataspaceURI | DataObjectURI):
        return value
    if isinstance(value, str) and value.startswith("eml:"):
        return parse_uri(value)
    return as_dataspace_uri(value)


def _enum_symbol(name: str, value: Any, symbols: tuple[str, ...]) -> str:
    symbol = getattr(value, "value", value)
    if symbol not in symbols:
        raise ETPInvalidArgument(f"{name} must be one of {', '.join(symbols)}; got {value!r}")
    return str(symbol)


def _types(types: TypeFilter) -> list[str]:
    """Validated qualified types (wildcards allowed) from one type or an iterable of them."""
    if isinstance(types, str | QualifiedType):
        types = [types]
    if not isinstance(types, Iterable):
        raise ETPInvalidArgument(
            f"types must be a qualified type or an iterable of them, got {type(types).__name__}"
        )
    return [validate_qualified_type(t) for t in types]


def _depth(depth: int) -> int:
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ETPInvalidArgument(f"depth must be an int >= 1, got {depth!r}")
    return depth


def _active_status(value: str | bool | None) -> datatypes.Object.ActiveStatusKind | None:
    if value is None:
        return None
    if isinstance(value, bool):
        value = "Active" if value else "Inactive"
    return datatypes.Object.ActiveStatusKind(
        _enum_symbol("active_status_filter", value, ACTIVE_STATUS)
    )


def context_info(
    uri: ContextURI,
    *,
    depth: int,
    types: TypeFilter,
    navigable_edges: str,
    include_secondary_targets: bool = False,
    include_secondary_sources: bool = False,
) -> Any:
    """A validated ``ContextInfo`` record."""
    return datatypes.Object.ContextInfo(
        uri=str(context_uri(uri)),
        depth=_depth(depth),
        data_object_types=_types(types),
        navigable_edges=_enum_symbol("navigable_edges", navigable_edges, RELATIONSHIPS),
        include_secondary_targets=bool(include_secondary_targets),
        include_secondary_sources=bool(include_secondary_sources),
    )


def _with_query(context: Any, query: Mapping[str, Any] | str | None) -> Any:
    """Append an OData-like query (``{"$top": 10}`` or ``"$top=10"``) to the context URI."""
    if not query:
        return context
    if isinstance(query, str):
        text = query.lstrip("?")
    elif isinstance(query, Mapping):
        text = urlencode({str(k): str(v) for k, v in query.items()}, safe="$'(),")
    else:
        raise ETPInvalidArgument(f"query must be a str or a mapping, got {type(query).__name__}")
    return context.replace(uri=f"{context.uri}?{text}")


def _raise_errors(response: Response, successes: Any) -> None:
    if response.errors:
        raise protocol_exception_error(response.errors, successes)


class DiscoveryCalls(SessionAPI):
    """Discovery, SupportedTypes and query calls of :class:`~etp_sync.ETPSession`."""

    def get_resources(
        self,
        uri: ContextURI,
        *,
        scope: str = "self",
        depth: int = 1,
        types: TypeFilter = (),
        include_edges: bool = False,
        count_objects: bool = False,
        store_last_write_filter: TimeFilter = None,
        active_status_filter: str | bool | None = None,
        navigable_edges: str = "Primary",
        include_secondary_targets: bool = False,
        include_secondary_sources: bool = False,
    ) -> Resources:
        """The objects around ``uri`` (a dataspace or object URI, or a dataspace path).

        Returns :class:`Resources`: a sequence of :class:`Resource` (so ``for r in ...``,
        ``len(...)`` work) whose ``edges`` hold the references between objects when
        ``include_edges`` is set (empty otherwise). ``types`` filters by qualified type
        (``resqml20.*`` wildcards allowed); ``count_objects`` fills source/target counts;
        ``store_last_write_filter`` (a datetime, naive = local time, or µs) keeps objects written
        after it.
        """
        body = messages.Discovery.GetResources(
            context=context_info(
                uri,
                depth=depth,
                types=types,
                navigable_edges=navigable_edges,
                include_secondary_targets=include_secondary_targets,
                include_secondary_sources=include_secondary_sources,
            ),
            scope=_enum_symbol("scope", scope, SCOPES),
            count_objects=bool(count_objects),
            store_last_write_filter=to_us(store_last_write_filter, "store_last_write_filter"),
            active_status_filter=_active_status(active_status_filter),
            include_edges=bool(include_edges),
        )
        response = self.request(body)
        resources: list[Resource] = []
        edges: list[Edge] = []
        for m in response.messages:
            if m.etp_name == "GetResourcesResponse":
                resources.extend(Resource.from_record(r) for r in m.resources)
            elif m.etp_name == "GetResourcesEdgesResponse":
                edges.extend(Edge.from_record(e) for e in m.edges)
        result = Resources(tuple(resources), tuple(edges))
        _raise_errors(response, result)
        return result

    def get_deleted_resources(
        self,
        dataspace: str | DataspaceURI,
        *,
        delete_time_filter: TimeFilter = None,
        types: TypeFilter = (),
    ) -> list[DeletedResource]:
        """Objects deleted from a dataspace (after ``delete_time_filter``: a datetime, naive =
        local time, or µs)."""
        body = messages.Discovery.GetDeletedResources(
            dataspace_uri=str(as_dataspace_uri(dataspace)),
            delete_time_filter=to_us(delete_time_filter, "delete_time_filter"),
            data_object_types=_types(types),
        )
        deleted: list[DeletedResource] = self.request(body).collect(
            "deleted_resources", DeletedResource.from_record
        )
        return ResultList(deleted)

    def get_supported_types(
        self,
        uri: ContextURI,
        *,
        scope: str = "self",
        return_empty_types: bool = False,
        count_objects: bool = True,
    ) -> list[SupportedType]:
        """The data object types present around ``uri`` (with counts when ``count_objects``);
        ``return_empty_types`` adds the types the store supports but holds none of."""
        body = messages.SupportedTypes.GetSupportedTypes(
            uri=str(context_uri(uri)),
            scope=_enum_symbol("scope", scope, SCOPES),
            return_empty_types=bool(return_empty_types),
            count_objects=bool(count_objects),
        )
        types: list[SupportedType] = self.request(body).collect(
            "supported_types", SupportedType.from_record
        )
        return ResultList(types)

    def _require_protocol(self, protocol: int, name: str) -> None:
        if not self.server.supports(protocol):
            raise ETPNotNegotiated(
                f"{name} needs protocol {protocol}, which the server did not grant "
                f"(granted: {sorted(self.server.protocols)})"
            )

    def find_resources(
        self,
        uri: ContextURI,
        *,
        scope: str = "self",
        depth: int = 1,
        types: TypeFilter = (),
        store_last_write_filter: TimeFilter = None,
        active_status_filter: str | bool | None = None,
        navigable_edges: str = "Primary",
        query: Mapping[str, Any] | str | None = None,
    ) -> list[Resource]:
        """DiscoveryQuery (13) FindResources: like :meth:`get_resources` without edges.

        ``query`` adds OData-like options to the context URI (``{"$top": 10, "$skip": 20}``;
        what a server understands varies: the embedded one knows ``$top`` and ``$skip``).

        Raises :class:`~etp_sync.errors.ETPNotNegotiated` if the server did not grant
        protocol 13.
        """
        body = messages.DiscoveryQuery.FindResources(
            **_query_fields(
                uri, scope, depth, types, store_last_write_filter, active_status_filter,
                navigable_edges, query,
            ),
        )  # fmt: skip
        self._require_protocol(13, "find_resources")
        resources: list[Resource] = self.request(body).collect("resources", Resource.from_record)
        return ResultList(resources)

    def find_data_objects(
        self,
        uri: ContextURI,
        *,
        scope: str = "self",
        depth: int = 1,
        types: TypeFilter = (),
        store_last_write_filter: TimeFilter = None,
        active_status_filter: str | bool | None = None,
        navigable_edges: str = "Primary",
        format: str = "xml",
        query: Mapping[str, Any] | str | None = None,
    ) -> list[DataObject]:
        """StoreQuery (14) FindDataObjects: the objects (with their XML) around ``uri``.

        ``query`` as for :meth:`find_resources`.

        Objects sent in chunks are reassembled. Raises
        :class:`~etp_sync.errors.ETPNotNegotiated` if the server did not grant protocol 14.
        """
        body = messages.StoreQuery.FindDataObjects(
            **_query_fields(
                uri, scope, depth, types, store_last_write_filter, active_status_filter,
                navigable_edges, query,
            ),
            format=format,
        )  # fmt: skip
        self._require_protocol(14, "find_data_objects")
        response = self.request(body)
        found = ResultList(_assemble_found_objects(response))
        _raise_errors(response, found)
        return found


def _query_fields(
    uri: ContextURI,
    scope: str,
    depth: int,
    types: TypeFilter,
    store_last_write_filter: TimeFilter,
    active_status_filter: str | bool | None,
    navigable_edges: str,
    query: Mapping[str, Any] | str | None,
) -> dict[str, Any]:
    """The fields FindResources and FindDataObjects share: context (with its query), scope and
    filters."""
    return {
        "context": _with_query(
            context_info(uri, depth=depth, types=types, navigable_edges=navigable_edges), query
        ),
        "scope": _enum_symbol("scope", scope, SCOPES),
        "store_last_write_filter": to_us(store_last_write_filter, "store_last_write_filter"),
        "active_status_filter": _active_status(active_status_filter),
    }


def _assemble_found_objects(response: Response) -> list[DataObject]:
    """FindDataObjectsResponse parts plus Chunks → data objects in arrival order."""
    slots: list[DataObject | None] = []
    pending: dict[Any, tuple[int, Any, bytearray]] = {}
    for m in response.messages:
        if m.etp_name == "FindDataObjectsResponse":
            for record in m.data_objects:
                if record.blob_id is not None and not record.data:
                    pending[record.blob_id] = (len(slots), record, bytearray())
                    slots.append(None)
                else:
                    slots.append(DataObject.from_record(record, record.data))
        elif m.etp_name == "Chunk":
            entry = pending.get(m.blob_id)
            if entry is None:
                raise ETPProtocolError(f"Chunk for unknown blob {m.blob_id} in FindDataObjects")
            entry[2].extend(m.data)
            if m.final:
                del pending[m.blob_id]
                slots[entry[0]] = DataObject.from_record(entry[1], bytes(entry[2]))
    if pending:
        raise ETPProtocolError(
            f"FindDataObjects response ended before the last chunk of {len(pending)} object(s)"
        )
    return [s for s in slots if s is not None]
