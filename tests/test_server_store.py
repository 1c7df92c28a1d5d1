"""Tests of the embedded server's store model (etp_sync.server.store / _xml)."""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from etp_sync import samples
from etp_sync.errors import ErrorCode, ETPError
from etp_sync.server._xml import parse_data_object, qualified_type_from_content_type
from etp_sync.server.store import (
    ChangeEvent,
    ObjectPut,
    ResourceInfo,
    Store,
    StoreError,
    default_array_types,
)
from etp_sync.server.store._records import Space, Stage, StoredObject

RESQML = samples.RESQML_NS
EML = samples.EML_NS
XSI = samples.XSI_NS

DS = "eml:///dataspace('demo/test')"
DS2 = "eml:///dataspace('demo/other')"

CRS_UUID = "4a2b7e14-6d1e-4c3a-9f0b-1f8e5a2d6c01"
EPC_UUID = "9f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6"
GRID_UUID = "e8a58c7e-d870-43d3-87d9-81ae18d8df7b"
WELL_UUID = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
WELLBORE_UUID = "2c3d4e5f-6071-4829-93a4-b5c6d7e8f90a"
CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

CRS_XML = samples.local_depth_crs(uuid.UUID(CRS_UUID), created=CREATED)
EPC_XML = samples.epc_external_part_reference(uuid.UUID(EPC_UUID), created=CREATED)
# The grid spells its own and its CRS reference's uuid in upper case (the store lower-cases
# them) and carries a LastUpdate with an offset and a fraction, and an objectVersion.
GRID_XML = (
    samples.grid2d_representation(
        uuid.UUID(GRID_UUID),
        crs=uuid.UUID(CRS_UUID),
        epc=uuid.UUID(EPC_UUID),
        shape=(2, 3),
        array_path=f"/RESQML/{GRID_UUID}/zvalues",
        title="Top reservoir",
        created=CREATED,
        last_update=datetime(2024, 2, 3, 4, 5, 6, 500_000, tzinfo=timezone(timedelta(hours=1))),
        object_version="3",
    )
    .replace(f'uuid="{GRID_UUID}"'.encode(), f'uuid="{GRID_UUID.upper()}"'.encode())
    .replace(f">{CRS_UUID}<".encode(), f">{CRS_UUID.upper()}<".encode())
)
WELL_XML = samples.witsml_well(uuid.UUID(WELL_UUID), "Well 15/9-F-1", created=CREATED)
WELLBORE_XML = samples.witsml_wellbore(
    uuid.UUID(WELLBORE_UUID), uuid.UUID(WELL_UUID), "Wellbore 15/9-F-1 A", created=CREATED
)


def crs_uri(ds: str = DS) -> str:
    return f"{ds}/resqml20.obj_LocalDepth3dCrs({CRS_UUID})"


def epc_uri(ds: str = DS) -> str:
    return f"{ds}/eml20.obj_EpcExternalPartReference({EPC_UUID})"


def grid_uri(ds: str = DS) -> str:
    return f"{ds}/resqml20.obj_Grid2dRepresentation({GRID_UUID})"


def resqml_obj(type_name: str, uid: str, title: str, refs: list[tuple[str, str]]) -> bytes:
    """A minimal RESQML 2.0.1 object referencing ``refs`` ((type without prefix, uuid))."""
    links = [(t, uuid.UUID(u)) for t, u in refs]
    return samples.resqml_object(type_name, uuid.UUID(uid), title, links, created=CREATED)


def codes(errors: dict[str, StoreError]) -> dict[str, int | None]:
    return {k: e.code for k, e in errors.items()}


def raises_code(code: ErrorCode) -> AbstractContextManager[Any]:
    return pytest.raises(StoreError, match=rf"\[{code.name} \({int(code)}\)\]")


@pytest.fixture
def store() -> Store:
    s = Store()
    s.put_dataspace(DS)
    return s


# ---------------------------------------------------------------------------------------------
# XML (RESQML 2.0.1 / WITSML 2.1 documents come from etp_sync.samples; the few written out below
# are parser inputs samples does not build: other schema versions, odd spellings, broken XML)


def test_parse_local_depth_crs() -> None:
    info = parse_data_object(CRS_XML)
    assert info.qualified_type == "resqml20.obj_LocalDepth3dCrs"
    assert info.uuid == CRS_UUID
    assert info.title == "Local depth CRS"
    assert info.last_update_us == 1704164645_000000  # Creation, 2024-01-02T03:04:05Z
    assert info.object_version is None
    assert info.references == ()
    assert info.hdf_datasets == ()


def test_parse_epc_external_part_reference() -> None:
    info = parse_data_object(EPC_XML)
    assert info.qualified_type == "eml20.obj_EpcExternalPartReference"
    assert info.uuid == EPC_UUID
    assert info.title == "Hdf Proxy"


def test_parse_grid2d_references_and_hdf_datasets() -> None:
    info = parse_data_object(GRID_XML)
    assert info.qualified_type == "resqml20.obj_Grid2dRepresentation"
    assert info.uuid == GRID_UUID  # lower-cased
    assert info.object_version == "3"
    # LastUpdate wins over Creation; +01:00 and the fraction are honoured.
    assert info.last_update_us == 1706929506_500000
    assert info.references == (
        ("resqml20.obj_LocalDepth3dCrs", CRS_UUID),
        ("eml20.obj_EpcExternalPartReference", EPC_UUID),
    )
    assert info.hdf_datasets == ((f"/RESQML/{GRID_UUID}/zvalues", EPC_UUID),)


def test_parse_witsml21_well_and_wellbore() -> None:
    well = parse_data_object(WELL_XML)
    assert (well.qualified_type, well.uuid, well.title) == (
        "witsml21.Well",
        WELL_UUID,
        "Well 15/9-F-1",
    )
    wellbore = parse_data_object(WELLBORE_XML)
    assert wellbore.qualified_type == "witsml21.Wellbore"
    assert wellbore.references == (("witsml21.Well", WELL_UUID),)


def test_parse_eml23_and_resqml22_versions() -> None:
    pk = f'<eml:PropertyKind xmlns:eml="{EML}" schemaVersion="2.3" uuid="{WELL_UUID}"/>'.encode()
    assert parse_data_object(pk).qualified_type == "eml23.PropertyKind"
    grid22 = f"""<resqml:Grid2dRepresentation xmlns:resqml="{RESQML}" xmlns:eml="{EML}"
        schemaVersion="2.2" uuid="{GRID_UUID}">
      <eml:Citation><eml:Title>g</eml:Title><eml:LastUpdate>bogus</eml:LastUpdate></eml:Citation>
      <resqml:LocalCrs>
        <eml:QualifiedType>eml23.LocalEngineering2dCrs</eml:QualifiedType>
        <eml:Uuid>{CRS_UUID}</eml:Uuid>
      </resqml:LocalCrs>
      <eml:ExternalDataArrayPart>
        <eml:Count>6</eml:Count>
        <eml:PathInExternalFile>/RESQML/{GRID_UUID}/zvalues</eml:PathInExternalFile>
        <eml:StartIndex>0</eml:StartIndex>
        <eml:EpcExternalPartReference>
          <eml:QualifiedType>eml23.EpcExternalPartReference</eml:QualifiedType>
          <eml:Uuid>{EPC_UUID}</eml:Uuid>
        </eml:EpcExternalPartReference>
      </eml:ExternalDataArrayPart>
    </resqml:Grid2dRepresentation>""".encode()
    info = parse_data_object(grid22)
    assert info.qualified_type == "resqml22.Grid2dRepresentation"
    assert info.last_update_us == 0  # unparseable time is not an error
    assert ("eml23.LocalEngineering2dCrs", CRS_UUID) in info.references
    assert info.hdf_datasets == ((f"/RESQML/{GRID_UUID}/zvalues", EPC_UUID),)


def test_parse_links_paths_and_datasets_in_document_order() -> None:
    """References in document order; links carry the element path (open-etp-server's prefixes,
    the first path of a repeated reference); a dataset's part reference is no link; UUID wins
    over Uuid (an invalid UUID hides Uuid); the part of a dataset is the first sibling that
    references something; the object's own uuid is no reference."""
    a, b, c = (str(uuid.UUID(int=i)) for i in (1, 2, 3))
    EPC_TYPE = "application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference"
    xml = f"""<r:obj_Fault xmlns:r="{RESQML}" xmlns:e="{EML}" schemaVersion="2.0" uuid="{c}">
      <e:Citation><e:Title>f</e:Title></e:Citation>
      <r:Outer><r:Inner><e:QualifiedType>resqml20.obj_Horizon</e:QualifiedType>
        <e:UUID>{a}</e:UUID><e:Uuid>{b}</e:Uuid></r:Inner></r:Outer>
      <r:Hidden><e:UUID>nope</e:UUID><e:Uuid>{b}</e:Uuid></r:Hidden>
      <r:Self><e:UUID>{c}</e:UUID></r:Self>
      <r:Values>
        <e:PathInHdfFile>/v</e:PathInHdfFile>
        <e:Other><e:UUID>bad</e:UUID></e:Other>
        <e:HdfProxy><e:UUID>{b}</e:UUID><e:ContentType>{EPC_TYPE}</e:ContentType></e:HdfProxy>
      </r:Values>
      <r:Again><e:UUID>{a}</e:UUID><e:QualifiedType>resqml20.obj_Horizon</e:QualifiedType></r:Again>
      <r:Empty><e:PathInExternalFile> </e:PathInExternalFile><e:Part><e:UUID>{a}</e:UUID></e:Part>
      </r:Empty>
    </r:obj_Fault>""".encode()
    info = parse_data_object(xml)
    assert info.references == (
        ("resqml20.obj_Horizon", a),
        ("eml20.obj_EpcExternalPartReference", b),
        ("", a),
    )
    assert info.links == (("resqml20.obj_Horizon", a, "rsq:Outer/rsq:Inner"),)
    assert info.hdf_datasets == (("/v", b),)


def test_parse_prodml_version_from_schema_version() -> None:
    prodml = "http://www.energistics.org/energyml/data/prodmlv2"
    xml = f'<p:FluidSystem xmlns:p="{prodml}" schemaVersion="2.2" uuid="{WELL_UUID}"/>'
    assert parse_data_object(xml.encode()).qualified_type == "prodml22.FluidSystem"


def test_parse_root_type_from_xsi_type() -> None:
    xml = (
        f'<eml:AbstractObject xmlns:eml="{EML}" xmlns:r="{RESQML}" xmlns:xsi="{XSI}" '
        f'xsi:type="r:obj_HorizonInterpretation" schemaVersion="2.0" uuid="{WELL_UUID}"/>'
    )
    assert parse_data_object(xml.encode()).qualified_type == "resqml20.obj_HorizonInterpretation"


def test_content_type_conversion() -> None:
    ct = "application/x-resqml+xml;version=2.0.1;type=obj_Grid2dRepresentation"
    assert qualified_type_from_content_type(ct) == "resqml20.obj_Grid2dRepresentation"
    ct = "application/x-witsml+xml;version=2.0;type=witsml20.Well"
    assert qualified_type_from_content_type(ct) == "witsml20.Well"
    assert qualified_type_from_content_type("text/plain") is None


@pytest.mark.parametrize(
    "xml",
    [
        b"",
        b"<not-closed",
        f'<resqml2:obj_X xmlns:resqml2="{RESQML}" schemaVersion="2.0"/>'.encode(),
        f'<resqml2:obj_X xmlns:resqml2="{RESQML}" uuid="not-a-uuid"/>'.encode(),
        f'<x:Thing xmlns:x="urn:other" uuid="{WELL_UUID}"/>'.encode(),
    ],
    ids=["empty", "malformed", "no-uuid", "bad-uuid", "foreign-namespace"],
)
def test_parse_rejects_unusable_documents(xml: bytes) -> None:
    with raises_code(ErrorCode.EINVALID_OBJECT):
        parse_data_object(xml)


# ---------------------------------------------------------------------------------------------
# Dataspaces


def test_store_error_is_etp_error() -> None:
    err = StoreError(ErrorCode.ENOT_FOUND, "gone")
    assert isinstance(err, ETPError)
    assert err.code == 11 and err.code_name == "ENOT_FOUND" and err.message == "gone"


def test_put_dataspace_and_duplicates() -> None:
    s = Store()
    rec = s.put_dataspace(DS, "demo/test", {"legaltags": ["a", "b"], "n": 1})
    assert rec.uri == DS and rec.path == "demo/test"
    assert rec.store_created_us == rec.store_last_write_us > 0
    assert s.get_dataspace(DS).custom_data == {"legaltags": ["a", "b"], "n": 1}
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        s.put_dataspace(DS)
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        s.put_dataspace(DS2, "demo/elsewhere")


@pytest.mark.parametrize(
    "uri",
    ["eml:///dataspace('one-level')", "eml:///dataspace('a/b/c')", "eml:///dataspace('/b')"],
)
def test_two_level_paths_required(uri: str) -> None:
    with raises_code(ErrorCode.EINVALID_URI):
        Store().put_dataspace(uri)
    assert Store(require_two_level_paths=False).put_dataspace(uri).uri == uri


def test_invalid_dataspace_uris() -> None:
    s = Store()
    for bad in ["", "eml://", "eml:///dataspace('')", "eml:///dataspace(demo/test)", crs_uri()]:
        with raises_code(ErrorCode.EINVALID_URI):
            s.put_dataspace(bad)


def test_quote_in_dataspace_path_round_trips() -> None:
    s = Store(require_two_level_paths=False)
    rec = s.put_dataspace("eml:///dataspace('o''brien/x')")
    assert rec.path == "o'brien/x"
    put, errs = s.put_objects(rec.uri, {"c": CRS_XML})
    assert not errs
    assert (
        put["c"].uri == f"eml:///dataspace('o''brien/x')/resqml20.obj_LocalDepth3dCrs({CRS_UUID})"
    )


def test_default_dataspace() -> None:
    s = Store()
    with raises_code(ErrorCode.EINVALID_URI):
        s.put_dataspace("eml:///")
    assert s.get_dataspaces() == []
    # eml:/// names the default dataspace; without one, nothing is in it (not ENOT_FOUND).
    assert s.get_resources("eml:///") == ([], [])
    assert s.get_resources("eml:///", "targetsOrSelf", 2) == ([], [])
    assert s.get_supported_types("eml:///") == []
    with raises_code(ErrorCode.ENOT_FOUND):
        s.get_resources(f"eml:///resqml20.obj_LocalDepth3dCrs({CRS_UUID})")
    _, errs = s.put_objects("eml:///", {"c": CRS_XML})
    assert codes(errs) == {"c": ErrorCode.ENOT_FOUND}

    d = Store(allow_default_dataspace=True)
    assert [r.uri for r in d.get_dataspaces()] == ["eml:///"]
    put, errs = d.put_objects("eml:///", {"c": CRS_XML})
    assert not errs and put["c"].uri == f"eml:///resqml20.obj_LocalDepth3dCrs({CRS_UUID})"
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        d.put_dataspace("eml:///")
    with raises_code(ErrorCode.EREQUEST_DENIED):
        d.delete_dataspace("eml:///")


def test_get_dataspaces_last_write_filter(store: Store) -> None:
    store.put_dataspace(DS2)
    before = {r.uri: r.store_last_write_us for r in store.get_dataspaces()}
    mark = max(before.values())
    store.put_objects(DS, {"c": CRS_XML})
    after = store.get_dataspaces(store_last_write_filter=mark)
    assert [r.uri for r in after] == [DS]
    assert after[0].store_last_write_us > before[DS]
    assert after[0].store_created_us == store.get_dataspace(DS).store_created_us


def test_dataspace_sizes_are_summed_only_when_asked(store: Store) -> None:
    store.put_objects(DS, {"c": CRS_XML})
    store.put_array(epc_uri(), "/a", np.arange(3, dtype=np.int64))
    # GetDataspaces of the default profile does not walk every object and array of the store.
    [listed] = store.get_dataspaces(sizes=False)
    assert listed.size_bytes is None and store.get_dataspace(DS, size=False).size_bytes is None
    size = len(CRS_XML) + 3 * 8  # the object's XML and the array's values
    assert [r.size_bytes for r in store.get_dataspaces()] == [size]
    assert store.get_dataspace(DS).size_bytes == size
    assert listed == dataclasses.replace(store.get_dataspace(DS), size_bytes=None)


def test_delete_dataspace_removes_content(store: Store) -> None:
    store.put_objects(DS, {"c": CRS_XML})
    store.put_array(epc_uri(), "/a", np.arange(3))
    store.delete_dataspace(DS)
    with raises_code(ErrorCode.ENOT_FOUND):
        store.delete_dataspace(DS)
    store.put_dataspace(DS)
    found, errs = store.get_objects([crs_uri()])
    assert not found and codes(errs) == {crs_uri(): ErrorCode.ENOT_FOUND}
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array(epc_uri(), "/a")


# ---------------------------------------------------------------------------------------------
# Data objects


def test_put_get_objects(store: Store) -> None:
    put, errs = store.put_objects(DS, {"crs": CRS_XML, "epc": EPC_XML, "grid": GRID_XML})
    assert not errs
    assert {k: (r.uri, r.created) for k, r in put.items()} == {
        "crs": (crs_uri(), True),
        "epc": (epc_uri(), True),
        "grid": (grid_uri(), True),
    }
    found, errs = store.get_objects(
        {"a": grid_uri(), "b": grid_uri().upper().replace("EML:", "eml:")}
    )
    # Upper-case uuid finds it; an upper-cased type and dataspace path do not.
    assert set(found) == {"a"} and codes(errs) == {"b": ErrorCode.EINVALID_URI}
    obj = found["a"]
    assert obj.xml == GRID_XML and obj.format == "xml" and obj.active
    assert obj.info.title == "Top reservoir"
    upper_uuid = grid_uri().replace(GRID_UUID, GRID_UUID.upper())
    assert store.get_objects([upper_uuid])[0][upper_uuid].uri == grid_uri()


def test_put_replaces_and_keeps_created_time(store: Store) -> None:
    first = store.put_objects(DS, {"c": CRS_XML})[0]["c"]
    obj1 = store.get_objects([crs_uri()])[0][crs_uri()]
    second = store.put_objects(DS, {"c": CRS_XML.replace(b"Local depth CRS", b"Renamed")})[0]["c"]
    obj2 = store.get_objects([crs_uri()])[0][crs_uri()]
    assert first.created and not second.created
    assert obj2.store_created_us == obj1.store_created_us
    assert obj2.store_last_write_us > obj1.store_last_write_us
    assert obj2.info.title == "Renamed"


def test_put_per_item_errors(store: Store) -> None:
    items: dict[str, bytes | ObjectPut] = {
        "ok": CRS_XML,
        "bad-xml": b"<oops",
        "uri-mismatch": ObjectPut(EPC_XML, uri=crs_uri()),
        "uri-ok": ObjectPut(EPC_XML, uri=epc_uri().replace(EPC_UUID, EPC_UUID.upper())),
        "other-ds": ObjectPut(GRID_XML, uri=grid_uri(DS2)),
        "json": ObjectPut(WELL_XML, format="json"),
    }
    put, errs = store.put_objects(DS, items)
    assert set(put) == {"ok", "uri-ok"} and put["uri-ok"].uri == epc_uri()
    assert codes(errs) == {
        "bad-xml": ErrorCode.EINVALID_OBJECT,
        "uri-mismatch": ErrorCode.EINVALID_OBJECT,
        "other-ds": ErrorCode.EINVALID_ARGUMENT,
        "json": ErrorCode.ENOTSUPPORTED,
    }


def test_put_dataspace_from_uri_and_missing_dataspace(store: Store) -> None:
    put, errs = store.put_objects(
        None,
        {
            "a": ObjectPut(CRS_XML, uri=crs_uri()),
            "b": ObjectPut(EPC_XML, uri=epc_uri(DS2)),
            "c": EPC_XML,
        },
    )
    assert put["a"].uri == crs_uri()
    assert codes(errs) == {"b": ErrorCode.ENOT_FOUND, "c": ErrorCode.EINVALID_URI}
    with raises_code(ErrorCode.EINVALID_URI):
        store.put_objects(crs_uri(), {"a": CRS_XML})


def test_versioned_uris(store: Store) -> None:
    store.put_objects(DS, {"g": GRID_XML})
    v3 = f"{DS}/resqml20.obj_Grid2dRepresentation(uuid={GRID_UUID},version='3')"
    v4 = v3.replace("'3'", "'4'")
    found, errs = store.get_objects([v3, v4])
    assert found[v3].uri == grid_uri() and codes(errs) == {v4: ErrorCode.ENOT_FOUND}
    _, errs = store.put_objects(DS, {"g": ObjectPut(GRID_XML, uri=v4)})
    assert codes(errs) == {"g": ErrorCode.EINVALID_OBJECT}


def test_uuid_reused_by_another_type_is_refused(store: Store) -> None:
    store.put_objects(DS, {"c": CRS_XML})
    other = resqml_obj("obj_HorizonInterpretation", CRS_UUID, "clash", [])
    _, errs = store.put_objects(DS, {"x": other})
    assert codes(errs) == {"x": ErrorCode.EINVALID_OBJECT}
    wrong_type = crs_uri().replace("obj_LocalDepth3dCrs", "obj_LocalTime3dCrs")
    assert codes(store.get_objects([wrong_type])[1]) == {wrong_type: ErrorCode.ENOT_FOUND}


def test_same_object_in_two_dataspaces_is_independent(store: Store) -> None:
    store.put_dataspace(DS2)
    store.put_objects(DS, {"c": CRS_XML})
    store.put_objects(DS2, {"c": CRS_XML.replace(b"Local depth CRS", b"Other")})
    got, _ = store.get_objects([crs_uri(), crs_uri(DS2)])
    assert got[crs_uri()].info.title == "Local depth CRS"
    assert got[crs_uri(DS2)].info.title == "Other"


def test_delete_objects_and_deleted_resources(store: Store) -> None:
    store.put_objects(DS, {"crs": CRS_XML, "epc": EPC_XML, "grid": GRID_XML})
    mark = store.get_dataspace(DS).store_last_write_us
    deleted, errs = store.delete_objects({"1": crs_uri(), "2": grid_uri(DS2), "3": "junk"})
    # The grid still links to the CRS: referential integrity refuses deleting it alone.
    assert deleted == {}
    assert codes(errs) == {
        "1": ErrorCode.EINVALID_OPERATION,
        "2": ErrorCode.ENOT_FOUND,
        "3": ErrorCode.EINVALID_URI,
    }
    assert "still referenced by" in errs["1"].message and grid_uri() in errs["1"].message
    store.delete_objects([grid_uri()])
    _, errs = store.delete_objects([crs_uri()])
    assert not errs
    _, errs = store.delete_objects([crs_uri()])
    assert codes(errs) == {crs_uri(): ErrorCode.ENOT_FOUND}

    gone = store.get_deleted_resources(DS)
    assert [d.uri for d in gone] == [grid_uri(), crs_uri()]
    assert gone[0].deleted_time_us > mark and gone[1].deleted_time_us > gone[0].deleted_time_us
    assert [d.uri for d in store.get_deleted_resources(DS, gone[0].deleted_time_us)] == [crs_uri()]
    assert [d.uri for d in store.get_deleted_resources(DS, types=["*Grid2d*"])] == [grid_uri()]
    assert store.get_deleted_resources(DS, types=["eml20.*"]) == []
    # Putting an object again removes it from the deleted list.
    store.put_objects(DS, {"crs": CRS_XML})
    assert [d.uri for d in store.get_deleted_resources(DS)] == [grid_uri()]
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_deleted_resources(DS2)


def test_delete_with_prune_removes_orphaned_targets(store: Store) -> None:
    store.put_objects(DS, {"crs": CRS_XML, "epc": EPC_XML, "grid": GRID_XML})
    other_uuid = str(uuid.uuid4())
    keeper = resqml_obj(
        "obj_PolylineRepresentation", other_uuid, "keeps crs", [("obj_LocalDepth3dCrs", CRS_UUID)]
    )
    (keeper_uri,) = (r.uri for r in store.put_objects(DS, {"k": keeper})[0].values())
    deleted, errs = store.delete_objects({"g": grid_uri()}, prune_contained_objects=True)
    # The CRS is still linked to by the keeper; the EPC reference (the grid's HdfProxy) is no
    # link, so it is not the grid's to prune.
    assert not errs and deleted == {"g": [grid_uri()]}
    found, _ = store.get_objects([crs_uri(), epc_uri()])
    assert set(found) == {crs_uri(), epc_uri()}
    deleted, errs = store.delete_objects({"k": keeper_uri}, prune_contained_objects=True)
    assert not errs and deleted == {"k": [keeper_uri, crs_uri()]}


# ---------------------------------------------------------------------------------------------
# Discovery

CHAIN = [str(uuid.UUID(int=i + 1)) for i in range(4)]  # A → B → C → D
CHAIN_TYPES = [
    "obj_SubRepresentation",
    "obj_Grid2dRepresentation",
    "obj_HorizonInterpretation",
    "obj_GeneticBoundaryFeature",
]


def chain_uri(i: int) -> str:
    return f"{DS}/resqml20.{CHAIN_TYPES[i]}({CHAIN[i]})"


@pytest.fixture
def chain(store: Store) -> Store:
    objs = {}
    for i in range(4):
        refs = [(CHAIN_TYPES[i + 1], CHAIN[i + 1])] if i < 3 else []
        if i == 3:  # a dangling reference is ignored
            refs.append(("obj_LocalDepth3dCrs", CRS_UUID))
        objs[str(i)] = resqml_obj(CHAIN_TYPES[i], CHAIN[i], f"obj {'ABCD'[i]}", refs)
    _, errs = store.put_objects(DS, objs)
    assert not errs
    return store


def uris(resources: Sequence[ResourceInfo]) -> list[str]:
    return [r.uri for r in resources]


@pytest.mark.parametrize(
    ("scope", "depth", "expected"),
    [
        ("self", 3, [0]),
        ("targets", 1, [1]),
        ("targets", 2, [1, 2]),
        ("targets", 3, [1, 2, 3]),
        ("targets", 10, [1, 2, 3]),
        ("targetsOrSelf", 2, [0, 1, 2]),
        ("sources", 5, []),
        ("targets", 0, []),
        ("targetsOrSelf", 0, [0]),
    ],
)
def test_discovery_from_head_of_chain(
    chain: Store, scope: str, depth: int, expected: list[int]
) -> None:
    resources, edges = chain.get_resources(chain_uri(0), scope, depth)
    assert uris(resources) == [chain_uri(i) for i in expected]
    hops = max(
        0, len(expected) - (0 if scope.startswith("targets") and "OrSelf" not in scope else 1)
    )
    assert [(e.source_uri, e.target_uri) for e in edges] == [
        (chain_uri(i), chain_uri(i + 1)) for i in range(hops)
    ]
    assert all(e.relationship == "Primary" for e in edges)


@pytest.mark.parametrize(("depth", "expected"), [(1, [3, 2]), (2, [3, 2, 1]), (3, [3, 2, 1, 0])])
def test_discovery_sources_or_self_from_tail(chain: Store, depth: int, expected: list[int]) -> None:
    resources, edges = chain.get_resources(chain_uri(3), "sourcesOrSelf", depth)
    assert uris(resources) == [chain_uri(i) for i in expected]
    assert {(e.source_uri, e.target_uri) for e in edges} == {
        (chain_uri(i), chain_uri(i + 1)) for i in expected if i != 3
    }


def test_discovery_type_filter_does_not_stop_the_walk(chain: Store) -> None:
    resources, edges = chain.get_resources(
        chain_uri(0), "targets", 3, types=["resqml20.obj_GeneticBoundary*"]
    )
    assert uris(resources) == [chain_uri(3)]
    assert edges == []  # its only edge comes from C, which was filtered out
    resources, _ = chain.get_resources(chain_uri(0), "targets", 3, types=["RESQML20.*"])
    assert len(resources) == 3
    resources, _ = chain.get_resources(chain_uri(0), "targets", 3, types=["eml20.*"])
    assert resources == []


def test_discovery_counts_and_fields(chain: Store) -> None:
    (res,), _ = chain.get_resources(chain_uri(1), "self", count_objects=True)
    assert (res.source_count, res.target_count) == (1, 1)
    assert res.name == "obj B" and res.qualified_type == "resqml20.obj_Grid2dRepresentation"
    assert res.last_changed_us == 1704164645_000000  # CREATED
    # open-etp-server's custom data: the citation's Creation and Originator.
    assert res.active and res.custom_data == {"created": 1704164645_000000, "creator": "etp_sync"}
    assert res.store_created_us == res.store_last_write_us > 0
    (res,), _ = chain.get_resources(chain_uri(3), "self", count_objects=True)
    assert (res.source_count, res.target_count) == (1, 0)  # dangling CRS reference not counted
    (res,), _ = chain.get_resources(chain_uri(3), "self")
    assert res.source_count is None and res.target_count is None


@pytest.mark.parametrize("scope", ["self", "targets", "sourcesOrSelf", "targetsOrSelf"])
def test_discovery_dataspace_context_lists_everything(chain: Store, scope: str) -> None:
    chain.put_objects(DS, {"w": WELL_XML})
    resources, edges = chain.get_resources(DS, scope, 1)
    assert uris(resources) == sorted(
        [chain_uri(i) for i in range(4)] + [f"{DS}/witsml21.Well({WELL_UUID})"]
    )
    assert len(edges) == 3
    resources, _ = chain.get_resources(DS, scope, types=["witsml21.*", "*Horizon*"])
    assert uris(resources) == sorted([chain_uri(2), f"{DS}/witsml21.Well({WELL_UUID})"])


def test_discovery_type_collection_uri(chain: Store) -> None:
    resources, _ = chain.get_resources(f"{DS}/resqml20.obj_HorizonInterpretation")
    assert uris(resources) == [chain_uri(2)]
    # The collection type and the types filter both apply.
    resources, _ = chain.get_resources(
        f"{DS}/resqml20.obj_HorizonInterpretation", types=["witsml21.*"]
    )
    assert resources == []


def test_discovery_last_write_filter(chain: Store) -> None:
    mark = chain.get_dataspace(DS).store_last_write_us
    chain.put_objects(DS, {"b": resqml_obj(CHAIN_TYPES[1], CHAIN[1], "B2", [])})
    resources, _ = chain.get_resources(DS, "self", store_last_write_filter=mark)
    assert uris(resources) == [chain_uri(1)]
    # B no longer references C: the walk from A stops at B.
    resources, _ = chain.get_resources(chain_uri(0), "targets", 3)
    assert uris(resources) == [chain_uri(1)]
    assert chain.get_resources(DS, active_status_filter=False)[0] == []
    assert len(chain.get_resources(DS, active_status_filter=True)[0]) == 4


def test_discovery_errors(chain: Store) -> None:
    with raises_code(ErrorCode.ENOT_FOUND):
        chain.get_resources(crs_uri())
    with raises_code(ErrorCode.ENOT_FOUND):
        chain.get_resources(DS2)
    with raises_code(ErrorCode.EINVALID_URI):
        chain.get_resources("eml:///dataspace('demo/test')/")
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        chain.get_resources(DS, "everything")
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        chain.get_resources(chain_uri(0), "targets", -1)


def test_supported_types(chain: Store) -> None:
    chain.put_objects(DS, {"crs": CRS_XML})
    assert chain.get_supported_types(DS, count_objects=True) == [
        ("resqml20.obj_GeneticBoundaryFeature", 1),
        ("resqml20.obj_Grid2dRepresentation", 1),
        ("resqml20.obj_HorizonInterpretation", 1),
        ("resqml20.obj_LocalDepth3dCrs", 1),
        ("resqml20.obj_SubRepresentation", 1),
    ]
    assert chain.get_supported_types(chain_uri(1), "targetsOrSelf") == [
        ("resqml20.obj_Grid2dRepresentation", None),
        ("resqml20.obj_HorizonInterpretation", None),
    ]
    s = Store(supported_types=["witsml21.Well", "resqml20.*"])
    s.put_dataspace(DS)
    s.put_objects(DS, {"c": CRS_XML})
    assert s.get_supported_types(DS, return_empty_types=True, count_objects=True) == [
        ("resqml20.obj_LocalDepth3dCrs", 1),
        ("witsml21.Well", 0),
    ]


def test_discovery_witsml_wellbore_targets_well(store: Store) -> None:
    store.put_objects(DS, {"w": WELL_XML, "wb": WELLBORE_XML})
    well = f"{DS}/witsml21.Well({WELL_UUID})"
    wellbore = f"{DS}/witsml21.Wellbore({WELLBORE_UUID})"
    resources, edges = store.get_resources(well, "sources")
    assert uris(resources) == [wellbore]
    assert [(e.source_uri, e.target_uri) for e in edges] == [(wellbore, well)]


# ---------------------------------------------------------------------------------------------
# Arrays


def test_put_get_array_round_trip(store: Store) -> None:
    data = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    store.put_array(epc_uri(), "/RESQML/x/zvalues", data)  # owning object need not exist
    data[0, 0] = 99.0  # the store keeps its own copy
    got = store.get_array(epc_uri(), "/RESQML/x/zvalues")
    assert got.flags.c_contiguous and got.dtype == np.float64
    np.testing.assert_array_equal(got, np.arange(12.0).reshape(3, 4))
    got[1, 1] = -1.0  # and hands out copies
    assert store.get_array(epc_uri(), "/RESQML/x/zvalues")[1, 1] == 5.0
    meta = store.get_array_metadata(epc_uri(), "/RESQML/x/zvalues")
    assert meta.dimensions == (3, 4) and meta.dtype == np.float64
    assert (meta.transport_type, meta.logical_type) == ("arrayOfDouble", "arrayOfDouble64LE")
    assert meta.store_created_us == meta.store_last_write_us > 0
    # Same array through an upper-case uuid and another type spelling of the owner.
    other_spelling = f"{DS}/resqml20.obj_EpcExternalPartReference({EPC_UUID.upper()})"
    assert store.get_array(other_spelling, "/RESQML/x/zvalues").shape == (3, 4)


def test_array_type_defaults() -> None:
    assert default_array_types(np.int8) == ("bytes", "arrayOfInt8")
    assert default_array_types(np.uint16) == ("arrayOfInt", "arrayOfUInt16LE")
    assert default_array_types(np.uint32) == ("arrayOfLong", "arrayOfUInt32LE")
    assert default_array_types(np.float32) == ("arrayOfFloat", "arrayOfFloat32LE")
    assert default_array_types(np.bool_) == ("arrayOfBoolean", "arrayOfBoolean")
    assert default_array_types("U5") == ("arrayOfString", "arrayOfString")
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        default_array_types(np.complex128)


def test_uninitialized_array_and_subarrays(store: Store) -> None:
    uri = epc_uri()
    store.put_uninitialized_array(
        uri, "/z", [4, 5], np.int16, transport_type="arrayOfInt", logical_type="arrayOfInt16BE"
    )
    meta = store.get_array_metadata(uri, "/z")
    assert (meta.dimensions, meta.transport_type, meta.logical_type) == (
        (4, 5),
        "arrayOfInt",
        "arrayOfInt16BE",
    )
    np.testing.assert_array_equal(store.get_array(uri, "/z"), np.zeros((4, 5), np.int16))
    store.put_subarray(uri, "/z", [0, 0], [2, 5], np.arange(10, dtype=np.int32).reshape(2, 5))
    store.put_subarray(uri, "/z", [2, 0], [2, 5], np.arange(10, 20))  # flat values accepted
    expected = np.arange(20, dtype=np.int16).reshape(4, 5)
    got = store.get_array(uri, "/z")
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(store.get_subarray(uri, "/z", [1, 2], [2, 3]), expected[1:3, 2:5])
    later = store.get_array_metadata(uri, "/z")
    assert later.store_last_write_us > meta.store_last_write_us
    assert later.store_created_us == meta.store_created_us


@pytest.mark.parametrize(
    ("starts", "counts", "values"),
    [
        ([0], [2], np.zeros(2)),  # rank mismatch
        ([0, 0, 0], [1, 1, 1], np.zeros((1, 1, 1))),
        ([-1, 0], [1, 1], np.zeros((1, 1))),  # negative start
        ([3, 0], [2, 1], np.zeros((2, 1))),  # beyond the end
        ([0, 2], [1, 4], np.zeros((1, 4))),
        ([0, 0], [2, 3], np.zeros((3, 2))),  # shape differs from counts
        ([0, 0], [2, 3], np.zeros(5)),  # wrong number of flat values
        ([0, 0], [1, 1], np.array([["x"]])),  # strings into a float array
    ],
)
def test_subarray_write_errors(
    store: Store, starts: list[int], counts: list[int], values: np.ndarray[Any, Any]
) -> None:
    store.put_uninitialized_array(epc_uri(), "/a", [4, 5], np.float64)
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_subarray(epc_uri(), "/a", starts, counts, values)
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/a"), np.zeros((4, 5)))


def test_subarray_read_errors_and_casts(store: Store) -> None:
    store.put_uninitialized_array(epc_uri(), "/i", [3], np.uint8)
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.get_subarray(epc_uri(), "/i", [2], [2])
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_subarray(epc_uri(), "/i", [0], [1], np.array([256]))  # out of uint8 range
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_subarray(epc_uri(), "/i", [0], [1], np.array([1.5]))  # float into int
    store.put_subarray(epc_uri(), "/i", [1], [2], np.array([255, 7], dtype=np.int32))
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/i"), [0, 255, 7])


def test_missing_arrays_and_dataspaces(store: Store) -> None:
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array(epc_uri(), "/nothing")
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array_metadata(epc_uri(), "/nothing")
    with raises_code(ErrorCode.ENOT_FOUND):
        store.put_subarray(epc_uri(), "/nothing", [0], [1], [1.0])
    with raises_code(ErrorCode.ENOT_FOUND):
        store.put_array(epc_uri(DS2), "/a", np.zeros(2))
    with raises_code(ErrorCode.EINVALID_URI):
        store.put_array(DS, "/a", np.zeros(2))
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_array(epc_uri(), "", np.zeros(2))
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_uninitialized_array(epc_uri(), "/a", [2, -1], np.float32)
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_array(epc_uri(), "/a", np.zeros(2), transport_type="arrayOfQuaternion")


def test_string_arrays(store: Store) -> None:
    store.put_uninitialized_array(epc_uri(), "/names", [3], "U1")
    store.put_subarray(epc_uri(), "/names", [0], [2], np.array(["a much longer name", "b"]))
    got = store.get_array(epc_uri(), "/names")
    assert got.tolist() == ["a much longer name", "b", ""]
    meta = store.get_array_metadata(epc_uri(), "/names")
    assert (meta.transport_type, meta.logical_type) == ("arrayOfString", "arrayOfString")
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_subarray(epc_uri(), "/names", [0], [1], np.array([1.0]))


def test_array_size_limit() -> None:
    s = Store(max_array_bytes=1000)
    s.put_dataspace(DS)
    s.put_uninitialized_array(epc_uri(), "/ok", [125], np.float64)
    with raises_code(ErrorCode.ELIMIT_EXCEEDED):
        s.put_uninitialized_array(epc_uri(), "/big", [1 << 40, 1 << 40], np.float64)
    with raises_code(ErrorCode.ELIMIT_EXCEEDED):
        s.put_array(epc_uri(), "/big", np.zeros(126))


def test_deleting_owner_deletes_its_arrays(store: Store) -> None:
    store.put_objects(DS, {"epc": EPC_XML})
    store.put_array(epc_uri(), "/a", np.ones(3))
    store.put_array(grid_uri(), "/b", np.ones(3))
    store.delete_objects([epc_uri()])
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array(epc_uri(), "/a")
    assert store.get_array(grid_uri(), "/b").sum() == 3


# ---------------------------------------------------------------------------------------------
# Transactions


def test_transaction_isolation_between_sessions(store: Store) -> None:
    tx = store.start_transaction("A", [DS])
    assert store.transaction_of("A") == tx and store.transaction_of("B") is None
    put, errs = store.put_objects(DS, {"c": CRS_XML, "g": GRID_XML}, tx=tx)
    assert not errs and put["c"].created
    store.put_array(epc_uri(), "/z", np.arange(4.0), tx=tx)
    # Session B (no transaction) sees nothing; A's transaction sees its writes.
    assert store.get_objects([crs_uri()])[0] == {}
    assert store.get_resources(DS)[0] == []
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array(epc_uri(), "/z")
    assert set(store.get_objects([crs_uri()], tx=tx)[0]) == {crs_uri()}
    resources, edges = store.get_resources(grid_uri(), "targetsOrSelf", tx=tx)
    assert uris(resources) == [grid_uri(), crs_uri()] and len(edges) == 1
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/z", tx=tx), np.arange(4.0))
    # B cannot write to the dataspace meanwhile, nor open a write transaction on it.
    _, errs = store.put_objects(DS, {"e": EPC_XML})
    assert codes(errs) == {"e": ErrorCode.EMAX_TRANSACTIONS_EXCEEDED}
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        store.start_transaction("B", [DS])
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        store.start_transaction("B", [])  # all dataspaces includes DS
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        store.put_array(epc_uri(), "/y", np.zeros(1))
    read_tx = store.start_transaction("B", [DS], read_only=True)
    assert store.get_objects([crs_uri()], tx=read_tx)[0] == {}
    store.commit_transaction(tx, session_id="A")

    assert store.transaction_of("A") is None
    got = store.get_objects([crs_uri(), grid_uri()])[0]
    assert set(got) == {crs_uri(), grid_uri()}
    # One commit, one timestamp.
    assert got[crs_uri()].store_last_write_us == got[grid_uri()].store_last_write_us
    assert got[crs_uri()].store_created_us == got[crs_uri()].store_last_write_us
    assert store.get_objects([crs_uri()], tx=read_tx)[0] != {}
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/z"), np.arange(4.0))
    store.rollback_transaction(read_tx)
    tx_b = store.start_transaction("B", [DS])
    store.rollback_transaction(tx_b)


def test_write_transactions_on_different_dataspaces_coexist(store: Store) -> None:
    store.put_dataspace(DS2)
    tx_a = store.start_transaction("A", [DS])
    tx_b = store.start_transaction("B", [DS2])
    store.put_objects(DS, {"c": CRS_XML}, tx=tx_a)
    store.put_objects(DS2, {"c": CRS_XML}, tx=tx_b)
    _, errs = store.put_objects(DS2, {"e": EPC_XML}, tx=tx_a)  # not in A's transaction
    assert codes(errs) == {"e": ErrorCode.EINVALID_STATE}
    store.commit_transaction(tx_b)
    assert store.get_objects([crs_uri(DS2)])[0] and not store.get_objects([crs_uri()])[0]
    store.commit_transaction(tx_a)
    assert store.get_objects([crs_uri()])[0]


def test_one_transaction_per_session(store: Store) -> None:
    tx = store.start_transaction("A", [DS], read_only=True)
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        store.start_transaction("A", [DS], read_only=True)
    store.commit_transaction(tx)
    store.start_transaction("A", [DS])


def test_rollback_and_abort_discard_staged_writes(store: Store) -> None:
    store.put_objects(DS, {"c": CRS_XML})
    store.put_array(epc_uri(), "/z", np.zeros(4))
    tx = store.start_transaction("A", [DS])
    store.delete_objects([crs_uri()], tx=tx)
    store.put_subarray(epc_uri(), "/z", [1], [2], np.array([5.0, 6.0]), tx=tx)
    store.put_objects(DS, {"e": EPC_XML}, tx=tx)
    # Staged: delete and subarray writes (copy on write) are visible only inside.
    assert store.get_objects([crs_uri()], tx=tx)[0] == {}
    assert store.get_objects([crs_uri()])[0] != {}
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/z", tx=tx), [0, 5, 6, 0])
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/z"), np.zeros(4))
    store.rollback_transaction(tx)
    with raises_code(ErrorCode.EINVALID_STATE):
        store.commit_transaction(tx)
    assert set(store.get_objects([crs_uri(), epc_uri()])[0]) == {crs_uri()}
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/z"), np.zeros(4))

    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"e": EPC_XML}, tx=tx)
    assert store.abort_session("A") is True
    assert store.abort_session("A") is False
    assert store.get_objects([epc_uri()])[0] == {}
    with raises_code(ErrorCode.EINVALID_STATE):
        store.get_objects([epc_uri()], tx=tx)
    store.start_transaction("B", [DS])  # the lock went with the aborted transaction


def test_commit_applies_deletes_and_array_writes(store: Store) -> None:
    store.put_objects(DS, {"c": CRS_XML, "g": GRID_XML})
    store.put_array(epc_uri(), "/z", np.zeros(4))
    created = store.get_array_metadata(epc_uri(), "/z").store_created_us
    tx = store.start_transaction("A", [DS])
    store.delete_objects([crs_uri(), grid_uri()], tx=tx)
    store.put_subarray(epc_uri(), "/z", [0], [2], np.array([1.0, 2.0]), tx=tx)
    store.put_subarray(epc_uri(), "/z", [2], [2], np.array([3.0, 4.0]), tx=tx)
    store.commit_transaction(tx)
    assert store.get_objects([crs_uri()])[0] == {}
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/z"), [1, 2, 3, 4])
    meta = store.get_array_metadata(epc_uri(), "/z")
    assert meta.store_created_us == created < meta.store_last_write_us
    assert {d.uri for d in store.get_deleted_resources(DS)} == {crs_uri(), grid_uri()}


def test_put_then_delete_in_one_transaction(store: Store) -> None:
    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"e": EPC_XML}, tx=tx)
    store.put_array(epc_uri(), "/z", np.ones(2), tx=tx)
    deleted, errs = store.delete_objects([epc_uri()], tx=tx)
    assert not errs and deleted == {epc_uri(): [epc_uri()]}
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array(epc_uri(), "/z", tx=tx)
    store.commit_transaction(tx)
    assert store.get_objects([epc_uri()])[0] == {}
    assert store.get_deleted_resources(DS) == []  # never committed, so never deleted


def test_transaction_errors(store: Store) -> None:
    with raises_code(ErrorCode.ENOT_FOUND):
        store.start_transaction("A", [DS2])
    with raises_code(ErrorCode.EINVALID_URI):
        store.start_transaction("A", [crs_uri()])
    with raises_code(ErrorCode.EINVALID_STATE):
        store.put_objects(DS, {"c": CRS_XML}, tx=uuid.uuid4())
    with raises_code(ErrorCode.EINVALID_STATE):
        store.rollback_transaction(uuid.uuid4())
    ro = store.start_transaction("A", [DS], read_only=True)
    with raises_code(ErrorCode.EINVALID_STATE):
        store.put_objects(DS, {"c": CRS_XML}, tx=ro)
    with raises_code(ErrorCode.EINVALID_STATE):
        store.put_array(epc_uri(), "/a", np.zeros(1), tx=ro)
    with raises_code(ErrorCode.EINVALID_STATE):
        store.commit_transaction(ro, session_id="someone else")
    store.commit_transaction(ro, session_id="A")


def test_commit_fails_when_dataspace_was_deleted(store: Store) -> None:
    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"c": CRS_XML}, tx=tx)
    store.delete_dataspace(DS)
    with raises_code(ErrorCode.ENOT_FOUND):
        store.commit_transaction(tx)
    assert store.transaction_of("A") is None


def test_commit_fails_when_dataspace_was_deleted_and_created_again(store: Store) -> None:
    """The writes were made in the deleted dataspace: none goes into the new one of that path."""
    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"c": CRS_XML}, tx=tx)
    store.put_array(epc_uri(), "/a", np.zeros(3), tx=tx)
    store.delete_dataspace(DS)
    store.put_dataspace(DS)
    with raises_code(ErrorCode.ENOT_FOUND):
        store.commit_transaction(tx)
    assert store.transaction_of("A") is None
    assert store.get_resources(DS) == ([], [])
    with raises_code(ErrorCode.ENOT_FOUND):
        store.get_array(epc_uri(), "/a")


def test_require_transactions() -> None:
    s = Store(require_transactions=True)
    s.put_dataspace(DS)  # dataspaces are not transactional
    for write in (
        lambda: s.put_objects(DS, {"c": CRS_XML}),
        lambda: s.delete_objects([crs_uri()]),
        lambda: s.put_array(epc_uri(), "/a", np.zeros(1)),
        lambda: s.put_uninitialized_array(epc_uri(), "/a", [1], np.float64),
        lambda: s.put_subarray(epc_uri(), "/a", [0], [1], [1.0]),
    ):
        with pytest.raises(StoreError, match="transaction") as exc_info:
            write()
        assert exc_info.value.code == ErrorCode.EINVALID_STATE
    tx = s.start_transaction(1, [DS])
    assert not s.put_objects(DS, {"c": CRS_XML}, tx=tx)[1]
    s.commit_transaction(tx)
    assert s.get_objects([crs_uri()])[0]  # reads need no transaction


# ---------------------------------------------------------------------------------------------
# Listeners, time, threads


def test_listeners_see_committed_changes_only(store: Store) -> None:
    batches: list[list[ChangeEvent]] = []
    store.add_listener(batches.append)

    def failing(events: list[ChangeEvent]) -> None:
        raise RuntimeError("listener bug")

    store.add_listener(failing)  # a failing listener does not break writes
    store.put_objects(DS, {"c": CRS_XML, "bad": b"<"})
    store.put_objects(DS, {"c": CRS_XML})
    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"e": EPC_XML}, tx=tx)
    store.delete_objects([crs_uri()], tx=tx)
    store.put_array(epc_uri(), "/a", np.zeros(2), tx=tx)
    assert len(batches) == 2
    store.commit_transaction(tx)
    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"g": GRID_XML}, tx=tx)
    store.rollback_transaction(tx)
    store.delete_dataspace(DS)

    summary = [[(e.kind, e.uri) for e in batch] for batch in batches]
    assert summary == [
        [("insert", crs_uri())],
        [("update", crs_uri())],
        [("insert", epc_uri()), ("delete", crs_uri())],
        [("delete", epc_uri())],
    ]
    first = batches[0][0]
    assert first.dataspace_uri == DS and first.obj is not None and first.obj.xml == CRS_XML
    assert batches[2][1].obj is None
    times = [batch[0].time_us for batch in batches]
    assert times == sorted(times) and len(set(times)) == 4
    assert batches[2][0].time_us == batches[2][1].time_us


def test_a_listener_gets_the_changes_committed_after_it_was_added(store: Store) -> None:
    """With no listener a commit makes no change events; one added then gets the batches
    committed after it, whole, as when it had been there all along."""
    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"c": CRS_XML}, tx=tx)
    store.commit_transaction(tx)
    batches: list[list[ChangeEvent]] = []
    store.add_listener(batches.append)
    store.put_objects(DS, {"c": CRS_XML, "e": EPC_XML})
    store.delete_objects([epc_uri()])
    summary = [[(e.kind, e.uri) for e in batch] for batch in batches]
    assert summary == [[("update", crs_uri()), ("insert", epc_uri())], [("delete", epc_uri())]]


def test_listeners_run_outside_the_lock(store: Store) -> None:
    seen: list[int] = []

    def listener(events: list[ChangeEvent]) -> None:
        # Another thread must be able to use the store while the listener runs.
        worker = threading.Thread(target=lambda: seen.append(len(store.get_dataspaces())))
        worker.start()
        worker.join(timeout=5)

    store.add_listener(listener)
    store.put_objects(DS, {"c": CRS_XML})
    assert seen == [1]
    store.remove_listener(listener)
    store.put_objects(DS, {"c": CRS_XML})
    assert seen == [1]


def test_objects_carry_the_time_of_the_write_that_committed_them(store: Store) -> None:
    """The objects of one put share its commit time (that of its change events and of the
    dataspace's last write), a replaced one keeps its creation time, and a transaction's
    objects, read inside it with the time they were staged, get the commit's time."""
    batches: list[list[ChangeEvent]] = []
    store.add_listener(batches.append)
    store.put_objects(DS, {"c": CRS_XML, "e": EPC_XML})
    found = store.get_objects([crs_uri(), epc_uri()])[0]
    crs, epc = found[crs_uri()], found[epc_uri()]
    t1 = batches[0][0].time_us
    assert {e.time_us for e in batches[0]} == {t1}
    assert {crs.store_created_us, crs.store_last_write_us} == {t1}
    assert {epc.store_created_us, epc.store_last_write_us} == {t1}
    assert [e.obj for e in batches[0]] == [crs, epc]
    assert store.get_dataspace(DS).store_last_write_us == t1

    store.put_objects(DS, {"c": CRS_XML.replace(b"Local depth CRS", b"Renamed")})
    crs2 = store.get_objects([crs_uri()])[0][crs_uri()]
    t2 = batches[1][0].time_us
    assert t2 > t1 and crs2.store_created_us == t1 and crs2.store_last_write_us == t2
    assert batches[1][0].obj == crs2 and crs2.info.title == "Renamed"

    tx = store.start_transaction("A", [DS])
    store.put_objects(DS, {"g": GRID_XML, "c": CRS_XML}, tx=tx)
    staged = store.get_objects([grid_uri(), crs_uri()], tx=tx)[0]
    store.commit_transaction(tx)
    committed = store.get_objects([grid_uri(), crs_uri()])[0]
    t3 = batches[2][0].time_us
    assert t3 > staged[grid_uri()].store_last_write_us > t2
    grid, crs3 = committed[grid_uri()], committed[crs_uri()]
    assert {grid.store_created_us, grid.store_last_write_us, crs3.store_last_write_us} == {t3}
    assert crs3.store_created_us == t1
    assert grid.xml == staged[grid_uri()].xml and grid.info == staged[grid_uri()].info
    assert [e.obj for e in batches[2]] == [grid, crs3]


def test_iter_objects_reads_the_view_objects_gives_in_its_order() -> None:
    """StoreCore._iter_objects (a search through a transaction's view without copying the
    dataspace) yields what _objects(...).values() holds, in the same order, whatever the stage
    replaces, deletes or adds."""
    rng = random.Random(7)
    info = parse_data_object(CRS_XML)
    for _ in range(300):
        sp = Space("demo/test", DS, 1, 1, {})
        for n in rng.sample(range(12), rng.randrange(8)):
            sp.objects[str(n)] = StoredObject(f"c{n}", info, CRS_XML, "xml", 1, 1)
        stage = Stage(uuid.uuid4(), None, False, None)
        if rng.random() < 0.8:
            staged = stage.objects.setdefault(sp.path, {})
            for n in rng.sample(range(12), rng.randrange(8)):
                new = StoredObject(f"s{n}", info, CRS_XML, "xml", 2, 2)
                staged[str(n)] = None if rng.random() < 0.4 else new
        for t in (stage, None):
            assert list(Store._iter_objects(sp, t)) == list(Store._objects(sp, t).values())


def test_write_times_strictly_increase(store: Store) -> None:
    stamps = []
    for _ in range(50):
        store.put_objects(DS, {"c": CRS_XML})
        stamps.append(store.get_objects([crs_uri()])[0][crs_uri()].store_last_write_us)
    assert all(b > a for a, b in itertools.pairwise(stamps))


def run_together(worker: Callable[[int], object], count: int = 8) -> None:
    """Run ``worker(0)`` .. ``worker(count - 1)`` on threads released at once by a barrier;
    re-raise the first failure (a thread's exception would otherwise only be printed)."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            worker(i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a worker is still running after 60 s"
    if failures:
        raise failures[0]


def test_concurrent_puts_from_eight_threads(store: Store) -> None:
    per_thread = 40
    uids = [[str(uuid.uuid4()) for _ in range(per_thread)] for _ in range(8)]

    def worker(i: int) -> None:
        for uid in uids[i]:
            _, errs = store.put_objects(
                DS, {uid: resqml_obj("obj_HorizonInterpretation", uid, f"t{i}", [])}
            )
            assert not errs

    run_together(worker)
    resources, _ = store.get_resources(DS)
    assert len(resources) == 8 * per_thread
    assert len({r.store_last_write_us for r in resources}) == 8 * per_thread


def test_concurrent_subarray_writes(store: Store) -> None:
    store.put_uninitialized_array(epc_uri(), "/big", [8, 1000], np.float64)

    def worker(row: int) -> None:
        for start in range(0, 1000, 100):
            store.put_subarray(
                epc_uri(), "/big", [row, start], [1, 100], np.full((1, 100), float(row))
            )

    run_together(worker)
    expected = np.repeat(np.arange(8.0)[:, None], 1000, axis=1)
    np.testing.assert_array_equal(store.get_array(epc_uri(), "/big"), expected)


def test_concurrent_write_transactions_serialise(store: Store) -> None:
    """Eight sessions race for the dataspace's write lock; each retries until it gets it."""

    def worker(i: int) -> None:
        while True:
            try:
                tx = store.start_transaction(f"s{i}", [DS])
                break
            except StoreError as exc:
                assert exc.code == ErrorCode.EMAX_TRANSACTIONS_EXCEEDED
        uid = str(uuid.UUID(int=1000 + i))
        store.put_objects(DS, {"x": resqml_obj("obj_FaultInterpretation", uid, "f", [])}, tx=tx)
        store.commit_transaction(tx)

    run_together(worker)
    assert len(store.get_resources(DS)[0]) == 8


def test_parse_naive_time_is_utc_and_unprefixed_children() -> None:
    xml = (
        f'<eml:obj_EpcExternalPartReference xmlns:eml="{EML}" uuid="{EPC_UUID}">'
        "<eml:Citation><eml:Title>t</eml:Title><eml:Creation>1970-01-01T00:00:01.25</eml:Creation>"
        "</eml:Citation><Extra><UUID>not a uuid</UUID></Extra></eml:obj_EpcExternalPartReference>"
    )
    info = parse_data_object(xml.encode())
    assert info.last_update_us == 1_250_000
    assert info.references == ()  # an invalid uuid is no reference


def test_array_argument_validation(store: Store) -> None:
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_uninitialized_array(epc_uri(), "/a", [2], "not-a-dtype")
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_array(epc_uri(), "/a", np.zeros(2), logical_type="arrayOfFloat128")
    with raises_code(ErrorCode.EINVALID_ARGUMENT):
        store.put_uninitialized_array(epc_uri(), "/a", ["x"], np.float64)  # type: ignore[list-item]
    unlimited = Store(max_array_bytes=None)
    unlimited.put_dataspace(DS)
    unlimited.put_array(epc_uri(), "/a", np.zeros(3))
    assert unlimited.get_array_metadata(epc_uri(), "/a").dimensions == (3,)


def test_parse_context_memo_keeps_no_long_text() -> None:
    """A peer's long URIs (objects or type collections) are read the same but never kept by
    the store's parse memo: its memory stays bounded by its size times a short text."""
    from etp_sync.server.store import _uris
    from etp_sync.uri import _MEMO_MAX_CHARS

    path = "p" * (_MEMO_MAX_CHARS + 1)
    space = f"eml:///dataspace('{path}')"
    obj = f"{space}/resqml20.obj_Grid2dRepresentation({uuid.UUID(int=7)})"
    _uris._memo_parse_context.cache_clear()
    parts = _uris.parse_context(obj)
    assert (parts.space, parts.uuid, parts.text) == (path, str(uuid.UUID(int=7)), obj)
    collection = _uris.parse_context(f"{space}/resqml20.obj_Grid2dRepresentation")
    assert (collection.space, collection.uuid) == (path, None)
    assert _uris._memo_parse_context.cache_info().currsize == 0
    short = "eml:///dataspace('a')/resqml20.obj_Grid2dRepresentation"
    assert _uris.parse_context(short) is _uris.parse_context(short)  # short ones are kept


def test_adopted_blocks_of_a_rolled_back_transaction_are_freed() -> None:
    """Values a transaction's put kept as blocks (``adopt``) are dropped with its rollback:
    nothing stays counted, and (reference counts alone) nothing stays alive."""
    import gc
    import weakref

    store = Store()
    store.put_dataspace("eml:///dataspace('a/b')")
    uri = f"eml:///dataspace('a/b')/eml20.obj_EpcExternalPartReference({uuid.UUID(int=1)})"
    store.put_uninitialized_array(uri, "/x", (256, 1024), "<f8")
    before = store.used_bytes
    tx = store.start_transaction("s1")
    values = np.ones(256 * 1024)
    kept = weakref.ref(values)
    gc.disable()
    try:
        store.put_subarray(uri, "/x", [0, 0], [256, 1024], values, tx=tx, adopt=True)
        del values
        assert kept() is not None  # the transaction's block
        store.rollback_transaction(tx, "s1")
        assert kept() is None
    finally:
        gc.enable()
    assert store.used_bytes == before
    assert not store.get_array(uri, "/x").any()


def test_per_key_errors_hold_no_traceback(store: Store) -> None:
    """A per-key error comes back without its traceback, which would keep the call's frame
    (and every document or value it was given) alive until the cyclic collector ran."""
    missing = f"{DS}/resqml20.obj_LocalDepth3dCrs({uuid.UUID(int=5)})"
    _put, put_errors = store.put_objects(DS, {"bad": b"<not xml", "c": CRS_XML})
    _found, get_errors = store.get_objects([missing])
    _deleted, delete_errors = store.delete_objects({"m": "eml:///nowhere"})
    errors = [*put_errors.values(), *get_errors.values(), *delete_errors.values()]
    assert len(errors) == 3
    assert all(exc.__traceback__ is None for exc in errors)


@dataclasses.dataclass
class _Graph:
    """A random dataspace: its objects' uuids, URIs, links and datasets, and its arrays."""

    uids: list[str]
    uri: dict[str, str]
    outs: dict[str, list[str]]
    datasets: dict[str, set[tuple[str, str]]]
    arrays: set[tuple[str, str]]


def _random_dataspace(store: Store, rng: random.Random, n: int) -> _Graph:
    """``n`` objects put in DS with random links (duplicates, self links, cycles, dangling
    ones) and datasets (shared ones too), and arrays: those datasets and some under an
    object's own uuid."""
    uids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    parts = [*uids[:3], str(uuid.UUID(int=10_000))]  # the last is no object
    dangling = str(uuid.UUID(int=20_000))
    g = _Graph(uids, {}, {}, {}, set())
    objs: dict[str, bytes] = {}
    for uid in uids:
        refs = rng.choices([*uids, dangling], k=rng.randrange(4))
        if rng.random() < 0.3:
            part, path = rng.choice(parts), f"/a{rng.randrange(3)}"
            crs = uuid.UUID(refs[0] if refs else dangling)
            objs[uid] = samples.grid2d_representation(
                uuid.UUID(uid), crs=crs, epc=uuid.UUID(part), shape=(1, 1), array_path=path
            )
            g.uri[uid] = f"{DS}/resqml20.obj_Grid2dRepresentation({uid})"
            g.outs[uid], g.datasets[uid] = refs[:1], {(part, path)}
        else:
            links = [("obj_X", r) for r in refs]
            objs[uid] = resqml_obj("obj_HorizonInterpretation", uid, uid, links)
            g.uri[uid] = f"{DS}/resqml20.obj_HorizonInterpretation({uid})"
            g.outs[uid], g.datasets[uid] = refs, set()
    _, errs = store.put_objects(DS, objs)
    assert not errs
    g.arrays = {(p, f"/a{i}") for p in parts for i in range(3)} | {(u, "/own") for u in uids[::4]}
    for part, path in g.arrays:
        store.put_array(_part_uri(part), path, np.zeros(1))
    return g


def _part_uri(part: str) -> str:
    return f"{DS}/eml20.obj_EpcExternalPartReference({part})"


def _pruned_as_specified(
    roots: list[str], outs: dict[str, list[str]]
) -> tuple[dict[str, list[str]], set[str]]:
    """What deleting ``roots`` (in order) with pruning deletes, straight from the definition
    (per root, and all that is gone): each root, then breadth first the objects it linked to
    that no object left links to (itself aside), looked at again when an object pruned later
    linked to them."""
    left = dict(outs)
    deleted: dict[str, list[str]] = {}
    for root in roots:
        left.pop(root, None)
        done = deleted[root] = [root]
        pending = list(outs[root])
        while pending:
            uid = pending.pop(0)
            if uid in left and not any(uid in o and s != uid for s, o in left.items()):
                done.append(uid)
                pending += left.pop(uid)
    return deleted, set(outs) - set(left)


@pytest.mark.parametrize("seed", range(100))
def test_delete_with_prune_deletes_what_the_definition_says(seed: int) -> None:
    """Pruning keeps one link graph for the request, updated as objects go (it was rebuilt
    for every object pruned): what it deletes, in which order, and which arrays go with
    them (those the objects gone named or owned that no object left names) are as defined."""
    rng = random.Random(seed)
    store = Store()
    store.put_dataspace(DS)
    g = _random_dataspace(store, rng, rng.randrange(5, 30))
    roots = rng.sample(g.uids, rng.randrange(1, 4))
    expected, gone = _pruned_as_specified(roots, g.outs)
    tx = store.start_transaction("s", [DS])  # no referential check before the commit
    keys = {f"k{i}": g.uri[r] for i, r in enumerate(roots)}
    deleted, errs = store.delete_objects(keys, prune_contained_objects=True, tx=tx)
    assert not errs
    assert deleted == {f"k{i}": [g.uri[u] for u in expected[r]] for i, r in enumerate(roots)}
    found, _ = store.get_objects(list(g.uri.values()), tx=tx)
    assert set(found) == {g.uri[u] for u in g.uids if u not in gone}
    named_left = set().union(*(g.datasets[u] for u in g.uids if u not in gone))
    named_gone = set().union(*(g.datasets[u] for u in gone))
    named_gone |= {k for k in g.arrays if k[0] in gone}
    kept = {k for k in g.arrays if k not in named_gone or k in named_left}
    assert {k for k in g.arrays if _has_array(store, *k, tx)} == kept


def test_delete_with_prune_in_a_transaction_prunes_a_cycle_through_the_root(store: Store) -> None:
    """Inside a transaction an object linked to may be deleted: R → A → S → R, deleting R
    prunes A, then S (its one source, A, is gone), though S links to R, gone first."""
    r, a, s = (str(uuid.UUID(int=i)) for i in (1, 2, 3))
    uri = {u: f"{DS}/resqml20.obj_HorizonInterpretation({u})" for u in (r, a, s)}
    objs = {}
    for u, target in [(r, a), (a, s), (s, r)]:
        objs[u] = resqml_obj("obj_HorizonInterpretation", u, u, [("obj_X", target)])
    store.put_objects(DS, objs)
    tx = store.start_transaction("s", [DS])
    deleted, errs = store.delete_objects([uri[r]], prune_contained_objects=True, tx=tx)
    assert not errs and deleted == {uri[r]: [uri[r], uri[a], uri[s]]}


def _has_array(store: Store, part: str, path: str, tx: uuid.UUID | None) -> bool:
    try:
        store.get_array_metadata(_part_uri(part), path, tx=tx)
    except StoreError:
        return False
    return True


def _put_chain(store: Store, n: int) -> list[str]:
    """Store ``n`` interpretations in DS, each referencing the next; their uuids, in order."""
    chain = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    objs = {}
    for uid, nxt in zip(chain, [*chain[1:], None], strict=True):
        refs = [("obj_X", nxt)] if nxt else []
        objs[uid] = resqml_obj("obj_HorizonInterpretation", uid, uid, refs)
    store.put_objects(DS, objs)
    return chain


def test_delete_with_prune_builds_the_link_graph_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the head of a chain of N objects with pruning builds the dataspace's link graph
    once, not once per pruned object (N times, each a pass over the dataspace under the
    store's lock: quadratic, every other session waiting)."""
    from etp_sync.server.store import _objects

    n = 60
    chain = _put_chain(store, n)
    built: list[int] = []

    def counted(view: Any) -> Any:
        built.append(len(view))
        return links(view)

    links = _objects.links
    monkeypatch.setattr(_objects, "links", counted)
    head = f"{DS}/resqml20.obj_HorizonInterpretation({chain[0]})"
    deleted, errs = store.delete_objects([head], prune_contained_objects=True)
    assert not errs
    assert deleted[head] == [f"{DS}/resqml20.obj_HorizonInterpretation({u})" for u in chain]
    assert len(built) == 1  # by the referential check, kept up to date by pruning


def _refused_as_specified(
    requested: list[str], outs: dict[str, list[str]]
) -> dict[str, tuple[int, set[str]]]:
    """Which requested objects a delete outside a transaction refuses, straight from the
    definition: pass after pass, an object still requested is refused when an object not
    requested, or refused in an earlier pass, links to it (pass, and those objects)."""
    refused: dict[str, tuple[int, set[str]]] = {}
    for depth in itertools.count():
        gone = set(requested) - set(refused)
        blocked = {u: {s for s, o in outs.items() if s not in gone and u in o} for u in gone}
        blocked = {u: kept_by for u, kept_by in blocked.items() if kept_by}
        if not blocked:
            return refused
        refused.update({u: (depth, kept_by) for u, kept_by in blocked.items()})
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(100))
def test_delete_refuses_what_the_definition_says(seed: int) -> None:
    """The referential check of a delete builds who links to what once and spreads refusals
    along links (it passed over the dataspace once per refusal level): which keys it
    refuses, in which order, naming which objects, and what it deletes are as defined."""
    rng = random.Random(seed)
    store = Store()
    store.put_dataspace(DS)
    g = _random_dataspace(store, rng, rng.randrange(5, 30))
    requested = rng.sample(g.uids, rng.randrange(1, len(g.uids) + 1))
    keys = {f"k{i}": g.uri[u] for i, u in enumerate(requested)}
    keys["again"] = g.uri[requested[0]]  # one object under two keys
    refused = _refused_as_specified(requested, g.outs)
    deleted, errs = store.delete_objects(keys)
    owner = {key: u for key, u in zip(keys, [*requested, requested[0]], strict=True)}
    order = list(keys)
    expected = [k for k in order if owner[k] in refused]
    expected.sort(key=lambda k: (refused[owner[k]][0], order.index(k)))
    assert list(errs) == expected
    for key in expected:
        kept_by = ", ".join(sorted(g.uri[s] for s in refused[owner[key]][1]))
        assert errs[key].code == ErrorCode.EINVALID_OPERATION
        assert errs[key].message == f"cannot delete {keys[key]}: still referenced by {kept_by}"
    assert set(deleted) == set(keys) - set(expected)
    found, _ = store.get_objects(list(g.uri.values()))
    assert set(found) == {g.uri[u] for u in g.uids if u not in requested or u in refused}


class Passes(dict[str, Any]):
    """The objects of a dataspace, counting the passes over them."""

    count = 0

    def _counted(self) -> None:
        self.count += 1

    def __iter__(self) -> Any:
        self._counted()
        return super().__iter__()

    def keys(self) -> Any:
        self._counted()
        return super().keys()

    def values(self) -> Any:
        self._counted()
        return super().values()

    def items(self) -> Any:
        self._counted()
        return super().items()


def test_a_delete_in_a_transaction_makes_no_pass_over_the_dataspace(store: Store) -> None:
    """A plain delete (no prune, no datasets) inside a transaction, where no referential check
    runs, costs no pass over the dataspace's objects however many there are."""
    chain = _put_chain(store, 60)
    space = store._spaces[store.get_dataspace(DS).path]
    space.objects = passes = Passes(space.objects)
    tx = store.start_transaction("A", [DS])
    last = f"{DS}/resqml20.obj_HorizonInterpretation({chain[-1]})"
    deleted, errs = store.delete_objects([last], tx=tx)
    assert not errs and deleted[last] == [last]
    assert passes.count == 0
    store.rollback_transaction(tx)


def test_the_referential_check_passes_over_the_dataspace_once(store: Store) -> None:
    """Deleting objects 1..N-1 of a chain 0 → 1 → … → N-1 (0 stays, so each is refused in
    turn) passes over the dataspace's objects once, not once per refusal (N times under the
    store's lock: quadratic, every other session waiting); each key names what keeps it."""

    n = 60
    chain = _put_chain(store, n)
    uri = [f"{DS}/resqml20.obj_HorizonInterpretation({u})" for u in chain]
    space = store._spaces[store.get_dataspace(DS).path]
    space.objects = passes = Passes(space.objects)
    deleted, errs = store.delete_objects({str(i): uri[i] for i in range(1, n)})
    assert deleted == {}
    assert list(errs) == [str(i) for i in range(1, n)]
    for i in range(1, n):
        assert errs[str(i)].message.endswith(f"still referenced by {uri[i - 1]}")
    assert passes.count == 1
