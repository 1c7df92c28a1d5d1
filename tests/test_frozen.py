"""etp_sync._frozen.frozen_record: the records it makes equal, hash and refuse assignment like
those of the dataclasses' own ``__init__``."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from test_calls_store import _data_object

from etp_sync._frozen import frozen_record
from etp_sync._xmlpeek import peek_data_object
from etp_sync.calls.results import DataObject, PutResult, Resource
from etp_sync.samples import RESQML_NS
from etp_sync.schema import datatypes
from etp_sync.uri import DataObjectURI
from etp_sync.xmlinfo import ObjectInfo, parse_data_object

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
    nothing = PutResult.from_record(URI, datatypes.Object.PutResponse())
    assert nothing == PutResult(URI) and hash(nothing) == hash(PutResult(URI))
    assert nothing.__dict__ == PutResult(URI).__dict__
    record.resource.custom_data = {"k": datatypes.DataValue(item=3)}
    assert DataObject.from_record(record, b"<x/>", URI).custom_data == {"k": 3}


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


def test_every_record_made_so_sets_each_field_and_skips_no_post_init() -> None:
    """frozen_record runs nothing of ``__init__``: a field added later (a default_factory one,
    or one whose default would hide that it was never set) or a ``__post_init__`` would go
    unnoticed. Each class made so must have an instance ``__dict__`` holding every field."""
    record = _data_object(URI, b"x")
    reply = datatypes.Object.PutResponse(
        created_contained_object_uris=[],
        deleted_contained_object_uris=[],
        joined_contained_object_uris=[],
        unjoined_contained_object_uris=[],
    )
    doc = (f'<r:obj_Fault xmlns:r="{RESQML_NS}" schemaVersion="2.0" uuid="{URI.uuid}"/>').encode()
    made = [
        DataObject.from_record(record, b"<x/>", URI),
        Resource.from_record(record.resource),
        PutResult.from_record(URI, reply),
        parse_data_object(doc),
        peek_data_object(doc),
    ]
    for obj in made:
        cls = type(obj)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert not hasattr(cls, "__post_init__") and "__slots__" not in cls.__dict__, cls
        assert set(vars(obj)) == {f.name for f in dataclasses.fields(cls)}, cls
