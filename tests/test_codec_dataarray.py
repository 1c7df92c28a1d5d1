"""DataArray bodies go through the generated codec, with their arrays left where they are.

- Big payloads (numeric values, ``bytes``) are sent as references to the caller's arrays; small
  ones are copied in with the rest of the body.
- Decoded float values are views of the frame; strings and ``bytes`` are copies (a connection may
  reuse its buffer); a header extension is read from the same view.
- Hostile bytes in a DataArray body meet the checks of every other body (UTF-8, enum and union
  indexes, truncation), as ETPDecodeError.
- Sizing a body (counting) gives the size of its encoding without encoding its arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from etp_sync.codec import (
    MessageFlags,
    MessageHeader,
    decode_frame,
    decode_message,
    encode_message,
    encode_message_parts,
    encoded_body_size,
)
from etp_sync.codec._arraycodec import ARRAY_CODEC, CUT_BYTES, Pieces, locate_values
from etp_sync.codec._compiled import COMPILED_CODEC
from etp_sync.codec._numeric import write_varint
from etp_sync.codec.arrays import to_any_array
from etp_sync.errors import ETPDecodeError, ETPEncodeError
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m

URI = "eml:///dataspace('a/b')/eml20.obj_EpcExternalPartReference(00000000-0000-0000-0000-0000000000aa)"


def _put(values: np.ndarray, uri: str = URI) -> Any:
    any_array, _types = to_any_array(values)
    uid = d.DataArrayTypes.DataArrayIdentifier(uri=uri, path_in_resource="/p")
    array = d.DataArrayTypes.DataArray(dimensions=list(values.shape), data=any_array)
    return m.DataArray.PutDataArrays(
        data_arrays={"0": d.DataArrayTypes.PutDataArraysType(uid=uid, array=array)}
    )


def _header(body: Any, flags: int = MessageFlags.FIN) -> MessageHeader:
    return MessageHeader(
        protocol=body.etp_protocol,
        message_type=body.etp_message_type,
        correlation_id=0,
        message_id=4,
        message_flags=flags,
    )


@pytest.mark.parametrize("dtype", ["<f8", "<f4", "u1", "<u8"])
def test_big_payloads_are_sent_as_references_small_ones_copied(dtype: str) -> None:
    values = np.arange(CUT_BYTES, dtype=dtype)  # CUT_BYTES items: at least CUT_BYTES bytes
    parts = encode_message_parts(_header(_put(values)), _put(values))
    assert sum(np.shares_memory(np.frombuffer(p, np.uint8), values) for p in parts) == 1
    small = np.arange(8, dtype=dtype)
    parts = encode_message_parts(_header(_put(small)), _put(small))
    assert not any(np.shares_memory(np.frombuffer(p, np.uint8), small) for p in parts)
    assert len(parts) == 2  # the header, then the whole body in one buffer
    assert decode_message(b"".join(parts))[1] == _put(small)


@pytest.mark.parametrize(
    "values",
    [
        np.linspace(0.0, 1.0, 3000),
        np.arange(-3000, 3000, dtype=np.int64) ** 3,
        np.arange(5000, dtype=np.uint8),
        np.array(["a", "bé", ""]),
        np.array([True, False, True]),
        np.zeros(0),
    ],
)
def test_counting_sizes_the_encoding(values: np.ndarray) -> None:
    body = _put(values)
    frame = encode_message(_header(body), body)
    assert encoded_body_size(body) == len(frame) - 5
    counter = Pieces(counting=True)
    ARRAY_CODEC.encoder(body.etp_full_name)(body, counter)
    assert counter.counting and counter.total == len(frame) - 5
    with pytest.raises(ValueError):
        counter.parts()


def test_decoded_floats_are_views_strings_and_bytes_copies() -> None:
    floats = _put(np.linspace(0.0, 1.0, 1000))
    raw = _put(np.arange(1000, dtype=np.uint8), uri=URI.replace("aa)", "bb)"))
    for body in (floats, raw):
        frame = bytearray(encode_message(_header(body), body))
        _h, got = decode_message(frame)
        item = got.data_arrays["0"].array.data.item
        if body is floats:
            assert np.shares_memory(item.values, np.frombuffer(frame, np.uint8))
            expected = item.values.copy()
        else:
            assert type(item) is bytes
            expected = item
        frame[:] = bytes(len(frame))  # the connection reuses its buffer
        uid = got.data_arrays["0"].uid
        assert uid == body.data_arrays["0"].uid and type(uid.uri) is str
        if body is floats:
            assert not np.array_equal(item.values, expected)  # a view sees the change
        else:
            assert item == expected


def test_a_header_extension_is_read_from_the_frame_view() -> None:
    body = _put(np.linspace(0.0, 1.0, 100))
    plain = encode_message(_header(body), body)
    extension = d.MessageHeaderExtension(extension={"k": d.DataValue(item="v")})
    ext_bytes = bytearray()
    COMPILED_CODEC.encoder(extension.etp_full_name)(extension, ext_bytes)
    header_bytes = b"".join(
        write_varint(v) for v in (9, 4, 0, 4, MessageFlags.FIN | MessageFlags.HEADER_EXTENSION)
    )
    frame = header_bytes + bytes(ext_bytes) + plain[5:]
    header, got_extension, got = decode_frame(frame)
    assert header.message_flags & MessageFlags.HEADER_EXTENSION
    assert got_extension == extension and got == body
    with pytest.raises(ETPDecodeError, match="truncated"):
        decode_frame(header_bytes + bytes(ext_bytes[:-1]))


def _metadata_frame() -> tuple[bytes, Any]:
    meta = d.DataArrayTypes.DataArrayMetadata(
        dimensions=[3],
        preferred_subarray_dimensions=[],
        transport_array_type="arrayOfDouble",
        logical_array_type="arrayOfDouble64LE",
        store_last_write=1,
        store_created=1,
        custom_data={},
    )
    body = m.DataArray.GetDataArrayMetadataResponse(array_metadata={"é": meta})
    return encode_message(_header(body), body), body


def test_hostile_dataarray_bytes_meet_the_generated_checks() -> None:
    frame, body = _metadata_frame()
    assert decode_message(frame)[1] == body
    key = frame.index("é".encode())
    with pytest.raises(ETPDecodeError, match="UTF-8"):
        decode_message(frame[:key] + b"\xff\xfe" + frame[key + 2 :])
    enum_at = key + 2 + 3 + 1  # after the key: dimensions [3], preferred dimensions []
    assert frame[enum_at] == 2 * 4  # zig-zag 4: arrayOfDouble is the 5th AnyArrayType symbol
    with pytest.raises(ETPDecodeError, match="index"):
        decode_message(frame[:enum_at] + write_varint(99) + frame[enum_at + 1 :])
    for cut in range(6, len(frame)):
        with pytest.raises(ETPDecodeError):
            decode_message(frame[:cut])
    values = _put(np.linspace(0.0, 1.0, 4))
    good = encode_message(_header(values), values)
    # after the path "/p": dimensions [4] (count 1, 4, end), then AnyArray's branch 4 (double)
    branch_at = good.index(b"/p\x02\x08\x00\x08") + 5
    with pytest.raises(ETPDecodeError, match="union branch"):
        decode_message(good[:branch_at] + write_varint(40) + good[branch_at + 1 :])


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.linspace(0.0, 1.0, 10), "double"),
        (np.arange(10, dtype="<f4"), "float"),
        (np.arange(10, dtype=np.int64), "long"),
        (np.arange(10, dtype=np.int32), "int"),
        (np.arange(10, dtype=np.uint8), "bytes"),
        (np.ones(10, dtype=bool), "boolean"),
    ],
)
def test_values_are_located_where_the_codec_reads_them(values: np.ndarray, kind: str) -> None:
    body = _put(values)
    frame = encode_message(_header(body), body)
    found = locate_values(memoryview(frame)[:-2], 5, body.etp_full_name)  # the end not needed
    assert found is not None and found[0] == kind
    count = write_varint(values.nbytes if kind == "bytes" else values.size)
    values_at = found[1] + len(count)
    assert frame[found[1] : values_at] == count
    if kind in ("double", "float", "bytes"):  # raw values follow their count
        assert frame[values_at : values_at + values.nbytes] == values.tobytes()
    with pytest.raises(ETPDecodeError):  # the frame ends before the values
        locate_values(memoryview(frame)[: found[1] - 1], 5, body.etp_full_name)


def test_locating_reads_with_every_check() -> None:
    strings = _put(np.array(["a", "b"]))
    frame = encode_message(_header(strings), strings)
    assert locate_values(memoryview(frame), 5, strings.etp_full_name) is None  # no such values
    body = _put(np.linspace(0.0, 1.0, 10))
    frame = encode_message(_header(body), body)
    at = frame.index(b"eml:")
    bad = frame[:at] + b"\xff" + frame[at + 1 :]
    with pytest.raises(ETPDecodeError, match="UTF-8"):
        locate_values(memoryview(bad), 5, body.etp_full_name)


def test_bytes_values_travel_from_any_contiguous_buffer() -> None:
    raw = np.arange(CUT_BYTES + 10, dtype=np.uint8)
    expected = _put(raw)
    frame = encode_message(_header(expected), expected)
    for item in (bytearray(raw.tobytes()), memoryview(raw), raw):
        body = _put(raw)
        object.__setattr__(body.data_arrays["0"].array.data, "item", item)
        assert encode_message(_header(body), body) == frame
        assert encoded_body_size(body) == len(frame) - 5
    body = _put(raw)
    object.__setattr__(body.data_arrays["0"].array.data, "item", raw[::2])  # not contiguous
    with pytest.raises(ETPEncodeError):
        encode_message(_header(body), body)
    with pytest.raises(ETPEncodeError):
        encoded_body_size(body)


def _double_blocks(*blocks: tuple[np.ndarray, bool]) -> bytes:
    """An Avro array<double> written in the given blocks (sized: negative count + byte size)."""
    out = b""
    for values, sized in blocks:
        count = write_varint(-values.size if sized else values.size)
        out += count + (write_varint(values.nbytes) if sized else b"") + values.tobytes()
    return out + b"\x00"


def test_numeric_blocks_are_read_by_the_generated_loop_in_both_codecs() -> None:
    a, b, c = np.arange(3.0), np.arange(5.0) + 10, np.array([-1.5])
    encoded = _double_blocks((a, False), (b, True), (c, False))
    expected = np.concatenate([a, b, c])
    name = d.DataValue.etp_full_name
    one = bytearray()  # a DataValue holding doubles: its first byte is the union index
    COMPILED_CODEC.encoder(name)(d.DataValue(item=d.ArrayOfDouble(values=a)), one)
    union_index = bytes(one[:1])
    frame = union_index + encoded
    for codec, data in ((COMPILED_CODEC, bytes(frame)), (ARRAY_CODEC, memoryview(frame))):
        value, end = codec.decoder(name)(data, 0)
        assert end == len(frame)
        assert value.item.values.tolist() == expected.tolist()
    single = union_index + _double_blocks((a, True))
    owned, _ = COMPILED_CODEC.decoder(name)(single, 0)
    viewed, _ = ARRAY_CODEC.decoder(name)(memoryview(single), 0)
    assert not np.shares_memory(owned.item.values, np.frombuffer(single, np.uint8))
    assert np.shares_memory(viewed.item.values, np.frombuffer(single, np.uint8))
    bad = union_index + write_varint(-3) + write_varint(25) + a.tobytes() + b"\x00"
    for codec, data in ((COMPILED_CODEC, bytes(bad)), (ARRAY_CODEC, memoryview(bad))):
        with pytest.raises(ETPDecodeError, match="byte size"):
            codec.decoder(name)(data, 0)
