"""Record builders shared by the raw-wire server tests (test_server.py) and the hostile-client
harness (_hostile.py): messages the package's own session would build, written out by hand."""

from __future__ import annotations

import uuid
from typing import Any

from etp_sync.schema import datatypes


def data_object(xml: bytes, uri: str, blob_id: uuid.UUID | None = None) -> Any:
    """A DataObject record carrying ``xml`` at ``uri`` (times left to the store); with
    ``blob_id`` its bytes follow in Chunk messages of that blob."""
    resource = datatypes.Object.Resource(
        uri=uri,
        name="",
        last_changed=0,
        store_last_write=0,
        store_created=0,
        active_status="Active",
    )
    return datatypes.Object.DataObject(resource=resource, format="xml", blob_id=blob_id, data=xml)
