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
    ("body", "says"),
    [
        (  # DataArray codec, not a str
            _array_message(datatypes.ArrayOfString(values=[1])),
            "data_arrays['0'].array.data.item.values[0]: 1 (int) is not a string",
        ),
        (  # no union branch for it
            _array_message(object()),
            "data_arrays['0'].array.data.item: <object object at 0x",
        ),
        (  # compiled path, not a str
            messages.Store.GetDataObjects(uris={"a": 1}),
            "uris['a']: 1 (int) is not a string",
        ),
        (messages.Core.Ping(current_date_time="now"), "current_date_time: 'now' (str) is not"),
    ],
)
def test_unencodable_fields_raise_encode_errors_naming_the_field(body: Any, says: str) -> None:
    with pytest.raises(ETPEncodeError) as encoded:
        encode_message(_header(body), body)
    assert f"cannot encode {body.etp_name}: {says}" in str(encoded.value)
    with pytest.raises(ETPEncodeError) as sized:
        encoded_body_size(body)
    assert str(sized.value) == str(encoded.value)


def test_values_set_past_the_constructor_are_named_by_their_path() -> None:
    times = dict.fromkeys(("last_changed", "store_last_write", "store_created"), 1)
    resource = datatypes.Object.Resource(uri="eml:///", name="n", active_status="Active", **times)
    body = messages.Store.PutDataObjects(
        data_objects={"k": datatypes.Object.DataObject(resource=resource, data=b"<x/>")}
    )
    # What the encoder takes as it is (a symbol's name, a UUID's text, a numpy int) is fine.
    resource.active_status = "Inactive"
    resource.last_changed = np.int64(5)
    body.data_objects["k"].blob_id = "6f1c2d9e-0a4b-4c55-9d0e-3b7f2a1c8e90"
    assert encoded_body_size(body) > 0
    cases = [
        (
            "last_changed",
            1 << 70,
            "resource.last_changed: 1180591620717411303424 (int) is not within Avro long",
        ),
        (
            "active_status",
            "Gone",
            "resource.active_status: 'Gone' (str) is not one of Active, Inactive",
        ),
        ("alternate_uris", ["a", 3], "resource.alternate_uris[1]: 3 (int) is not a string"),
        ("name", None, "resource.name: None (NoneType) is not a string"),
    ]
    for attr, value, says in cases:
        kept = getattr(resource, attr)
        setattr(resource, attr, value)
        with pytest.raises(ETPEncodeError) as raised:
            encode_message(_header(body), body)
        assert str(raised.value) == f"cannot encode PutDataObjects: data_objects['k'].{says}"
        setattr(resource, attr, kept)
    body.data_objects["k"].blob_id = "zz"
    with pytest.raises(ETPEncodeError, match=r"blob_id: 'zz' \(str\) is not null or Uuid"):
        encode_message(_header(body), body)


def test_encodable_bodies_are_sized_like_their_encoding() -> None:
    body = _array_message(datatypes.ArrayOfDouble(values=np.arange(5.0)))
    assert encoded_body_size(body) == len(encode_message(_header(body), body)) - 5


def test_only_records_are_encoded() -> None:
    with pytest.raises(ETPEncodeError):
        encoded_body_size("not a record")  # type: ignore[arg-type]
