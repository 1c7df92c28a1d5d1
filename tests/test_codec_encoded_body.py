"""One codec, and each body encoded once.

- :func:`etp_sync.codec.encode_body` + :func:`frame_parts` give exactly the frames of
  :func:`encode_message_parts` (compressed or not, arrays included); :func:`encode_within` never
  encodes a DataArray body that is too big.
- The embedded server encodes a reply once to size it and to send it.
- No runtime path loads fastavro: ``import etp_sync`` / ``etp_sync.server``, encoding and decoding
  messages, and the server's binary capabilities (whose bytes fastavro, the test oracle, reads
  back from the official schema as what the JSON capabilities say).
"""

from __future__ import annotations

import collections
import io
import json
import subprocess
import sys
import urllib.request
import uuid
from typing import Any

import fastavro
import numpy as np
import pytest
from _helpers import data_object
from conftest import Harness
from test_server import RawClient

from etp_sync import codec
from etp_sync.codec import (
    MessageHeader,
    _encode,
    encode_body,
    encode_message_parts,
    encode_within,
    frame_parts,
)
from etp_sync.errors import ETPEncodeError
from etp_sync.samples import local_depth_crs
from etp_sync.schema import Record
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m

UID = d.DataArrayTypes.DataArrayIdentifier(uri="eml:///", path_in_resource="/p")


def _arrays(values: np.ndarray) -> Record:
    record = d.ArrayOfDouble if values.dtype.kind == "f" else d.ArrayOfLong
    array = d.DataArrayTypes.DataArray(
        dimensions=[values.size], data=d.AnyArray(item=record(values=values))
    )
    return m.DataArray.PutDataArrays(
        data_arrays={"0": d.DataArrayTypes.PutDataArraysType(uid=UID, array=array)}
    )


def _header(body: Any, protocol: int | None = None, flags: int = 2) -> Any:
    return MessageHeader(
        protocol=body.etp_protocol if protocol is None else protocol,
        message_type=body.etp_message_type,
        correlation_id=7,
        message_id=12,
        message_flags=flags,
    )


BODIES = {
    "small": (m.Dataspace.GetDataspaces(), None),
    "uris": (m.Store.GetDataObjects(uris={str(i): f"eml:///x{i}" * 20 for i in range(200)}), None),
    "exception": (
        m.Core.ProtocolException(error=d.ErrorInfo(message="no", code=11), errors={}),
        4,
    ),
    "floats": (_arrays(np.linspace(0.0, 1.0, 50_000)), None),
    "random": (_arrays(np.random.default_rng(1).random(50_000)), None),
    "longs": (_arrays(np.arange(-5_000, 5_000) ** 3), None),
}


@pytest.mark.parametrize("compress", [False, True, None])
@pytest.mark.parametrize("name", list(BODIES))
def test_framing_an_encoded_body_gives_the_same_frame(name: str, compress: bool | None) -> None:
    body, protocol = BODIES[name]
    header = _header(body, protocol)
    encoded = encode_body(body)
    framed = frame_parts(header, encoded, compress)
    direct = encode_message_parts(header, body, compress)
    assert b"".join(framed) == b"".join(direct)
    assert encoded.size == codec.encoded_body_size(body) == len(encoded.to_bytes())
    # The encoded body is left as it was: it can be framed again with another header.
    again = frame_parts(_header(body, protocol, flags=0), encoded, compress)
    assert b"".join(again)[len(bytes(again[0])) :] == b"".join(framed)[len(bytes(framed[0])) :]


def test_encode_within_the_limit_or_none() -> None:
    body = BODIES["uris"][0]
    size = encode_body(body).size
    within = encode_within(body, size)
    assert within is not None and within.size == size and within.body is body
    assert encode_within(body, size - 1) is None


def test_a_dataarray_body_too_big_is_sized_but_never_encoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = BODIES["longs"][0]
    size = codec.encoded_body_size(body)

    def refuse(_body: Any) -> Any:
        raise AssertionError("encoded although too big")

    monkeypatch.setattr(_encode, "encode_body", refuse)  # where encode_within looks it up
    assert encode_within(body, size - 1) is None
    monkeypatch.undo()
    within = encode_within(body, size)
    assert within is not None and within.size == size


def test_framing_checks_the_header_against_the_body() -> None:
    body = m.Dataspace.GetDataspaces()
    with pytest.raises(ETPEncodeError, match="header names"):
        frame_parts(_header(m.Store.GetDataObjects(uris={})), encode_body(body))
    with pytest.raises(ETPEncodeError, match="not an ETP message"):
        frame_parts(_header(body), encode_body(d.Contact()))
    with pytest.raises(ETPEncodeError, match="not an ETP record"):
        encode_body("nope")  # type: ignore[arg-type]


def test_the_server_encodes_each_reply_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = harness.server(dataspaces=["enc/once", "enc/twice"])
    client = RawClient(server.url)
    try:
        docs = {}
        for k in range(50):
            ref = uuid.uuid4()
            uri = f"eml:///dataspace('enc/once')/resqml20.obj_LocalDepth3dCrs({ref})"
            docs[uri] = local_depth_crs(ref, f"CRS {k}")
        objects = {str(k): data_object(xml, uri) for k, (uri, xml) in enumerate(docs.items())}
        client.request(m.Store.PutDataObjects(data_objects=objects))

        # Every way a body gets encoded: by _encode_into (encode_body and the sizing of
        # bodies), and by a framer given a body that is not encoded yet.
        counts: collections.Counter[str] = collections.Counter()
        encode_into = _encode._encode_into
        framer_parts = _encode.MessageFramer.parts

        def counting(body: Record, out: bytearray, *, counting: bool = False) -> bytearray:
            counts[body.etp_name] += 1
            return encode_into(body, out, counting=counting)

        def framing(framer: _encode.MessageFramer, body: Record, *args: Any) -> Any:
            counts[body.etp_name] += 1
            return framer_parts(framer, body, *args)

        monkeypatch.setattr(_encode, "_encode_into", counting)
        monkeypatch.setattr(_encode.MessageFramer, "parts", framing)
        [(_h, spaces)] = client.request(m.Dataspace.GetDataspaces())
        [(_h, got)] = client.request(
            m.Store.GetDataObjects(uris={str(k): uri for k, uri in enumerate(docs)})
        )
        context = d.Object.ContextInfo(
            uri="eml:///dataspace('enc/once')",
            depth=1,
            data_object_types=[],
            navigable_edges="Primary",
        )
        [(_h, listed)] = client.request(m.Discovery.GetResources(context=context, scope="self"))
    finally:
        client.close()
    assert len(spaces.dataspaces) == 2 and len(got.data_objects) == 50
    assert len(listed.resources) == 50
    assert counts["GetDataspacesResponse"] == 1
    assert counts["GetDataObjectsResponse"] == 1
    assert counts["GetResourcesResponse"] == 1


def test_no_runtime_path_loads_fastavro() -> None:
    code = """
import sys, numpy as np
import etp_sync, etp_sync.server
from etp_sync.codec import MessageHeader, decode_message, encode_message
from etp_sync.schema import datatypes as d, messages as m
from etp_sync.server import EmbeddedServer
from etp_sync.server._capabilities import advertised, capabilities_response
for body in (m.Store.GetDataObjects(uris={"a": "eml:///"}), m.DataArray.GetDataArraysResponse(
        data_arrays={"0": d.DataArrayTypes.DataArray(dimensions=[3],
                     data=d.AnyArray(item=d.ArrayOfLong(values=np.arange(3))))})):
    h = MessageHeader(protocol=body.etp_protocol, message_type=body.etp_message_type,
                      correlation_id=0, message_id=2, message_flags=2)
    assert decode_message(encode_message(h, body, compress=True))[1].etp_name == body.etp_name
server = EmbeddedServer(port=0)
reply = capabilities_response(
    "/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org&$format=binary",
    "x", (3, 4), advertised(server.store, 1 << 20))
assert reply is not None
print(sorted(m for m in sys.modules if m.split('.')[0] == 'fastavro'))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_binary_capabilities_read_back_by_fastavro(harness: Harness, avpr: dict[str, Any]) -> None:
    named: dict[str, Any] = {}
    parsed = {t["fullName"]: fastavro.parse_schema(t, named_schemas=named) for t in avpr["types"]}
    schema = parsed["Energistics.Etp.v12.Datatypes.ServerCapabilities"]
    server = harness.server()
    base = server.url.replace("ws://", "http://") + ".well-known/etp-server-capabilities"
    with urllib.request.urlopen(base + "?GetVersion=etp12.energistics.org&$format=binary") as r:
        binary = r.read()
    with urllib.request.urlopen(base + "?GetVersion=etp12.energistics.org") as r:
        expected = json.loads(r.read())
    buf = io.BytesIO(binary)
    read = fastavro.schemaless_reader(buf, schema, None)
    assert buf.tell() == len(binary)

    def plain(values: dict[str, Any]) -> dict[str, Any]:  # Avro-JSON union -> its value
        return {k: {"item": next(iter(v["item"].values()))} for k, v in values.items()}

    expected["endpointCapabilities"] = plain(expected["endpointCapabilities"])
    for p in expected["supportedProtocols"]:
        p["protocolCapabilities"] = plain(p["protocolCapabilities"])
    assert read == expected
    assert read["endpointCapabilities"]["MaxWebSocketMessagePayloadSize"]["item"] > 0
