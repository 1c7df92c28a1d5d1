"""Discovery (3), DiscoveryQuery (13) and SupportedTypes (25) handlers."""

from __future__ import annotations

from typing import Any

from etp_sync.errors import ErrorCode, ETPError
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
from .store import Store


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
    """GetDeletedResources → GetDeletedResourcesResponse part(s), or ERETENTION_PERIOD_EXCEEDED
    (5001) for a ``deleteTimeFilter`` before the store's earliestRetainedChangeTime when
    deletion records after the filter may be gone (see :func:`_check_retention`)."""
    store = session.store
    deleted = store.get_deleted_resources(
        body.dataspace_uri, body.delete_time_filter, list(body.data_object_types)
    )
    if body.delete_time_filter is not None:
        _check_retention(store, body.delete_time_filter)
    return split_list(
        lambda part: messages.Discovery.GetDeletedResourcesResponse(deleted_resources=part),
        [
            datatypes.Object.DeletedResource(uri=d.uri, deleted_time=d.deleted_time_us)
            for d in deleted
        ],
        session.max_message_size,
    )


def _check_retention(store: Store, delete_time_filter: int) -> None:
    """Refuse a ``deleteTimeFilter`` (µs) older than the store's earliestRetainedChangeTime
    once the store is older than its change retention period (whether or not a deletion has
    been dropped yet: what the store announces is the bound): ETP 1.2 answers such a request with
    ERETENTION_PERIOD_EXCEEDED, so that the customer knows its list would be incomplete and
    reads the dataspace again in full instead.

    A filter before the creation of a store younger than the period (earliestRetainedChangeTime
    is still the creation) is answered: the store knows every
    deletion after it. Called after the lookup, so the time checked is no earlier than the
    pruning that lookup did: a filter that passes had all its records still there.
    """
    earliest = store.earliest_retained_change_us()
    if delete_time_filter >= earliest or earliest <= store.created_us:
        return
    raise ETPError(
        f"deleteTimeFilter {delete_time_filter} is before the store's "
        f"earliestRetainedChangeTime {earliest}: deletions older than its "
        f"ChangeRetentionPeriod ({store.change_retention_period:g} s) are no longer recorded; "
        "read the dataspace again in full (GetResources)",
        ErrorCode.ERETENTION_PERIOD_EXCEEDED,
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
