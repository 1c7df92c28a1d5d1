"""Dataspace protocol (24): list, create and delete dataspaces.

Creating a dataspace on open-etp-server takes its access control from ``customData``: the
``legal_tags``, ``owners``, ``viewers`` and ``countries`` arguments become the keys ``legaltags``,
``owners``, ``viewers`` and ``otherRelevantDataCountries`` (each an ``ArrayOfString``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .._display import ResultList
from ..errors import ETPInvalidArgument
from ..protocol.correlation import protocol_exception_error
from ..protocol.negotiation import now_us
from ..schema import datatypes, messages
from ..uri import DataspaceURI, InvalidURIError, as_dataspace_uri
from ._core import SessionAPI, one_or_many
from .results import Dataspace, custom_data_map, to_us

__all__ = ["DataspaceCalls"]

ACL_KEYS = {
    "legal_tags": "legaltags",
    "owners": "owners",
    "viewers": "viewers",
    "countries": "otherRelevantDataCountries",
}


def _named_dataspace(value: str | DataspaceURI) -> tuple[DataspaceURI, str]:
    """A named dataspace's URI and path (the default one cannot be created or deleted)."""
    uri = as_dataspace_uri(value)
    if uri.path is None:
        raise InvalidURIError(
            "the default dataspace 'eml:///' cannot be created or deleted", str(value)
        )
    return uri, uri.path


def _strings(name: str, values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise ETPInvalidArgument(f"{name} must be a list of str, not one str: {values!r}")
    out = list(values)
    for v in out:
        if not isinstance(v, str):
            raise ETPInvalidArgument(f"{name} must hold str values, got {v!r}")
    return out


def _dataspaces_custom_data(
    legal_tags: Iterable[str],
    owners: Iterable[str],
    viewers: Iterable[str],
    countries: Iterable[str],
    custom_data: Mapping[str, Any] | None,
) -> dict[str, Any]:
    data = custom_data_map(custom_data)
    acl = {"legal_tags": legal_tags, "owners": owners, "viewers": viewers, "countries": countries}
    for arg, values in acl.items():
        strings = _strings(arg, values)
        if strings:
            data[ACL_KEYS[arg]] = datatypes.DataValue(item=datatypes.ArrayOfString(values=strings))
    return data


class DataspaceCalls(SessionAPI):
    """Dataspace calls of :class:`~etp_sync.ETPSession`."""

    def get_dataspaces(
        self, *, store_last_write_filter: datetime | int | None = None
    ) -> list[Dataspace]:
        """All dataspaces (written after ``store_last_write_filter`` if given: a datetime,
        naive = local time, or µs)."""
        response = self.request(
            messages.Dataspace.GetDataspaces(
                store_last_write_filter=to_us(store_last_write_filter, "store_last_write_filter")
            )
        )
        found: list[Dataspace] = response.collect("dataspaces", Dataspace.from_record)
        return ResultList(found)

    def put_dataspace(
        self,
        path: str | DataspaceURI,
        *,
        legal_tags: Iterable[str] = (),
        owners: Iterable[str] = (),
        viewers: Iterable[str] = (),
        countries: Iterable[str] = (),
        custom_data: Mapping[str, Any] | None = None,
    ) -> DataspaceURI:
        """Create a dataspace (``"project/scenario"`` or its URI) and return its URI.

        ``custom_data`` values may be str, int, float, bool, bytes or lists of those; the ACL
        arguments are added to it under the keys open-etp-server reads. Creating a dataspace
        that exists fails on open-etp-server with EINVALID_ARGUMENT.
        """
        (uri,) = self.put_dataspaces(
            [path],
            legal_tags=legal_tags,
            owners=owners,
            viewers=viewers,
            countries=countries,
            custom_data=custom_data,
        )
        return uri

    def put_dataspaces(
        self,
        paths: Iterable[str | DataspaceURI],
        *,
        legal_tags: Iterable[str] = (),
        owners: Iterable[str] = (),
        viewers: Iterable[str] = (),
        countries: Iterable[str] = (),
        custom_data: Mapping[str, Any] | None = None,
    ) -> list[DataspaceURI]:
        """Create several dataspaces in one request, all with the same ACL and custom data.

        Returns the URIs in the order given. If some fail, raises ETPPartialFailure (or
        ETPRemoteError when none succeeded) with ``errors`` keyed by URI and ``successes`` the
        list of URIs that were created.
        """
        if isinstance(paths, str | DataspaceURI):
            raise ETPInvalidArgument("put_dataspaces takes a list of paths; use put_dataspace")
        listed = one_or_many(paths, (), "paths", "a list of dataspace paths")
        named = list(dict.fromkeys(_named_dataspace(p) for p in listed))
        if not named:
            return []
        data = _dataspaces_custom_data(legal_tags, owners, viewers, countries, custom_data)
        now = now_us()
        body = messages.Dataspace.PutDataspaces(
            dataspaces={
                str(u): datatypes.Object.Dataspace(
                    uri=str(u),
                    path=path,
                    store_last_write=now,
                    store_created=now,
                    custom_data=dict(data),
                )
                for u, path in named
            }
        )
        uris = [u for u, _path in named]
        response = self.transaction_manager.write(body, dataspace=None)
        done = _succeeded(response, "success")
        created = [u for u in uris if str(u) in done]
        if response.errors:
            raise protocol_exception_error(response.errors, created)
        return uris

    def delete_dataspace(self, path: str | DataspaceURI) -> None:
        """Delete a dataspace and everything in it."""
        self.delete_dataspaces([path])

    def delete_dataspaces(self, paths: Iterable[str | DataspaceURI]) -> None:
        """Delete several dataspaces in one request.

        If some fail, raises ETPPartialFailure (or ETPRemoteError when none succeeded) with
        ``errors`` keyed by URI and ``successes`` the list of URIs that were deleted.
        """
        if isinstance(paths, str | DataspaceURI):
            raise ETPInvalidArgument(
                "delete_dataspaces takes a list of paths; use delete_dataspace"
            )
        listed = one_or_many(paths, (), "paths", "a list of dataspace paths")
        uris = list(dict.fromkeys(u for u, _path in map(_named_dataspace, listed)))
        if not uris:
            return
        body = messages.Dataspace.DeleteDataspaces(uris={str(u): str(u) for u in uris})
        response = self.transaction_manager.write(body, dataspace=None)
        done = _succeeded(response, "success")
        if response.errors:
            raise protocol_exception_error(response.errors, [u for u in uris if str(u) in done])


def _succeeded(response: Any, attribute: str) -> set[str]:
    keys: set[str] = set()
    for m in response.messages:
        keys.update(getattr(m, attribute, {}) or {})
    return keys
