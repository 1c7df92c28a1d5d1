"""Dataspace (24) and DataspaceOSDU (2424) handlers."""

from __future__ import annotations

from typing import Any

from etp_sync.errors import ErrorCode, ETPError
from etp_sync.schema import messages

from ._common import (
    Handler,
    Reply,
    SessionContext,
    dataspace_record,
    per_item_handler,
    response_maker,
    split_list,
)

_GET_DATASPACES_RESPONSE = messages.Dataspace.GetDataspacesResponse


def _get_dataspaces_response(dataspaces: list[Any]) -> Any:
    """``GetDataspacesResponse(dataspaces=dataspaces)`` of ``Dataspace`` records (what
    :func:`dataspace_record` makes), without the constructor's check of each of them."""
    response = object.__new__(_GET_DATASPACES_RESPONSE)
    response.dataspaces = dataspaces
    return response


def get_dataspaces(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataspaces → GetDataspacesResponse (multipart when long)."""
    status = session.profile.dataspace_status
    records = [
        dataspace_record(r, status)
        for r in session.store.get_dataspaces(body.store_last_write_filter, sizes=status)
    ]
    return split_list(_get_dataspaces_response, records, session.max_message_size)


@per_item_handler("dataspaces", response_maker(messages.Dataspace.PutDataspacesResponse, "success"))
def put_dataspaces(session: SessionContext, key: str, ds: Any) -> None:
    """PutDataspaces: create each dataspace; existing ones fail with EINVALID_ARGUMENT."""
    session.store.put_dataspace(ds.uri, ds.path or None, dict(ds.custom_data))


@per_item_handler("uris", response_maker(messages.Dataspace.DeleteDataspacesResponse, "success"))
def delete_dataspaces(session: SessionContext, key: str, uri: str) -> None:
    """DeleteDataspaces: delete each dataspace with its content."""
    session.store.delete_dataspace(uri)


@per_item_handler(
    "uris", response_maker(messages.DataspaceOSDU.GetDataspaceInfoResponse, "dataspaces")
)
def get_dataspace_info(session: SessionContext, key: str, uri: str) -> Any:
    """DataspaceOSDU GetDataspaceInfo → GetDataspaceInfoResponse keyed like the request."""
    status = session.profile.dataspace_status
    return dataspace_record(session.store.get_dataspace(uri, size=status), status)


def not_supported(session: SessionContext, header: Any, body: Any) -> Reply:
    """OSDU copy/lock operations are not implemented by the embedded store."""
    raise ETPError(f"{body.etp_name} is not supported by this server", ErrorCode.ENOTSUPPORTED)


HANDLERS: dict[tuple[int, int], Handler] = {
    (24, 1): get_dataspaces,
    (24, 3): put_dataspaces,
    (24, 4): delete_dataspaces,
    (2424, 1): get_dataspace_info,
    (2424, 3): not_supported,
    (2424, 5): not_supported,
    (2424, 7): not_supported,
}
