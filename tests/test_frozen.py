"""etp_sync._frozen.frozen_record: the records it makes equal, hash and refuse assignment like
those of the dataclasses' own ``__init__``."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from test_calls_store import _data_object

from etp_sync._frozen import frozen_record
from etp_sync.calls.results import DataObject, PutResult, Resource
from etp_sync.schema import datatypes
from etp_sync.uri import DataObjectURI
from etp_sync.xmlinfo import ObjectInfo

URI = DataObjectURI.from_type("eml:///dataspace('a/b')", "resqml20.obj_Fault", uuid.UUID(int=7))


def test_result_records_equal_those_of_init() -> None:
    record = _data_object(URI, b"x")
    made = DataObject.from_record(record, b"<x/>", URI)
    assert made == DataObject(URI, b"<x/>", "xml", "x", 1, 2, 3, True, {})
    listed = Resource.from_record(record.resource)
    assert listed == Resource(URI, "x", 1, 2, 3) and repr(listed) == repr(
        Resource(URI, "x", 1, 2, 3)
    )
    reply = datatypes.Object.PutResponse(
        created_contained_object_uris=["c"],
        deleted_contained_object_uris=[],
        joined_contained_object_uris=["j1", "j2"],
        unjoined_contained_object_uris=[],
    )
    put = PutResult.from_record(URI, reply)
    expected = PutResult(URI, ("c",), (), ("j1", "j2"), ())
    assert put == expected and hash(put) == hash(expected) and repr(put) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        put.uri = URI  # type: ignore[misc]


def test_defaults_and_fields() -> None:
    fields = {
        "uuid": str(URI.uuid),
        "qualified_type": "resqml20.obj_Fault",
        "title": "f",
        "last_update_us": 5,
        "object_version": None,
        "schema_version": "2.0",
        "created_us": 4,
        "originator": "me",
    }
    refs = {"references": (), "hdf_datasets": (), "links": (("t", "u", "p"),)}
    info = frozen_record(ObjectInfo, fields, refs)
    assert info == ObjectInfo(**fields, links=(("t", "u", "p"),))  # type: ignore[arg-type]
    assert dataclasses.replace(info, title="g").title == "g"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.title = "g"  # type: ignore[misc]
