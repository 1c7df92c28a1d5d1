"""The store's reading of URIs (etp_sync.server.store._uris.parse_context): a canonical object
URI read by its uuid alone gives the very parts (and text) the URI objects give; any other
text, or error, is read as before. A differential test over many generated URIs."""

from __future__ import annotations

import dataclasses
import random
import uuid

import pytest

from etp_sync.errors import ETPError, StoreError
from etp_sync.server.store import _uris

U = "5d1bc1e1-7ce2-4f4b-8a8d-0123456789ab"

_SPACES = [
    "eml:///",
    "eml:///dataspace('demo/objs')/",
    "eml:///dataspace('a''b')/",
    "eml:///dataspace('caf\u00e9 x')/",
    "eml:///dataspace('')/",
    "eml:///dataspace('a)/",
    'eml:///dataspace("a")/',
    "EML:///dataspace('a')/",
    "eml://dataspace('a')/",
    "eml:///dataspace('a') /",
    "eml:///dataspace('a')//",
    "eml:///dataspace('%41')/",
    "eml:///dataspace('a/b(c)')/",
    "",
]
_TYPES = [
    "resqml20.obj_LocalDepth3dCrs",
    "eml20.obj_EpcExternalPartReference",
    "witsml21.Well",
    "resqml22.LocalDepth3dCrs",
    "RESQML20.obj_X",
    "resqml20.obj X",
    "resqml2.obj_X",
    "resqml20.*",
    "unknown20.Thing",
    "resqml20.",
    "",
]


def _identity(rng: random.Random) -> str:
    uid = str(uuid.UUID(int=rng.getrandbits(128)))
    return rng.choice(
        [
            f"({uid})",
            f"({uid})",
            f"({uid.upper()})",
            f"({uid[:-1]}g)",
            f"({uid[:-1]})",
            f"({uid}0)",
            f"(uuid={uid})",
            f"(uuid={uid},version='2')",
            f"({uid}) ",
            f"({uid.replace('-', '')})",
            f"({{{uid}}})",
            "",
        ]
    )


def _outcome(read: object, uri: object) -> object:
    try:
        parts = read(uri)  # type: ignore[operator]
    except (StoreError, ETPError) as exc:
        return (type(exc), exc.code, exc.message)
    assert isinstance(parts, _uris.UriParts)
    return parts, parts.text  # text does not take part in comparisons


def test_same_parts_as_the_uri_objects_on_generated_uris() -> None:
    rng = random.Random(20261202)
    fast = 0
    for _ in range(6000):
        uri = rng.choice(_SPACES) + rng.choice(_TYPES) + _identity(rng)
        new = _outcome(_uris._parse_context, uri)
        assert new == _outcome(_uris._read_parts, uri), uri
        tail = uri[-37:-1]
        if _uris._canonical_prefix(uri[:-38]) is not None and tail == tail.lower():
            fast += 1
    assert fast > 250  # the uuid-alone reading was exercised


@pytest.mark.parametrize(
    "uri",
    [
        f"eml:///resqml20.obj_LocalDepth3dCrs({U})",
        f"eml:///dataspace('demo/objs')/resqml20.obj_LocalDepth3dCrs({U})",
        f"eml:///dataspace('a''b')/witsml21.Well({U})",
        f"eml:///dataspace('demo')/resqml20.obj_Fault({U.upper()})",
        f"eml:///dataspace('demo')/resqml20.obj_Fault(uuid={U},version='1')",
        "eml:///dataspace('demo')",
        "eml:///dataspace('demo')/resqml20.obj_Fault",
        "not a uri",
        "x" * 40 + f"({U})",
        "",
    ],
)
def test_same_parts_as_the_uri_objects(uri: str) -> None:
    assert _outcome(_uris._parse_context, uri) == _outcome(_uris._read_parts, uri)
    assert _outcome(_uris.parse_context, uri) == _outcome(_uris._read_parts, uri)


def test_canonical_object_uri_is_read_by_its_uuid_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = "eml:///dataspace('demo/read')/resqml20.obj_Fault"
    _uris._parse_context(f"{prefix}({U})")  # the prefix is known from now on

    def refuse(uri: str) -> _uris.UriParts:
        raise AssertionError(f"{uri} read by way of the URI objects")

    monkeypatch.setattr(_uris, "_read_parts", refuse)
    other = str(uuid.uuid4())
    parts = _uris._parse_context(f"{prefix}({other})")
    assert parts == _uris.UriParts("demo/read", "resqml20.obj_Fault", other)
    assert parts.text == f"{prefix}({other})"


def test_canonical_parts_are_what_the_constructor_makes() -> None:
    made = _uris._canonical_parts("demo/read", "resqml20.obj_Fault", U, "text")
    expected = _uris.UriParts("demo/read", "resqml20.obj_Fault", U, None, "text")
    assert made == expected and hash(made) == hash(expected) and made.text == "text"
    assert [getattr(made, f) for f in made.__slots__] == [
        getattr(expected, f) for f in expected.__slots__
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.uuid = ""  # type: ignore[misc]


def test_canonical_split_agrees_with_the_parts_on_generated_uris() -> None:
    """canonical_split gives the parts parse_context gives exactly when its uuid text is
    canonical (lower case) and the URI is the canonical URI (its own text, no version) of
    that type and uuid."""
    rng = random.Random(20261204)
    agreed = 0
    for _ in range(6000):
        uri = rng.choice(_SPACES) + rng.choice(_TYPES) + _identity(rng)
        try:
            parts = _uris._read_parts(uri)
        except StoreError:
            parts = None
        split = _uris.canonical_split(uri)
        canonical = parts is not None and parts.text == uri and parts.version is None
        if split is not None and parts is not None and parts.uuid == split[2]:
            assert canonical, uri  # a canonical uuid text: the parts'
            assert (parts.space, parts.qualified_type) == split[:2], uri
            agreed += 1
        if canonical:
            assert parts is not None
            assert split == (parts.space, parts.qualified_type, parts.uuid), uri
    assert agreed > 100  # canonical URIs were met


def test_canonical_split_leaves_the_uuid_text_to_the_caller() -> None:
    uri = f"eml:///dataspace('demo/read')/resqml20.obj_Fault({U})"
    assert _uris.canonical_split(uri) == ("demo/read", "resqml20.obj_Fault", U)
    upper = uri.replace(U, U.upper())
    assert _uris.canonical_split(upper) == ("demo/read", "resqml20.obj_Fault", U.upper())
    assert _uris.canonical_split("eml:///dataspace('demo/read')") is None
    assert (
        _uris.canonical_split(f"eml:///dataspace('demo/read')/resqml20.obj_Fault(uuid={U})") is None
    )
    assert _uris.canonical_split(b"eml:///") is None
