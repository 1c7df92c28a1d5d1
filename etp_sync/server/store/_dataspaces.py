"""Dataspaces: create, list, describe and delete (with everything in them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from etp_sync.errors import ErrorCode, StoreError

from ._core import StoreCore, array_bytes, object_bytes
from ._records import ChangeEvent, DataspaceRecord, Space
from ._uris import dataspace_path, dataspace_uri

__all__ = ["DataspaceStore"]

_TWO_LEVEL_RE = re.compile(r"^[^/]+/[^/]+$")


class DataspaceStore(StoreCore):
    """The dataspace calls of the store."""

    def put_dataspace(
        self,
        uri: str,
        path: str | None = None,
        custom_data: Mapping[str, Any] | None = None,
    ) -> DataspaceRecord:
        """Create a dataspace; ``path`` (if given) must agree with ``uri``.

        An existing dataspace gives EINVALID_ARGUMENT (as open-etp-server); a path that is not
        ``project/scenario`` (when required) or the unsupported default dataspace EINVALID_URI.
        """
        space = dataspace_path(uri)
        if path and path != space:
            raise StoreError(
                ErrorCode.EINVALID_ARGUMENT,
                f"path {path!r} does not match the URI {uri!r}",
            )
        with self._lock:
            if space == "" and not self.allow_default_dataspace:
                raise StoreError(ErrorCode.EINVALID_URI, "this store has no default dataspace")
            if space and self.require_two_level_paths and not _TWO_LEVEL_RE.match(space):
                raise StoreError(
                    ErrorCode.EINVALID_URI,
                    f"dataspace path {space!r} must have two levels: 'project/scenario'",
                )
            if space in self._spaces:
                raise StoreError(
                    ErrorCode.EINVALID_ARGUMENT,
                    f"dataspace {dataspace_uri(space)} already exists",
                )
            now = self._now()
            sp = Space(space, dataspace_uri(space), now, now, dict(custom_data or {}))
            self._spaces[space] = sp
            return sp.record()

    def get_dataspaces(
        self, store_last_write_filter: int | None = None, *, sizes: bool = True
    ) -> list[DataspaceRecord]:
        """All dataspaces (by path), or those written after ``store_last_write_filter``;
        ``sizes=False`` leaves their ``size_bytes`` None (it costs a pass over their content)."""
        with self._lock:
            return [
                sp.record(size=sizes)
                for _, sp in sorted(self._spaces.items())
                if store_last_write_filter is None or sp.last_write_us > store_last_write_filter
            ]

    def get_dataspace(self, uri: str, *, size: bool = True) -> DataspaceRecord:
        """One dataspace; ENOT_FOUND if missing (``size``: as for :meth:`get_dataspaces`)."""
        space = dataspace_path(uri)
        with self._lock:
            return self._space(space).record(size=size)

    def delete_dataspace(self, uri: str) -> None:
        """Delete a dataspace with its objects and arrays (listeners get one delete per object).

        Not transactional: open transactions that staged writes in it fail at commit.
        """
        space = dataspace_path(uri)
        with self._lock:
            sp = self._space(space)
            if space == "":
                raise StoreError(
                    ErrorCode.EREQUEST_DENIED, "the default dataspace cannot be deleted"
                )
            del self._spaces[space]
            self._committed_bytes -= sum(map(object_bytes, sp.objects.values()))
            self._committed_bytes -= sum(map(array_bytes, sp.arrays.values()))
            now = self._now()
            events = [
                ChangeEvent("delete", sp.uri, obj.uri, now)
                for obj in sorted(sp.objects.values(), key=lambda o: o.uri)
            ]
            self._queue_events(events)
        self._emit(events)
