"""Transactions of the calls layer: all-or-nothing writes, one writer at a time, bound blocks.

Every test talks to an :class:`~etp_sync.server.EmbeddedServer` over a real socket; drops are
made with ``server.drop_connections()`` from a ``progress`` callback, i.e. halfway through a
write, and the tests synchronise on events only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from _faults import FaultProxy
from conftest import Harness, connection_loss

from etp_sync import (
    DataObjectURI,
    ETPDecodeError,
    ETPError,
    ETPProtocolError,
    ETPSession,
    ETPSessionClosed,
    ETPTimeout,
    TransactionError,
    samples,
)
from etp_sync.calls._array_decode import decode
from etp_sync.calls._array_meta import ArrayMetadata
from etp_sync.codec.arrays import to_any_array
from etp_sync.server import EmbeddedServer
from etp_sync.server._handlers import HANDLERS

DS, DS2 = "tx/main", "tx/other"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "0c5f6a1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
)
EPC2 = DataObjectURI.from_type(
    DS2, "eml20.obj_EpcExternalPartReference", "1d6a7b2f-3c4e-4f6a-9b0c-1d2e3f4a5b6c"
)
SMALL = 64 * 1024  # max_message_size that splits the writes below into many requests


class Recorder:
    """Records the names of the requests a session sends (after they are answered)."""

    def __init__(self, session: ETPSession) -> None:
        self.sent: list[str] = []
        request, send = session.request, session.send

        def recording_request(message: Any, **kwargs: Any) -> Any:
            self.sent.append((message[0] if isinstance(message, list) else message).etp_name)
            return request(message, **kwargs)

        def recording_send(message: Any, **kwargs: Any) -> Any:
            self.sent.append(message.etp_name)
            return send(message, **kwargs)

        session.request = recording_request  # type: ignore[method-assign]
        session.send = recording_send  # type: ignore[method-assign]

    def count(self, name: str) -> int:
        return self.sent.count(name)


def spaces(server: EmbeddedServer) -> EmbeddedServer:
    for space in (DS, DS2):
        server.store.put_dataspace(f"eml:///dataspace('{space}')")
    return server


@pytest.fixture()
def rig(harness: Harness) -> Callable[..., tuple[ETPSession, EmbeddedServer]]:
    """Factory: an embedded server with DS and DS2 and a connected session (``session``
    keyword arguments go to the session, the rest to the server)."""

    def make(
        session: dict[str, Any] | None = None, **server_kwargs: Any
    ) -> tuple[ETPSession, EmbeddedServer]:
        srv = spaces(harness.server(**server_kwargs))
        options = {"timeout": 20, "max_message_size": SMALL, **(session or {})}
        return harness.session(srv, **options), srv

    return make


@pytest.fixture()
def proxied(harness: Harness) -> Iterator[Callable[..., tuple[ETPSession, FaultProxy]]]:
    """Factory: a session (keyword arguments) reaching a server with DS and DS2 through a
    :class:`FaultProxy`, which cuts connections mid-message when told to."""
    proxies: list[FaultProxy] = []

    def make(**session: Any) -> tuple[ETPSession, FaultProxy]:
        proxy = FaultProxy(spaces(harness.server()))
        proxies.append(proxy)
        proxy.start()
        options = {"timeout": 20, "max_message_size": SMALL, **session}
        return harness.session(proxy.url, **options), proxy

    yield make
    for proxy in proxies:
        proxy.stop()


def dropper(server: EmbeddedServer, after: int) -> Callable[[int, int], None]:
    """A progress callback that drops every connection once ``after`` bytes are done."""
    fired = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= after and not fired.is_set():
            fired.set()
            server.drop_connections()

    return progress


def wells(count: int, padding: int) -> list[bytes]:
    return [samples.padded(samples.witsml_well(uuid.uuid4()), padding) for _ in range(count)]


# -- all-or-nothing writes ---------------------------------------------------------------------


def test_a_write_of_many_requests_runs_in_one_transaction(rig: Any) -> None:
    session, srv = rig()
    recorder = Recorder(session)
    array = np.random.default_rng(1).random(40_000)  # 320 kB: several blocks
    session.put_data_array(EPC, "big", array)
    assert recorder.sent[0] == "StartTransaction" and recorder.sent[-1] == "CommitTransaction"
    assert recorder.count("PutDataSubarrays") > 1
    assert np.array_equal(srv.store.get_array(str(EPC), "big"), array)

    recorder.sent.clear()
    stored = session.put_data_objects(wells(12, 16_000), dataspace=DS)  # several batches
    assert recorder.count("PutDataObjects") > 1 and recorder.count("StartTransaction") == 1
    assert recorder.sent[-1] == "CommitTransaction"
    assert set(stored) <= set(session.get_resources(DS).uris)
    assert session.transaction_manager.current is None


def test_a_dropped_put_is_sent_again_as_a_whole(rig: Any) -> None:
    session, srv = rig()
    old, new = np.zeros(40_000), np.random.default_rng(2).random(40_000)
    srv.store.put_array(str(EPC), "big", old)
    recorder = Recorder(session)
    session.put_data_array(EPC, "big", new, progress=dropper(srv, new.nbytes // 3))
    # The whole write went again in a second transaction. With blocks in flight, the first
    # CommitTransaction may already be on the wire when the cut lands (its answer is then lost):
    # it is sent once or twice, never more, and the stored array is the new one either way.
    assert recorder.count("StartTransaction") == 2
    assert recorder.count("CommitTransaction") in (1, 2)
    assert recorder.sent[-1] == "CommitTransaction"
    assert np.array_equal(srv.store.get_array(str(EPC), "big"), new)


def test_a_delete_whose_commit_went_unconfirmed_is_not_sent_again(
    rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-request delete on a server that demands transactions runs in a transaction of its
    own. When the commit is applied but its answer lost, the delete must not run again (it
    would fail on the objects it deleted): the outcome is unknown, and the error says so."""
    session, _srv = rig(require_transactions=True)
    (uri,) = session.put_data_objects([samples.local_depth_crs(uuid.uuid4())], dataspace=DS)
    commit, cut = HANDLERS[(18, 3)], threading.Event()

    def commit_then_drop(server_session: Any, header: Any, body: Any) -> Any:
        reply = commit(server_session, header, body)  # applied...
        if cut.is_set():
            cut.clear()
            server_session.transport.abort()  # ...and its answer never arrives
            return None
        return reply

    monkeypatch.setitem(HANDLERS, (18, 3), commit_then_drop)
    recorder = Recorder(session)
    cut.set()
    with pytest.raises(TransactionError, match="outcome is unknown"):
        session.delete_data_objects([uri])
    assert recorder.count("DeleteDataObjects") == 1
    assert uri not in session.get_resources(DS).uris  # the commit was applied
    session.put_data_objects([samples.local_depth_crs(uuid.uuid4())], dataspace=DS)  # goes on


def test_a_commit_into_a_dataspace_deleted_and_created_again_applies_nothing(
    rig: Any, harness: Harness
) -> None:
    session, srv = rig()
    other = harness.session(srv)
    with pytest.raises(TransactionError, match="deleted meanwhile"), session.transaction(DS):
        session.put_data_objects([samples.local_depth_crs(uuid.uuid4())], dataspace=DS)
        other.delete_dataspace(DS)
        other.put_dataspace(DS)
    assert not other.get_resources(DS).uris


def test_without_transactions_an_interrupted_write_says_it_is_not_atomic(proxied: Any) -> None:
    session, proxy = proxied(protocols=(3, 4, 9, 24))  # no Transaction protocol (18)
    recorder = Recorder(session)
    array = np.random.default_rng(3).random(40_000)
    session.put_data_array(EPC, "plain", array)
    assert recorder.count("StartTransaction") == 0
    proxy.drop_after(array.nbytes // 2, "up")  # cuts a request in the middle
    with pytest.raises(TransactionError, match="no Transaction protocol"):
        session.put_data_array(EPC, "cut", array)


def test_a_read_resumes_after_a_drop_with_the_missing_blocks(proxied: Any) -> None:
    session, proxy = proxied()
    array = np.random.default_rng(4).random(40_000)
    session.put_data_array(EPC, "big", array)
    recorder = Recorder(session)
    session.get_data_array(EPC, "big", max_in_flight=1)
    blocks = recorder.count("GetDataSubarrays")
    count = session.connect_count
    proxy.drop_after(array.nbytes // 2, "down")  # cuts a reply in the middle
    got = session.get_data_array(EPC, "big", max_in_flight=1)
    assert np.array_equal(got, array)
    assert session.connect_count == count + 1
    assert recorder.count("GetDataSubarrays") == 2 * blocks + 1  # only the cut one again


def test_a_read_restarts_when_the_array_was_replaced_during_the_drop(rig: Any) -> None:
    session, srv = rig()
    old, new = np.zeros(40_000), np.random.default_rng(5).random(40_000)
    srv.store.put_array(str(EPC), "big", old)

    def replace_and_drop(done: int, total: int) -> None:
        if done and not np.array_equal(srv.store.get_array(str(EPC), "big"), new):
            srv.store.put_array(str(EPC), "big", new)
            srv.drop_connections()

    got = session.get_data_array(EPC, "big", max_in_flight=1, progress=replace_and_drop)
    assert np.array_equal(got, new)


# -- one writer at a time ----------------------------------------------------------------------


def test_other_threads_wait_for_a_transaction_within_their_timeout(rig: Any) -> None:
    session, srv = rig()
    opened, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def holder() -> None:
        with session.transaction(DS):
            session.put_data_array(EPC, "a", np.arange(3.0))
            opened.set()
            release.wait(20)

    def impatient() -> None:
        try:
            session.put_data_array(EPC2, "b", np.random.default_rng(6).random(40_000), timeout=0.2)
        except ETPTimeout as exc:
            outcome["error"] = exc

    a = threading.Thread(target=holder)
    a.start()
    assert opened.wait(20)
    outcome["read"] = session.get_data_array(EPC, "a")  # reads go on (inside A's transaction)
    b = threading.Thread(target=impatient)
    b.start()
    b.join(20)
    release.set()
    a.join(20)
    assert isinstance(outcome.get("error"), ETPTimeout), outcome
    assert np.array_equal(srv.store.get_array(str(EPC), "a"), np.arange(3.0))
    with pytest.raises(Exception, match="not found"):
        srv.store.get_array(str(EPC2), "b")  # nothing of B's write was sent
    assert not session.transaction_manager.demands_transactions
    session.put_data_array(EPC2, "b", np.arange(4.0))  # and B's session works as before


def test_close_wakes_a_write_waiting_for_another_threads_transaction(rig: Any) -> None:
    """The waiting write raises ETPSessionClosed as the session closes, not ETPTimeout at its
    own deadline (it slept through the close)."""
    session, _ = rig()
    opened, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def holder() -> None:
        try:
            with session.transaction(DS):
                opened.set()
                release.wait(20)
        except ETPError as exc:  # its commit, after the close
            outcome["holder"] = exc

    def waiting() -> None:
        try:
            session.put_data_array(EPC2, "b", np.arange(4.0), timeout=60)
        except ETPError as exc:
            outcome["error"] = exc

    a = threading.Thread(target=holder)
    a.start()
    assert opened.wait(20)
    b = threading.Thread(target=waiting)
    b.start()
    gate = session.transaction_manager.gate
    assert wait_for(lambda: len(gate._cond._waiters) == 1)  # type: ignore[attr-defined]
    session.close()
    b.join(ETPSession.DEADLINE_MARGIN)
    slept = b.is_alive()
    release.set()
    a.join(20)
    b.join(20)
    assert not slept, "the waiting write slept through the close"
    assert isinstance(outcome.get("error"), ETPSessionClosed), outcome
    assert isinstance(outcome.get("holder"), ETPError), outcome


def wait_for(test: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Spin (yielding the GIL) until ``test()`` holds; False past ``seconds``."""
    end = time.monotonic() + seconds
    while not test():
        if time.monotonic() > end:
            return False
        time.sleep(0)
    return True


def test_nested_transaction_fails_at_once_and_leaves_the_outer_one_open(rig: Any) -> None:
    session, srv = rig()
    with session.transaction(DS) as outer:
        with pytest.raises(TransactionError, match="do not nest"), session.transaction(DS2):
            pass
        assert session.active_transaction is outer
        session.put_data_array(EPC, "inner", np.arange(2.0))
    assert np.array_equal(srv.store.get_array(str(EPC), "inner"), np.arange(2.0))


def test_every_call_inside_a_dead_transaction_raises_at_once(rig: Any) -> None:
    session, srv = rig()
    with pytest.raises(TransactionError, match="connection died"), session.transaction(DS):
        session.put_data_array(EPC, "lost", np.arange(5.0))
        with connection_loss(session):
            srv.drop_connections()
        count = session.connect_count
        for call in (
            lambda: session.get_dataspaces(),
            lambda: session.put_data_array(EPC, "after", np.arange(5.0)),
            lambda: session.get_data_array(EPC, "lost"),
        ):
            with pytest.raises(TransactionError):
                call()
        assert session.connect_count == count  # nothing reconnected inside the block
    assert session.get_dataspaces()  # after the block the session reconnects as usual
    with pytest.raises(Exception, match="not found"):
        srv.store.get_array(str(EPC), "after")


# -- array replies checked against the request -------------------------------------------------

FLOATS = ArrayMetadata(
    dimensions=(4,),
    dtype=np.dtype("<f8"),
    transport_type="arrayOfDouble",
    logical_type="arrayOfDouble64LE",
)


@pytest.mark.parametrize(
    ("values", "dimensions", "error"),
    [
        (np.arange(2.0), [2], ETPProtocolError),  # fewer values than asked
        (np.ones(4, dtype=bool), [4], ETPProtocolError),  # booleans for a float array
        (np.arange(4.0), [1 << 40], ETPDecodeError),  # hostile dimensions
        (np.arange(4.0), [1 << 32, 1 << 32], ETPDecodeError),  # overflowing int64 products
        (np.arange(4.0), [-2, -2], ETPDecodeError),  # negative dimensions
        (np.arange(4.0), [2, 2], ETPProtocolError),  # the right count in the wrong shape
    ],
)
def test_array_replies_are_checked_against_the_request(
    values: np.ndarray, dimensions: list[int], error: type[Exception]
) -> None:
    any_array, _ = to_any_array(values)
    with pytest.raises(error):
        decode(any_array, dimensions, (4,), FLOATS)


def test_a_matching_reply_is_decoded_in_the_arrays_dtype() -> None:
    any_array, _ = to_any_array(np.arange(4, dtype=np.int32))  # ints for a float array: fine
    got = decode(any_array, [4], (4,), FLOATS)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 1.0, 2.0, 3.0]
