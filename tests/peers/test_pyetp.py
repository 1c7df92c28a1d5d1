"""Interoperability with Equinor's pyetp 0.0.58, through its own public API.

* The embedded server is driven by pyetp's clients (``pyetp.etp_connect``, ``rddms_io``'s
  ``RDDMSClient`` and ``RDDMSClientSync``): dataspaces with ACLs, a RESQML model uploaded in a
  transaction with an array too big for one message (PutDataSubarrays / GetDataSubarrays),
  discovery, linked objects, download, deletes, and a data object too big for one message
  (Chunk, both directions).
* Cross-client: what pyetp writes, :class:`etp_sync.ETPSession` reads back byte for byte (XML)
  and value, shape and dtype for dtype (arrays), and the other way round.

See ``tests/peers/NOTES.md`` for what pyetp needs from a server.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import numpy as np
import pytest

pytest.importorskip("pyetp", reason="pyetp is not installed (pip install -e '.[peers]')")

import resqml_objects.v201 as ro
from energistics.etp.v12.protocol.dataspace import (
    GetDataspaces,
    GetDataspacesResponse,
)
from energistics.etp.v12.protocol.store import (
    Chunk,
    GetDataObjects,
    GetDataObjectsResponse,
)
from pyetp import etp_connect as pyetp_connect
from pyetp.client import ETPError as PyETPError
from pyetp.errors import ETPTransactionFailure
from rddms_io import RDDMSClient, RDDMSClientSync, rddms_connect
from resqml_objects import serialize_resqml_v201_object
from resqml_objects.v201.common_models import RegularSurfaceModels

from etp_sync import ETPSession
from etp_sync.samples import surface_model
from etp_sync.server import EmbeddedServer

pytestmark = [pytest.mark.peers, pytest.mark.timeout(120)]

T = TypeVar("T")

MIB = 1 << 20
# The server's MaxWebSocketMessagePayloadSize; pyetp's RDDMS clients default to the same 1 MiB.
SERVER_MAX = MIB
# 600 x 700 float64 = 3.36 MB: more than three times the limit, so the array travels in blocks.
BIG_SHAPE = (600, 700)
TIMEOUT = 30.0  # pyetp's etp_timeout and the bound on every asyncio flow
ACL = {
    "legal_tags": ["etp-sync-legal"],
    "other_relevant_data_countries": ["NO", "GB"],
    "owners": ["owners@etp-sync.test"],
    "viewers": ["viewers@etp-sync.test"],
}
# pyetp uploads every dtype in this list (uint dtypes it cannot: KeyError in its type mapping).
DTYPES = ["float64", "float32", "int64", "int32", "int8", "bool"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a pyetp coroutine on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 2))


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer("127.0.0.1", 0, max_message_size=SERVER_MAX) as srv:
        yield srv


class Traffic(logging.Handler):
    """Counts the messages the embedded server receives and sends, by name (from its debug
    log), to prove which path (whole arrays or subarrays, whole objects or chunks) was taken."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.received: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.args, tuple) or len(record.args) < 2:
            return
        if record.msg.startswith("%s -> %s"):
            self.received[str(record.args[1])] += 1
        elif record.msg.startswith("%s <- %s"):
            self.sent[str(record.args[1])] += 1


@pytest.fixture()
def traffic() -> Iterator[Traffic]:
    logger = logging.getLogger("etp_sync.server")
    handler, level, propagate = Traffic(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture()
def session(server: EmbeddedServer) -> Iterator[ETPSession]:
    with ETPSession(server.url, timeout=TIMEOUT) as s:
        yield s


def dataspace_name(tag: str) -> str:
    return f"peers/pyetp-{tag}-{uuid.uuid4().hex[:8]}"


def pyetp_model(
    shape: tuple[int, int] = BIG_SHAPE, seed: int = 0
) -> tuple[list[Any], dict[str, np.ndarray]]:
    """pyetp's own depth surface: [EpcExternalPartReference, LocalDepth3dCrs,
    Grid2dRepresentation] and ``{"/RESQML/<grid uuid>/zvalues": z}``."""
    surf = np.random.default_rng(seed).normal(2000.0, 50.0, shape)
    objs, arrays = RegularSurfaceModels.get_depth_model(
        originator="etp_sync peers test",
        title="pyetp surface",
        origin=np.array([1000.0, 2000.0]),
        spacing=np.array([25.0, 50.0]),
        angle_in_rad=0.1,
        surf=surf,
        vertical_epsg_code=5709,
        projected_epsg_code=23031,
    )
    return list(objs), dict(arrays)


def sample_array(dtype: str, shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    """Random values of ``dtype``; integers stay well inside the varint budget pyetp allows
    (its blocks are sized by ``itemsize``, with 4096 bytes of slack)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind == "i":
        bound = min(np.iinfo(dt).max, 1 << 20)
        return rng.integers(-bound, bound, shape, dtype=dt)
    return rng.normal(0.0, 1e3, shape).astype(dt)


def dtype_arrays() -> dict[str, np.ndarray]:
    """One small (PutDataArrays / GetDataArrays) and one big (subarrays) array per dtype."""
    arrays = {}
    for i, dtype in enumerate(DTYPES):
        arrays[f"/RESQML/extra/{dtype}"] = sample_array(dtype, (40, 50), seed=i)
        arrays[f"/RESQML/extra/big-{dtype}"] = sample_array(dtype, BIG_SHAPE, seed=i)
    return arrays


def assert_same_array(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


def assert_no_sessions_left(server: EmbeddedServer) -> None:
    """CloseSession is answered by closing the websocket: no session lingers on the server."""
    assert server.wait_for_sessions(0, 5.0), f"{server.session_count} session(s) left"


def acl_of(dataspace: Any) -> dict[str, list[str]]:
    """pyetp's Dataspace.customData as plain lists of strings."""
    return {k: list(v.item.values) for k, v in dataspace.custom_data.items()}


WANT_ACL = {
    "legaltags": ACL["legal_tags"],
    "otherRelevantDataCountries": ACL["other_relevant_data_countries"],
    "owners": ACL["owners"],
    "viewers": ACL["viewers"],
}


# -- pyetp against the embedded server ---------------------------------------------------------


def test_pyetp_handshake(server: EmbeddedServer) -> None:
    """pyetp's strict OpenSession validation passes: store role for all five protocols, gzip,
    the server's message limit."""

    async def flow() -> None:
        async with pyetp_connect(
            server.url, etp_timeout=TIMEOUT, max_message_size=SERVER_MAX
        ) as client:
            granted = {(p.protocol.value, p.role.value) for p in client.negotiated_protocols}
            assert granted == {(p, "store") for p in (3, 4, 9, 18, 24)}
            assert client.negotiated_compression is not None
            assert client.negotiated_compression.name.lower() == "gzip"
            assert client.max_size == SERVER_MAX
            responses = await client.send_and_recv(GetDataspaces())
            assert len(responses) == 1 and isinstance(responses[0], GetDataspacesResponse)
            assert responses[0].dataspaces == []

    run(flow())
    assert_no_sessions_left(server)


@pytest.mark.parametrize("compression", [True, False], ids=["gzip", "plain"])
def test_pyetp_rddms_workflow(server: EmbeddedServer, traffic: Traffic, compression: bool) -> None:
    """pyetp's RDDMSClient: the whole life of a RESQML model in a dataspace with an ACL."""
    ds = dataspace_name("flow")
    ds_uri = f"eml:///dataspace('{ds}')"
    objs, arrays = pyetp_model()
    epc, crs, gri = objs
    ((path, z),) = arrays.items()
    assert z.nbytes > 3 * SERVER_MAX

    async def flow() -> None:
        async with rddms_connect(
            server.url,
            etp_timeout=TIMEOUT,
            max_message_size=SERVER_MAX,
            use_compression=compression,
        ) as rc:
            assert isinstance(rc, RDDMSClient)
            await rc.create_dataspace(ds, **ACL)

            mine = [d for d in await rc.list_dataspaces() if d.path == ds]
            assert len(mine) == 1
            assert mine[0].uri == ds_uri
            assert acl_of(mine[0]) == WANT_ACL

            uris = await rc.upload_model(ds, objs, data_arrays=arrays)
            assert uris == [o.get_etp_data_object_uri(ds) for o in objs]
            epc_uri, crs_uri, gri_uri = uris

            listed = await rc.list_objects_under_dataspace(ds)
            assert sorted(r.uri for r in listed) == sorted(uris)
            by_uri = {r.uri: r for r in listed}
            for o, u in zip(objs, uris, strict=True):
                assert by_uri[u].name == o.citation.title
            grids = await rc.list_objects_under_dataspace(
                ds, data_object_types=[ro.obj_Grid2dRepresentation]
            )
            assert [r.uri for r in grids] == [gri_uri]
            eml = await rc.list_objects_under_dataspace(ds, data_object_types=["eml20.*"])
            assert [r.uri for r in eml] == [epc_uri]

            linked = await rc.list_linked_objects(gri_uri)
            assert linked.self_resource.uri == gri_uri
            # As on open-etp-server, the HdfProxy (EPC reference) of the z values is no link.
            assert {r.uri for r in linked.target_resources} == {crs_uri}
            assert {(e.source_uri, e.target_uri) for e in linked.target_edges} == {
                (gri_uri, crs_uri),
            }
            assert linked.source_resources == []
            linked_crs = await rc.list_linked_objects(crs_uri)
            assert {r.uri for r in linked_crs.source_resources} == {gri_uri}
            assert linked_crs.target_resources == []

            metadata = await rc.list_array_metadata([gri_uri])
            (md,) = metadata[gri_uri].values()
            assert list(md.dimensions) == list(z.shape)

            (model,) = await rc.download_models(
                [gri_uri], download_arrays=True, download_linked_objects=True
            )
            assert serialize_resqml_v201_object(model.obj) == serialize_resqml_v201_object(gri)
            assert set(model.arrays) == {path}
            assert_same_array(model.arrays[path], z)
            (linked_model,) = model.linked_models
            assert serialize_resqml_v201_object(linked_model.obj) == (
                serialize_resqml_v201_object(crs)
            )
            (epc_model,) = await rc.download_models([epc_uri])
            assert serialize_resqml_v201_object(epc_model.obj) == (
                serialize_resqml_v201_object(epc)
            )

            await rc.delete_model([gri_uri, crs_uri, epc_uri])
            assert await rc.list_objects_under_dataspace(ds) == []
            await rc.delete_dataspace(ds)
            assert ds not in [d.path for d in await rc.list_dataspaces()]

    run(flow())
    assert server.store.get_dataspaces() == []
    # The z values were too big for one message both ways, and the upload was transactional.
    assert traffic.received["PutUninitializedDataArrays"] == 1
    assert traffic.received["PutDataSubarrays"] >= 4
    assert traffic.received["GetDataSubarrays"] >= 4
    assert traffic.received["PutDataArrays"] == traffic.received["GetDataArrays"] == 0
    assert traffic.received["StartTransaction"] == 2  # upload_model and delete_model
    assert traffic.received["CommitTransaction"] == 2


def test_pyetp_sync_client(server: EmbeddedServer) -> None:
    """RDDMSClientSync opens and closes one ETP session per call: each call must be quick (a
    server slow to close after CloseSession costs pyetp 10 s per call)."""
    ds = dataspace_name("sync")
    objs, arrays = pyetp_model()
    ((path, z),) = arrays.items()
    client = RDDMSClientSync(server.url, etp_timeout=TIMEOUT, max_message_size=SERVER_MAX)

    def call(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.monotonic()
        result = method(*args, **kwargs)
        elapsed = time.monotonic() - started
        assert elapsed < 5.0, f"{method.__name__} took {elapsed:.1f} s"
        return result

    call(client.create_dataspace, ds, **ACL)
    (mine,) = [d for d in call(client.list_dataspaces) if d.path == ds]
    assert acl_of(mine) == WANT_ACL
    uris = call(client.upload_model, ds, objs, data_arrays=arrays)
    listed = call(client.list_objects_under_dataspace, ds, data_object_types=["resqml20.*"])
    assert sorted(r.uri for r in listed) == sorted(uris[1:])
    (model,) = call(client.download_models, [uris[2]], download_arrays=True)
    assert serialize_resqml_v201_object(model.obj) == serialize_resqml_v201_object(objs[2])
    assert_same_array(model.arrays[path], z)
    call(client.delete_dataspace_content, ds)
    assert call(client.list_objects_under_dataspace, ds) == []
    call(client.delete_dataspace, ds)
    assert ds not in [d.path for d in call(client.list_dataspaces)]
    assert_no_sessions_left(server)


def test_pyetp_chunked_data_object(
    server: EmbeddedServer, session: ETPSession, traffic: Traffic
) -> None:
    """A grid whose XML exceeds the message limit: pyetp sends it in Chunks and gets it back in
    Chunks; etp_sync reads the same bytes."""
    limit = 64 * 1024
    ds = dataspace_name("chunk")
    objs, arrays = pyetp_model((20, 30))
    ((path, z),) = arrays.items()
    gri = objs[2]
    gri.citation.description = "".join(
        f"line {i}: {uuid.UUID(int=i)}\n" for i in range(4 * limit // 50)
    )
    xml = serialize_resqml_v201_object(gri)
    assert len(xml) > 3 * limit
    gri_uri = gri.get_etp_data_object_uri(ds)

    def client() -> Any:
        return rddms_connect(
            server.url, etp_timeout=TIMEOUT, max_message_size=limit, use_compression=False
        )

    async def upload() -> None:
        async with client() as rc:
            await rc.create_dataspace(ds)
            await rc.upload_model(ds, objs, data_arrays=arrays)

    async def download_and_delete() -> Any:
        async with client() as rc:
            (model,) = await rc.download_models([gri_uri], download_arrays=True)
            await rc.delete_model([o.get_etp_data_object_uri(ds) for o in reversed(objs)])
            await rc.delete_dataspace(ds)
            return model

    run(upload())
    assert traffic.received["Chunk"] >= 3
    assert session.get_data_object(gri_uri).xml == xml
    model = run(download_and_delete())
    assert traffic.sent["Chunk"] >= 3
    assert serialize_resqml_v201_object(model.obj) == xml
    assert_same_array(model.arrays[path], z)


def test_pyetp_reads_chunked_object_written_by_etp_sync(
    server: EmbeddedServer, session: ETPSession
) -> None:
    """etp_sync chunks an object bigger than the server's limit on the way in; the server
    chunks it to pyetp (whose limit is smaller still) on the way out."""
    ds = dataspace_name("chunk2")
    session.put_dataspace(ds)
    model = surface_model(ds, shape=(10, 10))
    padding = b"<!--" + b"etp_sync " * 130_000 + b"-->\n"
    xml = model.objects[model.grid_uri] + padding
    assert len(xml) > SERVER_MAX
    session.put_data_objects({**model.objects, model.grid_uri: xml})
    session.put_data_array(model.epc_uri, model.array_path, model.z_values)
    uri = str(model.grid_uri)
    got: dict[str, Any] = {}

    async def flow() -> None:
        async with pyetp_connect(
            server.url, etp_timeout=TIMEOUT, max_message_size=64 * 1024, use_compression=False
        ) as client:
            got["raw"] = await client.send_and_recv(GetDataObjects(uris={uri: uri}))
        async with rddms_connect(server.url, etp_timeout=TIMEOUT, max_message_size=64 * 1024) as rc:
            (got["model"],) = await rc.download_models([uri], download_arrays=True)

    run(flow())
    first, *chunks = got["raw"]
    assert isinstance(first, GetDataObjectsResponse)
    blob_id = first.data_objects[uri].blob_id
    assert blob_id is not None and first.data_objects[uri].data == b""
    assert len(chunks) > 10
    assert all(isinstance(c, Chunk) and c.blob_id == blob_id for c in chunks)
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert b"".join(c.data for c in chunks) == xml
    assert uuid.UUID(got["model"].obj.uuid) == model.grid_uri.uuid
    assert_same_array(got["model"].arrays[model.array_path], model.z_values)


# -- cross-client -------------------------------------------------------------------------------


def test_pyetp_writes_etp_sync_reads(server: EmbeddedServer, session: ETPSession) -> None:
    """pyetp writes a dataspace with an ACL, its model and arrays of every dtype it can upload;
    etp_sync reads the same ACL, the XML pyetp serialized to the byte, and equal arrays."""
    ds = dataspace_name("p2e")
    objs, arrays = pyetp_model()
    ((path, z),) = arrays.items()
    epc = objs[0]
    epc_uri = epc.get_etp_data_object_uri(ds)
    extra = dtype_arrays()

    async def flow() -> list[str]:
        async with rddms_connect(
            server.url, etp_timeout=TIMEOUT, max_message_size=SERVER_MAX
        ) as rc:
            await rc.create_dataspace(ds, **ACL)
            uris = await rc.upload_model(ds, objs, data_arrays=arrays)
            tx = await rc.start_transaction(ds, read_only=False)
            for p, a in extra.items():
                await rc.upload_array(epc_uri, p, a)
            await rc.commit_transaction(tx)
            return uris

    uris = run(flow())

    (space,) = [d for d in session.get_dataspaces() if d.path == ds]
    assert space.legal_tags == ACL["legal_tags"]
    assert space.owners == ACL["owners"]
    assert space.viewers == ACL["viewers"]
    assert space.countries == ACL["other_relevant_data_countries"]

    got = session.get_data_objects(uris)
    assert [str(u) for u in got] == uris
    for obj, found in zip(objs, got.values(), strict=True):
        assert found.xml == serialize_resqml_v201_object(obj)
    resources = session.get_resources(f"eml:///dataspace('{ds}')")
    assert sorted(str(r.uri) for r in resources) == sorted(uris)

    assert_same_array(session.get_data_array(epc_uri, path), z)
    for p, a in extra.items():
        assert_same_array(session.get_data_array(epc_uri, p), a)


def test_etp_sync_writes_pyetp_reads(server: EmbeddedServer, session: ETPSession) -> None:
    """etp_sync writes a dataspace with an ACL, its sample surface model and arrays of every
    dtype pyetp can read; pyetp reads the same ACL, the XML to the byte, and equal arrays."""
    ds = dataspace_name("e2p")
    session.put_dataspace(
        ds,
        legal_tags=ACL["legal_tags"],
        owners=ACL["owners"],
        viewers=ACL["viewers"],
        countries=ACL["other_relevant_data_countries"],
    )
    model = surface_model(ds, shape=BIG_SHAPE)
    extra = dtype_arrays()
    with session.transaction(ds):
        session.put_data_objects(model.objects)
        session.put_data_array(model.epc_uri, model.array_path, model.z_values)
        for p, a in extra.items():
            session.put_data_array(model.epc_uri, p, a)

    got: dict[str, Any] = {}

    async def flow() -> None:
        async with pyetp_connect(
            server.url, etp_timeout=TIMEOUT, max_message_size=SERVER_MAX
        ) as client:
            for uri in model.objects:
                responses = await client.send_and_recv(GetDataObjects(uris={str(uri): str(uri)}))
                (response,) = responses
                got[str(uri)] = response.data_objects[str(uri)].data
        async with rddms_connect(
            server.url, etp_timeout=TIMEOUT, max_message_size=SERVER_MAX
        ) as rc:
            (space,) = [d for d in await rc.list_dataspaces() if d.path == ds]
            got["acl"] = acl_of(space)
            listed = await rc.list_objects_under_dataspace(ds)
            got["listed"] = sorted(r.uri for r in listed)
            got["z"] = await rc.download_array(str(model.epc_uri), model.array_path)
            for p in extra:
                got[p] = await rc.download_array(str(model.epc_uri), p)
            (grid,) = await rc.download_models(
                [str(model.grid_uri)], download_arrays=True, download_linked_objects=True
            )
            got["model"] = grid

    run(flow())
    for uri, xml in model.objects.items():
        assert got[str(uri)] == xml
    assert got["acl"] == WANT_ACL
    assert got["listed"] == sorted(str(u) for u in model.objects)
    assert_same_array(got["z"], model.z_values)
    for p, a in extra.items():
        assert_same_array(got[p], a)
    # pyetp parses etp_sync's sample documents into its RESQML classes.
    grid = got["model"]
    assert uuid.UUID(grid.obj.uuid) == model.grid_uri.uuid
    patch = grid.obj.grid2d_patch
    assert (patch.slowest_axis_count, patch.fastest_axis_count) == BIG_SHAPE
    lattice = patch.geometry.points.supporting_geometry
    assert [o.spacing.count for o in lattice.offset] == [BIG_SHAPE[0] - 1, BIG_SHAPE[1] - 1]
    assert_same_array(grid.arrays[model.array_path], model.z_values)
    (crs,) = grid.linked_models
    assert uuid.UUID(crs.obj.uuid) == model.crs_uri.uuid
    assert crs.obj.projected_crs.epsg_code == 23031


# -- pyetp against the open-etp-server profile ------------------------------------------------


def test_pyetp_against_the_open_etp_server_profile() -> None:
    """pyetp's RDDMSClient sees open-etp-server's answers (its recorded tutorial output and its
    test_partial_deletion): the grid lists one target (the CRS) over a Primary edge whose
    custom data is the element path, one source (the import obj_Activity); resources carry
    created/creator; deleting the CRS two grids use fails at commit and breaks the session
    (EINVALID_STATE); deleting the EpcExternalPartReference is allowed and the arrays under its
    URI stay readable; the obj_ActivityTemplate is what is left at the end."""
    ds = dataspace_name("oes")
    objs, arrays = pyetp_model((30, 40))
    epc, crs, gri = objs
    ((path, z),) = arrays.items()
    gri2 = copy.deepcopy(gri)  # a second grid on the same CRS and z values
    gri2.uuid = str(uuid.uuid4())
    gri2.citation.title = "second grid"
    gri_uri, crs_uri, epc_uri = (o.get_etp_data_object_uri(ds) for o in (gri, crs, epc))

    def client() -> Any:
        return rddms_connect(server.url, etp_timeout=TIMEOUT, max_message_size=SERVER_MAX)

    async def upload_and_look() -> Any:
        async with client() as rc:
            await rc.create_dataspace(ds, **ACL)
            await rc.upload_model(ds, [epc, crs, gri, gri2], data_arrays=arrays)
            return await rc.list_linked_objects(gri_uri)

    async def refused_delete() -> int:
        async with client() as rc:
            with pytest.raises(ETPTransactionFailure):
                await rc.delete_model([crs_uri])
            with pytest.raises(PyETPError) as broken:
                await rc.list_dataspaces()
            return int(broken.value.code)

    async def delete_epc_and_read() -> tuple[Any, Any, list[str]]:
        async with client() as rc:
            await rc.delete_model([epc_uri])
            with pytest.raises(PyETPError) as gone:
                await rc.download_models([epc_uri])
            assert gone.value.code == 11
            array = await rc.download_array(epc_uri, path)
            (model,) = await rc.download_models(
                [gri_uri], download_arrays=True, download_linked_objects=True
            )
            # Delete everything listed, as pyetp's own tests do.
            listed = await rc.list_objects_under_dataspace(ds)
            await rc.delete_model([r.uri for r in listed if "ActivityTemplate" not in r.uri])
            left = [r.uri for r in await rc.list_objects_under_dataspace(ds)]
            await rc.delete_model(left)
            await rc.delete_dataspace(ds)
            return array, model, left

    with EmbeddedServer(
        "127.0.0.1", 0, max_message_size=SERVER_MAX, profile="open-etp-server"
    ) as server:
        linked = run(upload_and_look())
        assert linked.self_resource.uri == gri_uri
        assert (linked.self_resource.source_count, linked.self_resource.target_count) == (1, 1)
        assert set(linked.self_resource.custom_data) == {"created", "creator"}
        assert [r.uri for r in linked.target_resources] == [crs_uri]
        (edge,) = linked.target_edges
        assert (edge.source_uri, edge.target_uri) == (gri_uri, crs_uri)
        assert edge.relationship_kind.value == "Primary"
        assert edge.custom_data["path"].item == "rsq:Grid2dPatch/rsq:Geometry/rsq:LocalCrs"
        (activity,) = linked.source_resources
        assert "obj_Activity(" in activity.uri
        assert activity.name.startswith("Scenario_automated_import_")
        (source_edge,) = linked.source_edges
        assert source_edge.custom_data["path"].item == "rsq:Parameter/rsq:DataObject"

        assert run(refused_delete()) == 8  # EINVALID_STATE
        array, model, left = run(delete_epc_and_read())
        assert_same_array(array, z)
        assert_same_array(model.arrays[path], z)
        assert serialize_resqml_v201_object(model.obj) == serialize_resqml_v201_object(gri)
        assert [serialize_resqml_v201_object(m.obj) for m in model.linked_models] == [
            serialize_resqml_v201_object(crs)
        ]
        assert len(left) == 1 and "obj_ActivityTemplate(" in left[0]
