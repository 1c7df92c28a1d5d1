"""A get naming the same big array or object under many keys holds about a message's worth of
its values while the reply is sent, not a copy per key: the server's memory is bounded by its
configuration (``max_message_size``), not by the number of keys a client names.

Memory is counted with tracemalloc (numpy's buffers included) over the whole request, the
client's receiving included: the client reads and drops one message at a time."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _hostile import FIN, RawWebSocket, open_session

from etp_sync import ETPSession, samples
from etp_sync.codec import decode_message, encode_body
from etp_sync.errors import ErrorCode
from etp_sync.schema import Record, datatypes, messages
from etp_sync.server import EmbeddedServer
from etp_sync.xmlinfo import parse_data_object

MB = 1 << 20
MESSAGE = 1 * MB  # the server's message size
KEYS = 40
DS = "eml:///dataspace('reply/memory')"
EPC = f"{DS}/eml20.obj_EpcExternalPartReference({uuid.UUID(int=5)})"
VALUES = np.arange(120_000, dtype="<f8")  # 960 KB: one array per message
BIG = samples.padded(samples.local_depth_crs(uuid.UUID(int=6)), 5 * MESSAGE // 2)  # 3 chunks
BIG_URI = f"{DS}/resqml20.obj_LocalDepth3dCrs({parse_data_object(BIG).uuid})"


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(host="127.0.0.1", port=0, max_message_size=MESSAGE) as srv:
        with ETPSession(srv.url) as session:
            session.put_dataspace(DS)
            session.put_data_array(EPC, "/v", VALUES)
            session.put_data_objects({BIG_URI: BIG})
        yield srv


def _peak_of_reply(ws: RawWebSocket, request: Record) -> tuple[int, list[tuple[str, Any]]]:
    """Peak bytes traced while ``request`` is answered, and (message name, digest) of each
    reply message; every message is dropped once read."""
    seen: list[tuple[str, Any]] = []
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        message_id = ws.send_etp(request)
        while True:
            header, body = decode_message(ws.recv_message(60.0))
            assert header.correlation_id == message_id
            seen.append((body.etp_name, _digest(body)))
            del body
            if header.message_flags & FIN:
                break
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, seen


def _digest(body: Any) -> Any:
    if body.etp_name == "GetDataArraysResponse":
        return sorted(
            (key, bool(np.array_equal(a.data.item.values, VALUES)))
            for key, a in body.data_arrays.items()
        )
    if body.etp_name == "GetDataObjectsResponse":
        return sorted(
            (key, len(d.data), d.blob_id is not None) for key, d in body.data_objects.items()
        )
    if body.etp_name == "Chunk":
        return len(body.data)
    return repr(body)[:200]


def test_a_get_of_one_array_under_many_keys_holds_a_few_messages(server: EmbeddedServer) -> None:
    ws = open_session(server.port, compression=False)
    try:
        uid = datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource="/v")
        request = messages.DataArray.GetDataArrays(data_arrays={str(i): uid for i in range(KEYS)})
        peak, seen = _peak_of_reply(ws, request)
    finally:
        ws.close()
    # Every key answered, each value right, one array per message (as before).
    assert [name for name, _ in seen] == ["GetDataArraysResponse"] * KEYS
    assert [d for _, d in seen] == [[(str(i), True)] for i in range(KEYS)]
    # Holding every key's copy before sending took KEYS x 960 KB (37 MiB): now a few
    # messages (about 7 MiB with the client's own).
    assert peak < 12 * MESSAGE, f"{peak / MB:.1f} MiB held for {KEYS} keys"


def test_a_get_of_one_big_object_under_many_keys_holds_a_few_chunks(
    server: EmbeddedServer,
) -> None:
    ws = open_session(server.port, compression=False)
    try:
        request = messages.Store.GetDataObjects(uris={str(i): BIG_URI for i in range(KEYS)})
        peak, seen = _peak_of_reply(ws, request)
    finally:
        ws.close()
    # Each key: a response with a blobId and no data, then its Chunks (as before).
    heads = [d for name, d in seen if name == "GetDataObjectsResponse"]
    assert heads == [[(str(i), 0, True)] for i in range(KEYS)]
    chunks = [d for name, d in seen if name == "Chunk"]
    assert len(chunks) == 3 * KEYS and sum(chunks) == KEYS * len(BIG)
    # Copying the object's chunks per key took KEYS x 2.5 MiB (100 MiB): now a few
    # messages (about 5 MiB with the client's own).
    assert peak < 12 * MESSAGE, f"{peak / MB:.1f} MiB held for {KEYS} keys"


@pytest.mark.parametrize("sizes", [[10] * 5, [300] * 40, [5000, 10, 5000, 10, 20000, 1]])
def test_a_streamed_map_is_split_as_split_map_splits_it(sizes: list[int]) -> None:
    """The messages stream_map makes (as entries come) are split_map's, byte for byte."""
    from etp_sync.server._common import split_map, stream_map

    entries = {
        f"k{i}": datatypes.DataArrayTypes.DataArray(
            dimensions=[n],
            data=datatypes.AnyArray(item=datatypes.ArrayOfDouble(values=np.full(n, i, "<f8"))),
        )
        for i, n in enumerate(sizes)
    }

    def make(part: dict[str, Any]) -> Record:
        return messages.DataArray.GetDataArraysResponse(data_arrays=part)

    def weigh(array: Any) -> int:
        return int(array.data.item.values.nbytes)

    def encoded(out: Any) -> list[bytes]:
        bodies = [encode_body(m) if isinstance(m, Record) else m for m in out]
        return [b"".join(memoryview(p).cast("B").tobytes() for p in b.parts) for b in bodies]

    limit = 64 * 1024
    expected = encoded(split_map(make, entries, limit))
    assert encoded(stream_map(make, iter(entries.items()), limit, weigh)) == expected


def test_a_failure_while_a_lazy_reply_is_sent_ends_it_with_an_error(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's values are read as the reply goes out: an unexpected failure then (after
    messages were sent) ends the exchange with EREQUEST_DENIED, and the session goes on."""
    store = server.store
    get_array = store.get_array
    calls: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("disk on fire")
        return get_array(*args, **kwargs)

    monkeypatch.setattr(store, "get_array", failing)
    uid = datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource="/v")
    ws = open_session(server.port, compression=False)
    try:
        bodies = ws.request(messages.DataArray.GetDataArrays(data_arrays={k: uid for k in "abcde"}))
        # The 4th read failed: the 1st key's message had gone (one array per message).
        assert [b.etp_name for b in bodies] == ["GetDataArraysResponse", "ProtocolException"]
        assert list(bodies[0].data_arrays) == ["a"]
        assert bodies[-1].error.code == ErrorCode.EREQUEST_DENIED
        assert "disk on fire" in bodies[-1].error.message
        monkeypatch.setattr(store, "get_array", get_array)
        [again] = ws.request(messages.DataArray.GetDataArrays(data_arrays={"a": uid}))
        assert np.array_equal(again.data_arrays["a"].data.item.values, VALUES)
    finally:
        ws.close()
