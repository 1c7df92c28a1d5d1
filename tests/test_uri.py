"""Tests for etp_sync.uri: parsing, printing, validation and round trips of ETP 1.2 URIs."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etp_sync import uri as uri_module
from etp_sync.errors import ErrorCode, ETPError
from etp_sync.uri import (
    DEFAULT_DATASPACE,
    DataObjectURI,
    DataspaceURI,
    InvalidURIError,
    QualifiedType,
    _keyed_object_uris,
    as_dataspace_uri,
    as_object_uri,
    dataspace_of,
    parse_uri,
    validate_osdu_dataspace,
    validate_qualified_type,
)

UID = "e8a58c7e-d870-43d3-87d9-81ae18d8df7b"
GRID = f"eml:///dataspace('rddms_io/demo')/resqml20.obj_Grid2dRepresentation({UID})"


# --- dataspaces -------------------------------------------------------------------------------


def test_default_dataspace() -> None:
    ds = DataspaceURI.parse("eml:///")
    assert ds.path is None
    assert ds.is_default
    assert ds == DEFAULT_DATASPACE == DataspaceURI()
    assert str(ds) == "eml:///"


def test_named_dataspace_parse_and_print() -> None:
    ds = DataspaceURI.parse("eml:///dataspace('project/scenario')")
    assert ds.path == "project/scenario"
    assert not ds.is_default
    assert ds == DataspaceURI.from_path("project/scenario")
    assert str(ds) == "eml:///dataspace('project/scenario')"


def test_quote_in_dataspace_path_is_doubled() -> None:
    ds = DataspaceURI.from_path("o'brien/a)b")
    assert str(ds) == "eml:///dataspace('o''brien/a)b')"
    assert DataspaceURI.parse(str(ds)).path == "o'brien/a)b"


def test_dataspace_repr() -> None:
    assert repr(DataspaceURI.from_path("p/s")) == "DataspaceURI(\"eml:///dataspace('p/s')\")"
    assert repr(DEFAULT_DATASPACE) == 'DataspaceURI("eml:///")'


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "must start with"),
        ("eml://", "must start with"),
        ("eml:/", "must start with"),
        ("EML:///", "must start with"),
        ("eml://host/dataspace('a')", "must start with"),
        (" eml:///", "must start with"),
        ("eml:/// ", "unexpected trailing"),
        ("eml:///dataspace", "expected dataspace('<path>')"),
        ("eml:///dataspace(a/b)", "single quotes"),
        ("eml:///dataspace('a/b", "unbalanced quote"),
        ("eml:///dataspace('a/b'')", "unbalanced quote"),
        ("eml:///dataspace('a'b')", "quote inside the path must be doubled"),
        ("eml:///dataspace('a/b'", "expected ')'"),
        ("eml:///dataspace('')", "empty dataspace path"),
        ("eml:///dataspace('a')x", "unexpected 'x'"),
        ("eml:///dataspace('a')/", "missing data object"),
        ("eml:///dataspace('eml:///x')", "looks like a URI"),
        ('eml:///dataspace("a")', "single quotes"),
    ],
)
def test_bad_dataspace_uris(text: str, why: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        DataspaceURI.parse(text)
    assert why in str(info.value)
    assert repr(text) in str(info.value)  # names the bad input
    assert info.value.uri == text


def test_dataspace_parse_rejects_object_uri() -> None:
    with pytest.raises(InvalidURIError, match="not a dataspace URI"):
        DataspaceURI.parse(GRID)


@pytest.mark.parametrize("path", ["", "eml:///dataspace('a')", "eml:x"])
def test_bad_dataspace_paths(path: str) -> None:
    with pytest.raises(InvalidURIError):
        DataspaceURI.from_path(path)
    with pytest.raises(InvalidURIError):
        DataspaceURI(path)


def test_dataspace_non_str_path() -> None:
    with pytest.raises(InvalidURIError, match="must be a str, got int"):
        DataspaceURI(42)  # type: ignore[arg-type]


# --- data objects ------------------------------------------------------------------------------


def test_parse_object_uri() -> None:
    uri = DataObjectURI.parse(GRID)
    assert uri.dataspace == DataspaceURI.from_path("rddms_io/demo")
    assert uri.domain == "resqml"
    assert uri.domain_version == "20"
    assert uri.object_type == "obj_Grid2dRepresentation"
    assert uri.uuid == UUID(UID)
    assert uri.version is None
    assert uri.qualified_type == "resqml20.obj_Grid2dRepresentation"
    assert str(uri) == GRID


def test_parse_versioned_object_uri() -> None:
    text = f"eml:///dataspace('p/s')/witsml21.Well(uuid={UID},version='1.0')"
    uri = DataObjectURI.parse(text)
    assert uri.version == "1.0"
    assert uri.qualified_type == "witsml21.Well"
    assert str(uri) == text


def test_version_with_quote() -> None:
    uri = DataObjectURI.from_type("p/s", "eml23.PropertyKind", UID, version="it's")
    assert str(uri).endswith(f"(uuid={UID},version='it''s')")
    assert DataObjectURI.parse(str(uri)).version == "it's"


def test_object_in_default_dataspace() -> None:
    text = f"eml:///eml20.obj_EpcExternalPartReference({UID})"
    uri = DataObjectURI.parse(text)
    assert uri.dataspace.is_default
    assert str(uri) == text
    versioned = uri.with_version("2")
    assert str(versioned) == f"eml:///eml20.obj_EpcExternalPartReference(uuid={UID},version='2')"


def test_constructor_from_parts_accepts_str_or_uuid() -> None:
    a = DataObjectURI("p/s", "resqml", "20", "obj_Grid2dRepresentation", UID)
    b = DataObjectURI(
        DataspaceURI.from_path("p/s"), "resqml", "20", "obj_Grid2dRepresentation", UUID(UID)
    )
    c = DataObjectURI(
        "eml:///dataspace('p/s')", "resqml", "20", "obj_Grid2dRepresentation", UID.upper()
    )
    assert a == b == c
    assert isinstance(a.uuid, UUID)
    assert str(a) == f"eml:///dataspace('p/s')/resqml20.obj_Grid2dRepresentation({UID})"


def test_constructor_none_dataspace_is_default() -> None:
    uri = DataObjectURI(None, "resqml", "22", "Grid2dRepresentation", UID)
    assert uri.dataspace == DEFAULT_DATASPACE
    assert str(uri) == f"eml:///resqml22.Grid2dRepresentation({UID})"


def test_from_type() -> None:
    uri = DataObjectURI.from_type("p/s", "resqml20.obj_LocalDepth3dCrs", UID, "3")
    assert (uri.domain, uri.domain_version, uri.object_type) == (
        "resqml",
        "20",
        "obj_LocalDepth3dCrs",
    )
    assert uri.version == "3"
    assert DataObjectURI.from_type("p/s", QualifiedType.parse("resqml20.obj_LocalDepth3dCrs"), UID)
    with pytest.raises(InvalidURIError, match="wildcard"):
        DataObjectURI.from_type("p/s", "resqml20.*", UID)
    with pytest.raises(InvalidURIError, match="wildcard"):
        DataObjectURI.from_type("p/s", QualifiedType.parse("resqml20.*"), UID)


def test_uuid_case_is_normalised() -> None:
    upper = DataObjectURI.parse(GRID.replace(UID, UID.upper()))
    lower = DataObjectURI.parse(GRID)
    assert upper == lower
    assert hash(upper) == hash(lower)
    assert str(upper) == GRID
    assert len({upper, lower}) == 1


def test_equality_distinguishes_fields() -> None:
    base = DataObjectURI.parse(GRID)
    assert base != base.with_version("1")
    assert base != base.with_dataspace("other/one")
    assert base != base.with_dataspace(None)
    assert base.with_dataspace("other/one").with_dataspace("rddms_io/demo") == base
    other_uuid = DataObjectURI.from_type(base.dataspace, base.qualified_type, UUID(int=1))
    assert base != other_uuid
    as_text: object = GRID
    assert base == as_text and hash(base) == hash(GRID)  # equal to its canonical text
    assert base != GRID.upper() and base != 42
    assert base.with_version("1").with_version(None) == base


def test_object_repr() -> None:
    assert repr(DataObjectURI.parse(GRID)) == f'DataObjectURI("{GRID}")'


def test_immutable_and_picklable() -> None:
    uri = DataObjectURI.parse(GRID)
    with pytest.raises(FrozenInstanceError):
        uri.version = "1"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        uri.dataspace.path = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(uri)) == uri
    assert copy.deepcopy(uri) == uri


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("eml:///dataspace('p')/resqml20.obj_X", "missing '(<uuid>)'"),
        ("eml:///dataspace('p')/resqml20.obj_X()", "is not 8-4-4-4-12"),
        (f"eml:///resqml20.obj_X({UID[:-1]})", "is not 8-4-4-4-12"),
        (f"eml:///resqml20.obj_X({UID}0)", "is not 8-4-4-4-12"),
        (f"eml:///resqml20.obj_X({UID.replace('-', '')})", "is not 8-4-4-4-12"),
        (f"eml:///resqml20.obj_X({{{UID}}})", "is not 8-4-4-4-12"),
        (f"eml:///resqml20.obj_X(g{UID[1:]})", "is not 8-4-4-4-12"),
        (f"eml:///resqml20.obj_X({UID}", "missing ')'"),
        (f"eml:///resqml20.obj_X({UID})x", "unexpected trailing 'x'"),
        (f"eml:///resqml20.obj_X({UID})/", "unexpected trailing '/'"),
        (f"eml:///resqml20.obj_X({UID}) ", "unexpected trailing ' '"),
        (f"eml:///resqml20.obj_X(uuid={UID})", "expected (uuid=<uuid>,version="),
        (f"eml:///resqml20.obj_X(uuid={UID},version=1)", "single quotes"),
        (f"eml:///resqml20.obj_X(uuid={UID},version='1)", "unbalanced quote in version"),
        (f"eml:///resqml20.obj_X(uuid={UID},version='')", "empty version"),
        (f"eml:///resqml20.obj_X(uuid={UID},v='1')", "expected version="),
        (f"eml:///resqml20.obj_X(uuid={UID},version='1'x)", "expected ')'"),
        (f"eml:///resqml20.obj_X(uuid={UID},version='1')x", "unexpected trailing"),
        (f"eml:///foo20.obj_X({UID})", "unknown data object family 'foo'"),
        (f"eml:///RESQML20.obj_X({UID})", "families are lower-case"),
        (f"eml:///resqml2.obj_X({UID})", "must be two digits"),
        (f"eml:///resqml201.obj_X({UID})", "must be two digits"),
        (f"eml:///resqml02.obj_X({UID})", "must be two digits"),
        (f"eml:///resqml.obj_X({UID})", "must be two digits"),
        (f"eml:///resqml20obj_X({UID})", "expected <family><2 digits>.<type>"),
        (f"eml:///resqml20.({UID})", "must be non-empty"),
        (f"eml:///resqml20.obj-X({UID})", "must be non-empty ASCII"),
        (f"eml:///resqml20.obj_X.Y({UID})", "must be non-empty ASCII"),
        (f"eml:///resqml20.ōbj({UID})", "must be non-empty ASCII"),
        (f"eml:///resqml20.*({UID})", "wildcard"),
        (f"eml:///dataspace('p')/dataspace('q')/resqml20.obj_X({UID})", "family"),
        (f"eml:///dataspace('p')/resqml20.obj_X({UID})/witsml20.Wellbore", "trailing"),
    ],
)
def test_bad_object_uris(text: str, why: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        DataObjectURI.parse(text)
    message = str(info.value)
    assert why in message
    assert repr(text) in message  # names the bad input
    assert info.value.uri == text


def test_object_parse_rejects_dataspace_uri() -> None:
    with pytest.raises(InvalidURIError, match="not a data object URI"):
        DataObjectURI.parse("eml:///dataspace('p/s')")


@pytest.mark.parametrize(
    ("domain", "version", "object_type", "uid", "obj_version"),
    [
        ("xml", "20", "obj_X", UID, None),
        ("resqml", "2", "obj_X", UID, None),
        ("resqml", "20", "", UID, None),
        ("resqml", "20", "*", UID, None),
        ("resqml", "20", "obj_X", "not-a-uuid", None),
        ("resqml", "20", "obj_X", f"{{{UID}}}", None),
        ("resqml", "20", "obj_X", UID, ""),
    ],
)
def test_bad_parts(
    domain: str, version: str, object_type: str, uid: str, obj_version: str | None
) -> None:
    with pytest.raises(InvalidURIError):
        DataObjectURI("p/s", domain, version, object_type, uid, obj_version)


def test_bad_part_types() -> None:
    with pytest.raises(InvalidURIError, match="uuid must be a str"):
        DataObjectURI("p/s", "resqml", "20", "obj_X", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidURIError, match="version must be a str"):
        DataObjectURI("p/s", "resqml", "20", "obj_X", UID, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidURIError, match="dataspace path"):
        DataObjectURI("", "resqml", "20", "obj_X", UID)


# --- the error -------------------------------------------------------------------------------


def test_invalid_uri_error_family() -> None:
    with pytest.raises(InvalidURIError) as info:
        parse_uri("nope")
    err = info.value
    assert isinstance(err, ETPError)
    assert isinstance(err, ValueError)
    code: int | None = err.code
    assert code == ErrorCode.EINVALID_URI
    assert code == 9
    assert err.code_name == "EINVALID_URI"
    assert "'nope'" in str(err)
    assert err.uri == "nope"


def test_long_input_is_shortened_in_message() -> None:
    text = "x" * 10_000
    with pytest.raises(InvalidURIError) as info:
        parse_uri(text)
    assert len(str(info.value)) < 400
    assert info.value.uri == text


def test_parse_uri_non_str() -> None:
    with pytest.raises(InvalidURIError, match="must be a str, got bytes"):
        parse_uri(b"eml:///")  # type: ignore[arg-type]


# --- qualified types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "resqml20.obj_Grid2dRepresentation",
        "eml20.obj_EpcExternalPartReference",
        "eml23.PropertyKind",
        "witsml21.Well",
        "prodml22.FluidSystem",
        "resqml22.*",
    ],
)
def test_good_qualified_types(text: str) -> None:
    qt = QualifiedType.parse(text)
    assert str(qt) == text
    assert validate_qualified_type(text) == text
    assert QualifiedType(qt.domain, qt.domain_version, qt.object_type) == qt


@pytest.mark.parametrize(
    "text",
    [
        "",
        "resqml20",
        "resqml20.",
        ".obj_X",
        "20.obj_X",
        "Resqml20.obj_X",
        "resqml2.obj_X",
        "resqml2a.obj_X",
        "resqml20.obj X",
        "resqml20.obj_X ",
        "resqml20.**",
        "resqml20.obj*",
        "energyml20.obj_X",
        "resqml20.obj_X.Y",
    ],
)
def test_bad_qualified_types(text: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        QualifiedType.parse(text)
    assert repr(text) in str(info.value)
    with pytest.raises(InvalidURIError):
        validate_qualified_type(text)


def test_qualified_type_wildcard() -> None:
    wild = QualifiedType.parse("resqml20.*")
    assert wild.is_wildcard
    assert wild.matches("resqml20.obj_Grid2dRepresentation")
    assert wild.matches(wild)
    assert not wild.matches("resqml22.Grid2dRepresentation")
    assert not wild.matches("eml20.obj_EpcExternalPartReference")
    concrete = QualifiedType.parse("resqml20.obj_Grid2dRepresentation")
    assert not concrete.is_wildcard
    assert concrete.matches("resqml20.obj_Grid2dRepresentation")
    assert not concrete.matches("resqml20.obj_LocalDepth3dCrs")
    assert not concrete.matches("resqml20.*")
    with pytest.raises(InvalidURIError, match="wildcard"):
        QualifiedType.parse("resqml20.*", allow_wildcard=False)
    with pytest.raises(InvalidURIError, match="wildcard"):
        validate_qualified_type(wild, allow_wildcard=False)
    assert validate_qualified_type(concrete, allow_wildcard=False) == str(concrete)
    assert repr(wild) == 'QualifiedType("resqml20.*")'


# --- helpers -----------------------------------------------------------------------------------


def test_parse_uri_dispatches() -> None:
    assert parse_uri("eml:///") == DEFAULT_DATASPACE
    assert parse_uri("eml:///dataspace('a')") == DataspaceURI.from_path("a")
    assert isinstance(parse_uri(GRID), DataObjectURI)


def test_as_dataspace_uri() -> None:
    ds = DataspaceURI.from_path("project/scenario")
    assert as_dataspace_uri(ds) is ds
    assert as_dataspace_uri("project/scenario") == ds
    assert as_dataspace_uri("eml:///dataspace('project/scenario')") == ds
    assert as_dataspace_uri("eml:///") == DEFAULT_DATASPACE
    assert as_dataspace_uri("single") == DataspaceURI.from_path("single")
    with pytest.raises(InvalidURIError, match="empty"):
        as_dataspace_uri("")
    with pytest.raises(InvalidURIError, match="not a dataspace URI"):
        as_dataspace_uri(GRID)
    with pytest.raises(InvalidURIError, match="unbalanced"):
        as_dataspace_uri("eml:///dataspace('project")
    with pytest.raises(InvalidURIError, match="must start with"):
        as_dataspace_uri("eml://dataspace('project/scenario')")


def test_as_dataspace_uri_osdu() -> None:
    assert as_dataspace_uri("project/scenario", osdu=True).path == "project/scenario"
    assert as_dataspace_uri("eml:///dataspace('a/b')", osdu=True).path == "a/b"
    for bad in ["project", "a/b/c", "/b", "a/", "/", "eml:///"]:
        with pytest.raises(InvalidURIError, match="open-etp-server"):
            as_dataspace_uri(bad, osdu=True)


def test_validate_osdu_dataspace() -> None:
    assert validate_osdu_dataspace("p/s") == "p/s"
    assert validate_osdu_dataspace(DataspaceURI.from_path("p/s")) == "p/s"
    with pytest.raises(InvalidURIError, match="default dataspace"):
        validate_osdu_dataspace(None)
    with pytest.raises(InvalidURIError, match="default dataspace"):
        validate_osdu_dataspace(DEFAULT_DATASPACE)
    with pytest.raises(InvalidURIError, match="two"):
        validate_osdu_dataspace("p//s")


def test_as_object_uri() -> None:
    uri = DataObjectURI.parse(GRID)
    assert as_object_uri(uri) is uri
    assert as_object_uri(GRID) == uri
    with pytest.raises(InvalidURIError, match="not a data object URI"):
        as_object_uri("eml:///")
    with pytest.raises(InvalidURIError, match="must start with"):
        as_object_uri("resqml20.obj_X")
    long_path = f"eml:///dataspace('{'p' * 600}')"  # too long to be memoised: parsed as is
    assert as_object_uri(f"{long_path}/resqml20.obj_X({UID})").uuid == UUID(UID)
    with pytest.raises(InvalidURIError, match="not a data object URI"):
        as_object_uri(long_path)
    with pytest.raises(InvalidURIError, match="must be a str"):
        as_object_uri(7)  # type: ignore[arg-type]


def test_keyed_object_uris_accept_what_as_object_uri_accepts() -> None:
    """By canonical text, in order, the first of equal URIs kept; refusals as as_object_uri's."""
    uri = DataObjectURI.parse(GRID)
    upper = GRID.replace(UID, UID.upper())
    long_path = f"eml:///dataspace('{'p' * 600}')"
    long_uri = f"{long_path}/resqml20.obj_X({UID})"
    keyed = _keyed_object_uris([upper, uri, GRID, long_uri])
    assert list(keyed) == [GRID, long_uri]
    assert keyed[GRID] == uri and keyed[long_uri] == as_object_uri(long_uri)
    assert _keyed_object_uris([uri])[GRID] is uri
    assert _keyed_object_uris([]) == {}
    for bad, words in [
        ("eml:///", "not a data object URI"),
        ("resqml20.obj_X", "must start with"),
        (long_path, "not a data object URI"),
        (7, "must be a str"),
    ]:
        with pytest.raises(InvalidURIError, match=words):
            _keyed_object_uris([GRID, bad])  # type: ignore[list-item]


@pytest.mark.parametrize("text", [UID, UID.upper(), "00000000-0000-0000-0000-000000000000"])
def test_parsed_uuids_are_those_of_the_uuid_constructor(text: str) -> None:
    """A parsed URI's uuid is built without ``UUID()``: it must be what ``UUID(text)`` is."""
    for made in (
        DataObjectURI.parse(f"eml:///resqml20.obj_X({text})").uuid,
        DataObjectURI.parse(f"eml:///resqml20.obj_X(uuid={text},version='1')").uuid,
        DataObjectURI("eml:///", "resqml", "20", "obj_X", text).uuid,
    ):
        expected = UUID(text)
        assert type(made) is UUID and made == expected and hash(made) == hash(expected)
        assert (str(made), made.int, made.is_safe, made.version) == (
            str(expected),
            expected.int,
            expected.is_safe,
            expected.version,
        )
        assert pickle.loads(pickle.dumps(made)) == expected


def test_dataspace_of() -> None:
    ds = DataspaceURI.from_path("rddms_io/demo")
    assert dataspace_of(GRID) == ds
    assert dataspace_of(DataObjectURI.parse(GRID)) == ds
    assert dataspace_of(ds) is ds
    assert dataspace_of("eml:///") == DEFAULT_DATASPACE
    assert dataspace_of(f"eml:///resqml20.obj_X({UID})") == DEFAULT_DATASPACE
    with pytest.raises(InvalidURIError):
        dataspace_of(3)  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------------

paths = st.text(min_size=1).filter(lambda p: not p.startswith("eml:"))
dataspaces = st.one_of(st.just(DEFAULT_DATASPACE), paths.map(DataspaceURI.from_path))
families = st.sampled_from(["eml", "prodml", "resqml", "witsml"])
domain_versions = st.from_regex(r"[1-9][0-9]", fullmatch=True)
object_types = st.from_regex(r"[A-Za-z0-9_]+", fullmatch=True)
versions = st.one_of(st.none(), st.text(min_size=1))
objects = st.builds(
    DataObjectURI, dataspaces, families, domain_versions, object_types, st.uuids(), versions
)


@given(dataspaces)
def test_dataspace_round_trip(ds: DataspaceURI) -> None:
    text = str(ds)
    assert DataspaceURI.parse(text) == ds
    assert str(DataspaceURI.parse(text)) == text
    assert parse_uri(text) == ds
    assert as_dataspace_uri(text) == ds


@given(objects)
def test_object_round_trip(uri: DataObjectURI) -> None:
    text = str(uri)
    parsed = DataObjectURI.parse(text)
    assert parsed == uri
    assert hash(parsed) == hash(uri)
    assert str(parsed) == text
    assert dataspace_of(text) == uri.dataspace
    assert DataObjectURI.from_type(uri.dataspace, uri.qualified_type, uri.uuid, uri.version) == uri


@given(objects)
def test_uuid_case_does_not_matter(uri: DataObjectURI) -> None:
    upper = str(uri).replace(str(uri.uuid), str(uri.uuid).upper())
    assert DataObjectURI.parse(upper) == uri
    assert str(DataObjectURI.parse(upper)) == str(uri)


@given(objects, objects)
def test_str_equal_iff_equal(a: DataObjectURI, b: DataObjectURI) -> None:
    assert (str(a) == str(b)) == (a == b)


@given(st.one_of(objects, dataspaces), st.integers(min_value=0), st.text(max_size=3), st.booleans())
def test_mutated_uri_is_rejected_or_canonical(
    uri: DataObjectURI | DataspaceURI, where: int, insert: str, delete: bool
) -> None:
    text = str(uri)
    at = where % (len(text) + 1)
    mutated = text[:at] + insert + text[at + (1 if delete else 0) :]
    try:
        parsed = parse_uri(mutated)
    except InvalidURIError as exc:
        assert repr(mutated)[:50] in str(exc)
        return
    # Whatever is accepted must print canonically and parse back to itself.
    assert parse_uri(str(parsed)) == parsed
    assert str(parsed).lower() == mutated.lower()


@given(objects, st.booleans(), st.integers(min_value=0), st.text(max_size=3))
def test_parsed_text_is_the_canonical_text(
    uri: DataObjectURI, upper: bool, where: int, insert: str
) -> None:
    """A parsed object URI keeps the text it was given when that is canonical (lower-case
    uuid): it must then be exactly what its parts print as."""
    text = str(uri)
    if upper:
        text = text.replace(str(uri.uuid), str(uri.uuid).upper())
    at = where % (len(text) + 1)
    try:
        parsed = uri_module._parse_uri.__wrapped__(text[:at] + insert + text[at:])  # unmemoised
    except InvalidURIError:
        return
    if isinstance(parsed, DataObjectURI):
        rebuilt = DataObjectURI(
            parsed.dataspace,
            parsed.domain,
            parsed.domain_version,
            parsed.object_type,
            parsed.uuid,
            parsed.version,
        )
        assert str(parsed) == str(rebuilt)


@given(objects, st.integers(min_value=1, max_value=200))
def test_truncated_object_uri_is_rejected(uri: DataObjectURI, cut: int) -> None:
    text = str(uri)
    shorter = text[: max(0, len(text) - cut)]
    try:
        parsed = parse_uri(shorter)
    except InvalidURIError:
        return
    # The only valid prefix of an object URI is its dataspace URI (or eml:///).
    assert isinstance(parsed, DataspaceURI)


def test_parse_memos_keep_no_long_text() -> None:
    """The parse memos hold short texts only: a peer's long URIs, paths or types are parsed
    (equal results) but never kept, so the memos' memory stays bounded."""

    path = "p" * (uri_module._MEMO_MAX_CHARS + 1)
    text = f"eml:///dataspace('{path}')/resqml20.obj_Grid2dRepresentation({UUID(int=7)})"
    qualified = "resqml20." + "X" * uri_module._MEMO_MAX_CHARS
    memos = (
        uri_module._parse_uri,
        uri_module._dataspace,
        uri_module._parse_qualified_type,
        uri_module._object_prefix,
    )
    for memo in memos:
        memo.cache_clear()
    first = parse_uri(text)
    assert parse_uri(text) == first and str(first) == text
    assert as_dataspace_uri(path).path == path
    assert str(QualifiedType.parse(qualified)) == qualified
    # Only the object's own (short) type is remembered.
    assert [memo.cache_info().currsize for memo in memos] == [0, 0, 1, 0]
    short = parse_uri(f"eml:///dataspace('a')/resqml20.obj_Grid2dRepresentation({UUID(int=7)})")
    assert parse_uri(str(short)) is short  # short ones are still remembered
    assert uri_module._object_prefix.cache_info().currsize == 1  # and their prefix


def test_known_prefix_reads_only_the_uuid() -> None:
    """Object URIs sharing a dataspace and type are read by their uuid once the prefix is
    known; a prefix that is no object URI's falls back to the full parse and its error."""
    uri_module._object_prefix.cache_clear()
    prefix = "eml:///dataspace('p(a)/s')/witsml21.Well"
    first = parse_uri(f"{prefix}({UUID(int=1)})")
    second = parse_uri(f"{prefix}({str(UUID(int=2)).upper()})")
    assert uri_module._object_prefix.cache_info().hits == 1
    assert isinstance(first, DataObjectURI) and isinstance(second, DataObjectURI)
    assert second.dataspace is first.dataspace
    assert str(second) == f"{prefix}({UUID(int=2)})"  # printed canonically
    assert second == DataObjectURI("p(a)/s", "witsml", "21", "Well", UUID(int=2))
    for bad in (
        f"eml:///dataspace('p/s')/witsml21.*({UUID(int=3)})",
        f"eml:///dataspace('p/s')/Witsml21.Well({UUID(int=3)})",
        f"eml:///dataspace('p/s'/witsml21.Well({UUID(int=3)})",
        f"eml:///dataspace('p/s')/witsml21.Well({'g' * 8}-0000-0000-0000-000000000000)",
    ):
        with pytest.raises(InvalidURIError) as info:
            parse_uri(bad)
        assert info.value.uri == bad and repr(bad)[:40] in info.value.message


def test_qualified_type_keeps_its_public_module() -> None:
    """QualifiedType moved to etp_sync._uri_fields when uri.py was split; it is still
    etp_sync.uri's: its pickles name that module (readable by versions before the split) and
    so do its class's ``__module__`` and help."""
    qualified = QualifiedType.parse("resqml20.obj_X")
    data = pickle.dumps(qualified)
    assert QualifiedType.__module__ == "etp_sync.uri"
    assert b"_uri_fields" not in data and b"etp_sync.uri" in data
    assert pickle.loads(data) == qualified
    assert copy.deepcopy(qualified) == qualified
