"""Bad input gets a clear ETPDecodeError and nothing worse: no other exception, no hang."""

from __future__ import annotations

import gzip
import tracemalloc
import uuid
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etp_sync import ETPDecodeError, ETPError
from etp_sync.codec import MessageFlags, MessageHeader, decode_message, encode_message
from etp_sync.codec._numeric import write_varint
from etp_sync.errors import ErrorCode
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m


def _frame(body: object, flags: int = 2, compress: bool = False) -> bytes:
    header = MessageHeader(
        protocol=body.etp_protocol,  # type: ignore[attr-defined]
        message_type=body.etp_message_type,  # type: ignore[attr-defined]
        correlation_id=0,
        message_id=2,
        message_flags=flags,
    )
    return encode_message(header, body, compress=compress)  # type: ignore[arg-type]


def _samples() -> list[bytes]:
    uid = d.DataArrayTypes.DataArrayIdentifier(uri="eml:///", path_in_resource="/p")
    resource = d.Object.Resource(
        uri="eml:///dataspace('a/b')/resqml20.obj_X(0e0b6f1c-4b5c-4e7d-9a47-9f1c2d3e4f50)",
        name="title",
        last_changed=1,
        store_last_write=2,
        store_created=3,
        active_status="Active",
    )
    return [
        _frame(m.Store.GetDataObjects(uris={"1": "eml:///", "2": "eml:///dataspace('a/b')"})),
        _frame(m.Store.PutDataObjects(data_objects={"a": d.Object.DataObject(resource=resource,
                                                                             data=b"<x/>")})),
        _frame(
            m.DataArray.PutDataArrays(
                data_arrays={
                    "0": d.DataArrayTypes.PutDataArraysType(
                        uid=uid,
                        array=d.DataArrayTypes.DataArray(
                            dimensions=[2, 3],
                            data=d.AnyArray(item=d.ArrayOfLong(values=np.arange(-3, 3))),
                        ),
                    )
                }
            )
        ),
        _frame(
            m.DataArray.GetDataArraysResponse(
                data_arrays={
                    "0": d.DataArrayTypes.DataArray(
                        dimensions=[4],
                        data=d.AnyArray(item=d.ArrayOfDouble(values=np.arange(4.0))),
                    )
                }
            )
        ),
        _frame(m.Core.Ping(current_date_time=123456789)),
        _frame(m.Transaction.StartTransactionResponse(transaction_uuid=uuid.uuid4())),
    ]  # fmt: skip


SAMPLES = _samples()


def _decode_or_clean_error(frame: bytes) -> None:
    try:
        decode_message(frame, max_size=1 << 20)
    except ETPDecodeError as exc:
        assert str(exc)


@pytest.mark.parametrize("frame", SAMPLES)
def test_every_truncation_is_a_decode_error(frame: bytes) -> None:
    decode_message(frame)  # the whole frame is fine
    for cut in range(len(frame)):
        with pytest.raises(ETPDecodeError):
            decode_message(frame[:cut])


@pytest.mark.parametrize("frame", SAMPLES)
def test_trailing_bytes_are_a_decode_error(frame: bytes) -> None:
    with pytest.raises(ETPDecodeError, match="trailing"):
        decode_message(frame + b"\x00")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_frames_never_raise_anything_else(frame: bytes, data: st.DataObject) -> None:
    mutated = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] = data.draw(st.integers(0, 255))
    _decode_or_clean_error(bytes(mutated))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(raw: bytes) -> None:
    _decode_or_clean_error(raw)


def test_unknown_protocol_and_message_type() -> None:
    hdr = b"".join(write_varint(v) for v in (77, 1, 0, 2, 2))
    with pytest.raises(ETPDecodeError) as info:
        decode_message(hdr)
    assert info.value.code == 4
    hdr = b"".join(write_varint(v) for v in (4, 99, 0, 2, 2))
    with pytest.raises(ETPDecodeError) as info:
        decode_message(hdr)
    assert info.value.code == 3


def _peak_bytes_of_failing_decode(frame: bytes) -> int:
    """Decode ``frame``, which must fail with ETPDecodeError; the peak memory it allocated."""
    tracemalloc.start()
    try:
        with pytest.raises(ETPDecodeError):
            decode_message(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_huge_counts_and_lengths_fail_without_allocating() -> None:
    """A claimed count or length is checked against the bytes left before anything is allocated
    for it (how fast these fail: bench/timing.py)."""
    hdr = b"".join(write_varint(v) for v in (4, 1, 0, 2, 2))
    for body in (
        write_varint(2**62) + b"\x02a",  # map count far past the end
        write_varint(1) + write_varint(2**60) + b"a",  # key length past the end
        write_varint(-(2**40)) + write_varint(-5),  # negative block, negative size
    ):
        assert _peak_bytes_of_failing_decode(hdr + body) < 1 << 20
    # Array path: a double array claiming 2**60 items.
    hdr9 = b"".join(write_varint(v) for v in (9, 1, 0, 2, 2))
    body = write_varint(1) + b"\x020" + write_varint(1) + write_varint(1) + write_varint(4)
    body += write_varint(2**60) + b"\x00" * 16
    assert _peak_bytes_of_failing_decode(hdr9 + body) < 1 << 20


def test_bad_union_and_enum_indexes() -> None:
    hdr = b"".join(write_varint(v) for v in (0, 1000, 0, 2, 2))
    with pytest.raises(ETPDecodeError):
        decode_message(hdr + write_varint(7))  # union [null, ErrorInfo] has 2 branches
    hdr = b"".join(write_varint(v) for v in (25, 1, 0, 2, 2))
    with pytest.raises(ETPDecodeError):
        decode_message(hdr + write_varint(0) + write_varint(9) + b"\x00\x00")  # scope index 9


def test_gzip_bomb_is_refused_and_good_gzip_accepted() -> None:
    body = m.Store.GetDataObjects(uris={str(i): "eml:///" + "x" * 100 for i in range(2000)})
    frame = _frame(body, compress=True)
    assert decode_message(frame)[1] == body
    header, _ = decode_message(frame)
    assert header.message_flags & MessageFlags.COMPRESSED
    with pytest.raises(ETPDecodeError, match="maximum message size"):
        decode_message(frame, max_size=10_000)
    hdr = b"".join(write_varint(v) for v in (4, 1, 0, 2, 2 | 8))
    with pytest.raises(ETPDecodeError):
        decode_message(hdr + b"not gzip")
    bomb = gzip.compress(b"\x00" * (50 << 20))
    with pytest.raises(ETPDecodeError):
        decode_message(hdr + bomb, max_size=1 << 20)


def test_gzip_body_at_exactly_the_limit_decodes() -> None:
    body = m.Store.GetDataObjects(uris={str(i): "eml:///" + "y" * 50 for i in range(300)})
    plain, packed = _frame(body), _frame(body, compress=True)
    body_size = len(plain) - 5  # the five one-byte header varints stay uncompressed
    assert decode_message(packed, max_size=body_size)[1] == body
    with pytest.raises(ETPDecodeError) as info:
        decode_message(packed, max_size=body_size - 1)
    assert info.value.code == ErrorCode.EMAXSIZE_EXCEEDED


def test_gzip_bomb_inflates_no_further_than_the_limit() -> None:
    """256 MiB of zeros in ~256 KiB: refused having produced at most the 1 MiB limit."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = b"".join([*(packer.compress(zeros) for _ in range(256)), packer.flush()])
    hdr = b"".join(write_varint(v) for v in (4, 2, 0, 2, 2 | 8))
    tracemalloc.start()
    try:
        with pytest.raises(ETPDecodeError) as info:
            decode_message(hdr + bomb, max_size=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == ErrorCode.EMAXSIZE_EXCEEDED
    assert peak < len(bomb) + (4 << 20)


@pytest.mark.parametrize("after", [b"JUNK", gzip.compress(b"\x00")], ids=["junk", "member"])
def test_bytes_after_the_gzip_stream_are_a_decode_error(after: bytes) -> None:
    """As trailing bytes after an uncompressed body are: junk, or a second gzip member (which
    ETP peers never write) would otherwise be dropped unread."""
    body = m.Store.GetDataObjects(uris={str(i): "eml:///" + "z" * 60 for i in range(100)})
    frame = _frame(body, compress=True)
    assert decode_message(frame)[1] == body
    with pytest.raises(ETPDecodeError, match=f"{len(after)} trailing bytes after the gzip"):
        decode_message(frame + after)


def test_core_messages_are_never_compressed() -> None:
    frame = _frame(m.Core.Ping(current_date_time=1), compress=True)
    header, _ = decode_message(frame)
    assert not header.message_flags & MessageFlags.COMPRESSED
    hdr = b"".join(write_varint(v) for v in (0, 8, 0, 2, 2 | 8))
    with pytest.raises(ETPDecodeError) as info:
        decode_message(hdr + gzip.compress(write_varint(1)))
    assert info.value.code == 13


def test_decode_errors_belong_to_the_etp_error_family() -> None:
    assert issubclass(ETPDecodeError, ETPError)
    with pytest.raises(ETPError):
        decode_message(b"")


@pytest.mark.parametrize(
    "values",
    [
        np.array([], dtype=np.int64),
        np.array([0, -1, 1, 63, -64, 64, 2**31 - 1, -(2**31), 2**62, -(2**63), 2**63 - 1]),
        np.random.default_rng(3).integers(-(2**63), 2**63 - 1, 200_000, endpoint=True),
        np.random.default_rng(4).integers(0, 1000, 150_000),
        np.random.default_rng(5).random(1000),
        np.array([True, False, True]),
    ],
)
def test_encoded_body_size_equals_the_encoding(values: np.ndarray) -> None:
    """Sizes computed without encoding the arrays match the real frames byte for byte."""
    from etp_sync.codec import encoded_body_size

    record = {"f": d.ArrayOfDouble, "b": d.ArrayOfBoolean}.get(values.dtype.kind, d.ArrayOfLong)
    uid = d.DataArrayTypes.DataArrayIdentifier(uri="eml:///", path_in_resource="/p")
    body = m.DataArray.PutDataArrays(
        data_arrays={
            "0": d.DataArrayTypes.PutDataArraysType(
                uid=uid,
                array=d.DataArrayTypes.DataArray(
                    dimensions=[values.size], data=d.AnyArray(item=record(values=values))
                ),
                custom_data={"k": d.DataValue(item="v")},
            )
        }
    )
    frame = _frame(body)
    header_size = len(b"".join(write_varint(v) for v in (9, 4, 0, 2, 2)))
    assert encoded_body_size(body) == len(frame) - header_size
    ping = m.Core.Ping(current_date_time=5)
    assert encoded_body_size(ping) == len(_frame(ping)) - len(
        b"".join(write_varint(v) for v in (0, 8, 0, 2, 2))
    )
