"""Encoding a message whose fields cannot travel raises ETPEncodeError, whatever codec path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from etp_sync.codec import MessageHeader, encode_message, encoded_body_size
from etp_sync.errors import ETPEncodeError
from etp_sync.schema import datatypes, messages


def _header(body: Any) -> MessageHeader:
    return MessageHeader(
        protocol=body.etp_protocol,
        message_type=body.etp_message_type,
        correlation_id=0,
        message_id=2,
        message_flags=2,
    )


def _array_message(item: Any) -> Any:
    uid = datatypes.DataArrayTypes.DataArrayIdentifier(uri="eml:///", path_in_resource="/a")
    array = datatypes.DataArrayTypes.DataArray(
        dimensions=[1], data=datatypes.AnyArray(item=datatypes.ArrayOfString(values=["x"]))
    )
    body = messages.DataArray.PutDataArrays(
        data_arrays={"0": datatypes.DataArrayTypes.PutDataArraysType(uid=uid, array=array)}
    )
    # Fields are plain attributes: a caller may set a value no constructor would accept.
    object.__setattr__(body.data_arrays["0"].array.data, "item", item)
    return body


@pytest.mark.parametrize(
    "body",
    [
        _array_message(datatypes.ArrayOfString(values=[1])),  # DataArray codec, not a str
        _array_message(object()),  # no union branch for it
        messages.Store.GetDataObjects(uris={"a": 1}),  # fastavro path, not a str
        messages.Core.Ping(current_date_time="now"),  # not a long
    ],
)
def test_unencodable_fields_raise_encode_errors(body: Any) -> None:
    with pytest.raises(ETPEncodeError):
        encode_message(_header(body), body)
    with pytest.raises(ETPEncodeError):
        encoded_body_size(body)


def test_encodable_bodies_are_sized_like_their_encoding() -> None:
    body = _array_message(datatypes.ArrayOfDouble(values=np.arange(5.0)))
    assert encoded_body_size(body) == len(encode_message(_header(body), body)) - 5


def test_only_records_are_encoded() -> None:
    with pytest.raises(ETPEncodeError):
        encoded_body_size("not a record")  # type: ignore[arg-type]
