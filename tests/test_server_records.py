"""The records the server answers with for stored objects (etp_sync.server._common), made field
by field without the records' constructors, equal the ones the constructors make and encode to
the same bytes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from etp_sync import samples
from etp_sync.codec import encode_body
from etp_sync.schema import datatypes, messages
from etp_sync.server import _common
from etp_sync.server._xml import parse_data_object
from etp_sync.server.store import (
    ChangeEvent,
    ObjectPut,
    PutResult,
    StoredObject,
    _records,
    resource_custom_data,
)

URI = "eml:///dataspace('demo/records')/resqml20.obj_LocalDepth3dCrs({})"


def _by_constructors(obj: StoredObject, with_data: bool = True) -> Any:
    """What data_object made before: the records' constructors, customData wrapped by
    ``custom_data``."""
    resource = datatypes.Object.Resource(
        uri=obj.uri,
        alternate_uris=[],
        name=obj.info.title,
        source_count=None,
        target_count=None,
        last_changed=obj.info.last_update_us or obj.store_last_write_us,
        store_last_write=obj.store_last_write_us,
        store_created=obj.store_created_us,
        active_status=_common.active_status(obj.active),
        custom_data=_common.custom_data(resource_custom_data(obj)),
    )
    return datatypes.Object.DataObject(
        resource=resource, format=obj.format, blob_id=None, data=obj.xml if with_data else b""
    )


def _objects() -> list[StoredObject]:
    """Stored objects whose Resource fields take each of their forms: citation times given or
    not (the store's times then), an empty or non-ASCII title and originator, inactive."""
    found = []
    for n, (title, created, last_update, originator, active) in enumerate(
        [
            ("crs", datetime(2024, 1, 2, tzinfo=UTC), None, "me", True),
            ("", None, None, "", True),
            (
                "caf\u00e9 \u00e0 la cr\u00e8me",
                None,
                datetime(2025, 3, 4, tzinfo=UTC),
                "\u00e9",
                False,
            ),
            ("x" * 300, datetime(1969, 12, 31, tzinfo=UTC), None, "o" * 200, True),
        ]
    ):
        uid = uuid.UUID(int=n + 1)
        xml = samples.local_depth_crs(uid, title, created=created)
        if last_update is not None:
            xml = xml.replace(
                b"</eml:Originator>",
                b"</eml:Originator><eml:LastUpdate>"
                + last_update.isoformat().encode()
                + b"</eml:LastUpdate>",
            )
        xml = xml.replace(b">etp_sync</eml:Originator>", f">{originator}</eml:Originator>".encode())
        info = parse_data_object(xml)
        assert info.title == title and info.originator == originator
        found.append(
            StoredObject(
                URI.format(uid),
                info,
                xml,
                "xml",
                1_700_000_000_000_000 + n,
                1_800_000_000_000_000 + n,
                active,
            )
        )
    return found


@pytest.mark.parametrize("obj", _objects(), ids=lambda o: o.info.title[:10] or "empty")
@pytest.mark.parametrize("with_data", [True, False])
def test_data_object_is_what_the_constructors_make(obj: StoredObject, with_data: bool) -> None:
    made = _common.data_object(obj, with_data=with_data)
    expected = _by_constructors(obj, with_data)
    assert made == expected
    assert made.resource == _common.object_resource(obj) == expected.resource
    assert encode_body(made).to_bytes() == encode_body(expected).to_bytes()
    # Each record is a fresh one: a caller changing its own leaves the next untouched.
    made.resource.custom_data["created"].item = 0
    made.resource.alternate_uris.append("x")
    assert _common.data_object(obj, with_data=with_data) == expected


def test_get_response_encodes_as_with_the_constructors() -> None:
    objects = _objects()
    made = messages.Store.GetDataObjectsResponse(
        data_objects={o.uri: _common.data_object(o) for o in objects}
    )
    expected = messages.Store.GetDataObjectsResponse(
        data_objects={o.uri: _by_constructors(o) for o in objects}
    )
    assert encode_body(made).to_bytes() == encode_body(expected).to_bytes()


def test_store_records_made_field_by_field_equal_the_constructors() -> None:
    """The store's StoredObject and ChangeEvent factories (and StoredObject.stamped) make what
    the dataclasses' constructors make: equal, same hash, frozen."""
    for obj in _objects():
        values = [getattr(obj, f.name) for f in dataclasses.fields(StoredObject)]
        made = _records.stored_object(*values)
        assert made == StoredObject(*values) and hash(made) == hash(StoredObject(*values))
        assert _records.stored_object(*values[:-1]) == StoredObject(*values[:-1])
        stamped = obj.stamped(5, 6)
        assert stamped == dataclasses.replace(obj, store_created_us=5, store_last_write_us=6)
        with pytest.raises(dataclasses.FrozenInstanceError):
            stamped.store_created_us = 0  # type: ignore[misc]
        for kind, arg in (("insert", obj), ("update", obj), ("delete", None)):
            event = _records.change_event(kind, "eml:///", obj.uri, 7, arg)  # type: ignore[arg-type]
            expected = ChangeEvent(kind, "eml:///", obj.uri, 7, arg)  # type: ignore[arg-type]
            assert event == expected and hash(event) == hash(expected)
        assert _records.change_event("delete", "d", obj.uri, 8) == ChangeEvent(
            "delete", "d", obj.uri, 8
        )
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.uri = ""  # type: ignore[misc]


@pytest.mark.parametrize("uri", [None, "eml:///dataspace('a/b')/resqml20.obj_X(u)"])
def test_put_records_made_field_by_field_equal_the_constructors(uri: str | None) -> None:
    put = _records.object_put(b"<x/>", uri, "xml")
    assert put == ObjectPut(b"<x/>", uri, "xml") and hash(put) == hash(ObjectPut(b"<x/>", uri))
    result = _records.put_result("u", True)
    assert result == PutResult("u", True) and result != PutResult("u", False)
    for made in (put, result):
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.uri = ""  # type: ignore[misc]


@pytest.mark.parametrize("status", [False, True])
@pytest.mark.parametrize(
    "custom",
    [
        {},
        {"k": datatypes.DataValue(item="v"), "n": datatypes.DataValue(item=3)},
        {"plain": {"item": "v"}},  # a Python caller's value: converted by the constructor
    ],
)
def test_dataspace_records_made_field_by_field_equal_the_constructors(
    custom: dict[str, Any], status: bool
) -> None:
    """The store's DataspaceRecord and the ETP Dataspace (and the GetDataspacesResponse of
    them) the server answers with are those the constructors make, encoded to the same bytes."""
    from etp_sync.server import _h_dataspace
    from etp_sync.server.store import DataspaceRecord

    values = ("eml:///dataspace('a/b')", "a/b", 1, 2, dict(custom), 10 if status else None)
    rec = _records.dataspace_record(*values)
    assert rec == DataspaceRecord(*values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.uri = ""  # type: ignore[misc]
    made = _common.dataspace_record(rec, status)
    data = {**custom}
    if status:
        data.update(_common.custom_data({"locked": False, "read-only": False, "size": "10 B"}))
    expected = datatypes.Object.Dataspace(
        uri=rec.uri, path=rec.path, store_last_write=2, store_created=1, custom_data=data
    )
    assert made == expected
    response = _h_dataspace._get_dataspaces_response([made])
    by_constructor = messages.Dataspace.GetDataspacesResponse(dataspaces=[expected])
    assert response == by_constructor
    assert encode_body(response).to_bytes() == encode_body(by_constructor).to_bytes()


def test_a_dataspace_custom_value_the_constructor_refuses_is_refused() -> None:
    """A customData value that is no DataValue (nor a mapping of one) fails as the Dataspace
    constructor fails: ETPInvalidArgument."""
    from etp_sync.errors import ETPInvalidArgument

    rec = _records.dataspace_record("eml:///dataspace('a/b')", "a/b", 1, 2, {"x": 5}, None)
    with pytest.raises(ETPInvalidArgument):
        _common.dataspace_record(rec)


def test_get_dataspaces_answers_an_unchanged_listing_with_the_same_bytes() -> None:
    """A GetDataspaces whose listing did not change is answered with the encoded reply of the
    last one; any change of the listing (a dataspace added, a write, another filter, the
    open-etp-server status, another message limit) is answered anew, as without that reuse."""
    import types

    from etp_sync.codec import EncodedBody
    from etp_sync.server import _h_dataspace
    from etp_sync.server._profile import server_profile
    from etp_sync.server.store import Store

    store = Store(max_store_bytes=None)
    session = types.SimpleNamespace(
        store=store, profile=server_profile(None), max_message_size=1 << 20
    )

    def listing(last_write_filter: int | None = None) -> tuple[bytes, list[str]]:
        request = messages.Dataspace.GetDataspaces(store_last_write_filter=last_write_filter)
        reply = _h_dataspace.get_dataspaces(session, None, request)
        assert reply is not None and len(reply) == 1  # type: ignore[arg-type]
        encoded = next(iter(reply))
        assert isinstance(encoded, EncodedBody)
        expected = messages.Dataspace.GetDataspacesResponse(
            dataspaces=[
                _common.dataspace_record(r, session.profile.dataspace_status)
                for r in store.get_dataspaces(
                    last_write_filter, sizes=session.profile.dataspace_status
                )
            ]
        )
        assert encoded.to_bytes() == encode_body(expected).to_bytes()
        body: Any = encoded.body
        return encoded.to_bytes(), [d.path for d in body.dataspaces]

    assert listing()[1] == []
    store.put_dataspace("eml:///dataspace('a/one')")
    first = listing()
    assert first[1] == ["a/one"] and listing() == first
    request = messages.Dataspace.GetDataspaces()
    replies = [list(_h_dataspace.get_dataspaces(session, None, request) or []) for _ in "ab"]
    assert replies[0][0] is replies[1][0]  # the same encoded reply, not made again
    store.put_dataspace("eml:///dataspace('a/two')")
    assert listing()[1] == ["a/one", "a/two"]
    since = store.get_dataspaces()[0].store_last_write_us
    assert listing(since)[1] == ["a/two"]
    _done, errors = store.put_objects(
        "eml:///dataspace('a/one')", {"crs": samples.local_depth_crs(uuid.uuid4(), "crs")}
    )
    assert not errors
    assert listing(since)[1] == ["a/one", "a/two"]
    session.profile = server_profile("open-etp-server")
    assert b"size" in listing()[0]
    session.max_message_size = 1 << 19
    listing()
