"""etp_sync.epc: EPC + HDF5 files to a dataspace and back.

The proof uses files no one here wrote: a model made at test time by resqpy (a CRS, a
Grid2dRepresentation mesh, an IjkGridRepresentation with a continuous and a discrete property)
is uploaded, downloaded, and opened again by resqpy with equal geometry and property values;
the downloaded package also opens with fesapi, and pyetp's ``download_models`` reads what
etp_sync uploaded (both marked ``peers``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
import warnings
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from conftest import Harness

from etp_sync import ETPSession
from etp_sync.epc import EpcReader, EpcWriter, download_dataspace, download_epc, upload_epc
from etp_sync.errors import EPCError, ETPEncodeError, ETPMissingDependency
from etp_sync.samples import surface_model

rq = pytest.importorskip(
    "resqpy.model", reason="resqpy is a test dependency (pip install -e '.[test]')"
)

OPC_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
OPC_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
ENERGISTICS_REL = "http://schemas.energistics.org/package/2012/relationships/"


@dataclass(frozen=True)
class ResqpyModel:
    epc: Path
    h5: Path
    crs: str
    mesh: str
    grid: str
    poro: str
    facies: str


@pytest.fixture(scope="module")
def resqpy_model(tmp_path_factory: pytest.TempPathFactory) -> ResqpyModel:
    """A RESQML 2.0.1 model written by resqpy: CRS, explicit Grid2d mesh, IJK grid with a
    float64 porosity and an int32 facies property."""
    import resqpy.crs as rqc
    import resqpy.grid as grr
    import resqpy.property as rqp
    import resqpy.surface as rqs

    folder = tmp_path_factory.mktemp("resqpy")
    model = rq.new_model(str(folder / "source.epc"))
    crs = rqc.Crs(model, title="crs")
    crs.create_xml()
    rng = np.random.default_rng(7)
    mesh = rqs.Mesh(
        model,
        crs_uuid=crs.uuid,
        mesh_flavour="explicit",
        xyz_values=rng.random((6, 7, 3)) * 1000.0,
        title="mesh",
    )
    mesh.write_hdf5()
    mesh.create_xml()
    grid = grr.RegularGrid(
        model,
        extent_kji=(3, 4, 5),
        dxyz=(50.0, 40.0, 2.5),
        crs_uuid=crs.uuid,
        title="grid",
        set_points_cached=True,
        as_irregular_grid=True,
    )
    grid.write_hdf5()
    grid.create_xml(write_geometry=True, add_cell_length_properties=False)
    props = rqp.PropertyCollection()
    props.set_support(support=grid)
    props.add_cached_array_to_imported_list(
        rng.random((3, 4, 5)), "test", "poro", uom="m3/m3", property_kind="porosity"
    )
    with warnings.catch_warnings():  # resqpy makes a local kind for "discrete" and says so
        warnings.simplefilter("ignore", UserWarning)
        props.add_cached_array_to_imported_list(
            rng.integers(0, 6, (3, 4, 5)).astype(np.int32),
            "test",
            "facies",
            discrete=True,
            property_kind="discrete",
        )
    props.write_hdf5_for_imported_list()
    props.create_xml_for_imported_list_and_add_parts_to_model()
    model.store_epc()
    poro, facies = (str(u) for u in props.uuids())  # in the order added
    return ResqpyModel(
        folder / "source.epc",
        folder / "source.h5",
        str(crs.uuid),
        str(mesh.uuid),
        str(grid.uuid),
        poro,
        facies,
    )


def datasets(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype[Any], np.ndarray]]:
    """Every dataset of an HDF5 file: path -> (shape, dtype, values)."""
    found: dict[str, tuple[tuple[int, ...], np.dtype[Any], np.ndarray]] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found["/" + name] = (obj.shape, obj.dtype, obj[...])

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def test_resqpy_model_round_trip(
    harness: Harness, resqpy_model: ResqpyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upload in one transaction with progress; download the dataspace; resqpy reads back equal
    geometry and property values; every dataset keeps its path, shape and dtype."""
    srv = harness.server(max_message_size=64 << 10)
    session = harness.session(srv)
    session.put_dataspace("epc/resqpy")
    manager = session.transaction_manager
    new = manager.new
    opened: list[Any] = []  # every transaction, explicit or automatic, starts here
    monkeypatch.setattr(manager, "new", lambda *a, **k: opened.append(a) or new(*a, **k))
    calls: list[tuple[int, int]] = []
    result = upload_epc(
        session,
        resqpy_model.epc,
        "epc/resqpy",
        progress=lambda done, total: calls.append((done, total)),
        block_bytes=256,  # all but the smallest array in several blocks
    )
    source = datasets(resqpy_model.h5)
    with EpcReader(resqpy_model.epc) as source_epc:
        parts = {p.info.uuid for p in source_epc.parts()}
    # proxy, CRS, mesh, grid, two properties and the local property kind of the discrete one
    assert len(parts) == 7 and {str(u.uuid) for u in result.objects} == parts
    assert {p for _u, p in result.arrays} == set(source)
    total = sum(v.nbytes for _s, _d, v in source.values())
    assert calls[-1] == (total, total) and len(calls) > 2 * len(source)  # block by block
    assert [d for d, _t in calls] == sorted(d for d, _t in calls)
    assert len(opened) == 1  # objects and arrays in one transaction

    copy = tmp_path / "copy.epc"
    got = download_dataspace(session, "epc/resqpy", copy, block_bytes=1024)
    assert got.hdf5_files == [tmp_path / "copy.h5"]
    assert {str(u.uuid) for u in got.objects} == parts
    downloaded = datasets(tmp_path / "copy.h5")
    assert set(downloaded) == set(source)
    for path, (shape, dtype, values) in source.items():
        assert downloaded[path][0] == shape and downloaded[path][1] == dtype, path
        np.testing.assert_array_equal(downloaded[path][2], values)

    import resqpy.grid as grr
    import resqpy.property as rqp
    import resqpy.surface as rqs

    original, reopened = rq.Model(str(resqpy_model.epc)), rq.Model(str(copy))
    for m in (original, reopened):
        assert str(m.crs_uuid) == resqpy_model.crs
    grid_a = grr.Grid(original, uuid=uuid.UUID(resqpy_model.grid))
    grid_b = grr.Grid(reopened, uuid=uuid.UUID(resqpy_model.grid))
    assert grid_b.extent_kji.tolist() == [3, 4, 5]
    np.testing.assert_array_equal(grid_b.points_ref(), grid_a.points_ref())
    mesh_a = rqs.Mesh(original, uuid=uuid.UUID(resqpy_model.mesh))
    mesh_b = rqs.Mesh(reopened, uuid=uuid.UUID(resqpy_model.mesh))
    np.testing.assert_array_equal(mesh_b.full_array_ref(), mesh_a.full_array_ref())
    for prop in (resqpy_model.poro, resqpy_model.facies):
        a = rqp.Property(original, uuid=uuid.UUID(prop)).array_ref()
        b = rqp.Property(reopened, uuid=uuid.UUID(prop)).array_ref()
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(b, a)


def test_download_linked_objects_to_a_depth(
    harness: Harness, resqpy_model: ResqpyModel, tmp_path: Path
) -> None:
    """A property alone, then with what it refers to (grid, then the grid's CRS): the HDF proxy
    always comes along, and only the arrays of the objects in the package."""
    session = harness.session(harness.server())
    session.put_dataspace("epc/linked")
    up = upload_epc(session, resqpy_model.epc, "epc/linked")
    (poro,) = [u for u in up.objects if str(u.uuid) == resqpy_model.poro]

    def types(depth: int) -> tuple[set[str], set[str]]:
        target = tmp_path / f"linked{depth}.epc"
        result = download_epc(session, [poro], target, linked=depth)
        with EpcReader(target) as epc:
            kinds = {p.info.qualified_type.split(".")[1] for p in epc.parts()}
        return kinds, {p for _u, p in result.arrays}

    proxy = "obj_EpcExternalPartReference"
    kinds, arrays = types(0)
    assert kinds == {"obj_ContinuousProperty", proxy}
    assert arrays == {f"/RESQML/{resqpy_model.poro}/values_patch0"}
    kinds, arrays = types(1)
    assert kinds == {"obj_ContinuousProperty", "obj_IjkGridRepresentation", proxy}
    assert len(arrays) == 2
    kinds, _ = types(2)
    assert kinds == {
        "obj_ContinuousProperty",
        "obj_IjkGridRepresentation",
        "obj_LocalDepth3dCrs",
        proxy,
    }


def test_downloaded_package_structure(harness: Harness, tmp_path: Path) -> None:
    """Content types for every part and the core properties, the package relationship, and
    per-part relationships: references both ways, the proxy's HDF5 file as an external target."""
    session = harness.session(harness.server())
    session.put_dataspace("epc/structure")
    model = surface_model("epc/structure", (4, 5))
    with session.transaction("epc/structure"):
        session.put_data_objects(model.objects)
        session.put_data_array(model.epc_uri, model.array_path, model.z_values)
    target = tmp_path / "surface.epc"
    download_epc(session, [model.grid_uri], target, linked=1)
    with zipfile.ZipFile(target) as z:
        names = set(z.namelist())
        types = ET.fromstring(z.read("[Content_Types].xml"))
        overrides = {
            e.get("PartName"): e.get("ContentType") for e in types.iter(OPC_TYPES + "Override")
        }
        part = {u: f"obj_{u.object_type.removeprefix('obj_')}_{u.uuid}.xml" for u in model.objects}
        assert overrides == {
            "/docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
            "/" + part[model.grid_uri]: "application/x-resqml+xml;version=2.0;"
            "type=obj_Grid2dRepresentation",
            "/" + part[model.crs_uri]: "application/x-resqml+xml;version=2.0;"
            "type=obj_LocalDepth3dCrs",
            "/" + part[model.epc_uri]: "application/x-eml+xml;version=2.0;"
            "type=obj_EpcExternalPartReference",
        }
        assert {"_rels/.rels", "docProps/core.xml", *part.values()} <= names
        core = ET.fromstring(z.read("_rels/.rels"))
        assert [r.get("Target") for r in core] == ["docProps/core.xml"]

        def rels(name: str) -> set[tuple[str, str, str | None]]:
            root = ET.fromstring(z.read(f"_rels/{name}.rels"))
            return {
                (r.get("Type", "").rpartition("/")[2], r.get("Target", ""), r.get("TargetMode"))
                for r in root.iter(OPC_RELS + "Relationship")
            }

        grid, crs, proxy = part[model.grid_uri], part[model.crs_uri], part[model.epc_uri]
        assert rels(grid) == {
            ("destinationObject", crs, None),
            ("mlToExternalPartProxy", proxy, None),
        }
        assert rels(crs) == {("sourceObject", grid, None)}
        assert rels(proxy) == {
            ("externalPartProxyToMl", grid, None),
            ("externalResource", "surface.h5", "External"),
        }
    with h5py.File(tmp_path / "surface.h5") as f:
        np.testing.assert_array_equal(f[model.array_path][...], model.z_values)


def write_surface_epc(folder: Path, shape: tuple[int, int], z_dtype: str = "float64") -> Any:
    """The sample surface model as an EPC + HDF5 written by our own EpcWriter."""
    model = surface_model("unused", shape)
    with EpcWriter(folder / "surface.epc") as writer:
        for xml in model.objects.values():
            writer.add(xml)
        writer.set_external_file(str(model.epc_uri.uuid), "surface.h5")
    with h5py.File(folder / "surface.h5", "w") as f:
        f[model.array_path] = model.z_values.astype(z_dtype)
    return model


def test_upload_failure_rolls_back_everything(harness: Harness, tmp_path: Path) -> None:
    """A dataset ETP cannot carry (float16) fails the upload after the objects went out: the
    transaction is rolled back and the dataspace stays empty."""
    session = harness.session(harness.server())
    session.put_dataspace("epc/rollback")
    write_surface_epc(tmp_path, (3, 4), z_dtype="float16")
    with pytest.raises(ETPEncodeError):
        upload_epc(session, tmp_path / "surface.epc", "epc/rollback")
    assert list(session.get_resources("epc/rollback")) == []


def test_upload_refuses_inconsistent_files(harness: Harness, tmp_path: Path) -> None:
    """A dataset the document points at but the HDF5 file lacks, a missing file, and a file
    that is not an EPC: EPCError naming the problem, nothing written."""
    session = harness.session(harness.server())
    session.put_dataspace("epc/bad")
    model = write_surface_epc(tmp_path, (3, 4))
    with h5py.File(tmp_path / "surface.h5", "a") as f:
        del f[model.array_path]
    with pytest.raises(EPCError, match=r"surface\.h5 has no dataset '/RESQML/"):
        upload_epc(session, tmp_path / "surface.epc", "epc/bad")
    (tmp_path / "surface.h5").unlink()
    with pytest.raises(EPCError, match="cannot open HDF5 file"):
        upload_epc(session, tmp_path / "surface.epc", "epc/bad")
    (tmp_path / "notes.epc").write_text("not a zip")
    with pytest.raises(EPCError, match="cannot open EPC"):
        upload_epc(session, tmp_path / "notes.epc", "epc/bad")
    assert list(session.get_resources("epc/bad")) == []


def test_missing_h5py_says_how_to_install(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = harness.session(harness.server())
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ETPMissingDependency, match=r"pip install 'etp_sync\[epc\]'"):
        download_dataspace(session, "any/where", tmp_path / "x.epc")
    assert not (tmp_path / "x.epc").exists()


FESAPI_READER = textwrap.dedent(
    """
    import json, sys
    import fesapi
    repo = fesapi.DataObjectRepository()
    warnings = fesapi.EpcDocument(sys.argv[1]).deserializeInto(repo)
    grid = repo.getIjkGridRepresentation(0)
    count = grid.getXyzPointCountOfAllPatches()
    points = fesapi.DoubleArray(count * 3)
    grid.getXyzPointsOfAllPatches(points)
    proxy = repo.getHdfProxy(0)
    print(json.dumps({
        "warnings": warnings,
        "ijk_grids": repo.getIjkGridRepresentationCount(),
        "cells": grid.getCellCount(),
        "points": [points.getitem(i) for i in range(count * 3)],
        "hdf5": proxy.getRelativePath(),
    }))
    """
)


@pytest.mark.peers
def test_downloaded_epc_opens_with_fesapi(
    harness: Harness, resqpy_model: ResqpyModel, tmp_path: Path
) -> None:
    """fesapi (in a subprocess: it may crash an interpreter on exit) reads the grid geometry
    from the downloaded package and its HDF5 file."""
    pytest.importorskip("fesapi", reason="fesapi is a peers dependency")
    session = harness.session(harness.server())
    session.put_dataspace("epc/fesapi")
    upload_epc(session, resqpy_model.epc, "epc/fesapi")
    download_dataspace(session, "epc/fesapi", tmp_path / "for_fesapi.epc")
    done = subprocess.run(
        [sys.executable, "-c", FESAPI_READER, str(tmp_path / "for_fesapi.epc")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("{")]
    assert line, done.stderr
    seen = json.loads(line[-1])
    assert "not recognized" not in seen["warnings"]
    assert seen["ijk_grids"] == 1 and seen["cells"] == 3 * 4 * 5
    assert seen["hdf5"] == "for_fesapi.h5"
    expected = datasets(resqpy_model.h5)[f"/RESQML/{resqpy_model.grid}/Points"][2]
    np.testing.assert_array_equal(np.array(seen["points"]), expected.ravel())


@pytest.mark.peers
def test_pyetp_download_models_reads_what_etp_sync_uploaded(
    harness: Harness, resqpy_model: ResqpyModel
) -> None:
    """pyetp's RDDMS client downloads the resqpy model etp_sync uploaded: the documents parse
    into its RESQML classes, arrays equal the HDF5 file's, linked objects follow."""
    import asyncio

    rddms_io = pytest.importorskip("rddms_io", reason="pyetp is a peers dependency")
    srv = harness.server(max_message_size=1 << 20)
    session: ETPSession = harness.session(srv)
    session.put_dataspace("epc/pyetp")
    result = upload_epc(session, resqpy_model.epc, "epc/pyetp")
    wanted = [
        str(u) for u in result.objects if str(u.uuid) in (resqpy_model.mesh, resqpy_model.poro)
    ]

    async def flow() -> list[Any]:
        async with rddms_io.rddms_connect(srv.url, etp_timeout=30, max_message_size=1 << 20) as rc:
            return list(
                await rc.download_models(wanted, download_arrays=True, download_linked_objects=True)
            )

    models = asyncio.run(asyncio.wait_for(flow(), 60))
    source = datasets(resqpy_model.h5)
    by_type = {type(m.obj).__name__: m for m in models}
    assert set(by_type) == {"obj_Grid2dRepresentation", "obj_ContinuousProperty"}
    for model in models:
        assert model.arrays
        for path, values in model.arrays.items():
            np.testing.assert_array_equal(values, source[path][2])
    linked = by_type["obj_ContinuousProperty"].linked_models
    assert [type(m.obj).__name__ for m in linked] == ["obj_IjkGridRepresentation"]
