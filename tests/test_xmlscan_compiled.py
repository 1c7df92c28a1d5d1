"""The compiled scan (etp_sync/_xmlscan_c.c) gives the store exactly what the Python parse
gives: the same ObjectInfo for every document it reads, and None (the Python code then reads
the document and words any error) for the others; the store's parse is the same, field for
field and error for error, with the scan on or off."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest
from _helpers import can_build_extension, printed_without_compiled
from hypothesis import given, settings
from hypothesis import strategies as st
from test_xmlpeek import (
    BAD,
    BAD_AFTER_CITATION,
    ENTITIES_NOT_READ,
    OTHER_CITATIONS,
    PLAIN_CITATIONS,
    _odd_documents,
    _sample_documents,
    _with_citation,
)

from etp_sync import _xmlpeek, samples
from etp_sync._xmlpeek import head_fields, peek_data_object, scan_data_object
from etp_sync.errors import ETPError
from etp_sync.server import _xml


def test_the_scan_is_built_where_it_can_be() -> None:
    """An install that could build the scan has it (a broken build must not fall back to the
    Python code unnoticed)."""
    if os.environ.get("ETP_SYNC_NO_COMPILED"):
        pytest.skip("ETP_SYNC_NO_COMPILED is set")
    if not can_build_extension("expat.h"):
        pytest.skip("no C compiler, Python headers or expat.h: the Python code serves alone")
    assert _xmlpeek.SCAN is not None, "etp_sync._xmlscan_c is not importable"


def test_the_environment_can_keep_the_scan_off() -> None:
    code = "from etp_sync import _xmlpeek; print(_xmlpeek.SCAN is None, _xmlpeek.HEAD is None)"
    assert printed_without_compiled(code) == "True True"


@pytest.fixture()
def scan() -> Callable[..., object]:
    if _xmlpeek.SCAN is None:
        pytest.skip("the compiled scan is not built here")
    return _xmlpeek.SCAN


def _outcome(parse: Callable[[bytes], object], doc: bytes) -> object:
    """What ``parse`` gives: its result, or the error's type, code and message."""
    try:
        return parse(doc)
    except ETPError as exc:
        return (type(exc), exc.code, exc.message)


def _store_parse(doc: bytes, monkeypatch: pytest.MonkeyPatch, compiled: bool) -> object:
    """What the store's parse gives: the ObjectInfo, or the error's code and message."""
    with monkeypatch.context() as m:
        if not compiled:
            m.setattr(_xmlpeek, "SCAN", None)
        return _outcome(_xml.parse_data_object, doc)


def _same_with_and_without(doc: bytes, monkeypatch: pytest.MonkeyPatch) -> object:
    compiled = _store_parse(doc, monkeypatch, True)
    assert compiled == _store_parse(doc, monkeypatch, False), doc[:300]
    return compiled


U = uuid.UUID("5d1bc1e1-7ce2-4f4b-8a8d-0123456789ab")
# Documents the scan reads (no reference, no DTD, an encoding expat reads itself).
READ = [
    samples.local_depth_crs(U, "crs"),
    samples.local_depth_crs(U, "a & <b> \u6f22"),
    samples.witsml_well(U, "Well 1"),
    samples.padded(samples.local_depth_crs(U, "big"), 100_000),
    *(_with_citation(c) for c in PLAIN_CITATIONS + OTHER_CITATIONS),
    _with_citation(OTHER_CITATIONS[7], before="<r:Other><e:Citation/></r:Other><!-- c -->"),
    _with_citation("<e:Citation><e:Title>caf\u00e9</e:Title></e:Citation>", encoding="ISO-8859-1"),
    *_odd_documents(),
]
OTHERS = [
    *_sample_documents(),
    *BAD,
    *ENTITIES_NOT_READ,
    *BAD_AFTER_CITATION,
    _with_citation("<e:Citation><e:Title>caf\u00e9</e:Title></e:Citation>", encoding="UTF-16"),
    _with_citation("<e:Citation><e:Title>caf\u00e9</e:Title></e:Citation>", encoding="cp1252"),
]


@pytest.mark.parametrize("doc", READ)
def test_documents_the_scan_reads(
    doc: bytes, scan: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = scan_data_object(doc)
    assert info is not None
    assert info == peek_data_object(doc)
    assert _same_with_and_without(doc, monkeypatch) == info


@pytest.mark.parametrize("doc", OTHERS)
def test_other_documents_parse_alike(
    doc: bytes, scan: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned = _outcome(scan_data_object, doc)
    if scanned is not None:  # read: what the peek gives (or the same error)
        assert scanned == _outcome(peek_data_object, doc)
    _same_with_and_without(doc, monkeypatch)


@pytest.mark.parametrize("mark", ["UUID", "Uuid", "PathIn", "<!DOCTYPE"])
def test_a_mark_of_a_reference_leaves_the_document_to_the_python_code(
    mark: str, scan: object
) -> None:
    doc = samples.local_depth_crs(U, f"title {mark.strip('<!')}")
    doc = doc.replace(b"title ", f"title {mark.replace('<', '&lt;')}".encode())
    assert mark.encode() in doc or mark.replace("<", "&lt;").encode() in doc
    if mark == "<!DOCTYPE":
        doc = doc.replace(b"?>\n", b"?>\n<!DOCTYPE x>\n", 1)
    assert scan_data_object(doc) is None


def test_a_nul_byte_leaves_the_document_to_the_python_code(scan: object) -> None:
    doc = samples.local_depth_crs(U, "crs")
    assert scan_data_object(doc) is not None
    assert scan_data_object(doc.replace(b"crs", b"c\x00s")) is None


def test_the_scan_refuses_what_is_not_bytes(scan: Callable[..., object]) -> None:
    with pytest.raises(TypeError):
        scan(bytearray(b"<a/>"), ("Title",))
    with pytest.raises(TypeError):
        scan(b"<a/>", ("Title", 5))


_DOC = samples.local_depth_crs(U, "fuzzed")
_CUT = _DOC.index(b"</eml:Citation>") + 40
_PIECES = [
    b"<",
    b">",
    b"/",
    b"&",
    b";",
    b"&amp;",
    b"&#65;",
    b"<![CDATA[x]]>",
    b"<!-- c -->",
    b"<?pi?>",
    b"<e:b/>",
    b"<eml:Title>",
    b"</eml:Title>",
    b"<eml:Citation>",
    b"</eml:Citation>",
    b'a="1"',
    b"\r",
    b"\xff",
    "\u00e9".encode(),
    b"Title",
    b"uuid",
    b"eml:",
    b" ",
]


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, _CUT), st.integers(0, 3), st.sampled_from(_PIECES)),
        min_size=1,
        max_size=4,
    )
)
def test_edited_documents_parse_alike(edits: list[tuple[int, int, bytes]]) -> None:
    """Bytes deleted and pieces of markup inserted around the root and its citation: the
    store's parse is the same with the scan on and off."""
    if _xmlpeek.SCAN is None:
        pytest.skip("the compiled scan is not built here")
    doc = _DOC
    for at, drop, piece in edits:
        doc = doc[:at] + piece + doc[at + drop :]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same_with_and_without(doc, monkeypatch)


@pytest.mark.parametrize(
    "doc",
    [
        samples.local_depth_crs(U, "crs"),
        samples.witsml_well(U, "Well 1"),
        samples.padded(samples.local_depth_crs(U, "big"), 100_000),
        _with_citation(PLAIN_CITATIONS[0]),
        _with_citation(PLAIN_CITATIONS[1]),
        _with_citation(PLAIN_CITATIONS[4]),
        _with_citation(PLAIN_CITATIONS[0]).split(b"?>", 1)[1],  # no declaration
        b"\xef\xbb\xbf" + _with_citation(PLAIN_CITATIONS[0]),
    ],
)
def test_the_head_reader_reads_the_usual_documents(doc: bytes, scan: object) -> None:
    """The compiled head reader itself (not the patterns after it) reads the usual forms, and
    gives what the whole parse gives."""
    assert _xmlpeek.HEAD is not None
    read = _xmlpeek.HEAD(doc, _xmlpeek._SCAN_FIELDS)
    assert read is not None
    assert _xmlpeek.peek_head(doc) == head_fields(peek_data_object(doc))


@pytest.mark.parametrize(
    "doc",
    [
        _with_citation("<e:Citation><e:Title>a &amp; b</e:Title></e:Citation>"),
        _with_citation(OTHER_CITATIONS[2]),
        _with_citation(PLAIN_CITATIONS[0], before="<!-- c -->"),
        _with_citation(PLAIN_CITATIONS[0], encoding="ISO-8859-1"),
        samples.local_depth_crs(U, "crs").replace(b"<eml:Title>", b"<eml:Title a='1'>"),
        samples.local_depth_crs(U, "crs").replace(b'uuid="', b'uuid="\t'),
    ],
)
def test_the_head_reader_leaves_other_forms_to_the_patterns(doc: bytes, scan: object) -> None:
    assert _xmlpeek.HEAD is not None
    assert _xmlpeek.HEAD(doc, _xmlpeek._SCAN_FIELDS) is None
