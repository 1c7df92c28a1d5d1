"""The per-class fast paths of the codec give the bytes and records of the general ones.

- :class:`etp_sync.codec.MessageFramer` frames exactly what :func:`encode_message_parts` does
  for the same header values (ids of every varint length, flags, compression, DataArray bodies,
  ProtocolException under another protocol), and refuses what it refuses; so does its
  ``frame`` of a body encoded already (an EncodedBody, as the server frames its replies).
- :func:`etp_sync.codec.decode_frame` reads usual frames by a short path and every other frame
  by the general one: both give equal headers and bodies, and bad frames the same errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from etp_sync.codec import (
    MessageFlags,
    MessageFramer,
    MessageHeader,
    _decode,
    decode_frame,
    encode_body,
    encode_message,
    encode_message_parts,
)
from etp_sync.errors import ETPDecodeError, ETPEncodeError
from etp_sync.schema import Record
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m

IDS = [0, 1, 63, 64, 8191, 8192, (1 << 19) - 1, 1 << 19, 1 << 20, (1 << 62) + 5, -1, -70000]


def _array_body() -> Record:
    values = np.arange(5000, dtype=np.float64)
    uid = d.DataArrayTypes.DataArrayIdentifier(uri="eml:///", path_in_resource="/p")
    array = d.DataArrayTypes.DataArray(
        dimensions=[values.size], data=d.AnyArray(item=d.ArrayOfDouble(values=values))
    )
    return m.DataArray.PutDataArrays(
        data_arrays={"0": d.DataArrayTypes.PutDataArraysType(uid=uid, array=array)}
    )


BODIES: list[Record] = [
    m.Dataspace.GetDataspaces(),
    m.Dataspace.GetDataspaces(store_last_write_filter=1_700_000_000_000_000),
    m.Core.Ping(current_date_time=123),
    m.Store.GetDataObjects(uris={str(i): f"eml:///dataspace('a')/x({i})" for i in range(300)}),
    _array_body(),
]


def _joined(parts: list[Any]) -> bytes:
    return b"".join(bytes(p) for p in parts)


def _header(
    body: Record, correlation_id: int, message_id: int, flags: int, protocol: Any = None
) -> Any:
    numbers: Any = (body.etp_protocol if protocol is None else protocol, body.etp_message_type)
    return MessageHeader(
        protocol=numbers[0],
        message_type=numbers[1],
        correlation_id=correlation_id,
        message_id=message_id,
        message_flags=flags,
    )


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.etp_name)
@pytest.mark.parametrize("compress", [False, True, None])
def test_framer_frames_like_encode_message_parts(body: Record, compress: bool | None) -> None:
    framer = MessageFramer(type(body))
    for correlation_id, message_id in zip(IDS, reversed(IDS), strict=True):
        for flags in (0, MessageFlags.FIN, MessageFlags.FIN | MessageFlags.COMPRESSED, 0x41):
            parts, size = framer.parts(body, correlation_id, message_id, flags, compress)
            header = _header(body, correlation_id, message_id, flags)
            expected = _joined(encode_message_parts(header, body, compress))
            assert _joined(parts) == expected
            assert size == len(expected)
            assert all(type(p) in (bytes, bytearray) for p in parts) or body.etp_protocol == 9


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.etp_name)
@pytest.mark.parametrize("compress", [False, True, None])
def test_framer_frames_an_encoded_body_like_encode_message_parts(
    body: Record, compress: bool | None
) -> None:
    framer = MessageFramer(type(body))
    encoded = encode_body(body)
    for correlation_id, message_id in zip(IDS, reversed(IDS), strict=True):
        for flags in (0, MessageFlags.FIN, MessageFlags.FIN | MessageFlags.COMPRESSED, 0x41):
            parts, size = framer.frame(
                encoded.parts, encoded.size, correlation_id, message_id, flags, compress
            )
            header = _header(body, correlation_id, message_id, flags)
            expected = _joined(encode_message_parts(header, body, compress))
            assert _joined(parts) == expected
            assert size == len(expected)
    assert encoded.size == len(encoded.to_bytes())
    with pytest.raises(ETPEncodeError, match="MessageHeaderExtension"):
        framer.frame(encoded.parts, encoded.size, 0, 2, MessageFlags.HEADER_EXTENSION)


def test_framer_sends_protocol_exception_under_any_protocol() -> None:
    body = m.Core.ProtocolException(error=d.ErrorInfo(message="no", code=5))
    parts, _ = MessageFramer(type(body), protocol=24).parts(body, 8, 9, MessageFlags.FIN)
    expected = encode_message_parts(_header(body, 8, 9, MessageFlags.FIN, protocol=24), body)
    assert _joined(parts) == _joined(expected)
    header, _ext, decoded = decode_frame(_joined(parts))
    assert (header.protocol, header.message_type, decoded) == (24, 1000, body)


def test_framer_refuses_what_encode_message_parts_refuses() -> None:
    body = m.Dataspace.GetDataspaces()
    framer = MessageFramer(type(body))
    with pytest.raises(ETPEncodeError, match="MessageHeaderExtension"):
        framer.parts(body, 0, 2, MessageFlags.HEADER_EXTENSION)
    with pytest.raises(ETPEncodeError, match="framer was given Ping"):
        framer.parts(m.Core.Ping(current_date_time=1), 0, 2, 0)
    for value in (1 << 70, "yesterday"):
        bad: Any = m.Dataspace.GetDataspaces()
        bad.store_last_write_filter = value  # set past the constructor's checks
        with pytest.raises(ETPEncodeError) as general:
            encode_message_parts(_header(bad, 0, 2, 0), bad)
        with pytest.raises(ETPEncodeError) as fast:
            framer.parts(bad, 0, 2, 0)
        assert str(fast.value) == str(general.value)
    with pytest.raises(ETPEncodeError, match="cannot be sent under protocol 3"):
        MessageFramer(type(body), protocol=3)
    with pytest.raises(ETPEncodeError, match="not an ETP message class"):
        MessageFramer(d.ErrorInfo)


def _general(frame: bytes | bytearray) -> tuple[Any, Any, Any]:
    return _decode._decode_frame(frame, _decode.DEFAULT_MAX_SIZE)


def _frames() -> list[bytes]:
    """Frames of many kinds: every header varint length, flags, compression, extension-less
    errors, DataArray bodies."""
    out = []
    reply = m.Dataspace.GetDataspacesResponse(
        dataspaces=[
            d.Object.Dataspace(
                uri="eml:///dataspace('a')", path="a", store_last_write=5, store_created=4
            )
        ]
    )
    for body in [reply, m.Core.Pong(current_date_time=7), _array_body(), *BODIES[:4]]:
        for correlation_id in IDS:
            for flags in (0, 2, 0x10, 0x12, 0x01, 0x04, -128, 64):
                header = _header(body, correlation_id, correlation_id + 1, flags)
                out.append(encode_message(header, body))
        header = _header(body, 4, 5, 2)
        out.append(encode_message(header, body, compress=True))
    return out


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_decode_frame_reads_every_frame_like_the_general_path(kind: type) -> None:
    for frame in _frames():
        header, extension, body = decode_frame(kind(frame))
        g_header, g_extension, g_body = _general(kind(frame))
        assert header == g_header and type(header) is MessageHeader
        assert extension == g_extension
        assert type(body) is type(g_body)
        if body.etp_protocol != 9:
            assert body == g_body


def test_decode_frame_words_bad_frames_like_the_general_path() -> None:
    good = encode_message(_header(BODIES[1], 2, 3, 2), BODIES[1])
    bad = [
        b"",
        good[:1],
        good[:3],
        good[:-1],
        good + b"\x00",
        b"\x30\x7e\x00\x04\x02",  # unknown message type 63 of protocol 24
        b"\x7e\x02\x00\x04\x02",  # unknown protocol 63
        b"\x30\x02\x00" + b"\xff" * 11 + b"\x02",  # overlong varint
        good[:5] + b"\xff\xff" + good[7:],  # garbled body
    ]
    for frame in bad:
        for kind in (bytes, bytearray):
            with pytest.raises(ETPDecodeError) as general:
                _general(kind(frame))
            with pytest.raises(ETPDecodeError) as fast:
                decode_frame(kind(frame))
            assert str(fast.value) == str(general.value), frame
    with pytest.raises(ETPDecodeError, match="exceeds the maximum of 4"):
        decode_frame(bytearray(good), max_size=4)


def test_usual_frames_take_the_short_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply with small header values and FIN or Acknowledge flags is not decoded by the
    general path (so the tests above compare two different readers)."""
    body = m.Dataspace.GetDataspacesResponse(dataspaces=[])
    frames = [
        encode_message(_header(body, 70_000, 70_001, flags), body) for flags in (0, 2, 0x10, 0x12)
    ]

    def general(*args: Any) -> Any:
        raise AssertionError("decoded by the general path")

    monkeypatch.setattr(_decode, "_decode_frame", general)  # where decode_frame looks it up
    for frame in frames:
        header, _ext, decoded = decode_frame(bytearray(frame))
        assert (header.correlation_id, decoded) == (70_000, body)
