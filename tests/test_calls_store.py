"""End-to-end tests of the Dataspace, Discovery, SupportedTypes, query and Store calls.

Every test talks to an :class:`~etp_sync.server.EmbeddedServer` over a real socket.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Harness, connection_loss

from etp_sync import (
    DataObjectURI,
    DataspaceURI,
    ErrorCode,
    ETPInvalidArgument,
    ETPNotNegotiated,
    ETPPartialFailure,
    ETPRemoteError,
    ETPSession,
    InvalidURIError,
    samples,
)
from etp_sync.calls import DataObject, Dataspace, Resources

DS = "model/base"
DS_URI = DataspaceURI(DS)

CRS_UUID = "5d6a07b2-30a5-4b8e-a1c2-7e0f4b3c2d11"
EPC_UUID = "b0a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
GRID_UUID = "3f8e1c2a-9b7d-4e6f-a5b4-c3d2e1f0a9b8"


CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def crs_xml(uid: str = CRS_UUID, title: str = "Local depth CRS", padding: int = 0) -> bytes:
    """A RESQML 2.0.1 CRS; ``padding`` (filler characters) makes it as large as a test needs."""
    return samples.padded(samples.local_depth_crs(uuid.UUID(uid), title, created=CREATED), padding)


def epc_xml(uid: str = EPC_UUID) -> bytes:
    return samples.epc_external_part_reference(uuid.UUID(uid), created=CREATED)


def grid_xml(uid: str = GRID_UUID) -> bytes:
    """A grid referencing the CRS and the EPC reference, created at a time with a fraction."""
    return samples.grid2d_representation(
        uuid.UUID(uid),
        crs=uuid.UUID(CRS_UUID),
        epc=uuid.UUID(EPC_UUID),
        shape=(3, 4),
        array_path=f"/RESQML/{uid}/zvalues",
        title="Top reservoir",
        created=datetime(2024, 7, 8, 9, 10, 11, 250000, tzinfo=UTC),
    )


CRS = DataObjectURI.from_type(DS, "resqml20.obj_LocalDepth3dCrs", CRS_UUID)
EPC = DataObjectURI.from_type(DS, "eml20.obj_EpcExternalPartReference", EPC_UUID)
GRID = DataObjectURI.from_type(DS, "resqml20.obj_Grid2dRepresentation", GRID_UUID)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture()
def make_session(harness: Harness) -> Callable[..., ETPSession]:
    """Start embedded servers (keyword arguments of EmbeddedServer) and connect sessions."""

    def make(
        *, protocols: Any = None, max_response_size: int | None = None, **server_kwargs: Any
    ) -> ETPSession:
        kwargs: dict[str, Any] = {} if protocols is None else {"protocols": protocols}
        if max_response_size is not None:
            kwargs["max_response_size"] = max_response_size
        session: ETPSession = harness.session(harness.server(**server_kwargs), timeout=20, **kwargs)
        return session

    return make


@pytest.fixture()
def session(make_session: Callable[..., ETPSession]) -> ETPSession:
    return make_session()


@pytest.fixture()
def model(session: ETPSession) -> ETPSession:
    """A session whose server holds the small RESQML model CRS <- Grid -> EPC in DS."""
    session.put_dataspace(DS)
    session.put_data_objects([crs_xml(), epc_xml(), grid_xml()], dataspace=DS)
    return session


class Recorder:
    """Wraps ``session.request`` to record what was sent and what came back, and
    ``session.send`` (pipelined requests) to record what was sent."""

    def __init__(self, session: ETPSession) -> None:
        self.sent: list[list[str]] = []
        self.received: list[list[str]] = []
        original = session.request

        def request(message: Any, **kwargs: Any) -> Any:
            bodies = message if isinstance(message, list | tuple) else [message]
            self.sent.append([b.etp_name for b in bodies])
            response = original(message, **kwargs)
            self.received.append([m.etp_name for m in response.messages])
            return response

        session.request = request  # type: ignore[method-assign]
        original_send = session.send

        def send(message: Any, **kwargs: Any) -> Any:
            self.sent.append([message.etp_name])
            return original_send(message, **kwargs)

        session.send = send  # type: ignore[method-assign]

    def requests_named(self, name: str) -> list[list[str]]:
        return [parts for parts in self.sent if parts[0] == name]


# -- dataspaces --------------------------------------------------------------------------------


def test_dataspaces_round_trip_with_acl_and_custom_data(session: ETPSession) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    uri = session.put_dataspace(
        "project/alpha",
        legal_tags=["osdu-public-usa"],
        owners=["owners@example.com", "admins@example.com"],
        viewers=["viewers@example.com"],
        countries=["NO", "US"],
        custom_data={"note": "hello", "n": 42, "x": 1.5, "flag": True, "raw": b"\x00\x01"},
    )
    assert uri == DataspaceURI("project/alpha")
    created = session.put_dataspaces(["project/beta", "eml:///dataspace('project/gamma')"])
    assert [str(u) for u in created] == [
        "eml:///dataspace('project/beta')",
        "eml:///dataspace('project/gamma')",
    ]

    spaces = {d.path: d for d in session.get_dataspaces()}
    assert {"project/alpha", "project/beta", "project/gamma"} <= set(spaces)
    alpha = spaces["project/alpha"]
    assert isinstance(alpha, Dataspace)
    assert alpha.uri == uri
    assert alpha.custom_data["legaltags"] == ["osdu-public-usa"]
    assert alpha.custom_data["owners"] == ["owners@example.com", "admins@example.com"]
    assert alpha.custom_data["otherRelevantDataCountries"] == ["NO", "US"]
    assert alpha.legal_tags == ["osdu-public-usa"]
    assert alpha.viewers == ["viewers@example.com"]
    assert alpha.countries == ["NO", "US"]
    assert alpha.custom_data["note"] == "hello"
    assert alpha.custom_data["n"] == 42
    assert alpha.custom_data["x"] == 1.5
    assert alpha.custom_data["flag"] is True
    assert alpha.custom_data["raw"] == b"\x00\x01"
    assert alpha.store_created >= before
    assert alpha.store_created.tzinfo is not None
    assert isinstance(alpha.store_last_write_us, int)

    later = session.get_dataspaces(store_last_write_filter=alpha.store_last_write_us + 10**9)
    assert later == []

    with pytest.raises(ETPRemoteError) as info:
        session.put_dataspace("project/alpha")
    assert info.value.code == ErrorCode.EINVALID_ARGUMENT

    session.delete_dataspace("project/alpha")
    session.delete_dataspaces(["project/beta", DataspaceURI("project/gamma")])
    paths = {d.path for d in session.get_dataspaces()}
    assert not paths & {"project/alpha", "project/beta", "project/gamma"}
    with pytest.raises(ETPRemoteError) as info:
        session.delete_dataspace("project/alpha")
    assert info.value.code == ErrorCode.ENOT_FOUND


def test_delete_dataspaces_partial_failure(session: ETPSession) -> None:
    session.put_dataspace("p/one")
    with pytest.raises(ETPPartialFailure) as info:
        session.delete_dataspaces(["p/one", "p/missing"])
    assert info.value.successes == [DataspaceURI("p/one")]
    assert list(info.value.errors) == ["eml:///dataspace('p/missing')"]
    assert info.value.errors["eml:///dataspace('p/missing')"][0] == ErrorCode.ENOT_FOUND


def test_bad_input_fails_before_anything_is_sent(
    make_session: Callable[..., ETPSession],
) -> None:
    connected = make_session()
    session = ETPSession(connected.url)  # never connected: anything sent would connect it
    bad_calls: list[tuple[type[Exception], Callable[[], Any]]] = [
        (InvalidURIError, lambda: session.put_dataspace("")),
        (InvalidURIError, lambda: session.put_dataspace("eml:///")),
        (InvalidURIError, lambda: session.delete_dataspace("eml:///dataspace(")),
        (ETPInvalidArgument, lambda: session.put_dataspace("a/b", legal_tags="tag")),
        (ETPInvalidArgument, lambda: session.put_dataspace("a/b", custom_data={"k": object()})),
        (ETPInvalidArgument, lambda: session.get_dataspaces(store_last_write_filter="now")),  # type: ignore[arg-type]
        (InvalidURIError, lambda: session.get_data_objects(["eml:///nonsense(1)"])),
        (InvalidURIError, lambda: session.get_data_objects([str(GRID), "not a uri"])),
        (InvalidURIError, lambda: session.delete_data_objects([f"{DS_URI}/resqml20.obj_X(12)"])),
        (ETPInvalidArgument, lambda: session.put_data_objects([b"<not-energistics/>"])),
        (ETPInvalidArgument, lambda: session.put_data_objects([b"<<<"])),
        (ETPInvalidArgument, lambda: session.put_data_objects({str(GRID): crs_xml()})),
        (ETPInvalidArgument, lambda: session.put_data_objects({GRID: 12})),  # type: ignore[arg-type]
        (ETPInvalidArgument, lambda: session.put_data_objects({GRID: grid_xml()}, dataspace="x/y")),
        (InvalidURIError, lambda: session.put_data_objects({"eml:///bad": grid_xml()})),
        (ETPInvalidArgument, lambda: session.get_resources(DS, scope="everything")),
        (ETPInvalidArgument, lambda: session.get_resources(DS, depth=0)),
        (ETPInvalidArgument, lambda: session.get_resources(DS, navigable_edges="Sideways")),
        (InvalidURIError, lambda: session.get_resources(DS, types=["resqml20"])),
        (InvalidURIError, lambda: session.get_resources("eml:///dataspace('a')/x")),
        (ETPInvalidArgument, lambda: session.get_supported_types(DS, scope="up")),
        (InvalidURIError, lambda: session.get_deleted_resources("")),
        (ETPInvalidArgument, lambda: session.find_resources(DS, query=3)),  # type: ignore[arg-type]
    ]
    for error, call in bad_calls:
        with pytest.raises(error):
            call()
    assert session.connect_count == 0 and not session.is_open


# -- store -------------------------------------------------------------------------------------


def test_put_get_delete_round_trip(session: ETPSession) -> None:
    session.put_dataspace(DS)
    text = crs_xml().decode()
    mixed: dict[str | DataObjectURI, str | bytes] = {str(CRS): text, GRID: grid_xml()}
    results = session.put_data_objects(mixed)
    assert set(results) == {CRS, GRID}
    assert results[GRID].uri == GRID

    objects = session.get_data_objects([GRID, str(CRS)])
    assert list(objects) == [GRID, CRS]
    grid = objects[GRID]
    assert isinstance(grid, DataObject)
    assert grid.xml == grid_xml()
    assert objects[CRS].text == text
    assert grid.name == grid.title == "Top reservoir"
    assert grid.qualified_type == "resqml20.obj_Grid2dRepresentation"
    assert grid.format == "xml"
    assert grid.last_changed == datetime(2024, 7, 8, 9, 10, 11, 250000, tzinfo=UTC)
    assert grid.store_created_us > 0 and grid.store_last_write_us >= grid.store_created_us
    assert session.get_data_object(CRS).name == "Local depth CRS"

    deleted = session.delete_data_objects([GRID])
    assert deleted == {GRID: [GRID]}
    with pytest.raises(ETPRemoteError) as info:
        session.get_data_objects([GRID])
    assert not isinstance(info.value, ETPPartialFailure)
    assert info.value.code == ErrorCode.ENOT_FOUND
    assert list(info.value.errors) == [str(GRID)]


def test_put_derives_uris_from_xml(session: ETPSession) -> None:
    session.put_dataspace(DS)
    results = session.put_data_objects([crs_xml(), epc_xml().decode(), grid_xml()], dataspace=DS)
    assert list(results) == [CRS, EPC, GRID]
    single = session.put_data_object(crs_xml(str(uuid.uuid4()), "second"), dataspace=DS_URI)
    assert single.dataspace == DS_URI
    assert session.get_data_object(single).name == "second"
    assert {r.uri for r in session.get_resources(DS)} == {CRS, EPC, GRID, single}


def test_partial_failure_keeps_successes(session: ETPSession) -> None:
    session.put_dataspace(DS)
    session.put_data_objects([crs_xml(), epc_xml()], dataspace=DS)
    missing = DataObjectURI.from_type(DS, "resqml20.obj_LocalDepth3dCrs", uuid.uuid4())
    with pytest.raises(ETPPartialFailure) as info:
        session.get_data_objects([CRS, missing, EPC])
    error = info.value
    assert set(error.successes) == {CRS, EPC}
    assert error.successes[CRS].xml == crs_xml()
    assert error.errors == {str(missing): (ErrorCode.ENOT_FOUND, error.errors[str(missing)][1])}
    assert error.code == ErrorCode.ENOT_FOUND

    with pytest.raises(ETPPartialFailure) as info:
        session.delete_data_objects([CRS, missing])
    assert info.value.successes == {CRS: [CRS]}
    assert list(info.value.errors) == [str(missing)]


def test_large_object_goes_in_chunks_both_ways(make_session: Callable[..., ETPSession]) -> None:
    # The object's reply (~320 KB in 64 KiB parts; not compressed on loopback) is more than
    # the default max_response_size of 4 messages allows for one object: allow it.
    session = make_session(max_message_size=64 * 1024, max_response_size=1 << 20)
    assert session.server.max_message_size == 64 * 1024
    session.put_dataspace(DS)
    big = crs_xml(padding=320_000)
    assert len(big) > 300_000
    recorder = Recorder(session)

    session.put_data_objects([big, grid_xml()], dataspace=DS)
    puts = recorder.requests_named("PutDataObjects")
    chunked = [parts for parts in puts if "Chunk" in parts]
    assert len(chunked) == 1 and chunked[0][0] == "PutDataObjects"
    assert len(chunked[0]) - 1 >= 300_000 // (64 * 1024)  # several chunks
    assert ["PutDataObjects"] in puts  # the small object went on its own

    objects = session.get_data_objects([CRS, GRID])
    assert objects[CRS].xml == big
    assert objects[GRID].xml == grid_xml()
    assert "Chunk" in recorder.received[-1]


def test_long_uri_lists_are_split_into_several_requests(
    make_session: Callable[..., ETPSession],
) -> None:
    session = make_session(max_message_size=16 * 1024)
    session.put_dataspace(DS)
    present = [crs_xml(str(uuid.uuid4()), f"crs {i}") for i in range(80)]
    stored = list(session.put_data_objects(present, dataspace=DS))
    missing = [
        DataObjectURI.from_type(DS, "resqml20.obj_LocalDepth3dCrs", uuid.uuid4())
        for _ in range(300)
    ]
    recorder = Recorder(session)
    with pytest.raises(ETPPartialFailure) as info:
        session.get_data_objects(stored + missing)
    assert len(recorder.requests_named("GetDataObjects")) > 1
    assert list(info.value.successes) == stored
    assert set(info.value.errors) == {str(u) for u in missing}

    deleted = session.delete_data_objects(stored)
    assert len(recorder.requests_named("DeleteDataObjects")) > 1
    assert list(deleted) == stored


def test_auto_transaction_when_the_server_demands_one(
    make_session: Callable[..., ETPSession],
) -> None:
    session = make_session(require_transactions=True)
    session.put_dataspace(DS)
    session.put_data_objects([crs_xml(), epc_xml(), grid_xml()], dataspace=DS)
    assert session.active_transaction is None
    assert session.get_data_objects([GRID])[GRID].xml == grid_xml()
    assert session.delete_data_objects([GRID]) == {GRID: [GRID]}
    with session.transaction(DS):
        session.put_data_objects({GRID: grid_xml()})
    assert len(session.get_resources(DS)) == 3


# -- discovery ---------------------------------------------------------------------------------


def test_get_resources_of_a_dataspace(model: ETPSession) -> None:
    resources = model.get_resources(DS)
    assert isinstance(resources, Resources)
    assert sorted(resources.uris, key=str) == sorted([CRS, EPC, GRID], key=str)
    assert resources.edges == ()
    by_uri = {r.uri: r for r in resources}
    grid = by_uri[GRID]
    assert grid.name == "Top reservoir"
    assert grid.qualified_type == "resqml20.obj_Grid2dRepresentation"
    assert grid.active
    assert grid.last_changed == datetime(2024, 7, 8, 9, 10, 11, 250000, tzinfo=UTC)

    only_grids = model.get_resources(DS_URI, types=["resqml20.obj_Grid2dRepresentation"])
    assert only_grids.uris == [GRID]
    assert {r.uri for r in model.get_resources(DS, types="eml20.*")} == {EPC}
    newer = model.get_resources(DS, store_last_write_filter=grid.store_last_write_us + 10**9)
    assert len(newer) == 0


def test_get_resources_scopes_and_edges(model: ETPSession) -> None:
    # The grid's HdfProxy (the EPC reference of its z values) is no link (as on open-etp-server).
    targets = model.get_resources(GRID, scope="targetsOrSelf", include_edges=True)
    assert set(targets.uris) == {GRID, CRS}
    assert {(e.source, e.target) for e in targets.edges} == {(GRID, CRS)}
    assert {e.relationship_kind for e in targets.edges} == {"Primary"}

    only_targets = model.get_resources(str(GRID), scope="targets")
    assert set(only_targets.uris) == {CRS}

    sources = model.get_resources(CRS, scope="sourcesOrSelf", include_edges=True)
    assert set(sources.uris) == {CRS, GRID}
    assert [(e.source, e.target) for e in sources.edges] == [(GRID, CRS)]

    counted = model.get_resources(CRS, scope="self", count_objects=True)
    assert [(r.uri, r.source_count, r.target_count) for r in counted] == [(CRS, 1, 0)]
    assert model.get_resources(EPC, scope="sources").uris == []


def test_supported_and_deleted_resources(model: ETPSession) -> None:
    types = {t.data_object_type: t for t in model.get_supported_types(DS)}
    assert set(types) == {
        "resqml20.obj_LocalDepth3dCrs",
        "resqml20.obj_Grid2dRepresentation",
        "eml20.obj_EpcExternalPartReference",
    }
    assert all(t.object_count == 1 for t in types.values())
    around_grid = model.get_supported_types(GRID, scope="targets")
    assert {t.data_object_type for t in around_grid} == {"resqml20.obj_LocalDepth3dCrs"}

    assert model.get_deleted_resources(DS) == []
    before = datetime.now(UTC)
    model.delete_data_objects([GRID])
    deleted = model.get_deleted_resources(DS)
    assert [d.uri for d in deleted] == [GRID]
    assert deleted[0].deleted_time >= before.replace(microsecond=0)
    assert model.get_deleted_resources(DS, types=["eml20.*"]) == []


def test_find_resources_and_data_objects(model: ETPSession) -> None:
    found = model.find_resources(DS, types=["resqml20.*"])
    assert {r.uri for r in found} == {CRS, GRID}
    assert len(model.find_resources(DS, query={"$top": 2})) == 2
    objects = model.find_data_objects(GRID, scope="targetsOrSelf")
    assert {o.uri: o.xml for o in objects} == {GRID: grid_xml(), CRS: crs_xml()}


def test_query_protocols_not_granted(make_session: Callable[..., ETPSession]) -> None:
    session = make_session(protocols=(3, 4, 18, 24))
    with pytest.raises(ETPNotNegotiated):
        session.find_resources(DS)
    with pytest.raises(ETPNotNegotiated):
        session.find_data_objects(DS)
    with pytest.raises(ETPNotNegotiated):
        session.get_supported_types(DS)


@pytest.mark.parametrize("require_transactions", [False, True])
def test_put_with_an_invalid_document(
    make_session: Callable[..., ETPSession], require_transactions: bool
) -> None:
    session = make_session(require_transactions=require_transactions)
    session.put_dataspace(DS)
    with pytest.raises(ETPRemoteError) as info:
        session.put_data_objects({GRID: grid_xml(), CRS: b"<broken"})
    error = info.value
    assert error.errors[str(CRS)][0] == ErrorCode.EINVALID_OBJECT
    if require_transactions:
        # The automatic transaction was rolled back: nothing was stored.
        assert not isinstance(error, ETPPartialFailure)
        assert str(GRID) in error.errors and not error.successes
        assert len(session.get_resources(DS)) == 0
    else:
        assert isinstance(error, ETPPartialFailure)
        assert list(error.successes) == [GRID]
        assert session.get_resources(DS).uris == [GRID]


# -- chunk reassembly details (no server needed) -----------------------------------------------


def _response_with(*bodies: Any) -> Any:
    from etp_sync.protocol.correlation import Response

    return Response(list(bodies), [])


def _data_object(uri: DataObjectURI, data: bytes, blob_id: uuid.UUID | None = None) -> Any:
    from etp_sync.schema import datatypes

    return datatypes.Object.DataObject(
        resource=datatypes.Object.Resource(
            uri=str(uri),
            name="x",
            last_changed=1,
            store_last_write=2,
            store_created=3,
            active_status="Active",
        ),
        blob_id=blob_id,
        data=data,
    )


def test_chunks_reassembled_and_trailing_empty_response_tolerated() -> None:
    from etp_sync.calls._store_replies import _assemble_objects
    from etp_sync.errors import ETPProtocolError
    from etp_sync.schema import messages

    blob = uuid.uuid4()
    by_key = {str(GRID): GRID, str(CRS): CRS}
    response = _response_with(
        messages.Store.GetDataObjectsResponse(
            data_objects={str(GRID): _data_object(GRID, b"", blob)}
        ),
        messages.Store.Chunk(blob_id=blob, data=b"<a>", final=False),
        messages.Store.Chunk(blob_id=blob, data=b"</a>", final=True),
        messages.Store.GetDataObjectsResponse(data_objects={str(CRS): _data_object(CRS, b"<c/>")}),
        messages.Store.GetDataObjectsResponse(data_objects={}),  # open-etp-server's extra part
    )
    found = _assemble_objects(response, by_key)
    assert found[str(GRID)].xml == b"<a></a>"
    assert found[str(CRS)].xml == b"<c/>"
    assert found[str(GRID)].store_created_us == 3

    stray = _response_with(messages.Store.Chunk(blob_id=blob, data=b"x", final=True))
    with pytest.raises(ETPProtocolError):
        _assemble_objects(stray, by_key)
    unfinished = _response_with(
        messages.Store.GetDataObjectsResponse(
            data_objects={str(GRID): _data_object(GRID, b"", blob)}
        ),
        messages.Store.Chunk(blob_id=blob, data=b"<a>", final=False),
    )
    with pytest.raises(ETPProtocolError):
        _assemble_objects(unfinished, by_key)


def test_connection_death_inside_a_transaction_is_reported(harness: Harness) -> None:
    """Writes in a transaction whose connection died are gone; the commit says so clearly."""
    from etp_sync.calls import TransactionError
    from etp_sync.samples import surface_model

    srv = harness.server()
    session = harness.session(srv, timeout=20)
    ds = session.put_dataspace("tx/died")
    model = surface_model(ds, shape=(3, 4))
    with pytest.raises(TransactionError, match="connection died"), session.transaction(ds):
        session.put_data_objects(model.objects)
        with connection_loss(session):
            srv.drop_connections()
    assert len(session.get_resources(ds)) == 0  # the server rolled the writes back


def test_put_record_equals_the_constructors_record() -> None:
    """A put's DataObject records are built field by field, without the records' keyword
    constructors: they must hold what those would (a field added to the schema and not set
    would fail here), and encode alike."""
    from etp_sync.calls._put_plan import _PutItem
    from etp_sync.codec import encode_body
    from etp_sync.schema import datatypes
    from etp_sync.xmlinfo import parse_data_object

    xml = crs_xml()
    item = _PutItem(CRS, xml, parse_data_object(xml))
    blob = uuid.uuid4()
    for blob_id, last_changed in ((None, item.last_changed), (blob, item.last_changed)):
        expected = datatypes.Object.DataObject(
            resource=datatypes.Object.Resource(
                uri=str(CRS),
                name="Local depth CRS",
                last_changed=last_changed,
                store_last_write=7,
                store_created=7,
                active_status="Active",
            ),
            format="xml",
            blob_id=blob_id,
            data=b"" if blob_id else xml,
        )
        made = item.record(7, blob_id)
        assert made == expected
        assert encode_body(made).to_bytes() == encode_body(expected).to_bytes()
    untimed = _PutItem(CRS, b"<x/>", None)  # no citation time: the store's
    assert untimed.record(9).resource.last_changed == 9


def test_put_refuses_a_document_whose_uuid_is_not_its_uri() -> None:
    """The uuid in a document put under a URI must be the URI's, whatever the case the URI
    was written in and whether it has a version."""
    from etp_sync.calls._put_plan import _put_items

    xml = crs_xml()
    upper = str(CRS).replace(CRS_UUID, CRS_UUID.upper())
    assert [i.uri for i in _put_items({upper: xml}, None)] == [CRS]
    versioned = CRS.with_version("3")
    assert [i.key for i in _put_items({versioned: xml}, None)] == [str(versioned)]
    wrong = DataObjectURI.from_type(DS, "resqml20.obj_LocalDepth3dCrs", uuid.UUID(int=0xABC))
    for uri in (wrong, wrong.with_version("1"), str(wrong).replace("abc", "ABC")):
        with pytest.raises(ETPInvalidArgument) as info:
            _put_items({uri: xml}, None)
        shown = uri if isinstance(uri, DataObjectURI) else DataObjectURI.parse(uri)
        assert info.value.message == f"the document put as {shown} has uuid {CRS_UUID} in its XML"
