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
from etp_sync._xmlpeek import _plain_citation, peek_data_object
from etp_sync.errors import ETPError
from etp_sync.xmlinfo import parse_data_object, root_namespaces

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


# -- plain citations (read off the bytes) and the others (read through expat's events) ---------

PLAIN_CITATIONS = [
    "<e:Citation><e:Title>t</e:Title><e:Creation>2020-01-01T00:00:00Z</e:Creation></e:Citation>",
    "<e:Citation>\n  <e:Title >spaced</e:Title >\n  <e:Originator/>\n  <e:LastUpdate>"
    "2021-01-01T00:00:00+02:00</e:LastUpdate>\n  <e:Format>f</e:Format>\n</e:Citation >",
    "<e:Citation><e:Title>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &amp;lt;</e:Title>"
    "</e:Citation>",
    "<e:Citation><e:Title></e:Title><e:Title>second</e:Title></e:Citation>",
    "<e:Citation><e:Title>\tcaf\u00e9 \u6f22 </e:Title><Originator>no prefix</Originator>"
    "</e:Citation>",
    "<e:Citation></e:Citation>",
    "<e:Citation>\n</e:Citation>",
    "<e:Citation><e:\u00c9t>x</e:\u00c9t><e:Title>non-ASCII name</e:Title><e:TitleX/></e:Citation>",
]
OTHER_CITATIONS = [
    "<e:Citation/>",
    "<e:Citation a='1'><e:Title>attribute on the citation</e:Title></e:Citation>",
    "<e:Citation xmlns:f='urn:f'><f:Title>declaration on the citation</f:Title></e:Citation>",
    "<e:Citation><e:Title a='1'>attribute on the title</e:Title></e:Citation>",
    "<e:Citation><!-- c --><e:Title>after a comment</e:Title></e:Citation>",
    "<e:Citation><e:Title>a<!-- c -->b</e:Title></e:Citation>",
    "<e:Citation><e:Title><![CDATA[x < y & z]]></e:Title></e:Citation>",
    "<e:Citation><e:Title>lead <e:b>bold</e:b> tail</e:Title><e:Title>2</e:Title></e:Citation>",
    "<e:Citation><e:Title>&#65;&#x42;&#233;</e:Title></e:Citation>",
    "<e:Citation><e:Title>line\r\nbreak\rx</e:Title></e:Citation>",
    "<e:Citation><?pi x?><e:Title>t</e:Title></e:Citation>",
    "<e:Citation>text<e:Title>mixed content</e:Title></e:Citation>",
    "<e:Citation><e:Title>t</e:Title><e:Other><e:Title>deeper</e:Title></e:Other></e:Citation>",
]


def _with_citation(
    citation: str, *, before: str = "", encoding: str = "UTF-8", doctype: str = ""
) -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>{doctype}'
        f'<r:obj_Fault xmlns:r="{RESQML}" xmlns:e="{EML}" schemaVersion="2.0" uuid="{U}">'
        f"{before}{citation}<r:Tail><e:Title>not this</e:Title></r:Tail></r:obj_Fault>"
    )
    return text.encode(encoding)


def _peek_equals_parse(doc: bytes) -> None:
    full = parse_data_object(doc)
    assert peek_data_object(doc) == replace(full, references=(), hdf_datasets=(), links=())


def _citation_at(doc: bytes) -> int:
    return doc.index(b"Citation") - len(b"<e:")


@pytest.mark.parametrize("citation", PLAIN_CITATIONS)
def test_plain_citations_are_read_off_the_bytes(citation: str) -> None:
    doc = _with_citation(citation)
    assert _plain_citation(doc, _citation_at(doc)) is not None
    _peek_equals_parse(doc)


@pytest.mark.parametrize("citation", OTHER_CITATIONS)
def test_other_citations_are_read_through_events(citation: str) -> None:
    doc = _with_citation(citation)
    assert _plain_citation(doc, _citation_at(doc)) is None
    _peek_equals_parse(doc)


@pytest.mark.parametrize(
    "before",
    [
        "<r:Other><e:Title>no</e:Title></r:Other>",
        "<r:Other><e:Citation><e:Title>nested: not the root's</e:Title></e:Citation></r:Other>",
        "<!-- a comment first -->\n<?pi?>",
    ],
)
@pytest.mark.parametrize("citation", [PLAIN_CITATIONS[1], OTHER_CITATIONS[7]])
def test_citation_after_other_children(before: str, citation: str) -> None:
    _peek_equals_parse(_with_citation(citation, before=before))


def test_texts_not_in_ascii_are_read_plain_only_in_utf8() -> None:
    citation = "<e:Citation><e:Title>caf\u00e9</e:Title></e:Citation>"
    latin = _with_citation(citation, encoding="ISO-8859-1")
    assert _plain_citation(latin, _citation_at(latin)) is None
    _peek_equals_parse(latin)
    assert peek_data_object(latin).title == "caf\u00e9"
    ascii_latin = _with_citation(
        "<e:Citation><e:Title>cafe</e:Title></e:Citation>", encoding="latin-1"
    )
    assert _plain_citation(ascii_latin, _citation_at(ascii_latin)) is not None
    _peek_equals_parse(ascii_latin)
    undeclared = _with_citation(citation).split(b"?>", 1)[1]
    assert _plain_citation(undeclared, _citation_at(undeclared)) is not None
    _peek_equals_parse(undeclared)
    utf16 = _with_citation(citation, encoding="UTF-16")
    _peek_equals_parse(utf16)
    assert peek_data_object(utf16).title == "caf\u00e9"


def test_internal_entities_in_a_citation() -> None:
    doc = _with_citation(
        "<e:Citation><e:Title>&who; &amp; co</e:Title></e:Citation>",
        doctype='<!DOCTYPE r:obj_Fault [<!ENTITY who "me &amp; you">]>',
    )
    _peek_equals_parse(doc)
    assert peek_data_object(doc).title == "me & you & co"


_EXTERNAL = '<!DOCTYPE r:obj_Fault [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
_EXTERNAL_SUBSET = '<!DOCTYPE r:obj_Fault SYSTEM "objects.dtd">'
_PARAMETER = '<!DOCTYPE r:obj_Fault [<!ENTITY % p SYSTEM "more.ent"> %p;]>'
ENTITIES_NOT_READ = [
    # expat skips these references (it reads no external entity, and an undeclared one may be
    # declared in an external subset); ElementTree refuses the document: both parsers do
    _with_citation("<e:Citation><e:Title>&x;</e:Title></e:Citation>", doctype=_EXTERNAL),
    _with_citation(PLAIN_CITATIONS[0], doctype=_EXTERNAL).replace(b"not this", b"&x;"),
    _with_citation("<e:Citation><e:Title>&u;</e:Title></e:Citation>", doctype=_EXTERNAL_SUBSET),
    _with_citation(PLAIN_CITATIONS[0], doctype=_EXTERNAL_SUBSET).replace(b"not this", b"&u;"),
    _with_citation("<e:Citation><e:Title>&u;</e:Title></e:Citation>", doctype=_PARAMETER),
]


@pytest.mark.parametrize("doc", ENTITIES_NOT_READ)
def test_entities_expat_would_skip_are_refused_alike(doc: bytes) -> None:
    test_same_errors_as_parse_data_object(doc)


def test_a_skipped_parameter_entity_alone_is_no_refusal() -> None:
    doc = _with_citation(PLAIN_CITATIONS[0], doctype=_PARAMETER)
    _peek_equals_parse(doc)


def test_xsi_type_root_resolved_by_its_own_declarations() -> None:
    """The root's prefixes are read again for an xsi:type root alone, up to its start tag:
    declarations further down do not count."""
    doc = (
        f'<eml:AbstractObject xmlns:eml="{EML}" xmlns:xsi="{XSI}" xsi:type="r:obj_Fault" '
        f'schemaVersion="2.0" uuid="{U}"><x xmlns:r="{RESQML}"/></eml:AbstractObject>'
    ).encode()
    _peek_equals_parse(doc)
    assert peek_data_object(doc).qualified_type == "eml20.obj_AbstractObject"
    assert root_namespaces(doc[: doc.index(b"<x")] + b"<<< not read") == {"eml": EML, "xsi": XSI}


BAD_AFTER_CITATION = [
    _with_citation(PLAIN_CITATIONS[0]).replace(b"</r:Tail>", b"</r:Tale>"),
    _with_citation(
        "<e:Citation><e:Title>bad \xff byte</e:Title></e:Citation>", encoding="latin-1"
    ).replace(b"latin-1", b"UTF-8"),
    _with_citation(OTHER_CITATIONS[6]) + b"<junk/>",
]


@pytest.mark.parametrize("doc", BAD_AFTER_CITATION)
def test_errors_found_after_a_citation_is_read(doc: bytes) -> None:
    test_same_errors_as_parse_data_object(doc)


@pytest.mark.parametrize("space", [" ", "\n", "\t", "\r\n"])
def test_namespace_uri_with_white_space(space: str) -> None:
    """An attribute value's white space becomes spaces: a namespace URI may hold one (expat
    refuses a URI holding its namespace separator; both parsers use ElementTree's ``}``)."""
    for uri in (RESQML.replace("/data/", f"/data{space}/"), "urn:a b"):
        doc = (
            f'<r:obj_Fault xmlns:r="{uri}" xmlns:e="{EML}" xmlns:xsi="{XSI}" uuid="{U}" '
            'xsi:type="r:obj_Fault"><e:Citation><e:Title>t</e:Title></e:Citation></r:obj_Fault>'
        ).encode()
        test_same_errors_as_parse_data_object(doc)  # not an Energistics namespace, alike
    doc = (
        f'<r:obj_Fault xmlns:r="{RESQML}" xmlns:o="urn:a{space}b" uuid="{U}"><o:Citation>'
        "<o:Title>t</o:Title></o:Citation></r:obj_Fault>"
    ).encode()
    _peek_equals_parse(doc)
    assert peek_data_object(doc).title == "t"


def test_errors_name_the_first_position_expat_reports() -> None:
    for doc, where in (
        (b"<a>\n  <b></c>", "mismatched tag: line 2, column 7"),
        (b"<a></a><b/>", "junk after document element: line 1, column 7"),
        (b"<a", "unclosed token: line 1, column 0"),
    ):
        for parse in (peek_data_object, parse_data_object):
            with pytest.raises(ETPError) as info:
                parse(doc)
            assert info.value.message == f"data object is not well-formed XML: {where}"


def test_each_parser_reads_a_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed document is read once to word its error; an xsi:type root's start tag is
    read again (only the prolog and that tag) for the prefixes it declares."""
    import xml.etree.ElementTree as ET
    from xml.parsers import expat

    created: list[str] = []
    make_expat, make_tree = expat.ParserCreate, ET.XMLParser

    def counted_expat(*args: object, **kwargs: object) -> object:
        created.append("expat")
        return make_expat(*args, **kwargs)  # type: ignore[arg-type]

    def counted_tree(*args: object, **kwargs: object) -> object:
        created.append("tree")
        return make_tree(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(expat, "ParserCreate", counted_expat)
    monkeypatch.setattr(ET, "XMLParser", counted_tree)
    xsi_root = _odd_documents()[5]
    for doc, peek_reads, parse_reads in (
        (BAD[2], ["expat"], ["tree"]),
        (_sample_documents()[0], ["expat"], ["tree"]),
        (xsi_root, ["expat", "expat"], ["tree", "expat"]),
    ):
        for parse, reads in ((peek_data_object, peek_reads), (parse_data_object, parse_reads)):
            created.clear()
            try:
                parse(doc)
            except ETPError:
                pass  # BAD[2]: the error is checked elsewhere
            assert created == reads, (parse.__name__, doc[:60])
