"""Dataspace (24) and DataspaceOSDU (2424) handlers."""

from __future__ import annotations

from typing import Any

from etp_sync.codec import EncodedBody
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
from .store import DataspaceRecord

_GET_DATASPACES_RESPONSE = messages.Dataspace.GetDataspacesResponse


def _get_dataspaces_response(dataspaces: list[Any]) -> Any:
    """``GetDataspacesResponse(dataspaces=dataspaces)`` of ``Dataspace`` records (what
    :func:`dataspace_record` makes), without the constructor's check of each of them."""
    response = object.__new__(_GET_DATASPACES_RESPONSE)
    response.dataspaces = dataspaces
    return response


# The last GetDataspacesResponse answered in one message, encoded, by what it was made of: the
# store's records, whether open-etp-server's status was added and the session's message limit.
# Its bytes are a function of these alone, so a listing unchanged since (the usual poll) is
# answered with them, not made and encoded again. One tuple, replaced whole: any thread reads it.
_last_listing: tuple[tuple[list[DataspaceRecord], bool, int], EncodedBody] | None = None


def get_dataspaces(session: SessionContext, header: Any, body: Any) -> Reply:
    """GetDataspaces → GetDataspacesResponse (multipart when long)."""
    global _last_listing
    status = session.profile.dataspace_status
    found = session.store.get_dataspaces(body.store_last_write_filter, sizes=status)
    made_of = (found, status, session.max_message_size)
    last = _last_listing
    if last is not None and last[0] == made_of:
        return [last[1]]
    records = [dataspace_record(r, status) for r in found]
    reply = split_list(_get_dataspaces_response, records, session.max_message_size)
    if len(reply) == 1 and isinstance(reply[0], EncodedBody):
        _last_listing = (made_of, reply[0])
    return reply


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
