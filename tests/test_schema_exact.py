"""The project's own ETP 1.2 schema equals the official protocol file, type for type."""

from __future__ import annotations

from typing import Any

import pytest

from etp_sync import schema
from etp_sync.errors import ETPInvalidArgument
from etp_sync.schema._avro import named_json


def _normalise(t: Any) -> Any:
    """An avpr type reference in the plain Avro form our schema produces."""
    if isinstance(t, list):
        return [_normalise(b) for b in t]
    if isinstance(t, dict):
        if t["type"] == "array":
            return {"type": "array", "items": _normalise(t["items"])}
        if t["type"] == "map":
            return {"type": "map", "values": _normalise(t["values"])}
    return t


def _official(t: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": t["type"], "name": t["name"], "namespace": t["namespace"]}
    if t["type"] == "enum":
        out["symbols"] = t["symbols"]
    elif t["type"] == "fixed":
        out["size"] = t["size"]
    else:
        out["fields"] = []
        for f in t["fields"]:
            entry = {"name": f["name"], "type": _normalise(f["type"])}
            if "default" in f:
                entry["default"] = f["default"]
            out["fields"].append(entry)
    return out


def test_every_official_type_is_declared_exactly(avpr: dict[str, Any]) -> None:
    official = {t["fullName"]: t for t in avpr["types"]}
    assert len(official) == 212
    for full_name, t in official.items():
        ours = schema.model.types.get(full_name)
        assert ours is not None, f"{full_name} missing"
        assert named_json(ours) == _official(t), full_name


def test_message_numbers_roles_and_multipart_match(avpr: dict[str, Any]) -> None:
    messages = [t for t in avpr["types"] if "messageType" in t]
    assert len(messages) == 138
    assert sorted({int(t["protocol"]) for t in messages}) == [
        0, 1, 2, 3, 4, 5, 6, 7, 9, 13, 14, 16, 18, 21, 22, 24, 25, 2100
    ]  # fmt: skip
    for t in messages:
        cls = schema.message_class(int(t["protocol"]), int(t["messageType"]))
        assert cls.etp_full_name == t["fullName"]
        assert cls.etp_multipart is bool(t["multipartFlag"])
        assert cls.etp_sender.replace(" ", "") == t["senderRole"].replace(" ", "")
        roles = tuple(r.strip() for r in t["protocolRoles"].split(","))
        assert schema.PROTOCOLS[int(t["protocol"])].roles == roles


def test_only_the_osdu_extensions_are_added(avpr: dict[str, Any]) -> None:
    official = {t["fullName"] for t in avpr["types"]}
    extra = set(schema.model.types) - official
    assert extra == {
        f"Energistics.Etp.v12.Protocol.{p}.{n}"
        for p, names in {
            "StoreOSDU": ["CopyDataObjectsByValue", "CopyDataObjectsByValueResponse"],
            "DataspaceOSDU": [
                "GetDataspaceInfo",
                "GetDataspaceInfoResponse",
                "CopyDataspacesContent",
                "CopyDataspacesContentResponse",
                "LockDataspaces",
                "LockDataspacesResponse",
                "CopyToDataspace",
                "CopyToDataspaceResponse",
            ],
        }.items()
        for n in names
    }
    assert schema.message_class(2424, 5).etp_name == "LockDataspaces"
    assert schema.message_class(2404, 1).etp_fields == ("uri", "sourcesDepth", "dataObjectTypes")


def test_lookup_by_number_and_name() -> None:
    cls = schema.message_class(4, 1)
    assert cls is schema.messages.Store.GetDataObjects
    assert cls is schema.get_type("Energistics.Etp.v12.Protocol.Store.GetDataObjects")
    # ProtocolException and Acknowledge exist under every protocol number.
    assert schema.message_class(9, 1000) is schema.messages.Core.ProtocolException
    assert schema.message_class(2424, 1001) is schema.messages.Core.Acknowledge
    with pytest.raises(ETPInvalidArgument):
        schema.get_type("Energistics.Etp.v12.Protocol.Store.Nope")
    assert schema.protocol_number("Store") == 4
    with pytest.raises(ETPInvalidArgument):
        schema.protocol_number("Nope")


def test_classes_have_defaults_equality_and_short_repr() -> None:
    import numpy as np

    d = schema.datatypes
    obj = schema.messages.Store.GetDataObjects(uris={"a": "eml:///"})
    assert obj.format == "xml"
    assert obj == schema.messages.Store.GetDataObjects(uris={"a": "eml:///"}, format="xml")
    assert obj != schema.messages.Store.GetDataObjects(uris={"a": "eml:///"}, format="json")
    with pytest.raises(ETPInvalidArgument, match="missing required field"):
        schema.messages.Store.GetDataObjects()
    with pytest.raises(ETPInvalidArgument, match="unexpected field"):
        schema.messages.Store.GetDataObjects(uris={}, nope=1)
    big = d.ArrayOfDouble(values=np.zeros(10_000_000))
    text = repr(d.AnyArray(item=big))
    assert len(text) < 200 and "shape=(10000000,)" in text
    blob = d.Object.DataObject(
        resource=d.Object.Resource(
            uri="eml:///", name="n", last_changed=0, store_last_write=0, store_created=0,
            active_status="Active",
        ),
        data=b"x" * 10_000_000,
    )  # fmt: skip
    assert len(repr(blob)) < 1000
    assert blob.blob_id is None  # nullable unions default to None
    assert blob.resource.active_status is d.Object.ActiveStatusKind.Active
    assert d.Object.ContextScopeKind("sourcesOrSelf").index == 3
    assert schema.snake_case("correlationId") == "correlation_id"
    assert "pass_" in d.ChannelData.PassIndexedDepth.etp_attributes


def test_import_leaves_the_server_unloaded() -> None:
    """``import etp_sync`` stays light: the embedded server and its websockets library load on
    first use (the import time itself is measured by bench/timing.py)."""
    import subprocess
    import sys

    code = "import sys, etp_sync; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = [
        name
        for name in out.stdout.split()
        if name.split(".")[0] == "websockets" or name.startswith("etp_sync.server")
    ]
    assert "etp_sync.schema" in out.stdout.split() and heavy == []


def _resource(active_status: Any) -> Any:
    d = schema.datatypes
    times = {"last_changed": 0, "store_last_write": 0, "store_created": 0}
    return d.Object.Resource(uri="u", name="n", active_status=active_status, **times)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda d: _resource("Nope"), "active_status"),
        (lambda d: _resource(7), "active_status"),
        (lambda d: d.Object.DataObject(resource=d.Contact(), data=b""), "resource"),
        (lambda d: d.Object.DataObject(resource=1, data=b""), "resource"),
        (lambda d: d.ArrayOfDouble(values=["x"]), "values"),
        (lambda d: d.Object.DataObject(resource={"uri": 1}, data=b""), "Resource"),
    ],
)
def test_unusable_field_values_are_invalid_arguments(build: Any, field: str) -> None:
    assert _resource("Active").active_status is schema.datatypes.Object.ActiveStatusKind.Active
    with pytest.raises(ETPInvalidArgument, match=field):
        build(schema.datatypes)
