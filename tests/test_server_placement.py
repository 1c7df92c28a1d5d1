"""The server's in-place receipt of a put's values when the put never arrives whole.

A placed frame's values go into memory of their own before the frame has arrived (see
etp_sync.codec._placement.IncomingValues): a connection dropped midway must not keep that
memory alive once its session ended, not even until the cyclic garbage collector runs.
"""

from __future__ import annotations

import gc
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _hostile import OPCODE_BINARY, RawWebSocket, header_for, wait_until

from etp_sync.codec import encode_message
from etp_sync.codec._placement import IncomingValues
from etp_sync.codec.arrays import to_any_array
from etp_sync.errors import ErrorCode, ETPError
from etp_sync.schema import datatypes, messages
from etp_sync.server import EmbeddedServer, _session

MB = 1 << 20


class _Watched(IncomingValues):
    """IncomingValues whose values' memory is watched by weak reference."""

    __slots__ = ()
    made: list[weakref.ref[Any]] = []

    def _memory(self, at: Any, length: int) -> memoryview | None:
        spot = super()._memory(at, length)
        if self._dest is not None:
            _Watched.made.append(weakref.ref(self._dest))
        return spot


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(port=0) as srv:
        yield srv


def _put_frame(values: np.ndarray) -> bytes:
    uri = f"eml:///dataspace('held')/resqml20.obj_Grid2dRepresentation({uuid.uuid4()})"
    data, _types = to_any_array(values)
    body = messages.DataArray.PutDataArrays(
        data_arrays={
            "0": datatypes.DataArrayTypes.PutDataArraysType(
                uid=datatypes.DataArrayTypes.DataArrayIdentifier(uri=uri, path_in_resource="/v"),
                array=datatypes.DataArrayTypes.DataArray(dimensions=[values.size], data=data),
            )
        }
    )
    return encode_message(header_for(body, 2), body, compress=False)


@pytest.mark.timeout(60)
def test_a_put_dropped_midway_holds_no_placed_memory_after_its_session(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_session, "IncomingValues", _Watched)
    _Watched.made.clear()
    frame = _put_frame(np.ones(MB // 8 * 4))  # 4 MiB of doubles
    gc.disable()  # only reference counts free the memory now
    try:
        with RawWebSocket.open(server.port) as ws:
            ws.request_session()
            write = ws.start_frame(OPCODE_BINARY, len(frame))
            write(frame[: len(frame) // 2])  # half the values, then the connection drops
            assert server.wait_for_sessions(1, 10)
        assert server.wait_for_sessions(0, 10)
        assert len(_Watched.made) == 1
        # (the handler thread may still be returning when the session is counted out)
        freed = wait_until(lambda: _Watched.made[0]() is None, 10)
        assert freed, "the placed values outlived their session"
    finally:
        gc.enable()


def test_placed_puts_kept_as_blocks_count_against_max_store_bytes(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values received in place and kept as store blocks are counted like copied ones: the
    store's use grows by their bytes, and a put past max_store_bytes is refused."""
    limit = 8 * MB
    srv = harness.server(max_message_size=4 * MB, max_store_bytes=limit, dataspaces=["held/placed"])
    session = harness.session(srv, timeout=30)
    epc = f"eml:///dataspace('held/placed')/eml20.obj_EpcExternalPartReference({uuid.UUID(int=9)})"
    values = np.random.default_rng(3).random((700, 1000))  # 5.6 MB: blocks of ~1 MiB
    decode = _Watched.decode
    placed: list[int] = []

    def counting(self: Any, rest: Any) -> Any:
        placed.append(self.nbytes)
        return decode(self, rest)

    monkeypatch.setattr(_session, "IncomingValues", _Watched)
    monkeypatch.setattr(_Watched, "decode", counting)
    _Watched.made.clear()
    before = srv.store.used_bytes
    session.put_data_array(epc, "/a", values)
    assert sum(placed) == values.nbytes  # every value was received in place
    kept = list(_Watched.made)
    assert kept and all(ref() is not None for ref in kept)  # the store's blocks now
    used = srv.store.used_bytes - before
    assert values.nbytes <= used <= values.nbytes + 64 * 1024
    with pytest.raises(ETPError) as refused:
        session.put_data_array(epc, "/b", values)
    assert refused.value.code == ErrorCode.ELIMIT_EXCEEDED
    assert srv.store.used_bytes <= limit
    refused_values = _Watched.made[len(kept) :]
    assert refused_values  # the refused put's values were received in place too ...
    assert wait_until(lambda: all(ref() is None for ref in refused_values), 10)  # ... and freed
    np.testing.assert_array_equal(session.get_data_array(epc, "/a"), values)


def test_a_put_replacing_an_array_is_received_into_the_memory_of_the_one_before(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Puts that replace an array (in a transaction: the old version lives until the commit)
    are received into the memory of the version before last from the third put on, and every
    version reads back whole."""
    from etp_sync.server.store import _blockmem

    made: list[int] = []
    mapping = _blockmem.anonymous_mapping
    monkeypatch.setattr(_blockmem, "anonymous_mapping", lambda n: made.append(n) or mapping(n))
    srv = harness.server(max_message_size=8 * MB, max_store_bytes=None, dataspaces=["held/again"])
    session = harness.session(srv, timeout=30)
    epc = f"eml:///dataspace('held/again')/eml20.obj_EpcExternalPartReference({uuid.UUID(int=3)})"
    rng = np.random.default_rng(8)
    for put in range(4):
        values = rng.random((3000, 1000))  # 24 MB: blocks of ~8 MB
        before = len(made)
        session.put_data_array(epc, "/a", values)
        if put >= 2:
            assert len(made) == before, f"put {put} faulted fresh memory in"
        np.testing.assert_array_equal(session.get_data_array(epc, "/a"), values)
    assert len(made) >= 3  # the first two puts did
    assert srv.store.block_memory.idle_bytes <= srv.store.block_memory.keep_bytes
