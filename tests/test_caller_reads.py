"""A caller that waits for its reply while nobody else reads the connection reads it in its own
thread (``SessionEngine._read_for``), bounded by its deadline; the reader thread reads whatever
a caller does not, and everything while callers are away.

Transport level: ``recv_bounded`` takes small binary messages however the bytes are cut,
keeps what came when the deadline passes, and leaves large, text and fragmented messages to
``recv_data``. Session level, over a real socket to the embedded server: who read each reply,
hand-overs for large replies and for several threads, notifications while nobody waits, a lost
connection and deadlines while a caller reads.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import numpy as np
import pytest
from _helpers import run_in_threads
from conftest import Harness
from test_frame_reader_short import Pair, _payload, frame

from etp_sync import ETPSession
from etp_sync.errors import ETPConnectionLost, ETPReadTimeout, WebSocketClosed
from etp_sync.samples import local_depth_crs, surface_model
from etp_sync.schema import messages
from etp_sync.session import _engine_receiving
from etp_sync.transport._frames import FIN, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT

# -- the transport: recv_bounded ------------------------------------------------------------


def later(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 20_000])
def test_a_small_message_cut_anywhere_is_read_whole_without_the_general_path(
    client_pair: Pair, size: int
) -> None:
    payload = os.urandom(size)
    data = frame(FIN | OP_BINARY, payload, False)
    for cut in sorted({1, 2, 3, len(data) // 2, len(data) - 1} - {0}):
        client_pair.sock.cuts, client_pair.general = [cut], 0
        client_pair.send(data)
        assert client_pair.transport.recv_bounded(later()) == bytearray(payload), cut
        assert client_pair.general == 0 and not client_pair.transport.buffered


def test_a_deadline_mid_frame_keeps_what_came_for_the_next_read(client_pair: Pair) -> None:
    payload = os.urandom(300)
    data = frame(FIN | OP_BINARY, payload, False)
    client_pair.send(data[:100])
    started = time.monotonic()
    assert client_pair.transport.recv_bounded(started + 0.05) is None
    assert time.monotonic() - started < 2.0  # the deadline, not the stall timeout (5 s)
    assert client_pair.transport.buffered
    client_pair.send(data[100:])
    assert client_pair.transport.recv_bounded(later()) == bytearray(payload)


def test_a_deadline_with_nothing_come_returns_none(client_pair: Pair) -> None:
    assert client_pair.transport.recv_bounded(time.monotonic() + 0.02) is None
    assert client_pair.transport.recv_bounded(time.monotonic() - 1) is None
    assert not client_pair.transport.buffered


@pytest.mark.parametrize(
    "data",
    [
        frame(FIN | OP_BINARY, b"x" * 70_000, False),  # larger than the read-ahead buffer
        frame(FIN | OP_TEXT, b"text", False),
        frame(OP_BINARY, b"frag", False) + frame(FIN | OP_CONT, b"ment", False),
    ],
    ids=["large", "text", "fragmented"],
)
def test_other_messages_are_left_to_recv_data_with_their_first_bytes(
    client_pair: Pair, data: bytes
) -> None:
    client_pair.sock.cuts = [3]
    client_pair.send(data)
    assert client_pair.transport.recv_bounded(later()) is False
    assert client_pair.transport.buffered
    received = client_pair.transport.recv_data(5)
    assert received is not None
    whole = bytes(received[0])
    assert whole in (b"x" * 70_000, b"text", b"fragment")


def test_a_message_over_the_size_limit_is_left_to_recv_data_which_refuses_it(
    client_pair: Pair,
) -> None:
    client_pair.transport.max_message_size = 10
    client_pair.send(frame(FIN | OP_BINARY, b"y" * 50, False))
    assert client_pair.transport.recv_bounded(later()) is False


def test_a_ping_on_the_way_is_answered_and_the_message_behind_it_read(client_pair: Pair) -> None:
    client_pair.sock.cuts = [1, 2]  # the ping arrives in pieces too
    client_pair.send(frame(FIN | OP_PING, b"hello", False) + frame(FIN | OP_BINARY, b"m", False))
    assert client_pair.transport.recv_bounded(later()) == bytearray(b"m")
    client_pair.peer.settimeout(5)
    pong = client_pair.peer.recv(64)
    assert _payload(pong) == b"hello"


def test_the_peers_close_frame_and_eof_end_the_read(client_pair: Pair) -> None:
    client_pair.send(frame(FIN | OP_CLOSE, b"\x03\xe8bye", False))
    with pytest.raises(WebSocketClosed):
        client_pair.transport.recv_bounded(later())
    other = Pair(client=True)
    try:
        other.peer.close()
        with pytest.raises(ETPConnectionLost):
            other.transport.recv_bounded(later())
    finally:
        other.transport.close()


# -- the session: who reads ------------------------------------------------------------------


class Readers:
    """Records the name of the thread that routed each reply ``session`` received."""

    def __init__(self, session: ETPSession) -> None:
        self.names: list[str] = []
        correlator = session._connection().correlator
        route = correlator.route

        def recorded(header: Any, body: Any, size: int = 0) -> bool:
            self.names.append(threading.current_thread().name)
            return route(header, body, size)

        correlator.route = recorded  # type: ignore[method-assign]

    def by(self, name: str) -> int:
        return sum(1 for n in self.names if n == name)


@pytest.fixture()
def patient_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader thread waits 5 s (not 10 ms) without callers before it reads again, so that
    a slow machine does not make it take the turn between a test's calls."""
    monkeypatch.setattr(_engine_receiving, "IDLE", 5.0)


@pytest.mark.usefixtures("patient_reader")
def test_a_callers_replies_are_read_in_its_own_thread(harness: Harness) -> None:
    session = harness.session(harness.server(dataspaces=["a/b"]))
    session.get_dataspaces()  # the reader thread may still hold the turn: it gives it up
    readers = Readers(session)
    for _ in range(20):
        assert [d.path for d in session.get_dataspaces()] == ["a/b"]
    assert readers.by(threading.current_thread().name) >= 19
    assert readers.by("etp_sync-reader") <= 1


@pytest.mark.usefixtures("patient_reader")
def test_a_large_reply_is_handed_to_the_reader_thread_and_small_ones_come_back(
    harness: Harness,
) -> None:
    session = harness.session(harness.server(dataspaces=["a/b"]), max_message_size=1 << 20)
    model = surface_model("eml:///dataspace('a/b')", shape=(300, 400))
    session.put_data_objects(model.objects)
    session.put_data_array(model.epc_uri, model.array_path, model.z_values)
    session.get_dataspaces()
    readers = Readers(session)
    got = session.get_data_array(model.epc_uri, model.array_path)  # 960 kB: too large for a
    np.testing.assert_array_equal(got, model.z_values)  # caller's read
    assert readers.by("etp_sync-reader") >= 1
    before = readers.by(threading.current_thread().name)
    for _ in range(5):
        session.get_dataspaces()
    assert readers.by(threading.current_thread().name) - before >= 4


def test_many_threads_get_their_own_replies(harness: Harness) -> None:
    server = harness.server(dataspaces=[f"t/{i}" for i in range(4)])
    session = harness.session(server)
    expected = sorted(f"t/{i}" for i in range(4))

    def work() -> None:
        for _ in range(100):
            assert sorted(d.path for d in session.get_dataspaces()) == expected

    assert run_in_threads(work, 8) == []


def test_a_notification_comes_while_nobody_waits(harness: Harness) -> None:
    server = harness.server(dataspaces=["n/s"])
    watcher = harness.session(server)
    writer = harness.session(server)
    got = threading.Event()
    seen: list[Any] = []

    def on_change(notification: Any) -> None:
        seen.append(notification)
        got.set()

    watcher.subscribe_notifications("eml:///dataspace('n/s')", callback=on_change)
    watcher.get_dataspaces()  # a caller read last: the reader thread parks
    ref = uuid.uuid4()
    uri = f"eml:///dataspace('n/s')/resqml20.obj_LocalDepth3dCrs({ref})"
    writer.put_data_objects({uri: local_depth_crs(ref)})
    assert got.wait(10), "no notification while the watcher made no call"
    assert seen


def test_a_connection_lost_while_a_caller_reads_fails_the_call(harness: Harness) -> None:
    server = harness.server(dataspaces=["a/b"], latency=0.5)
    session = harness.session(server, auto_reconnect=False)
    session.get_dataspaces()
    dropper = threading.Timer(0.1, server.drop_connections)
    dropper.start()
    try:
        with pytest.raises(ETPConnectionLost):
            session.get_dataspaces()
    finally:
        dropper.cancel()


def test_a_caller_reading_stops_at_its_deadline(harness: Harness) -> None:
    server = harness.server(dataspaces=["a/b"], latency=0.6)
    session = harness.session(server, auto_reconnect=False)
    session.get_dataspaces()
    started = time.monotonic()
    with pytest.raises(ETPReadTimeout):
        session.request(messages.Dataspace.GetDataspaces(), timeout=0.1)
    assert time.monotonic() - started < 0.5  # the deadline (0.1 s), not the reply (0.6 s)


def test_closing_the_session_while_a_caller_reads_ends_the_call_and_the_close(
    harness: Harness,
) -> None:
    server = harness.server(dataspaces=["a/b"], latency=0.4)
    session = harness.session(server, auto_reconnect=False, timeout=30)
    session.get_dataspaces()
    engine = session._connection()
    closer = threading.Timer(0.1, session.close)
    started = time.monotonic()
    closer.start()
    try:
        with pytest.raises(ETPConnectionLost):
            session.get_dataspaces()
    finally:
        closer.join(10)
    assert time.monotonic() - started < 5  # not the call's 30 s timeout
    assert not closer.is_alive()
    assert not engine._reader.is_alive()
