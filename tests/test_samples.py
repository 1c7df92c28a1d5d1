"""The sample RESQML 2.0.1 documents use the RESQML 2.0.1 / EML 2.0 schema's own names.

pyetp's RESQML classes (tests/peers/test_pyetp.py) parse them; these checks keep the details
that broke that parse from coming back without pyetp installed.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

from etp_sync.samples import (
    EML_NS,
    RESQML_NS,
    XSI_NS,
    crs_documents,
    epc_external_part_reference,
    grid2d_representation,
    padded,
    resqml_object,
    surface_model,
)
from etp_sync.xmlinfo import parse_data_object

XSI_TYPE = f"{{{XSI_NS}}}type"


def test_crs_uses_eml20_type_names() -> None:
    model = surface_model("samples/crs", shape=(3, 4))
    root = ET.fromstring(model.objects[model.crs_uri])
    projected = root.find(f"{{{RESQML_NS}}}ProjectedCrs")
    vertical = root.find(f"{{{RESQML_NS}}}VerticalCrs")
    assert projected is not None and vertical is not None
    # EML 2.0 says ProjectedCrsEpsgCode; "ProjectedEpsgCrs" is the EML 2.3 name.
    assert projected.get(XSI_TYPE) == "eml:ProjectedCrsEpsgCode"
    assert projected.findtext(f"{{{EML_NS}}}EpsgCode") == "23031"
    assert vertical.get(XSI_TYPE) == "eml:VerticalUnknownCrs"


def test_grid_lattice_has_one_offset_per_axis() -> None:
    model = surface_model("samples/grid", shape=(3, 4))
    root = ET.fromstring(model.objects[model.grid_uri])
    lattice = root.find(f".//{{{RESQML_NS}}}SupportingGeometry")
    assert lattice is not None
    assert lattice.get(XSI_TYPE) == "resqml2:Point3dLatticeArray"
    offsets = lattice.findall(f"{{{RESQML_NS}}}Offset")
    # Slowest axis first: 3 rows -> 2 steps, then 4 columns -> 3 steps.
    counts = [
        int(o.findtext(f"{{{RESQML_NS}}}Spacing/{{{RESQML_NS}}}Count") or -1) for o in offsets
    ]
    assert counts == [2, 3]
    values = [
        float(o.findtext(f"{{{RESQML_NS}}}Spacing/{{{RESQML_NS}}}Value") or 0) for o in offsets
    ]
    assert values == [25.0, 25.0]


def test_padded_keeps_the_document_and_adds_size() -> None:
    xml = epc_external_part_reference(uuid.UUID(int=7))
    assert padded(xml, 0) == xml
    big = padded(xml, 100_000)
    assert len(big) >= len(xml) + 100_000
    original, grown = ET.fromstring(xml), ET.fromstring(big)  # still well-formed
    assert (grown.tag, grown.attrib) == (original.tag, original.attrib)
    assert [e.tag for e in grown] == [e.tag for e in original]


def test_resqml_object_carries_type_title_time_and_links() -> None:
    ref, target = uuid.UUID(int=1), uuid.UUID(int=2)
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    xml = resqml_object(
        "obj_HorizonInterpretation",
        ref,
        "Top <A>",
        [("obj_LocalDepth3dCrs", target)],
        created=created,
    )
    assert xml == resqml_object(
        "obj_HorizonInterpretation",
        ref,
        "Top <A>",
        [("obj_LocalDepth3dCrs", target)],
        created=created,
    )  # a fixed creation time makes the bytes repeatable
    info = parse_data_object(xml)
    assert (info.qualified_type, info.uuid, info.title) == (
        "resqml20.obj_HorizonInterpretation",
        str(ref),
        "Top <A>",
    )
    assert info.last_update_us == int(created.timestamp()) * 1_000_000
    assert info.references == (("resqml20.obj_LocalDepth3dCrs", str(target)),)


def test_grid_last_update_keeps_its_offset_and_object_version() -> None:
    updated = datetime(2024, 2, 3, 4, 5, 6, 500_000, tzinfo=timezone(timedelta(hours=1)))
    xml = grid2d_representation(
        uuid.UUID(int=3),
        crs=uuid.UUID(int=4),
        epc=uuid.UUID(int=5),
        shape=(2, 3),
        array_path="/z",
        last_update=updated,
        object_version="3",
    )
    assert b"<eml:LastUpdate>2024-02-03T04:05:06.500000+01:00</eml:LastUpdate>" in xml
    info = parse_data_object(xml)
    assert info.last_update_us == int(updated.timestamp() * 1_000_000)  # LastUpdate wins
    assert info.object_version == "3"
    assert info.hdf_datasets == (("/z", str(uuid.UUID(int=5))),)


def test_crs_documents_are_keyed_by_their_own_uri() -> None:
    docs = crs_documents("a/b", 3, "T", size=500)
    assert len(docs) == 3
    for k, (uri, xml) in enumerate(docs.items()):
        info = parse_data_object(xml)
        assert uri == f"eml:///dataspace('a/b')/resqml20.obj_LocalDepth3dCrs({info.uuid})"
        assert info.title == f"T {k}" and len(xml) > 1500
