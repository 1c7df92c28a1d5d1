"""The put path's parser (etp_sync._xmlpeek.peek_data_object) gives exactly the identity and
citation fields of xmlinfo.parse_data_object, and the same errors, on every sample document and
on the odd ones the tests use (xsi:type roots, RESQML 2.0.1 roots named without obj_, other
families, nested or repeated citation elements, time zones, bad documents)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from etp_sync import samples
from etp_sync._xmlpeek import peek_data_object
from etp_sync.errors import ETPError
from etp_sync.xmlinfo import parse_data_object

RESQML = samples.RESQML_NS
EML = samples.EML_NS
XSI = samples.XSI_NS
U = "5d1bc1e1-7ce2-4f4b-8a8d-0123456789ab"


def _sample_documents() -> list[bytes]:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    ref = uuid.UUID(U)
    model = samples.surface_model("peek/model", shape=(5, 7))
    docs = list(model.objects.values())
    docs += [
        samples.local_depth_crs(ref, "crs"),
        samples.epc_external_part_reference(ref, "hdf"),
        samples.resqml_object("obj_HorizonInterpretation", ref, "h & <i>", [("obj_Horizon", ref)]),
        samples.resqml_object("obj_Fault", ref, "f", created=when),
        samples.witsml_well(ref, "Well 1", created=when),
        samples.witsml_wellbore(ref, ref, "Wellbore 1"),
        samples.padded(samples.local_depth_crs(ref, "big"), 100_000),
    ]
    return docs


def _odd_documents() -> list[bytes]:
    later = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    texts = [
        # RESQML 2.0.1 root element without xsi:type: resqml20.obj_<Type>
        f'<resqml2:LocalDepth3dCrs xmlns:resqml2="{RESQML}" xmlns:eml="{EML}" '
        f'schemaVersion="2.0.1" uuid="{U}"><eml:Citation><eml:Title>crs</eml:Title>'
        "</eml:Citation></resqml2:LocalDepth3dCrs>",
        f'<eml:EpcExternalPartReference xmlns:eml="{EML}" schemaVersion="2.0" uuid="{U}"/>',
        f'<x:LocalDepth3dCrs xmlns:x="{RESQML}" schemaVersion="2.2" uuid="{U}"/>',
        f'<x:LocalDepth3dCrs xmlns:x="{EML}" schemaVersion="2.3" uuid="{U}"/>',
        f'<LocalDepth3dCrs xmlns="{RESQML}" schemaVersion="2.0" uuid="{U.upper()}"/>',
        f'<eml:AbstractObject xmlns:eml="{EML}" xmlns:r="{RESQML}" xmlns:xsi="{XSI}" '
        f'xsi:type="r:obj_HorizonInterpretation" schemaVersion="2.0" uuid="{U}"/>',
        f'<eml:AbstractObject xmlns:eml="{EML}" xmlns:xsi="{XSI}" xsi:type="unknown:Thing" '
        f'schemaVersion="2.0" uuid="{U}"/>',
        f'<p:FluidSystem xmlns:p="http://www.energistics.org/energyml/data/prodmlv2" '
        f'schemaVersion="2.2" uuid="{U}" objectVersion="3"/>',
        # citation oddities: nested markup, repeats, second Citation, CDATA, no Title
        f'<r:obj_Fault xmlns:r="{RESQML}" xmlns:e="{EML}" schemaVersion="2.0" uuid="{U}">'
        "<e:Other><e:Title>not this</e:Title></e:Other>"
        "<e:Citation><e:Title> lead <e:b>bold</e:b> tail </e:Title><e:Title>second</e:Title>"
        f"<e:Creation>2020-01-01T00:00:00Z</e:Creation><e:LastUpdate>{later.isoformat()}"
        "</e:LastUpdate><e:Originator><![CDATA[me & you]]></e:Originator></e:Citation>"
        "<e:Citation><e:Title>second citation</e:Title></e:Citation></r:obj_Fault>",
        f'<r:obj_Fault xmlns:r="{RESQML}" xmlns:e="{EML}" schemaVersion="2.0" uuid="{U}">'
        "<e:Citation><e:Creation>not a time</e:Creation></e:Citation></r:obj_Fault>",
        f'<?xml version="1.0" encoding="ISO-8859-1"?><r:obj_Fault xmlns:r="{RESQML}" '
        f'xmlns:e="{EML}" schemaVersion="2.0" uuid="{U}"><e:Citation><e:Title>caf\xe9</e:Title>'
        "</e:Citation></r:obj_Fault>",
    ]
    return [t.encode("latin-1") if "ISO-8859-1" in t else t.encode("utf-8") for t in texts]


BAD = [
    b"<not xml",
    f'<r:obj_Fault xmlns:r="{RESQML}" uuid="{U}"><e:Citation/></r:obj_Fault>'.encode(),
    f'<r:obj_Fault xmlns:r="{RESQML}" uuid="{U}"></r:obj_Fault><extra/>'.encode(),
    f'<r:obj_Fault xmlns:r="{RESQML}" uuid="{U}"><a>&undefined;</a></r:obj_Fault>'.encode(),
    f'<r:obj_Fault xmlns:r="{RESQML}" schemaVersion="2.0"/>'.encode(),  # no uuid
    f'<r:obj_Fault xmlns:r="{RESQML}" uuid="not-a-uuid"/>'.encode(),
    f'<Fault xmlns="urn:other" uuid="{U}"/>'.encode(),
]


@pytest.mark.parametrize("doc", _sample_documents() + _odd_documents())
def test_same_fields_as_parse_data_object(doc: bytes) -> None:
    full = parse_data_object(doc)
    assert peek_data_object(doc) == replace(full, references=(), hdf_datasets=(), links=())


def test_resqml201_root_without_xsi_type_is_obj_prefixed() -> None:
    info = peek_data_object(_odd_documents()[0])
    assert info.qualified_type == "resqml20.obj_LocalDepth3dCrs"
    assert info.title == "crs"


@pytest.mark.parametrize("doc", BAD)
def test_same_errors_as_parse_data_object(doc: bytes) -> None:
    with pytest.raises(ETPError) as full:
        parse_data_object(doc)
    with pytest.raises(ETPError) as peek:
        peek_data_object(doc)
    assert (peek.value.code, peek.value.message) == (full.value.code, full.value.message)


def test_tag_memos_keep_no_long_tag() -> None:
    """parse_data_object remembers short tags only: documents of long tag names are parsed
    alike but leave nothing in the memos (their memory stays bounded whatever peers send)."""
    from etp_sync import xmlinfo

    ref = str(uuid.UUID(int=5))
    sizes = []
    for n in range(3):
        long = chr(ord("L") + n) * (xmlinfo._MEMO_MAX_CHARS + 1)
        doc = (
            '<resqml2:obj_Grid2dRepresentation xmlns:resqml2="http://www.energistics.org/'
            f'energyml/data/resqmlv2" schemaVersion="2.0" uuid="{uuid.UUID(int=4)}">'
            f"<resqml2:{long}><resqml2:UUID>{ref}</resqml2:UUID><resqml2:{long}x/>"
            f"<resqml2:Deep><resqml2:{long}y/></resqml2:Deep></resqml2:{long}>"
            "</resqml2:obj_Grid2dRepresentation>"
        ).encode()
        info = parse_data_object(doc)
        assert [(ref_uuid, path) for _, ref_uuid, path in info.links] == [(ref, f"rsq:{long}")]
        sizes.append(
            (
                xmlinfo._memo_split.cache_info().currsize,
                xmlinfo._tag_step.cache_info().currsize,
                len(xmlinfo._LOCAL_NAMES),
            )
        )
    assert sizes[0] == sizes[1] == sizes[2], sizes  # the long tags were not kept
    assert all(len(str(tag)) <= xmlinfo._MEMO_MAX_CHARS for tag in xmlinfo._LOCAL_NAMES)
