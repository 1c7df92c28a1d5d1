"""Discovery (3), DiscoveryQuery (13) and SupportedTypes (25) handlers."""

from __future__ import annotations

from typing import Any

from etp_sync.schema import datatypes, messages

from ._common import (
    Handler,
    Outgoing,
    Reply,
    SessionContext,
    edge_record,
    resource_record,
    split_list,
)
from ._query import context_resources


def get_resources(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetResources → GetResourcesResponse part(s) [+ GetResourcesEdgesResponse part(s)]."""
    resources, edges = context_resources(
        session, body, include_edges=body.include_edges, count_objects=body.count_objects
    )
    limit = session.max_message_size
    out: list[Outgoing] = split_list(
        lambda part: messages.Discovery.GetResourcesResponse(resources=part),
        [resource_record(r) for r in resources],
        limit,
    )
    if body.include_edges:
        out += split_list(
            lambda part: messages.Discovery.GetResourcesEdgesResponse(edges=part),
            [edge_record(e) for e in edges],
            limit,
        )
    return out


def get_deleted_resources(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDeletedResources → GetDeletedResourcesResponse part(s)."""
    deleted = session.store.get_deleted_resources(
        body.dataspace_uri, body.delete_time_filter, list(body.data_object_types)
    )
    return split_list(
        lambda part: messages.Discovery.GetDeletedResourcesResponse(deleted_resources=part),
        [
            datatypes.Object.DeletedResource(uri=d.uri, deleted_time=d.deleted_time_us)
            for d in deleted
        ],
        session.max_message_size,
    )


def find_resources(session: SessionContext, header: Any, body: Any) -> Reply:
    """DiscoveryQuery FindResources → FindResourcesResponse part(s)."""
    resources, _edges = context_resources(session, body, include_edges=False)
    return split_list(
        lambda part: messages.DiscoveryQuery.FindResourcesResponse(
            resources=part, server_sort_order=""
        ),
        [resource_record(r) for r in resources],
        session.max_message_size,
    )


def get_supported_types(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetSupportedTypes → GetSupportedTypesResponse part(s)."""
    types = session.store.get_supported_types(
        body.uri,
        str(body.scope.value),
        body.return_empty_types,
        body.count_objects,
        tx=session.transaction,
    )
    primary = datatypes.Object.RelationshipKind("Primary")
    return split_list(
        lambda part: messages.SupportedTypes.GetSupportedTypesResponse(supported_types=part),
        [
            datatypes.Object.SupportedType(
                data_object_type=qt, object_count=count, relationship_kind=primary
            )
            for qt, count in types
        ],
        session.max_message_size,
    )


HANDLERS: dict[tuple[int, int], Handler] = {
    (3, 1): get_resources,
    (3, 5): get_deleted_resources,
    (13, 1): find_resources,
    (25, 1): get_supported_types,
}
