"""The put path's fast reader (etp_sync._xmlpeek.peek_head): for every well-formed document it
gives exactly the fields of peek_data_object's that a put sends (uuid, title, last update) or
None (then the put asks peek_data_object), reads the usual documents (so puts take it), and
never raises; a document not well-formed after its head is put and refused by the store, as
before. Every test runs twice: with the compiled head reader (etp_sync/_xmlscan_c.c, where it
is built) first, and with the Python patterns alone."""

from __future__ import annotations

import random
import uuid

import pytest
from conftest import Harness
from test_xmlpeek import (
    BAD,
    BAD_AFTER_CITATION,
    EML,
    ENTITIES_NOT_READ,
    OTHER_CITATIONS,
    PLAIN_CITATIONS,
    RESQML,
    XSI,
    U,
    _odd_documents,
    _sample_documents,
    _with_citation,
)

from etp_sync import _xmlpeek, samples
from etp_sync._xmlpeek import head_fields, peek_data_object, peek_head
from etp_sync.calls._put_plan import _put_items
from etp_sync.errors import ErrorCode, ETPError, ETPInvalidArgument, ETPRemoteError
from etp_sync.uri import DataObjectURI

ALL_DOCUMENTS = (
    _sample_documents()
    + _odd_documents()
    + [_with_citation(c) for c in PLAIN_CITATIONS + OTHER_CITATIONS]
    + [_with_citation(PLAIN_CITATIONS[0], before="<!-- c -->")]
)


@pytest.fixture(autouse=True, params=["compiled", "python"])
def _reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which head reader goes first: the compiled one (skipped where it is not built) or
    none (the Python patterns alone)."""
    if request.param == "python":
        monkeypatch.setattr(_xmlpeek, "HEAD", None)
    elif _xmlpeek.HEAD is None:
        pytest.skip("the compiled head reader is not built here")


def _same_or_none(doc: bytes) -> None:
    """peek_head gives peek_data_object's fields or None; never an exception."""
    head = peek_head(doc)
    try:
        full = peek_data_object(doc)
    except ETPError:
        return  # not well-formed (or no Energistics object): any fields will do
    assert head is None or head == head_fields(full), doc[:300]


@pytest.mark.parametrize("doc", ALL_DOCUMENTS)
def test_same_fields_as_peek_data_object_or_none(doc: bytes) -> None:
    _same_or_none(doc)


def test_usual_documents_are_read_off_their_head() -> None:
    """Every sample document (RESQML, WITSML, with or without a declaration) and every plain
    citation goes the fast way: that is the point of it."""
    usual = _sample_documents() + [_with_citation(c) for c in PLAIN_CITATIONS]
    usual.append(_with_citation(PLAIN_CITATIONS[0]).split(b"?>", 1)[1])  # no declaration
    usual.append(b"\xef\xbb\xbf" + _with_citation(PLAIN_CITATIONS[0]))  # byte order mark
    for doc in usual:
        info = peek_head(doc)
        assert info is not None and info == head_fields(peek_data_object(doc)), doc[:300]


ROOT = f'<r:obj_Fault xmlns:r="{RESQML}" xmlns:e="{EML}" schemaVersion="2.0" uuid="{U}"'
CITATION = "<e:Citation><e:Title>t</e:Title></e:Citation>"
NOT_HEAD = {
    "comment before the root": f"<!-- c -->{ROOT}>{CITATION}</r:obj_Fault>",
    "document type": f"<!DOCTYPE r:obj_Fault>{ROOT}>{CITATION}</r:obj_Fault>",
    "other encoding": f'<?xml version="1.0" encoding="ISO-8859-1"?>{ROOT}>{CITATION}</r:obj_Fault>',
    "reference in a value": ROOT.replace(f'uuid="{U}"', f'uuid="&#x35;{U[1:]}"')
    + f">{CITATION}</r:obj_Fault>",
    "newline in a value": ROOT.replace(f'uuid="{U}"', f'uuid="\n{U}"')
    + f">{CITATION}</r:obj_Fault>",
    "prefix declared below": f'<r:obj_Fault schemaVersion="2.0" uuid="{U}">'
    f'<e:Citation xmlns:r="{RESQML}" xmlns:e="{EML}"/></r:obj_Fault>',
    "first child no citation": f"{ROOT}><r:Other/>{CITATION}</r:obj_Fault>",
    "text before the citation": f"{ROOT}>text{CITATION}</r:obj_Fault>",
    "citation not plain": f"{ROOT}>{OTHER_CITATIONS[4]}</r:obj_Fault>",
    "empty root": f"{ROOT}/>",
}
TRICKY_HEADS = [
    # a value that reads like another attribute: the attributes are taken in order, whole
    ROOT.replace(" uuid=", """ a=' uuid="00000000-0000-0000-0000-000000000000"' uuid=""")
    + f">{CITATION}</r:obj_Fault>",
    ROOT.replace(" uuid=", ' b="x uuid=" uuid=') + f">{CITATION}</r:obj_Fault>",
    # single quotes, spaces around '=', a default namespace, a prefix named like an attribute
    f"<obj_Fault xmlns = '{RESQML}' xmlns:uuid='{EML}' schemaVersion = '2.0' uuid = '{U}' >"
    "\n <uuid:Citation ><uuid:Title>t</uuid:Title></uuid:Citation></obj_Fault>",
    ROOT + f' objectVersion="7">{CITATION}</r:obj_Fault>',
    # the type is not read (a put keyed by URI needs the uuid): an xsi:type root is read too
    f'<e:AbstractObject xmlns:e="{EML}" xmlns:r="{RESQML}" xmlns:xsi="{XSI}" '
    f'xsi:type="r:obj_Fault" schemaVersion="2.0" uuid="{U}">{CITATION}</e:AbstractObject>',
    # white space around the uuid, in upper case: as the parser reads it
    ROOT.replace(f'uuid="{U}"', f'uuid=" {U.upper()} "') + f">{CITATION}</r:obj_Fault>",
]


@pytest.mark.parametrize("doc", TRICKY_HEADS)
def test_tricky_heads_are_read_exactly(doc: str) -> None:
    data = doc.encode()
    info = peek_head(data)
    assert info is not None and info == head_fields(peek_data_object(data))


@pytest.mark.parametrize("doc", list(NOT_HEAD.values()), ids=list(NOT_HEAD))
def test_other_forms_are_left_to_the_parser(doc: str) -> None:
    data = doc.encode()
    assert peek_head(data) is None
    _same_or_none(data)


def test_utf16_is_left_to_the_parser() -> None:
    doc = _with_citation(PLAIN_CITATIONS[0], encoding="UTF-16")
    assert peek_head(doc) is None
    assert peek_head(doc.decode("utf-16").encode("utf-16-le")) is None


@pytest.mark.parametrize("doc", BAD + ENTITIES_NOT_READ + BAD_AFTER_CITATION)
def test_documents_not_well_formed_never_raise(doc: bytes) -> None:
    peek_head(doc)  # None or fields: the store judges the document


_MUTATIONS = [b"<", b">", b"&", b"'", b'"', b"=", b" ", b":", b"/", b"\t", b"\n", b"x", b"!"]


def test_random_edits_of_the_head_keep_the_contract() -> None:
    """Edits near the start of well-formed documents (where peek_head reads): whenever the
    result is still a document peek_data_object reads, peek_head agrees with it or says
    None. Deterministic (seeded); thousands of variants, many still well-formed."""
    rng = random.Random(14)
    bases = [
        _with_citation(PLAIN_CITATIONS[1]),
        samples.local_depth_crs(uuid.UUID(U), "a title"),
        ROOT.encode() + b">" + CITATION.encode() + b"</r:obj_Fault>",
    ]
    agreed = 0
    for i in range(4000):
        doc = bytearray(bases[i % len(bases)])
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(0, min(len(doc), 420))
            edit = rng.choice(_MUTATIONS)
            kind = rng.randrange(3)
            if kind == 0:
                doc[at:at] = edit
            elif kind == 1:
                del doc[at]
            else:
                doc[at : at + 1] = edit
        data = bytes(doc)
        _same_or_none(data)
        try:
            agreed += peek_head(data) == head_fields(peek_data_object(data))
        except ETPError:
            pass
    assert agreed > 300  # the edits leave many documents the fast way reads


def test_put_of_a_document_broken_after_its_head_is_refused_by_the_store(
    harness: Harness,
) -> None:
    """The client reads the head and sends the document; the store checks all of it."""
    session = harness.session(harness.server(), timeout=20)
    ds = "head/broken"
    session.put_dataspace(ds)
    ref = uuid.UUID(U)
    good = samples.local_depth_crs(ref, "t")
    broken = good.replace(b"</resqml2:ProjectedUom>", b"</resqml2:ProjectedUomX>")
    # the head is all the client reads
    assert peek_head(broken) == head_fields(peek_data_object(good))
    uri = str(DataObjectURI.from_type(ds, "resqml20.obj_LocalDepth3dCrs", ref))
    with pytest.raises(ETPRemoteError) as info:
        session.put_data_objects({uri: broken})
    assert info.value.errors[uri][0] == ErrorCode.EINVALID_OBJECT
    assert len(session.get_resources(ds)) == 0


OTHER_UUID = "11111111-2222-4333-8444-555555555555"
GOOD_CRS = samples.local_depth_crs(uuid.UUID(U), "t")
MALFORMED_WITH_ANOTHER_UUID = {
    "broken after the head": GOOD_CRS.replace(
        b"</resqml2:ProjectedUom>", b"</resqml2:ProjectedUomX>"
    ),
    "broken in the head": GOOD_CRS.replace(b' uuid="', b' zz:bad="1" uuid="', 1),
}


@pytest.mark.parametrize(
    "doc", list(MALFORMED_WITH_ANOTHER_UUID.values()), ids=list(MALFORMED_WITH_ANOTHER_UUID)
)
def test_a_malformed_document_naming_another_uuid_is_left_to_the_store(
    harness: Harness, doc: bytes
) -> None:
    """Only a document the parser reads whole is refused by the client for a uuid that is not
    its URI's: a malformed one is sent, the store refuses it alone, the others are stored."""
    session = harness.session(harness.server(), timeout=20)
    ds = "head/uuid"
    session.put_dataspace(ds)
    other = uuid.UUID(int=7)
    good_uri = str(DataObjectURI.from_type(ds, "resqml20.obj_LocalDepth3dCrs", other))
    bad_uri = str(DataObjectURI.from_type(ds, "resqml20.obj_LocalDepth3dCrs", OTHER_UUID))
    with pytest.raises(ETPRemoteError) as info:
        session.put_data_objects({good_uri: samples.local_depth_crs(other, "ok"), bad_uri: doc})
    assert info.value.errors[bad_uri][0] == ErrorCode.EINVALID_OBJECT
    assert [str(r.uri) for r in session.get_resources(ds)] == [good_uri]


def test_a_well_formed_document_naming_another_uuid_is_refused_before_sending() -> None:
    uri = str(DataObjectURI.from_type("head/uuid", "resqml20.obj_LocalDepth3dCrs", OTHER_UUID))
    with pytest.raises(ETPInvalidArgument, match=f"has uuid {U} in its XML"):
        _put_items({uri: GOOD_CRS}, None)


@pytest.mark.parametrize("space", ["\x1c", "\xa0", "\u3000"])
def test_names_are_split_at_xml_white_space_only(space: str) -> None:
    """A name holding a character Unicode counts as white space but XML does not (such a
    document is not well-formed) is one name to both patterns: no attribute is read out of it,
    and the reading stays linear (the attribute pattern once split such names and started
    again at each of their characters)."""
    attribute = f'a{space}uuid="00000000-0000-0000-0000-000000000000" '
    data = ROOT.replace(" uuid=", f" {attribute}uuid=").encode() + b">" + CITATION.encode()
    info = peek_head(data + b"</r:obj_Fault>")
    assert info is not None and info.uuid == U
    long_name = ROOT.replace(" uuid=", f' {"a" * 50_000}{space}b="1" uuid=')
    info = peek_head(long_name.encode() + b">" + CITATION.encode() + b"</r:obj_Fault>")
    assert info is not None and info.uuid == U
