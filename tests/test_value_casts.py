"""Numeric ``ArrayOf*`` values are cast to their item type only when no value changes: a record
built with values that do not fit is refused (ETPInvalidArgument), and so is its encoding when
its values were replaced afterwards (ETPEncodeError), never sent wrapped or truncated."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from etp_sync import ETPEncodeError, ETPInvalidArgument
from etp_sync._value_casts import cast_within_range
from etp_sync.codec import MessageHeader, decode_message, encode_body, encode_message
from etp_sync.samples import epc_external_part_reference
from etp_sync.schema import datatypes as dt
from etp_sync.schema import messages

I32, I64, F32, B = (np.dtype(t) for t in (np.int32, np.int64, np.float32, np.bool_))

REFUSED = [
    (dt.ArrayOfInt, np.array([2**40 + 7, -(2**35)]), "do not fit int32"),
    (dt.ArrayOfInt, [2**31], "do not fit int32"),
    (dt.ArrayOfInt, np.array([1.7]), "fraction"),
    (dt.ArrayOfLong, np.array([np.nan]), "NaN"),
    (dt.ArrayOfLong, np.array([np.inf]), "infinity"),
    (dt.ArrayOfLong, np.array([2**63], dtype=np.uint64), "do not fit int64"),
    (dt.ArrayOfLong, np.array([2.0**63]), "do not fit int64"),
    (dt.ArrayOfLong, [2**70], "do not fit int64"),
    (dt.ArrayOfFloat, np.array([1e300]), "do not fit float32"),
    (dt.ArrayOfBoolean, np.array([0, 2]), "other than 0 and 1"),
]


@pytest.mark.parametrize(("cls", "values", "why"), REFUSED)
def test_a_record_refuses_values_its_item_type_would_change(
    cls: Any, values: Any, why: str
) -> None:
    with pytest.raises(ETPInvalidArgument, match=why):
        cls(values=values)


@pytest.mark.parametrize(("cls", "values", "why"), REFUSED)
def test_encoding_refuses_values_set_after_construction(cls: Any, values: Any, why: str) -> None:
    record = cls(values=[])
    record.values = np.asarray(values)
    with pytest.raises(ETPEncodeError, match=why):
        encode_body(record)


def test_the_dataarray_codec_refuses_values_that_do_not_fit() -> None:
    """PutDataArrays goes through the DataArray protocol's codec (values sent in place)."""
    T = dt.DataArrayTypes
    values = dt.ArrayOfInt(values=[1, 2])
    values.values = np.array([2**40 + 7, -(2**35)])
    body = messages.DataArray.PutDataArrays(
        data_arrays={
            "k": T.PutDataArraysType(
                uid=T.DataArrayIdentifier(uri="eml:///", path_in_resource="p"),
                array=T.DataArray(dimensions=[2], data=dt.AnyArray(item=values)),
            )
        }
    )
    header = MessageHeader(
        protocol=9, message_type=4, correlation_id=0, message_id=2, message_flags=2
    )
    with pytest.raises(ETPEncodeError, match="do not fit int32"):
        encode_message(header, body)
    values.values = np.array([7, -8])  # values that fit travel as they are
    _, back = decode_message(encode_message(header, body))
    assert back.data_arrays["k"].array.data.item.values.tolist() == [7, -8]


@pytest.mark.parametrize(
    ("cls", "values", "expected"),
    [
        (dt.ArrayOfInt, np.array([2**31 - 1, -(2**31)]), [2**31 - 1, -(2**31)]),
        (dt.ArrayOfInt, [1.0, -2.0], [1, -2]),
        (dt.ArrayOfInt, np.array([True, False]), [1, 0]),
        (dt.ArrayOfLong, np.array([2**63 - 1], dtype=np.uint64), [2**63 - 1]),
        (dt.ArrayOfLong, [2**40], [2**40]),
        (dt.ArrayOfFloat, np.array([1.5, -np.inf, 3.0]), [1.5, -np.inf, 3.0]),
        (dt.ArrayOfDouble, [1, 2], [1.0, 2.0]),
        (dt.ArrayOfBoolean, [0, 1, 1.0], [False, True, True]),
    ],
)
def test_values_that_fit_are_cast_and_round_trip(
    cls: Any, values: Any, expected: list[Any]
) -> None:
    record = cls(values=values)
    assert record.values.tolist() == expected
    wrapped = dt.AnyArray(item=record)
    assert (
        decode_message(
            encode_message(
                MessageHeader(
                    protocol=9, message_type=4, correlation_id=0, message_id=2, message_flags=2
                ),
                messages.DataArray.PutDataArrays(
                    data_arrays={
                        "k": dt.DataArrayTypes.PutDataArraysType(
                            uid=dt.DataArrayTypes.DataArrayIdentifier(
                                uri="eml:///", path_in_resource="p"
                            ),
                            array=dt.DataArrayTypes.DataArray(
                                dimensions=[len(expected)], data=wrapped
                            ),
                        )
                    }
                ),
            )
        )[1]
        .data_arrays["k"]
        .array.data.item.values.tolist()
        == expected
    )


def test_cast_within_range_rules() -> None:
    same = np.array([1, 2], dtype=np.int32)
    assert cast_within_range(same, I32) is same
    assert "fraction" in str(cast_within_range(np.array([0.5]), I64))
    assert cast_within_range(np.array([3.0, -4.0]), I32).tolist() == [3, -4]  # type: ignore[union-attr]
    assert cast_within_range(np.array([], dtype=np.float64), I32).size == 0  # type: ignore[union-attr]
    assert "0 and 1" in str(cast_within_range(np.array([-1]), B))
    assert "do not fit int64" in str(cast_within_range(np.array([2**70], dtype=object), I64))
    assert "float32" in str(cast_within_range(np.array([1e39, 1.0]), F32))


def test_a_put_of_values_that_do_not_fit_sends_nothing(harness: Any) -> None:
    """Over a real socket: the encode error comes before anything is written, and the session
    goes on (the server never saw a wrapped array)."""
    srv = harness.server(dataspaces=["test/casts"])
    session = harness.session(srv)
    ref = uuid.uuid4()
    epc = f"eml:///dataspace('test/casts')/eml20.obj_EpcExternalPartReference({ref})"
    session.put_data_objects({epc: epc_external_part_reference(ref)})
    values = dt.ArrayOfInt(values=[1, 2])
    values.values = np.array([2**40 + 7, 5])
    T = dt.DataArrayTypes
    put = messages.DataArray.PutDataArrays(
        data_arrays={
            "k": T.PutDataArraysType(
                uid=T.DataArrayIdentifier(uri=epc, path_in_resource="/a"),
                array=T.DataArray(dimensions=[2], data=dt.AnyArray(item=values)),
            )
        }
    )
    with pytest.raises(ETPEncodeError, match="do not fit int32"):
        session.send_and_recv(put)
    values.values = np.array([7, 5])
    session.send_and_recv(put)
    assert session.get_data_array(epc, "/a").tolist() == [7, 5]
