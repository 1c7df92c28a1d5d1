"""A data object declaring an XML encoding the parser cannot read is an invalid object
(EINVALID_OBJECT), refused for that object alone like any malformed document: by the parsers,
by the client's put, and by the server over a real socket (not an internal error for the whole
request)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from _helpers import data_object
from conftest import Harness
from test_server import RawClient

from etp_sync import ETPSession
from etp_sync._xmlpeek import peek_data_object
from etp_sync.errors import ErrorCode, ETPError, ETPInvalidArgument, ETPPartialFailure
from etp_sync.samples import local_depth_crs
from etp_sync.schema import messages
from etp_sync.uri import DataObjectURI
from etp_sync.xmlinfo import parse_data_object

DS = "eml:///dataspace('enc/test')"
# Unknown names, non-text codecs, multi-byte codecs expat cannot map, a codec that refuses.
UNREADABLE = ["bogus-enc", "rot13", "base64", "utf-32", "shift_jis", "undefined", "x" * 5000]


def _crs(encoding: str | None = None) -> tuple[str, bytes]:
    """(URI, document) of a small CRS object, its XML declaration naming ``encoding``."""
    ref = uuid.uuid4()
    xml = local_depth_crs(ref, f"CRS {ref}")
    if encoding is not None:
        declaration = b'<?xml version="1.0" encoding="UTF-8"?>'
        assert xml.startswith(declaration)
        xml = f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + xml[len(declaration) :]
    uri = DataObjectURI.from_type(DS, "resqml20.obj_LocalDepth3dCrs", ref)
    return str(uri), xml


@pytest.mark.parametrize("encoding", UNREADABLE, ids=lambda e: e[:12])
def test_parsers_refuse_an_unreadable_encoding_as_an_invalid_object(encoding: str) -> None:
    _uri, xml = _crs(encoding)
    with pytest.raises(ETPError) as full:
        parse_data_object(xml)
    with pytest.raises(ETPError) as peeked:
        peek_data_object(xml)
    assert full.value.code == peeked.value.code == ErrorCode.EINVALID_OBJECT
    assert full.value.message == peeked.value.message
    assert "encoding" in full.value.message
    assert len(full.value.message) < 400  # a huge declared name is not echoed whole


def test_a_readable_single_byte_encoding_still_parses() -> None:
    uri, xml = _crs("ISO-8859-1")
    assert parse_data_object(xml) == peek_data_object(xml)
    assert parse_data_object(xml).uuid == uri.split("(")[-1].rstrip(")")


@pytest.fixture()
def session(harness: Harness) -> ETPSession:
    server = harness.server(dataspaces=["enc/test"])
    result: ETPSession = harness.session(server, timeout=20)
    return result


def test_client_put_without_uris_refuses_before_sending(session: ETPSession) -> None:
    _good_uri, good = _crs()
    _uri, bad = _crs("bogus-enc")
    with pytest.raises(ETPInvalidArgument, match=r"object 1: cannot derive its URI.*encoding"):
        session.put_data_objects([good, bad], dataspace=DS)
    assert session.get_resources(DS).uris == []  # nothing was sent


def test_client_put_by_uri_gets_the_store_refusal_for_that_object(session: ETPSession) -> None:
    good_uri, good = _crs()
    bad_uri, bad = _crs("bogus-enc")
    with pytest.raises(ETPPartialFailure) as info:
        session.put_data_objects({good_uri: good, bad_uri: bad})
    assert info.value.errors[bad_uri][0] == ErrorCode.EINVALID_OBJECT
    assert list(info.value.successes) == [good_uri]
    assert session.get_resources(DS).uris == [good_uri]
    assert session.get_data_objects([good_uri])[good_uri].xml == good


@pytest.mark.parametrize("encoding", ["bogus-enc", "utf-32", "rot13"])
def test_server_refuses_the_object_not_the_request(harness: Harness, encoding: str) -> None:
    server = harness.server(dataspaces=["enc/test"])
    client = RawClient(server.url)
    try:
        good_uri, good = _crs()
        bad_uri, bad = _crs(encoding)
        request = messages.Store.PutDataObjects(
            data_objects={"good": data_object(good, good_uri), "bad": data_object(bad, bad_uri)}
        )
        replies: list[Any] = [body for _header, body in client.request(request)]
        assert [type(b).__name__ for b in replies] == [
            "PutDataObjectsResponse",
            "ProtocolException",
        ]
        assert set(replies[0].success) == {"good"}
        assert replies[1].error is None
        assert set(replies[1].errors) == {"bad"}
        assert replies[1].errors["bad"].code == ErrorCode.EINVALID_OBJECT
        assert "encoding" in replies[1].errors["bad"].message
        # The session goes on serving requests, and the good object was stored.
        [(_h, got)] = client.request(messages.Store.GetDataObjects(uris={"g": good_uri}))
        assert got.data_objects["g"].data == good
    finally:
        client.close()
