"""Resolving a request's ``ContextInfo`` + scope into store resources (Discovery and queries).

DiscoveryQuery/StoreQuery context URIs may carry an OData-like query; the embedded store
supports ``$top`` and ``$skip`` on the result (in URI order) and refuses other options with
ENOTSUPPORTED.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from etp_sync.errors import ErrorCode, ETPError

from ._common import SessionContext
from .store import EdgeInfo, ResourceInfo

__all__ = ["active_filter", "context_resources", "split_query"]


def split_query(uri: str) -> tuple[str, dict[str, str]]:
    """``(uri without query, query options)``."""
    base, sep, query = uri.partition("?")
    if not sep:
        return uri, {}
    return unquote(base), dict(parse_qsl(query, keep_blank_values=True))


def active_filter(value: Any) -> bool | None:
    """``activeStatusFilter`` enum → True (Active), False (Inactive) or None."""
    if value is None:
        return None
    return str(getattr(value, "value", value)) == "Active"


def _int_option(options: dict[str, str], name: str) -> int | None:
    if name not in options:
        return None
    try:
        value = int(options[name])
    except ValueError:
        raise ETPError(f"{name} must be an integer", ErrorCode.EINVALID_ARGUMENT) from None
    if value < 0:
        raise ETPError(f"{name} must not be negative", ErrorCode.EINVALID_ARGUMENT)
    return value


def context_resources(
    session: SessionContext, body: Any, *, include_edges: bool, count_objects: bool = False
) -> tuple[list[ResourceInfo], list[EdgeInfo]]:
    """Resources (and edges) selected by ``body.context``/``body.scope`` and the filters."""
    context = body.context
    uri, options = split_query(context.uri)
    unsupported = sorted(set(options) - {"$top", "$skip"})
    if unsupported:
        raise ETPError(
            f"query options {unsupported} are not supported (only $top and $skip)",
            ErrorCode.ENOTSUPPORTED,
        )
    top = _int_option(options, "$top")
    skip = _int_option(options, "$skip") or 0
    resources, edges = session.store.get_resources(
        uri,
        str(body.scope.value),
        int(context.depth),
        list(context.data_object_types),
        body.store_last_write_filter,
        active_filter(body.active_status_filter),
        count_objects,
        tx=session.transaction,
    )
    if top is not None or skip:
        resources = resources[skip : None if top is None else skip + top]
        kept = {r.uri for r in resources}
        edges = [e for e in edges if e.source_uri in kept or e.target_uri in kept]
    return resources, edges if include_edges else []
