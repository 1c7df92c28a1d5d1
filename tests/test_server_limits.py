"""The store's limits (issue 9): memory bound, lazy arrays, parse outside the lock, transaction
timeout, deleted-record retention, and how the server advertises them."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pytest
from _hostile import open_session

from etp_sync import ETPSession, samples
from etp_sync.codec.arrays import to_any_array
from etp_sync.errors import ErrorCode, ETPDecodeError, StoreError
from etp_sync.schema import datatypes, messages
from etp_sync.server import EmbeddedServer, _capabilities
from etp_sync.server.store import Store, _core, _objects
from etp_sync.server.store._chunked import CHUNK_BYTES, ChunkedArray, chunk_shape
from etp_sync.server.store._dataspaces import MAX_DATASPACE_PATH
from etp_sync.xmlinfo import parse_data_object

DS = "eml:///dataspace('limits/test')"
EPC = f"{DS}/eml20.obj_EpcExternalPartReference({uuid.UUID(int=7)})"
MB = 1 << 20


def raises_code(code: ErrorCode) -> AbstractContextManager[Any]:
    return pytest.raises(StoreError, match=rf"\[{code.name} \({int(code)}\)\]")


def crs(ref: uuid.UUID | None = None, size: int = 0) -> bytes:
    xml = samples.local_depth_crs(ref or uuid.uuid4())
    return samples.padded(xml, size) if size else xml


def crs_uri(xml: bytes) -> str:
    return f"{DS}/resqml20.obj_LocalDepth3dCrs({parse_data_object(xml).uuid})"


class Clock:
    """Stands in for the ``time`` module of the store core: seconds that tests move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(_core, "time", fake)
    yield fake


def make_store(**options: Any) -> Store:
    s = Store(**options)
    s.put_dataspace(DS)
    return s


# -- chunked arrays -------------------------------------------------------------------------------


def test_chunk_shape_follows_c_order_within_the_budget() -> None:
    assert chunk_shape((1 << 28,), 8) == (CHUNK_BYTES // 8,)
    assert chunk_shape((1000, 1000, 1000), 8) == (1, 131, 1000)
    assert chunk_shape((3, 4), 8) == (3, 4)
    assert chunk_shape((0, 5), 4) == (1, 5)


def test_chunked_array_allocates_only_what_is_written() -> None:
    arr = ChunkedArray((1 << 28,), np.dtype(np.float64))
    assert arr.nbytes == 0
    assert arr.read((slice(5, 8),)).tolist() == [0.0, 0.0, 0.0]
    assert arr.nbytes == 0
    added = arr.write((slice(12345, 12346),), np.array([1.5]))
    assert added == CHUNK_BYTES == arr.nbytes
    assert arr.read((slice(12344, 12347),)).tolist() == [0.0, 1.5, 0.0]
    # A block straddling two chunks allocates both; values land where they belong.
    edge = CHUNK_BYTES // 8
    arr.write((slice(edge - 1, edge + 1),), np.array([2.0, 3.0]))
    assert arr.nbytes == 2 * CHUNK_BYTES
    assert arr.read((slice(edge - 2, edge + 2),)).tolist() == [0.0, 2.0, 3.0, 0.0]


def test_chunked_array_round_trips_n_d_blocks() -> None:
    rng = np.random.default_rng(1)
    data = rng.random((7, 300, 700))
    arr = ChunkedArray.from_array(data)
    assert arr.nbytes == data.nbytes
    np.testing.assert_array_equal(arr.whole(), data)
    index = (slice(2, 6), slice(100, 250), slice(3, 690))
    np.testing.assert_array_equal(arr.read(index), data[index])
    block = rng.random((4, 150, 687))
    arr.write(index, block)
    data[index] = block
    np.testing.assert_array_equal(arr.whole(), data)


def test_fork_copies_only_the_blocks_it_writes() -> None:
    base = ChunkedArray.from_array(np.arange(3 * CHUNK_BYTES // 8, dtype=np.float64))
    fork = base.fork()
    assert fork.held == 0 and fork.nbytes == base.nbytes
    assert fork.write((slice(0, 1),), np.array([-1.0])) == CHUNK_BYTES
    assert fork.held == CHUNK_BYTES
    assert base.read((slice(0, 2),)).tolist() == [0.0, 1.0]  # the origin is untouched
    assert fork.read((slice(0, 2),)).tolist() == [-1.0, 1.0]
    assert fork.write((slice(1, 2),), np.array([-2.0])) == 0  # its own block now
    fork.adopt()
    assert fork.held == fork.nbytes == base.nbytes


def test_string_blocks_count_their_lengths() -> None:
    arr = ChunkedArray((4,), np.dtype(object))
    assert arr.read((slice(0, 4),)).tolist() == ["", "", "", ""]
    assert arr.write((slice(0, 2),), np.array(["abc", "de"], dtype=object)) == 4 * 8 + 5
    assert arr.write((slice(0, 1),), np.array(["x"], dtype=object)) == -2
    assert arr.nbytes == 4 * 8 + 3


# -- store memory -------------------------------------------------------------------------------


def test_uninitialized_arrays_cost_their_records_and_written_blocks() -> None:
    s = make_store(max_store_bytes=64 * MB)
    for path in ("/a", "/b", "/c"):  # 3 x 2 GiB declared
        s.put_uninitialized_array(EPC, path, [1 << 28], np.float64)
    declared = s.used_bytes
    assert declared < 4096
    assert s.get_subarray(EPC, "/a", [100], [3]).tolist() == [0.0, 0.0, 0.0]
    tx = s.start_transaction("writer", [DS])
    s.put_subarray(EPC, "/a", [12345], [1], [1.5], tx=tx)
    assert declared < s.used_bytes - CHUNK_BYTES < 4096
    assert s.get_subarray(EPC, "/a", [12345], [1], tx=tx).tolist() == [1.5]
    assert s.get_subarray(EPC, "/a", [12345], [1]).tolist() == [0.0]  # not committed yet
    s.rollback_transaction(tx)
    assert s.used_bytes == declared
    tx = s.start_transaction("writer", [DS])
    s.put_subarray(EPC, "/a", [12345], [1], [2.5], tx=tx)
    s.commit_transaction(tx)
    assert s.get_subarray(EPC, "/a", [12344], [2]).tolist() == [0.0, 2.5]
    assert s.used_bytes == declared + CHUNK_BYTES


def test_transaction_writes_to_a_written_array_copy_one_block() -> None:
    s = make_store()
    s.put_array(EPC, "/a", np.zeros(4 * CHUNK_BYTES // 8))
    committed = s.used_bytes
    tx = s.start_transaction("writer", [DS])
    s.put_subarray(EPC, "/a", [0], [2], [1.0, 2.0], tx=tx)
    s.put_subarray(EPC, "/a", [5], [1], [3.0], tx=tx)
    assert s.used_bytes == committed + CHUNK_BYTES + _core.RECORD_BYTES
    s.commit_transaction(tx)
    assert s.used_bytes == committed
    assert s.get_subarray(EPC, "/a", [0], [6]).tolist() == [1.0, 2.0, 0.0, 0.0, 0.0, 3.0]


def test_store_refuses_writes_past_max_store_bytes() -> None:
    s = make_store(max_store_bytes=10 * MB)
    docs = [crs(size=3 * MB) for _ in range(4)]
    results, errors = s.put_objects(DS, {str(i): d for i, d in enumerate(docs)})
    assert sorted(results) == ["0", "1", "2"]
    [refused] = errors.values()
    assert refused.code == ErrorCode.ELIMIT_EXCEEDED and "max_store_bytes" in refused.message
    with raises_code(ErrorCode.ELIMIT_EXCEEDED):
        s.put_array(EPC, "/a", np.zeros(MB // 8 * 2))
    s.put_uninitialized_array(EPC, "/lazy", [1 << 24], np.float64)
    with raises_code(ErrorCode.ELIMIT_EXCEEDED):
        s.put_subarray(EPC, "/lazy", [0], [1 << 21], np.ones(1 << 21))
    s.delete_objects([crs_uri(docs[0])])
    _results, errors = s.put_objects(DS, {"again": docs[3]})
    assert not errors
    # What a transaction stages counts until it ends.
    tx = s.start_transaction("writer", [DS])
    room = 10 * MB - s.used_bytes
    s.put_array(EPC, "/staged", np.zeros((room - 1024) // 8), tx=tx)  # fits, with its record
    with raises_code(ErrorCode.ELIMIT_EXCEEDED):
        s.put_array(EPC, "/other", np.zeros(1024 // 8), tx=tx)
    s.rollback_transaction(tx)
    s.put_array(EPC, "/other", np.zeros(1024 // 8))
    s.delete_dataspace(DS)
    assert s.used_bytes == 0


def test_dataspaces_count_their_custom_data_until_deleted() -> None:
    s = Store(max_store_bytes=MB)
    big = {"blob": datatypes.DataValue(item="x" * (600 << 10))}
    s.put_dataspace(DS, custom_data=big)
    assert 600 << 10 < s.used_bytes < (600 << 10) + 1024
    other = "eml:///dataspace('limits/other')"
    with raises_code(ErrorCode.ELIMIT_EXCEEDED):
        s.put_dataspace(other, custom_data=big)
    assert [d.uri for d in s.get_dataspaces()] == [DS]
    s.delete_dataspace(DS)
    assert s.used_bytes == 0
    s.put_dataspace(other, custom_data=big)
    # Plain values of the Python API count too (by their sizes).
    s.delete_dataspace(other)
    s.put_dataspace(other, custom_data={"tags": ["y" * (600 << 10)]})
    assert s.used_bytes > 600 << 10


def test_dataspace_paths_are_bounded() -> None:
    s = Store()
    longest = "p/" + "q" * (MAX_DATASPACE_PATH - 2)
    s.put_dataspace(f"eml:///dataspace('{longest}')")
    with raises_code(ErrorCode.EINVALID_URI):
        s.put_dataspace(f"eml:///dataspace('{longest}q')")
    assert len(s.get_dataspaces()) == 1


def test_object_uris_and_deletion_records_count(clock: Clock) -> None:
    """A long dataspace path is repeated in every object URI and deletion record: both count,
    and a deletion record until it is pruned or its object comes back."""
    space = "p/" + "q" * 1000
    ds = f"eml:///dataspace('{space}')"
    s = Store(change_retention_period=60)
    s.put_dataspace(ds)
    empty = s.used_bytes
    xml = crs()
    uri = f"{ds}/resqml20.obj_LocalDepth3dCrs({parse_data_object(xml).uuid})"
    s.put_objects(ds, {"a": xml})
    assert s.used_bytes - empty == len(xml) + len(uri) + _core.RECORD_BYTES
    s.delete_objects([uri])
    assert s.used_bytes - empty == len(uri) + _core.DELETED_RECORD_BYTES
    s.put_objects(ds, {"a": xml})  # back: its deletion record goes
    s.delete_objects([uri])
    assert s.used_bytes - empty == len(uri) + _core.DELETED_RECORD_BYTES
    clock.now += 61
    assert s.get_deleted_resources(ds) == []
    assert s.used_bytes == empty
    s.put_objects(ds, {"a": xml})
    s.delete_objects([uri])
    s.delete_dataspace(ds)  # with its deletion records
    assert s.used_bytes == 0


def test_put_dataspaces_past_max_store_bytes_get_elimit_exceeded() -> None:
    with EmbeddedServer(max_store_bytes=MB) as srv, open_session(srv.port) as ws:
        big = {"blob": datatypes.DataValue(item="x" * (300 << 10))}
        request = messages.Dataspace.PutDataspaces(
            dataspaces={
                str(i): datatypes.Object.Dataspace(
                    uri=f"eml:///dataspace('limits/d{i}')",
                    store_last_write=0,
                    store_created=0,
                    custom_data=big,
                )
                for i in range(5)
            }
        )
        [ok, refused] = ws.request(request, timeout=30)
        assert sorted(ok.success) == ["0", "1", "2"]
        assert {k: e.code for k, e in refused.errors.items()} == {
            "3": ErrorCode.ELIMIT_EXCEEDED,
            "4": ErrorCode.ELIMIT_EXCEEDED,
        }
        long_path = "p/" + "q" * MAX_DATASPACE_PATH
        [refused] = ws.request(
            messages.Dataspace.PutDataspaces(
                dataspaces={
                    "x": datatypes.Object.Dataspace(
                        uri=f"eml:///dataspace('{long_path}')", store_last_write=0, store_created=0
                    )
                }
            )
        )
        assert refused.errors["x"].code == ErrorCode.EINVALID_URI


def test_replacing_a_staged_object_is_counted_once() -> None:
    s = make_store(max_store_bytes=10 * MB)
    ref = uuid.uuid4()
    tx = s.start_transaction("writer", [DS])
    for _ in range(5):
        _results, errors = s.put_objects(DS, {"x": crs(ref, 3 * MB)}, tx=tx)
        assert not errors
    assert 3 * MB < s.used_bytes < 4 * MB
    s.commit_transaction(tx)
    assert 3 * MB < s.used_bytes < 4 * MB


def test_object_size_limit() -> None:
    s = make_store(max_object_bytes=MB)
    _results, errors = s.put_objects(DS, {"big": crs(size=2 * MB), "ok": crs()})
    assert list(errors) == ["big"] and errors["big"].code == ErrorCode.EMAXSIZE_EXCEEDED


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_store_bytes"):
        Store(max_store_bytes=0)
    with pytest.raises(ValueError, match="transaction_timeout"):
        Store(transaction_timeout=-1)


def test_documents_are_parsed_outside_the_store_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_store()
    served: list[bool] = []

    def parse_while_another_call_runs(xml: bytes) -> Any:
        other = threading.Thread(target=lambda: served.append(bool(s.get_dataspaces())))
        other.start()
        other.join(10)  # a failure bound: it never blocks when the lock is free
        return parse(xml)

    parse = _objects.parse_data_object
    monkeypatch.setattr(_objects, "parse_data_object", parse_while_another_call_runs)
    _results, errors = s.put_objects(DS, {"x": crs()})
    assert not errors and served == [True]


# -- transaction timeout --------------------------------------------------------------------------


def test_idle_transaction_is_rolled_back_and_its_session_told(clock: Clock) -> None:
    s = make_store(transaction_timeout=10)
    empty = s.used_bytes  # the dataspace's record
    tx = s.start_transaction("idle", [DS])
    s.put_objects(DS, {"x": crs()}, tx=tx)
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        s.start_transaction("other", [DS])
    clock.now += 9
    s.get_objects([], tx=tx)  # a call through the transaction restarts its idle clock
    clock.now += 9
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        s.start_transaction("other", [DS])
    clock.now += 2
    other = s.start_transaction("other", [DS])
    assert s.transaction_of("idle") == tx  # still named, so writes do not escape it
    with raises_code(ErrorCode.ETIMED_OUT):
        s.put_objects(DS, {"y": crs()}, tx=tx)
    with raises_code(ErrorCode.ETIMED_OUT):
        s.commit_transaction(tx, "idle")
    assert s.transaction_of("idle") is None
    with raises_code(ErrorCode.EINVALID_STATE):
        s.commit_transaction(tx, "idle")
    s.commit_transaction(other, "other")
    assert s.used_bytes == empty  # the staged object went with the rollback


def test_timed_out_transaction_rolls_back_quietly_and_a_new_one_starts(clock: Clock) -> None:
    s = make_store(transaction_timeout=5)
    tx = s.start_transaction("idle", [DS])
    clock.now += 6
    s.rollback_transaction(tx, "idle")  # what the client wanted has happened
    assert s.transaction_of("idle") is None
    tx = s.start_transaction("idle", [DS])
    clock.now += 6
    assert s.transaction_of("idle") == tx
    with raises_code(ErrorCode.EINVALID_STATE):  # not another session's to end
        s.commit_transaction(tx, "other")
    again = s.start_transaction("idle", [DS])  # a new start forgets the timed-out one
    assert again != tx and s.transaction_of("idle") == again


def test_no_transaction_timeout(clock: Clock) -> None:
    s = make_store(transaction_timeout=None)
    tx = s.start_transaction("idle", [DS])
    clock.now += 1e6
    with raises_code(ErrorCode.EMAX_TRANSACTIONS_EXCEEDED):
        s.start_transaction("other", [DS])
    s.commit_transaction(tx, "idle")


# -- deleted-object records -----------------------------------------------------------------------


def test_deleted_records_are_pruned_after_the_retention_period(clock: Clock) -> None:
    s = make_store(change_retention_period=60)
    docs = [crs() for _ in range(3)]
    s.put_objects(DS, {str(i): d for i, d in enumerate(docs)})
    s.delete_objects([crs_uri(docs[0])])
    clock.now += 30
    s.delete_objects([crs_uri(docs[1]), crs_uri(docs[2])])
    assert len(s.get_deleted_resources(DS)) == 3
    clock.now += 31
    assert [d.uri for d in s.get_deleted_resources(DS)] == sorted(map(crs_uri, docs[1:]))
    clock.now += 30
    assert s.get_deleted_resources(DS) == []


def test_a_deleted_record_renewed_moves_to_the_end(clock: Clock) -> None:
    s = make_store(change_retention_period=60)
    first, second = crs(), crs()
    s.put_objects(DS, {"a": first, "b": second})
    s.delete_objects([crs_uri(first)])
    clock.now += 30
    s.delete_objects([crs_uri(second)])
    s.put_objects(DS, {"a": first})
    clock.now += 1
    s.delete_objects([crs_uri(first)])
    clock.now += 40  # first's earlier record would be 71 s old, its new one is 40 s
    assert sorted(d.uri for d in s.get_deleted_resources(DS)) == sorted(
        [crs_uri(first), crs_uri(second)]
    )


def test_earliest_retained_change_time_follows_creation_and_retention(clock: Clock) -> None:
    """The store answers for changes since it was created, and for deletions only within the
    retention period: the later of the two is its earliestRetainedChangeTime."""
    s = make_store(change_retention_period=60)
    assert s.created_us == 1000 * 10**6
    assert s.earliest_retained_change_us() == s.created_us
    doc = crs()
    s.put_objects(DS, {"a": doc})
    clock.now += 10
    s.delete_objects([crs_uri(doc)])  # deleted at 1010 s
    clock.now += 50
    assert s.earliest_retained_change_us() == s.created_us  # 1060 - 60 = the creation
    clock.now += 20
    assert s.earliest_retained_change_us() == 1020 * 10**6
    assert s.get_deleted_resources(DS) == []  # the 1010 s deletion is before it: pruned
    forever = make_store(change_retention_period=None)
    clock.now += 10**6
    assert forever.earliest_retained_change_us() == forever.created_us == 1080 * 10**6


# -- advertised --------------------------------------------------------------------------------


def test_advertised_capabilities_follow_the_store() -> None:
    s = Store(
        max_object_bytes=5 * MB,
        max_array_bytes=7 * MB,
        transaction_timeout=2.4,
        change_retention_period=90,
    )
    caps = _capabilities.advertised(s, 4 * MB)
    assert caps.endpoint == {
        "MaxWebSocketMessagePayloadSize": 4 * MB,
        "MaxDataObjectSize": 5 * MB,
        "ChangeRetentionPeriod": 90,
    }
    assert caps.protocols == {
        9: {"MaxDataArraySize": 7 * MB},
        18: {"TransactionTimeoutPeriod": 2},
    }
    assert caps.protocol_values(18)["TransactionTimeoutPeriod"].item == 2
    unlimited = _capabilities.advertised(
        Store(
            max_object_bytes=None,
            max_array_bytes=None,
            transaction_timeout=None,
            change_retention_period=None,
        ),
        4 * MB,
    )
    assert unlimited.endpoint == {"MaxWebSocketMessagePayloadSize": 4 * MB}
    assert unlimited.protocols == {}


def test_open_session_reports_the_earliest_retained_change_time(clock: Clock) -> None:
    """OpenSession's earliestRetainedChangeTime was always 0; it is the store's now."""
    with EmbeddedServer(change_retention_period=60) as srv:
        with ETPSession(srv.url) as session:
            assert session.server.earliest_retained_change_time == srv.store.created_us > 0
        clock.now += 100
        with ETPSession(srv.url) as session:
            assert session.server.earliest_retained_change_time == 1040 * 10**6


def test_open_session_and_the_well_known_endpoint_advertise_the_limits() -> None:
    with EmbeddedServer(transaction_timeout=30, change_retention_period=600) as srv:
        with ETPSession(srv.url) as session:
            info = session.server
        url = f"http://127.0.0.1:{srv.port}{_capabilities.WELL_KNOWN_PATH}"
        with urllib.request.urlopen(f"{url}?GetVersion=etp12.energistics.org") as reply:
            well_known = json.load(reply)
    assert info.protocols[18].capabilities["TransactionTimeoutPeriod"].item == 30
    assert info.protocols[9].capabilities["MaxDataArraySize"].item == srv.store.max_array_bytes
    assert info.endpoint_capabilities["ChangeRetentionPeriod"] == 600
    assert info.endpoint_capabilities["MaxDataObjectSize"] == srv.store.max_object_bytes
    protocols = {p["protocol"]: p for p in well_known["supportedProtocols"]}
    assert protocols[18]["protocolCapabilities"] == {
        "TransactionTimeoutPeriod": {"item": {"long": 30}}
    }
    assert well_known["endpointCapabilities"]["ChangeRetentionPeriod"] == {"item": {"long": 600}}
    assert info.protocols[5].capabilities["MaxSubscriptionSessionCount"].item == 1000
    assert protocols[5]["protocolCapabilities"] == {
        "MaxSubscriptionSessionCount": {"item": {"long": srv.max_subscriptions}}
    }


def _spy_block_memory(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes the store's block memory is asked for (every put's values are taken there)."""
    taken: list[int] = []
    empty = store.block_memory.empty

    def spy(size: int, dtype: Any) -> Any:
        taken.append(size)
        return empty(size, dtype)

    monkeypatch.setattr(store.block_memory, "empty", spy)
    return taken


def test_incoming_values_over_the_limits_are_refused_before_memory_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A put's values are checked against max_array_bytes and max_store_bytes by their count, at
    the smallest item their transport carries (arrayOfLong: uint32, arrayOfInt: int8), before
    any memory is taken for them: a varint takes one byte on the wire and 4 or 8 decoded."""
    s = make_store(max_array_bytes=MB, max_store_bytes=None)
    taken = _spy_block_memory(s, monkeypatch)
    assert s.incoming_values(MB // 4, np.dtype("<i8")).shape == (MB // 4,)
    assert s.incoming_values(MB, np.dtype("<i4")).shape == (MB,)
    assert s.incoming_values(MB // 8, np.dtype("<f8")).shape == (MB // 8,)
    assert taken == [MB // 4, MB, MB // 8]
    for size, dtype in ((MB // 4 + 1, "<i8"), (MB + 1, "<i4"), (MB // 8 + 1, "<f8")):
        with pytest.raises(ETPDecodeError) as refused:
            s.incoming_values(size, np.dtype(dtype))
        assert refused.value.code == ErrorCode.ELIMIT_EXCEEDED
        assert "max_array_bytes" in refused.value.message
    s = make_store(max_array_bytes=None, max_store_bytes=MB)
    taken = _spy_block_memory(s, monkeypatch)
    with pytest.raises(ETPDecodeError) as refused:
        s.incoming_values(MB // 4 + 1, np.dtype("<i8"))
    assert refused.value.code == ErrorCode.ELIMIT_EXCEEDED
    assert "max_store_bytes" in refused.value.message
    assert taken == []


def _long_put(count: int) -> Any:
    data, _types = to_any_array(np.zeros(count, dtype=np.int64))  # one byte per varint
    return messages.DataArray.PutDataArrays(
        data_arrays={
            "0": datatypes.DataArrayTypes.PutDataArraysType(
                uid=datatypes.DataArrayTypes.DataArrayIdentifier(uri=EPC, path_in_resource="/v"),
                array=datatypes.DataArrayTypes.DataArray(dimensions=[count], data=data),
            )
        }
    )


@pytest.mark.timeout(60)
def test_a_varint_put_over_max_array_bytes_is_refused_before_it_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300,000 varints of one byte (a frame of ~300 KB, received in place) would decode to 2.4
    MB, over max_array_bytes: the put is refused with ELIMIT_EXCEEDED and no memory is taken
    for its values; one under the limit (960 KB) is stored."""
    with EmbeddedServer(port=0, max_array_bytes=MB) as srv:
        srv.store.put_dataspace(DS)
        taken = _spy_block_memory(srv.store, monkeypatch)
        with open_session(srv.port) as ws:
            [refused] = ws.request(_long_put(300_000))
            assert refused.etp_name == "ProtocolException"
            assert refused.error.code == ErrorCode.ELIMIT_EXCEEDED
            assert taken == []
            [stored] = ws.request(_long_put(120_000))
            assert stored.etp_name == "PutDataArraysResponse" and list(stored.success) == ["0"]
        assert taken == [120_000]
        assert srv.store.get_array_metadata(EPC, "/v").dimensions == (120_000,)
