"""Every message type of the official file: fastavro's bytes decode and re-encode identically.

Frames are written by fastavro from the *official* schema (deterministic random content that
reaches every union branch, plus ``fastavro.utils.generate_many``), decoded by our codec, and
re-encoded to the identical bytes; the decoded fields equal what fastavro reads. The other
direction too: bodies our classes build are read back by fastavro from the official schema.
"""

from __future__ import annotations

import enum
import io
import random
import uuid
from collections import defaultdict
from typing import Any

import fastavro
import fastavro.utils
import numpy as np
import pytest
from _avrogen import AvroGen

from etp_sync import schema
from etp_sync.codec import MessageHeader, decode_message, encode_message
from etp_sync.codec._numeric import write_varint

RECORDS_PER_TYPE = 24


@pytest.fixture(scope="module")
def official(avpr: dict[str, Any]) -> dict[str, Any]:
    named: dict[str, Any] = {}
    parsed = {}
    for t in avpr["types"]:
        parsed[t["fullName"]] = fastavro.parse_schema(t, named_schemas=named)
    return parsed


def _header_bytes(protocol: int, message_type: int, flags: int = 2) -> bytes:
    return b"".join(write_varint(v) for v in (protocol, message_type, 0, 2, flags))


def _plain(value: Any) -> Any:
    """Our decoded value in fastavro's plain (no record names) form."""
    if isinstance(value, schema.Record):
        pairs = zip(value.etp_fields, value.etp_attributes, strict=True)
        return {f: _plain(getattr(value, a)) for f, a in pairs}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, schema.Int32):
        return int(value)
    if isinstance(value, schema.Float32):
        return float(value)
    return value


def _write(parsed: Any, value: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    return buf.getvalue()


def _read(parsed: Any, data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data), parsed, None)


def _message_types(avpr: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in avpr["types"] if "messageType" in t]


def test_every_message_round_trips_exactly(avpr: dict[str, Any], official: dict[str, Any]) -> None:
    gen = AvroGen(avpr)
    branch_hits: dict[int, set[int]] = defaultdict(set)
    original_value = gen.value

    def tracking_value(t: Any) -> Any:
        if isinstance(t, list):
            branch_hits[id(t)].add(gen.union_counter[id(t)] % len(t))
        return original_value(t)

    gen.value = tracking_value  # type: ignore[method-assign]
    checked = 0
    for t in _message_types(avpr):
        protocol, message_type = int(t["protocol"]), int(t["messageType"])
        for _ in range(RECORDS_PER_TYPE):
            body = _write(official[t["fullName"]], gen.named(t["fullName"]))
            frame = _header_bytes(protocol, message_type) + body
            header, message = decode_message(frame)
            assert (header.protocol, header.message_type) == (protocol, message_type)
            assert message.etp_full_name == t["fullName"]
            assert _plain(message) == _read(official[t["fullName"]], body), t["fullName"]
            assert encode_message(header, message) == frame, t["fullName"]
            checked += 1
    assert checked == 138 * RECORDS_PER_TYPE
    # Every branch of every union that the messages contain was written and read back.
    unions = _all_unions(avpr)
    assert unions, "no unions found"
    for u in unions:
        assert branch_hits[id(u)] == set(range(len(u))), u


def _all_unions(avpr: dict[str, Any]) -> list[list[Any]]:
    found: list[list[Any]] = []

    def walk(t: Any) -> None:
        if isinstance(t, list):
            found.append(t)
            for b in t:
                walk(b)
        elif isinstance(t, dict):
            if t.get("type") == "array":
                walk(t["items"])
            elif t.get("type") == "map":
                walk(t["values"])
            elif t.get("type") == "record":
                for f in t["fields"]:
                    walk(f["type"])

    for t in avpr["types"]:
        walk(t)
    return found


def test_generate_many_frames_round_trip(avpr: dict[str, Any], official: dict[str, Any]) -> None:
    random.seed(20261125)
    for t in _message_types(avpr):
        parsed = official[t["fullName"]]
        for record in fastavro.utils.generate_many(parsed, 20):
            body = _write(parsed, record)
            frame = _header_bytes(int(t["protocol"]), int(t["messageType"])) + body
            header, message = decode_message(frame)
            assert encode_message(header, message) == frame, t["fullName"]
            assert _plain(message) == _read(parsed, body)


def test_our_bodies_read_back_by_fastavro(avpr: dict[str, Any], official: dict[str, Any]) -> None:
    """The other direction: messages built from our classes, encoded by us, read by fastavro."""
    d, m = schema.datatypes, schema.messages
    arrays = [
        d.ArrayOfBoolean(values=np.array([True, False, True])),
        d.ArrayOfInt(values=np.array([0, -1, 2**31 - 1, -(2**31)], dtype=np.int32)),
        d.ArrayOfLong(values=np.array([0, -1, 2**63 - 1, -(2**63)], dtype=np.int64)),
        d.ArrayOfFloat(values=np.array([1.5, -2.25], dtype=np.float32)),
        d.ArrayOfDouble(values=np.linspace(0, 1, 1000)),
        d.ArrayOfString(values=["a", "é", ""]),
        b"\x00\x01\x02",
    ]
    uid = d.DataArrayTypes.DataArrayIdentifier(uri="eml:///", path_in_resource="/x")
    bodies = [
        m.DataArray.PutDataArrays(
            data_arrays={
                str(i): d.DataArrayTypes.PutDataArraysType(
                    uid=uid,
                    array=d.DataArrayTypes.DataArray(dimensions=[3], data=d.AnyArray(item=a)),
                    custom_data={
                        "k": d.DataValue(item=schema.Int32(7)),
                        "f": d.DataValue(item=1.5),
                    },
                )
                for i, a in enumerate(arrays)
            }
        ),
        m.Core.ProtocolException(error=d.ErrorInfo(message="nf", code=11)),
        m.Core.RequestSession(
            application_name="a", application_version="1", client_instance_id=uuid.uuid4(),
            requested_protocols=[], supported_data_objects=[], current_date_time=1,
            earliest_retained_change_time=2,
            endpoint_capabilities={
                "a": d.DataValue(item=5), "b": d.DataValue(item=schema.Int32(5)),
                "c": d.DataValue(item=schema.Float32(0.5)), "d": d.DataValue(item=0.5),
                "e": d.DataValue(item=None), "f": d.DataValue(item=True),
                "g": d.DataValue(item="s"), "h": d.DataValue(item=b"b"),
            },
        ),
        m.Discovery.GetResources(
            context=d.Object.ContextInfo(uri="eml:///", depth=1, navigable_edges="Primary"),
            scope="targetsOrSelf",
        ),
    ]  # fmt: skip
    for body in bodies:
        header = MessageHeader(
            protocol=body.etp_protocol, message_type=body.etp_message_type,
            correlation_id=0, message_id=2, message_flags=2,
        )  # fmt: skip
        frame = encode_message(header, body)
        hlen = len(_header_bytes(body.etp_protocol, body.etp_message_type))
        parsed = official[body.etp_full_name]
        plain = _read(parsed, frame[hlen:])
        assert plain == _plain(body)
        assert decode_message(frame)[1] == body
    # The known encoding of a small ProtocolException from the protocol brief.
    pe = encode_message(
        MessageHeader(protocol=0, message_type=1000, correlation_id=0, message_id=2,
                      message_flags=2),
        m.Core.ProtocolException(error=d.ErrorInfo(message="nf", code=11)),
    )  # fmt: skip
    assert pe.endswith(bytes.fromhex("02046e661600"))
