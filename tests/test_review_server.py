"""Review of the server's per-object records (907cb75, d6dfd3f, ddc1954): records made field by
field hold each value in the field of its name, a put's objects are kept as staged only where
the commit would give them the same times, and the open-etp-server profile's ActivityTemplate is
the first of the dataspace's view when several match."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from etp_sync import samples
from etp_sync.server._xml import parse_data_object
from etp_sync.server.store import (
    ChangeEvent,
    ObjectPut,
    PutResult,
    Store,
    StoredObject,
    StoreError,
    _records,
    _uris,
)
from etp_sync.server.store._integrity import add_import_activities
from etp_sync.server.store._provenance import (
    ACTIVITY_TEMPLATE_TITLE,
    ACTIVITY_TEMPLATE_TYPE,
    activity_template_xml,
)
from etp_sync.server.store._records import Stage
from etp_sync.server.store._uris import dataspace_path

DS = "eml:///dataspace('demo/review')"
CREATED = datetime(2024, 1, 2, tzinfo=UTC)
CRS = uuid.UUID("4a2b7e14-6d1e-4c3a-9f0b-1f8e5a2d6c01")
FAULT = uuid.UUID("5b3c8f25-7e2f-4d4b-8a1c-2a9f6b3e7d12")
CRS_XML = samples.local_depth_crs(CRS, "crs", created=CREATED)
FAULT_XML = samples.resqml_object(
    "obj_FaultInterpretation", FAULT, "fault", [("obj_LocalDepth3dCrs", CRS)], created=CREATED
)


def _uri(type_name: str, uid: uuid.UUID) -> str:
    return f"{DS}/resqml20.{type_name}({uid})"


def test_records_made_field_by_field_hold_each_value_in_its_named_field() -> None:
    """The factories set each field by name, as the keyword constructors do: a field of the
    dataclass moved (not only added) would put a value in its neighbour's slot, which comparing
    with the positional constructors cannot see."""
    obj_info = parse_data_object(CRS_XML)
    made = _records.stored_object("u", obj_info, b"x", "xml", 11, 22, False)
    assert made == StoredObject(
        uri="u",
        info=obj_info,
        xml=b"x",
        format="xml",
        store_created_us=11,
        store_last_write_us=22,
        active=False,
    )
    assert made.stamped(33, 44) == StoredObject(
        uri="u",
        info=obj_info,
        xml=b"x",
        format="xml",
        store_created_us=33,
        store_last_write_us=44,
        active=False,
    )
    event = _records.change_event("update", "ds", "obj", 5, made)
    assert event == ChangeEvent(kind="update", dataspace_uri="ds", uri="obj", time_us=5, obj=made)
    assert _records.object_put(b"d", "p", "XML") == ObjectPut(data=b"d", uri="p", format="XML")
    assert _records.put_result("r", False) == PutResult(uri="r", created=False)
    parts = _uris._canonical_parts("a/b", "resqml20.obj_X", "id", "text")
    assert parts == _uris.UriParts(space="a/b", qualified_type="resqml20.obj_X", uuid="id")
    assert (parts.version, parts.text) == (None, "text")


def test_a_put_keeps_its_objects_only_with_the_commit_times() -> None:
    """A plain put keeps the objects it staged (the times are its commit's); a transaction's,
    a rolled-back one's and a failed commit's staged objects never reach the store."""
    store = Store()
    store.put_dataspace(DS)
    batches: list[list[ChangeEvent]] = []
    store.add_listener(batches.append)
    crs_uri, fault_uri = _uri("obj_LocalDepth3dCrs", CRS), _uri("obj_FaultInterpretation", FAULT)
    # The same object twice in one put: one insert time, created then.
    store.put_objects(DS, {"a": CRS_XML, "b": CRS_XML, "f": FAULT_XML})
    crs = store.get_objects([crs_uri])[0][crs_uri]
    t1 = crs.store_last_write_us
    assert crs.store_created_us == t1 == store.get_dataspace(DS).store_last_write_us
    assert [(e.kind, e.time_us) for e in batches[0]] == [("insert", t1), ("insert", t1)]
    assert batches[0][0].obj is crs

    # A transaction replaces it and is rolled back: the store keeps the very object it had.
    tx = store.start_transaction("s", [DS])
    store.put_objects(DS, {"a": samples.local_depth_crs(CRS, "other", created=CREATED)}, tx=tx)
    assert store.get_objects([crs_uri], tx=tx)[0][crs_uri].info.title == "other"
    store.rollback_transaction(tx)
    assert store.get_objects([crs_uri])[0][crs_uri] is crs

    # A commit that fails (the fault still links to the CRS it deletes) applies nothing.
    tx = store.start_transaction("s", [DS])
    store.put_objects(DS, {"a": samples.local_depth_crs(CRS, "gone", created=CREATED)}, tx=tx)
    store.delete_objects([crs_uri], tx=tx)
    with pytest.raises(StoreError, match="still referenced"):
        store.commit_transaction(tx)
    assert store.get_objects([crs_uri])[0][crs_uri] is crs
    assert len(batches) == 1

    # A later plain put: a later time, the creation kept.
    store.put_objects(DS, {"a": samples.local_depth_crs(CRS, "renamed", created=CREATED)})
    crs2 = store.get_objects([crs_uri])[0][crs_uri]
    assert crs2.store_created_us == t1 < crs2.store_last_write_us == batches[1][0].time_us
    assert store.get_objects([fault_uri])[0][fault_uri].store_last_write_us == t1


def test_activity_template_is_the_first_of_the_view_when_several_match() -> None:
    """Under the open-etp-server profile an import Activity points at the dataspace's first
    ActivityTemplate in the order of its view (committed objects, then those staged new), as
    the search through a copy of the view found."""
    store = Store(import_activities=True)
    store.put_dataspace(DS)
    templates = [uuid.UUID(int=n + 1, version=4) for n in range(3)]
    for n, ref in enumerate(templates[:2]):
        store.put_objects(DS, {"t": activity_template_xml(ref, "me", 1_700_000_000_000_000 + n)})
    sp = store._spaces[dataspace_path(DS)]
    first = next(
        o
        for o in Store._objects(sp, None).values()
        if o.info.qualified_type == ACTIVITY_TEMPLATE_TYPE
        and o.info.title == ACTIVITY_TEMPLATE_TITLE
    )
    # A stage that replaces the first template by a third one (the second then comes first),
    # and puts a linking object.
    stage = Stage(uuid.uuid4(), None, False, None)
    staged = stage.objects.setdefault(sp.path, {})
    staged[first.info.uuid] = None
    xml = activity_template_xml(templates[2], "me", 1_700_000_000_000_009)
    info = parse_data_object(xml)
    staged[info.uuid] = StoredObject(
        _uri("obj_ActivityTemplate", templates[2]), info, xml, "xml", 1, 1
    )
    fault_info = parse_data_object(FAULT_XML)
    staged[fault_info.uuid] = StoredObject(
        _uri("obj_FaultInterpretation", FAULT), fault_info, FAULT_XML, "xml", 1, 1
    )
    expected = next(
        o
        for o in Store._objects(sp, stage).values()
        if o.info.qualified_type == ACTIVITY_TEMPLATE_TYPE
        and o.info.title == ACTIVITY_TEMPLATE_TITLE
    )
    assert first.info.uuid == str(templates[0]) and expected.info.uuid == str(templates[1])
    with store._lock:
        add_import_activities(store, stage)
    activities = [
        o for o in staged.values() if o is not None and o.info.qualified_type.endswith("Activity")
    ]
    assert len(activities) == 1
    assert str(templates[1]) in {ref for _qt, ref, _path in activities[0].info.links}
    assert not (
        {str(templates[0]), str(templates[2])} & {r for _q, r, _p in activities[0].info.links}
    )
