"""The generated record codec, record constructors and the memos of the scalar varint helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _helpers import request_session_with_values

from etp_sync.codec import MessageFlags, MessageHeader, decode_message, encode_message
from etp_sync.codec._compiled import COMPILED_CODEC, CompiledCodec
from etp_sync.codec._numeric import read_recurring_varint, read_varint, write_varint
from etp_sync.errors import ETPDecodeError, ETPEncodeError, ETPInvalidArgument
from etp_sync.schema import Float32, Int32
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m


def _frame(body: Any, message_id: int = 2) -> bytes:
    header = MessageHeader(
        protocol=body.etp_protocol,
        message_type=body.etp_message_type,
        correlation_id=0,
        message_id=message_id,
        message_flags=MessageFlags.FIN,
    )
    return encode_message(header, body)


def _resource(**changes: Any) -> Any:
    fields = {
        "uri": "eml:///dataspace('a')/resqml20.obj_X(0e0b6f1c-4b5c-4e7d-9a47-9f1c2d3e4f50)",
        "name": "n",
        "last_changed": 1_700_000_000_000_000,
        "store_last_write": 1_700_000_000_000_001,
        "store_created": 1_700_000_000_000_000,
        "active_status": "Active",
    }
    return d.Object.Resource(**{**fields, **changes})


def test_write_varint_memo_answers_only_for_plain_ints() -> None:
    big = 1_700_000_000_000_000
    first = write_varint(big)
    assert write_varint(big) == first == write_varint(np.int64(big))
    assert read_varint(first, 0) == (big, len(first))
    with pytest.raises(TypeError):  # an equal float is still no long, memo or not
        write_varint(float(big))
    with pytest.raises(ETPEncodeError):
        write_varint(2**63)


def test_encoders_take_remembered_longs_only_for_plain_ints() -> None:
    """Generated encoders read the varint memo inline: a long met lately (a message's times,
    a length) is written from it, numpy ints alike; an equal float is still refused."""
    name = "Energistics.Etp.v12.Datatypes.Object.Resource"
    encode, decode = COMPILED_CODEC.encoder(name), COMPILED_CODEC.decoder(name)

    def encoded(**changes: Any) -> bytes:
        out = bytearray()
        encode(_resource(**changes), out)
        return bytes(out)

    big = 1_700_000_000_000_007
    first = encoded(last_changed=big)
    assert encoded(last_changed=big) == encoded(last_changed=np.int64(big)) == first
    assert decode(first, 0)[0].last_changed == big
    for value in (float(big), float(big + 1)):
        with pytest.raises(TypeError):  # what the message encoder reports as ETPEncodeError
            encoded(last_changed=value)
    text = "x" * 300  # a length over 63, met twice
    assert decode(encoded(name=text), 0)[0].name == decode(encoded(name=text), 0)[0].name == text


def test_recurring_varints_decode_like_read_varint() -> None:
    rng = np.random.default_rng(7)
    values = [int(v) for v in rng.integers(-(2**63), 2**63 - 1, 300, endpoint=True)]
    values += [1_700_000_000_000_000] * 5 + [200, -200, 70_000, 2**40] * 3
    data = b"".join(write_varint(v) for v in values)
    for suffix in (b"", b"\x01\x02\x03"):  # what follows a varint does not change it
        pos, got = 0, []
        buf = data + suffix
        while pos < len(data):
            value, end = read_recurring_varint(buf, pos)
            assert (value, end) == read_varint(buf, pos)
            got.append(value)
            pos = end
        assert got == values
    with pytest.raises(ETPDecodeError):
        read_recurring_varint(b"\x80\x80", 0)
    assert read_recurring_varint(bytearray(data), 0) == read_varint(data, 0)
    assert read_recurring_varint(memoryview(bytearray(data)), 0) == read_varint(data, 0)


def test_constructors_check_fields_and_give_fresh_defaults() -> None:
    a, b = _resource(), _resource()
    a.alternate_uris.append("eml:///x")
    a.custom_data["k"] = d.DataValue(item=1)
    assert b.alternate_uris == [] and b.custom_data == {}
    assert a.source_count is None and b.active_status is d.Object.ActiveStatusKind.Active
    with pytest.raises(ETPInvalidArgument, match="missing required field"):
        d.Object.Resource(uri="eml:///")
    with pytest.raises(ETPInvalidArgument, match="unexpected field"):
        _resource(nope=1)
    with pytest.raises(ETPInvalidArgument, match="unexpected field"):
        m.Core.Acknowledge(nope=1)
    with pytest.raises(ETPInvalidArgument, match="active_status"):
        _resource(active_status="Sleeping")
    with pytest.raises(ETPInvalidArgument, match="transaction_uuid"):
        m.Transaction.StartTransactionResponse(transaction_uuid=12)
    with pytest.raises(TypeError):
        d.Object.Dataspace("eml:///", "", 1, 2)  # type: ignore[misc]
    assert d.DataValue(item={"values": [1.5]}).item == {"values": [1.5]}  # no record branch


def test_union_branches_follow_the_value_type_after_caching() -> None:
    items = [5, Int32(5), 0.5, Float32(0.5), True, "s", b"b", None, 5, Int32(5), True]
    body = request_session_with_values(items)
    got = decode_message(_frame(body))[1].endpoint_capabilities
    for i, v in enumerate(items):
        assert type(got[str(i)].item) is type(v) and got[str(i)].item == v
    for _ in range(2):  # a refused type is refused every time, never cached as a branch
        bad = m.Core.Ping(current_date_time=1)
        bad.current_date_time = "soon"
        with pytest.raises(ETPEncodeError):
            _frame(bad)
        with pytest.raises(ETPEncodeError):
            _frame(m.Store.GetDataObjects(uris={"a": object()}))  # type: ignore[dict-item]


def test_record_fields_set_after_construction_are_checked_when_encoded() -> None:
    obj = d.Object.DataObject(resource=_resource(), data=b"<x/>")
    obj.resource = {  # a mapping of the record's fields is built into the record
        "uri": "eml:///",
        "name": "n",
        "last_changed": 1,
        "store_last_write": 2,
        "store_created": 3,
        "active_status": "Inactive",
    }
    body = decode_message(_frame(m.Store.PutDataObjects(data_objects={"1": obj})))[1]
    assert body.data_objects["1"].resource.active_status is d.Object.ActiveStatusKind.Inactive
    obj.resource = d.Object.Dataspace(uri="eml:///", store_last_write=1, store_created=1)
    with pytest.raises(ETPEncodeError, match="Resource"):
        _frame(m.Store.PutDataObjects(data_objects={"1": obj}))
    obj.resource = _resource(source_count=2**31)  # int fields keep to 32 bits
    with pytest.raises(ETPEncodeError):
        _frame(m.Store.PutDataObjects(data_objects={"1": obj}))
    obj.resource = _resource()
    obj.blob_id = b"short"  # a Uuid is 16 bytes
    with pytest.raises(ETPEncodeError):
        _frame(m.Store.PutDataObjects(data_objects={"1": obj}))


def test_decoded_values_own_their_bytes() -> None:
    body = m.Store.PutDataObjects(
        data_objects={"1": d.Object.DataObject(resource=_resource(), data=b"<x/>" * 100)}
    )
    for message_id in (2, 1 << 40):
        frame = _frame(body, message_id)
        assert decode_message(memoryview(frame))[0].message_id == message_id
        writable = bytearray(frame)
        header, got = decode_message(writable)
        writable[:] = bytes(len(frame))  # the connection may reuse its buffer
        assert header.message_id == message_id and got == body
        assert type(got.data_objects["1"].data) is bytes


def test_out_of_range_ints_and_bad_utf8_are_decode_errors() -> None:
    frame = _frame(m.Core.ProtocolException(error=d.ErrorInfo(message="é", code=11)))
    at = frame.index("é".encode())
    with pytest.raises(ETPDecodeError, match="UTF-8"):
        decode_message(frame[:at] + b"\xff\xfe" + frame[at + 2 :])
    big_code = frame[: at + 2] + write_varint(2**40) + frame[at + 3 :]
    with pytest.raises(ETPDecodeError, match="int value"):
        decode_message(big_code)


def test_generated_functions_are_built_once_per_type() -> None:
    name = d.Object.Resource.etp_full_name
    assert COMPILED_CODEC.encoder(name) is COMPILED_CODEC.encoder(name)
    assert COMPILED_CODEC.decoder(name) is COMPILED_CODEC.decoder(name)
    with pytest.raises(ETPInvalidArgument, match="not a record"):
        COMPILED_CODEC.decoder("Energistics.Etp.v12.Datatypes.Object.ActiveStatusKind")


def test_message_flags_are_plain_ints() -> None:
    assert type(MessageFlags.FIN) is int and MessageFlags.FIN | MessageFlags.COMPRESSED == 0x0A


def test_optional_fields_decode_alike_whatever_the_index_spelling() -> None:
    """A null branch index is read without the varint when it is the one byte 0; a longer
    spelling of 0, a branch 1 and a truncated index decode as before."""
    name = "Energistics.Etp.v12.Datatypes.Object.Resource"
    encode, decode = COMPILED_CODEC.encoder(name), COMPILED_CODEC.decoder(name)
    out = bytearray()
    encode(_resource(), out)
    plain = bytes(out)
    at = plain.index(b"\x00\x02n") + 3  # after the name: the source count's branch index
    assert plain[at : at + 2] == b"\x00\x00"
    assert decode(plain, 0)[0].source_count is None
    longer = plain[:at] + b"\x80\x00" + plain[at + 1 :]  # 0 spelt in two bytes
    record, end = decode(longer, 0)
    assert record.source_count is None and record.target_count is None and end == len(longer)
    counted = plain[:at] + b"\x02\x0e" + plain[at + 1 :]  # branch 1, int 7
    assert decode(counted, 0)[0].source_count == 7
    with pytest.raises(IndexError):
        decode(plain[:at], 0)


def test_two_byte_lengths_decode_like_read_varint() -> None:
    """Varints of one or two bytes are read inline: lengths either side of the one- and
    two-byte bounds decode, a negative two-byte length and a string cut inside its two-byte
    length are refused as with read_varint, and three-byte lengths still go by the call."""
    name = "Energistics.Etp.v12.Datatypes.Object.Resource"
    encode, decode = COMPILED_CODEC.encoder(name), COMPILED_CODEC.decoder(name)
    for n in (63, 64, 65, 8191, 8192, 20_000):
        out = bytearray()
        encode(_resource(name="é" * (n // 2) + "x" * (n % 2)), out)
        record, end = decode(bytes(out), 0)
        assert len(record.name.encode()) == n and end == len(out)
    out = bytearray()
    encode(_resource(), out)
    plain = bytes(out)
    at = plain.index(b"\x02n")  # the name's length, one byte
    negative = plain[:at] + write_varint(-100) + plain[at + 1 :]
    assert len(write_varint(-100)) == 2
    with pytest.raises(ETPDecodeError, match="truncated"):
        decode(negative, 0)
    with pytest.raises(IndexError):  # what the frame decoder reports as a truncated frame
        decode(plain[:at] + write_varint(100)[:1], 0)
    longer = plain[:at] + b"\x82\x00" + plain[at + 1 :]  # 1 spelt in two bytes
    assert decode(longer, 0)[0].name == "n"


def test_a_function_is_generated_alike_whatever_was_generated_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code cache (schema/_code_cache.py) is keyed by a function's source: a process that
    meets the same types in another order compiles nothing and stores nothing more."""
    from etp_sync.schema import _code_cache as cc

    names = [
        "Energistics.Etp.v12.Protocol.Store.PutDataObjects",
        "Energistics.Etp.v12.Protocol.DataArray.GetDataArrayMetadata",
        "Energistics.Etp.v12.Protocol.Core.RequestSession",
        "Energistics.Etp.v12.Datatypes.Object.Resource",
    ]
    monkeypatch.setattr(cc, "_default", cc.CodeCache(tmp_path))
    first = CompiledCodec()
    for name in names:
        first.decoder(name)
        first.encoder(name)
    assert len(list(tmp_path.iterdir())) == 2 * len(names)
    compiled: list[str] = []
    real = cc._compile
    monkeypatch.setattr(cc, "_compile", lambda s, f: compiled.append(f) or real(s, f))
    monkeypatch.setattr(cc, "_default", cc.CodeCache(tmp_path))  # another process
    second = CompiledCodec()
    for name in reversed(names):
        second.encoder(name)
        second.decoder(name)
    assert compiled == []
    assert len(list(tmp_path.iterdir())) == 2 * len(names)
    body = m.Store.PutDataObjects(
        data_objects={"0": d.Object.DataObject(resource=_resource(), data=b"<x/>")}
    )
    out = bytearray()
    second.encoder(body.etp_full_name)(body, out)
    assert second.decoder(body.etp_full_name)(bytes(out), 0) == (body, len(out))


def test_a_slow_code_cache_holds_up_no_other_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code cache may read or write a file: a thread whose compile is stuck there (a slow
    disk) must not keep the codec's lock, so another thread builds another type meanwhile;
    and a third thread meeting the stuck type compiles it too, the first installed serving
    both."""
    import threading

    from etp_sync.codec import _compiled

    codec = CompiledCodec()
    stuck_name = "D_" + _compiled._ident(d.Object.Resource.etp_full_name)
    entered, release = threading.Event(), threading.Event()
    real = _compiled.compile_definitions

    def slow(lines: list[str], where: str) -> Any:
        if where.endswith(stuck_name) and not entered.is_set():
            entered.set()
            assert release.wait(10), "the test never released the stuck compile"
        return real(lines, where)

    monkeypatch.setattr(_compiled, "compile_definitions", slow)
    results: dict[str, Any] = {}
    stuck = threading.Thread(
        target=lambda: results.setdefault("stuck", codec.decoder(d.Object.Resource.etp_full_name))
    )
    stuck.start()
    try:
        assert entered.wait(10)
        other = codec.decoder(m.Core.RequestSession.etp_full_name)  # not held up
        assert callable(other)
        same = codec.decoder(d.Object.Resource.etp_full_name)  # compiled again, installed
    finally:
        release.set()
        stuck.join(10)
    assert not stuck.is_alive()
    assert results["stuck"] is same is codec.decoder(d.Object.Resource.etp_full_name)
    out = bytearray()
    codec.encoder(d.Object.Resource.etp_full_name)(_resource(), out)
    assert same(bytes(out), 0) == (_resource(), len(out))
