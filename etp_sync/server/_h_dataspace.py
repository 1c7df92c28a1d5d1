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
    per_item_reply,
    split_list,
)


def get_dataspaces(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataspaces → GetDataspacesResponse (multipart when long)."""
    records = [
        dataspace_record(r) for r in session.store.get_dataspaces(body.store_last_write_filter)
    ]
    return split_list(
        lambda part: messages.Dataspace.GetDataspacesResponse(dataspaces=part),
        records,
        session.max_message_size,
    )


def put_dataspaces(session: SessionContext, header: Any, body: Any) -> Reply:
    """PutDataspaces: create each dataspace; existing ones fail with EINVALID_ARGUMENT."""

    def put(_key: str, ds: Any) -> None:
        session.store.put_dataspace(ds.uri, ds.path or None, dict(ds.custom_data))

    return per_item_reply(
        session,
        body.dataspaces,
        put,
        lambda part: messages.Dataspace.PutDataspacesResponse(success=part),
    )


def delete_dataspaces(session: SessionContext, header: Any, body: Any) -> Reply:
    """DeleteDataspaces: delete each dataspace with its content."""
    return per_item_reply(
        session,
        body.uris,
        lambda _key, uri: session.store.delete_dataspace(uri),
        lambda part: messages.Dataspace.DeleteDataspacesResponse(success=part),
    )


def get_dataspace_info(session: SessionContext, header: Any, body: Any) -> Reply:
    """DataspaceOSDU GetDataspaceInfo → GetDataspaceInfoResponse keyed like the request."""
    return per_item_reply(
        session,
        body.uris,
        lambda _key, uri: dataspace_record(session.store.get_dataspace(uri)),
        lambda part: messages.DataspaceOSDU.GetDataspaceInfoResponse(dataspaces=part),
    )


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
