"""Resource and DataObject records made field by field, for the paths that make one per object
(a client's put, a server's get, notification and query answers).

The values given must already be of their fields' types (str, int, None, the enum member, a
dict of DataValue records): the constructors' checks and coercions cost more than the rest of
such a record, and these callers hold values of the right types by construction.
tests/test_calls_store.py and tests/test_server_records.py compare the records with the
constructors' ones, bytes included.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import datatypes

_new_record = object.__new__
_RESOURCE = datatypes.Object.Resource
_DATA_OBJECT = datatypes.Object.DataObject


def new_resource(
    uri: str,
    name: str,
    last_changed: int,
    store_last_write: int,
    store_created: int,
    active_status: Any,
    custom_data: dict[str, Any],
) -> Any:
    """``Resource(uri=..., name=..., ...)`` with no alternate URIs and null counts."""
    resource = _new_record(_RESOURCE)
    resource.uri = uri
    resource.alternate_uris = []
    resource.name = name
    resource.source_count = None
    resource.target_count = None
    resource.last_changed = last_changed
    resource.store_last_write = store_last_write
    resource.store_created = store_created
    resource.active_status = active_status
    resource.custom_data = custom_data
    return resource


def new_data_object(
    resource: Any, data: bytes, format: str = "xml", blob_id: uuid.UUID | None = None
) -> Any:
    """``DataObject(resource=..., format=..., blob_id=..., data=...)``."""
    record = _new_record(_DATA_OBJECT)
    record.resource = resource
    record.format = format
    record.blob_id = blob_id
    record.data = data
    return record
