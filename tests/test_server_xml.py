"""The server's parse of put documents (etp_sync.server._xml.parse_data_object) gives exactly
what xmlinfo.parse_data_object gives, and the same errors, whether a document takes the peek
(its bytes show it holds no reference) or the full parse: a differential test over many
generated documents (references, datasets, xsi:type roots, comments, CDATA, entities, other
encodings, malformed ones)."""

from __future__ import annotations

import random
import uuid

import pytest

from etp_sync import samples, xmlinfo
from etp_sync.errors import ErrorCode, ETPError, StoreError
from etp_sync.server import _xml

RESQML = samples.RESQML_NS
EML = samples.EML_NS
XSI = samples.XSI_NS
U = "5d1bc1e1-7ce2-4f4b-8a8d-0123456789ab"
OTHER = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def _outcome_full(doc: bytes) -> object:
    """What the server gave before the peek: the full parse, its errors as (code, message)."""
    try:
        return xmlinfo.parse_data_object(doc)
    except ETPError as exc:
        return (exc.code or ErrorCode.EINVALID_OBJECT, exc.message)


def _outcome_server(doc: bytes) -> object:
    try:
        return _xml.parse_data_object(doc)
    except StoreError as exc:
        return (exc.code, exc.message)


def _same(doc: bytes) -> None:
    assert _outcome_server(doc) == _outcome_full(doc), doc


def _reference(rng: random.Random) -> str:
    """A reference (or something that looks like one) in one of its spellings."""
    target = rng.choice([OTHER, OTHER.upper(), U, " " + OTHER + " ", "not-a-uuid"])
    uuid_tag = rng.choice(["e:UUID", "e:Uuid", "UUID", "e:uuid"])
    typed = rng.choice(
        [
            "",
            "<e:ContentType>application/x-resqml+xml;version=2.0;type=obj_Horizon</e:ContentType>",
            "<e:QualifiedType>resqml20.obj_Fault</e:QualifiedType>",
            "<e:QualifiedType>bad</e:QualifiedType>",
        ]
    )
    return f"<r:Ref>{typed}<{uuid_tag}>{target}</{uuid_tag}><e:Title>t</e:Title></r:Ref>"


def _dataset(rng: random.Random) -> str:
    path = rng.choice(["PathInHdfFile", "PathInExternalFile"])
    part = rng.choice(["", f"<e:HdfProxy><e:UUID>{OTHER}</e:UUID></e:HdfProxy>"])
    return f"<r:Values><e:Dataset>{part}<e:{path}>/RESQML/{U}/z</e:{path}></e:Dataset></r:Values>"


def _decoy(rng: random.Random) -> str:
    """Markup holding the marks in places that are no reference (or plain elements)."""
    return rng.choice(
        [
            "<!-- <e:UUID>0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0</e:UUID> -->",
            f"<r:Note><![CDATA[<e:UUID>{OTHER}</e:UUID> & PathInHdfFile]]></r:Note>",
            '<r:Note kind="UUID Uuid">text about a Uuid</r:Note>',
            "<?pi UUID?>",
            "<r:Note>&#85;UID &amp; &lt;e:UUID&gt;</r:Note>",
            "<r:Plain><r:Inner>1</r:Inner><r:Inner/></r:Plain>",
            "<r:Empty/>",
            f'<r:Note uuid="{OTHER}">lower-case uuid attribute</r:Note>',
            "<r:Note>caf\u00e9 \u00e0 la cr\u00e8me</r:Note>",
        ]
    )


def _citation(rng: random.Random) -> str:
    return rng.choice(
        [
            "<e:Citation><e:Title>crs</e:Title><e:Originator>me</e:Originator>"
            "<e:Creation>2024-05-06T07:08:09Z</e:Creation></e:Citation>",
            "<e:Citation>\n  <e:Title>a &amp; b</e:Title>\n</e:Citation>",
            "<e:Citation><e:Title><![CDATA[cdata]]></e:Title><!-- c --></e:Citation>",
            "<e:Citation><e:Title>caf\u00e9</e:Title><e:LastUpdate>bad</e:LastUpdate></e:Citation>",
            "",
        ]
    )


def _root(rng: random.Random) -> tuple[str, str]:
    """(start tag, end tag) of a root element."""
    uid = rng.choices([U, U.upper(), "not-a-uuid", None], weights=[12, 4, 1, 1])[0]
    attrs = f' uuid="{uid}"' if uid is not None else ""
    attrs += rng.choice([' schemaVersion="2.0"', ' schemaVersion="2.2"', "", ' objectVersion="3"'])
    ns = f' xmlns:r="{RESQML}" xmlns:e="{EML}" xmlns:xsi="{XSI}"'
    name = rng.choices(
        ["r:obj_LocalDepth3dCrs", "r:LocalDepth3dCrs", "e:AbstractObject", "x"],
        weights=[8, 4, 4, 1],
    )[0]
    if name == "e:AbstractObject" and rng.random() < 0.7:
        attrs += ' xsi:type="r:obj_HorizonInterpretation"'
    if name == "x":
        ns += ' xmlns="urn:other"'
    return f"<{name}{ns}{attrs}>", f"</{name}>"


_DECLARATIONS = [
    ("", "utf-8"),
    ('<?xml version="1.0" encoding="UTF-8"?>\n', "utf-8"),
    ("<?xml version='1.0' encoding = 'utf-8' ?>", "utf-8"),
    ('<?xml version="1.0"?>', "utf-8"),
    ('\ufeff<?xml version="1.0" encoding="utf-8"?>', "utf-8"),
    ('<?xml version="1.0" encoding="ISO-8859-1"?>', "latin-1"),
    ('<?xml version="1.0" encoding="US-ASCII"?>', "ascii"),
    ('<?xml version="1.0" encoding="UTF-16"?>', "utf-16"),
    ('<?xml version="1.0" encoding="cp1252"?>', "cp1252"),
    ('<?xml version="1.0" encoding="latin-1"?>', "latin-1"),
    ('<?xml version="1.0" encoding="utf8"?>', "utf-8"),  # a name expat does not know
]
# Entities whose replacement text is markup: a reference spelt with character references.
_DOCTYPES = [
    '<!DOCTYPE r:obj_LocalDepth3dCrs [<!ENTITY ref "&#60;r:Ref&#62;&#60;e:&#85;UID&#62;'
    + OTHER
    + '&#60;/e:&#85;UID&#62;&#60;/r:Ref&#62;">]>',
    '<!DOCTYPE r:obj_LocalDepth3dCrs [<!ENTITY ref "plain text">]>',
]


def _document(rng: random.Random) -> bytes:
    start, end = _root(rng)
    parts = [_citation(rng)]
    for _ in range(rng.randrange(4)):
        parts.append(rng.choice([_reference, _dataset, _decoy, _decoy, _decoy])(rng))
    rng.shuffle(parts)
    prolog, encoding = rng.choice(_DECLARATIONS)
    if rng.random() < 0.1:
        prolog += rng.choice(_DOCTYPES)
        parts.append("&ref;")
    text = prolog + start + "".join(parts) + end
    data = text.encode(encoding, "xmlcharrefreplace") if encoding != "utf-8" else text.encode()
    if encoding == "utf-8" and text.startswith("\ufeff"):
        data = text.encode("utf-8")  # the byte order mark as UTF-8 bytes
    mutation = rng.random()
    if mutation < 0.05:
        data = data[: rng.randrange(len(data))]
    elif mutation < 0.1:
        i = rng.randrange(len(data))
        data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    elif mutation < 0.12:
        data += b"<junk/>"
    return data


def test_same_outcome_as_the_full_parse_on_generated_documents() -> None:
    rng = random.Random(20261202)
    peeked = with_references = errors = 0
    for _ in range(5000):
        doc = _document(rng)
        _same(doc)
        full = _outcome_full(doc)
        if not isinstance(full, xmlinfo.ObjectInfo):
            errors += 1
        elif _xml._holds_no_references(doc):
            peeked += 1
        elif full.references or full.hdf_datasets:
            with_references += 1
    # Each way and each outcome is exercised many times.
    assert peeked > 500
    assert with_references > 500
    assert errors > 500


@pytest.mark.parametrize(
    "doc",
    [
        samples.local_depth_crs(uuid.UUID(U), "crs"),
        samples.epc_external_part_reference(uuid.UUID(U), "hdf"),
        samples.resqml_object(
            "obj_HorizonInterpretation", uuid.UUID(U), "h", [("obj_Horizon", uuid.UUID(OTHER))]
        ),
        samples.witsml_well(uuid.UUID(U), "Well 1"),
        samples.witsml_wellbore(uuid.UUID(U), uuid.UUID(OTHER), "Wellbore 1"),
        *samples.surface_model("xml/model", shape=(3, 4)).objects.values(),
    ],
)
def test_same_outcome_on_sample_documents(doc: bytes) -> None:
    _same(doc)


def test_small_objects_without_references_take_the_peek() -> None:
    assert _xml._holds_no_references(samples.local_depth_crs(uuid.UUID(U), "crs"))
    assert _xml._holds_no_references(samples.witsml_well(uuid.UUID(U), "Well 1"))


@pytest.mark.parametrize(
    "doc",
    [
        # a reference spelt with character references in an entity's replacement text
        _DOCTYPES[0].encode()
        + f'<r:obj_LocalDepth3dCrs xmlns:r="{RESQML}" xmlns:e="{EML}" uuid="{U}">&ref;'
        "</r:obj_LocalDepth3dCrs>".encode(),
        # a reference in UTF-16: its names' bytes are not the ASCII ones
        f'<r:obj_Fault xmlns:r="{RESQML}" xmlns:e="{EML}" uuid="{U}"><r:Ref><e:UUID>{OTHER}'
        "</e:UUID></r:Ref></r:obj_Fault>".encode("utf-16"),
        # a dataset in an encoding the declaration names in another way
        f'<?xml version="1.0" encoding="latin-1"?><r:obj_Fault xmlns:r="{RESQML}" '
        f'xmlns:e="{EML}" uuid="{U}"><r:V><e:PathInHdfFile>/a</e:PathInHdfFile></r:V>'
        "</r:obj_Fault>".encode(),
    ],
)
def test_references_the_bytes_do_not_spell_are_found(doc: bytes) -> None:
    """Documents whose references do not show as ASCII names in the bytes take the full parse."""
    assert not _xml._holds_no_references(doc)
    info = _xml.parse_data_object(doc)
    assert info.references or info.hdf_datasets
    _same(doc)


@pytest.mark.parametrize(
    "declaration",
    [
        b'<?xml version="1.0" encoding="cp1252"?>',
        b'<?xml version="1.0" encoding="UTF-16"?>',
        b'<?xml version="1.0" encoding=utf-8?>',
        b'<?xml version="1.0" encoding="utf-8',
        b"\xef\xbb\xbf<?xml version='1.0' encoding='x-unknown'?>",
    ],
)
def test_other_or_unclear_encodings_take_the_full_parse(declaration: bytes) -> None:
    assert not _xml._ascii_based(declaration)
    assert _xml._ascii_based(b'<?xml version="1.0" encoding="UTF-8"?><r/>')


def test_usual_declarations_shortcut_agrees_with_the_general_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """_ascii_based answers for the usual declarations without reading them: the same answer
    as its general reading, on them and on generated documents."""
    rng = random.Random(14)
    docs = [_document(rng) for _ in range(2000)]
    tails = [b"", b"\n<r/>", b"<?xml version='1.0' encoding='cp1252'?>", b"\xff\xfe\x00"]
    docs += [d + tail for d in _xml.USUAL_DECLARATIONS for tail in tails]
    shortcut = [_xml._ascii_based(d) for d in docs]
    monkeypatch.setattr(_xml, "USUAL_DECLARATIONS", ())
    assert [_xml._ascii_based(d) for d in docs] == shortcut
    assert shortcut[-8:] == [True] * 8
