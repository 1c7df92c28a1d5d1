"""Dataspaces: create, list, describe and delete (with everything in them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from etp_sync.codec import encoded_body_size
from etp_sync.errors import ErrorCode, StoreError
from etp_sync.schema import Record

from ._core import RECORD_BYTES, StoreCore, array_bytes, deleted_bytes, object_bytes
from ._records import ChangeEvent, DataspaceRecord, Space
from ._uris import dataspace_path, dataspace_uri

__all__ = ["DataspaceStore"]

_TWO_LEVEL_RE = re.compile(r"^[^/]+/[^/]+$")
# The longest dataspace path the store accepts, in characters. Every object URI and deletion
# record of a dataspace repeats its path; neither ETP 1.2 nor open-etp-server names a bound.
MAX_DATASPACE_PATH = 1024


def space_bytes(sp: Space) -> int:
    """What a dataspace's own record counts against ``max_store_bytes``: its path and URI, its
    customData and a record."""
    return len(sp.path) + len(sp.uri) + value_bytes(sp.custom_data) + RECORD_BYTES


def value_bytes(value: Any) -> int:
    """Bytes of a customData value: ETP records (``DataValue``) as encoded; the plain values
    the store's Python callers may give by a walk (strings, bytes and arrays by their
    length, containers by their items, anything else 8)."""
    if isinstance(value, Record):
        return encoded_body_size(value)
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return sum(len(str(k)) + value_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sum(map(value_bytes, value))
    return int(getattr(value, "nbytes", 8))


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
        ``project/scenario`` (when required), longer than :data:`MAX_DATASPACE_PATH` or the
        unsupported default dataspace EINVALID_URI. Its record (path, URI, customData) counts
        against ``max_store_bytes`` (ELIMIT_EXCEEDED) until it is deleted.
        """
        space = dataspace_path(uri)
        if len(space) > MAX_DATASPACE_PATH:
            raise StoreError(
                ErrorCode.EINVALID_URI,
                f"dataspace path of {len(space)} characters: at most {MAX_DATASPACE_PATH}",
            )
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
            nbytes = space_bytes(sp)
            self._check_room(nbytes)
            self._committed_bytes += nbytes
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
            self._committed_bytes -= sum(map(deleted_bytes, sp.deleted))
            self._committed_bytes -= space_bytes(sp)
            now = self._now()
            events = [
                ChangeEvent("delete", sp.uri, obj.uri, now)
                for obj in sorted(sp.objects.values(), key=lambda o: o.uri)
            ]
            self._queue_events(events)
        self._emit(events)
