"""One deadline per call, replies checked against their request, failures that cost no memory,
and a closed session that stays closed (issue 8, client side; the fault matrix proves the same
over faulty peers, these tests pin each mechanism down alone)."""

from __future__ import annotations

import base64
import hashlib
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from etp_sync import DataObjectURI, ETPSession, RetryPolicy
from etp_sync.codec import MessageHeader
from etp_sync.errors import (
    ETPConnectionLost,
    ETPConnectTimeout,
    ETPDecodeError,
    ETPProtocolError,
    ETPReadTimeout,
    ETPResponseTooLarge,
    ETPSessionClosed,
    ETPTimeout,
    ETPTransportError,
    ETPWriteTimeout,
    fresh_error,
)
from etp_sync.protocol.correlation import PART_COST, Correlator
from etp_sync.protocol.negotiation import build_request_session
from etp_sync.protocol.replies import expected_replies
from etp_sync.retry import _retryable
from etp_sync.schema import messages as m
from etp_sync.server import EmbeddedServer
from etp_sync.transport._websocket import WebSocketClosed, WebSocketTransport

MARGIN = ETPSession.DEADLINE_MARGIN
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def header(correlation_id: int, protocol: int, message_type: int, fin: bool = True) -> Any:
    return MessageHeader(
        protocol=protocol,
        message_type=message_type,
        correlation_id=correlation_id,
        message_id=1,
        message_flags=0x02 if fin else 0,
    )


# -- replies checked against the request -----------------------------------------------------


def test_expected_replies_come_from_the_schema() -> None:
    assert expected_replies(m.Dataspace.GetDataspaces()) == {2, 1000, 1001}
    assert expected_replies(m.Core.Ping(current_date_time=1)) == {9, 1000, 1001}
    request = build_request_session(
        application_name="t", application_version="1", protocols=(24,), max_message_size=4096
    )
    assert expected_replies(request) == {2, 1000, 1001}  # OpenSession
    assert expected_replies(m.Store.GetDataObjects(uris={})) == {4, 8, 1000, 1001}  # + Chunk
    assert expected_replies(m.Core.CloseSession(reason="")) is None  # never answered


def test_a_reply_of_the_wrong_type_fails_its_request() -> None:
    correlator = Correlator()
    request = m.Dataspace.GetDataspaces()
    pending = correlator.register(
        4, "GetDataspaces", protocol=24, replies=expected_replies(request)
    )
    assert correlator.route(header(4, 3, 4), m.Discovery.GetResourcesResponse(resources=[]))
    with pytest.raises(ETPProtocolError, match="does not answer"):
        pending.result(1)
    assert correlator.in_flight() == 0


def test_a_reply_beyond_its_budget_fails_and_later_parts_are_dropped() -> None:
    correlator = Correlator()
    pending = correlator.register(4, "GetDataspaces", protocol=24, max_bytes=10 * PART_COST)
    part = m.Dataspace.GetDataspacesResponse(dataspaces=[])
    for _ in range(10):  # tiny parts count PART_COST each: ten fit
        assert correlator.route(header(4, 24, 2, fin=False), part, 10)
    assert correlator.route(header(4, 24, 2, fin=False), part, 10)  # the eleventh fails it
    # The rest of that reply is taken and dropped (not handed on as unsolicited) up to its
    # final part, and so is a reply repeated after it.
    assert correlator.route(header(4, 24, 2, fin=False), part, 10)
    assert correlator.route(header(4, 24, 2, fin=True), part, 10)
    assert correlator.route(header(4, 24, 2, fin=False), part, 10)
    with pytest.raises(ETPResponseTooLarge, match="max_response_size"):
        pending.result(1)
    with pytest.raises(queue.Empty):  # nothing more reached the request given up
        pending._queue.get_nowait()


def test_a_protocol_exception_answers_any_request() -> None:
    correlator = Correlator()
    replies = expected_replies(m.Dataspace.GetDataspaces())
    pending = correlator.register(4, "GetDataspaces", protocol=24, replies=replies)
    correlator.route(header(4, 24, 1000), m.Core.ProtocolException(errors={}))
    assert len(pending.result(1).errors) == 1


# -- failures cost no memory -----------------------------------------------------------------


def test_each_waiter_raises_its_own_copy_of_a_shared_failure() -> None:
    correlator = Correlator()
    pendings = [correlator.register(i, "Ping") for i in (2, 4, 6)]
    cause = ETPConnectionLost("connection lost: reset")
    correlator.fail_all(cause, close=True)
    raised = []
    for pending in pendings:
        with pytest.raises(ETPConnectionLost) as info:
            pending.result(1)
        raised.append(info.value)
    assert len({id(e) for e in raised}) == 3 and cause not in raised
    assert all(e.__cause__ is cause and str(e) == str(cause) for e in raised)
    assert cause.__traceback__ is None  # the shared one was never raised: it holds no frame
    with pytest.raises(ETPConnectionLost) as later:
        correlator.register(8, "Ping")
    assert later.value is not cause


def _register_until_refused(correlator: Correlator, ids: Iterator[int], entered: list[Any]) -> None:
    while True:
        try:
            entered.append(correlator.register(next(ids), "Ping"))
        except ETPConnectionLost:
            return


def test_a_request_registered_while_the_connection_fails_is_failed_or_refused() -> None:
    """register takes no lock against fail_all: every request entered meanwhile is either
    refused or failed by it, none is left waiting for its deadline."""
    for _ in range(20):
        correlator = Correlator()
        ids = iter(range(2, 1 << 30, 2))
        entered: list[Any] = []
        threads = [
            threading.Thread(target=_register_until_refused, args=(correlator, ids, entered))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        while len(entered) < 20:  # fail while the clients are registering
            time.sleep(0)
        correlator.fail_all(ETPConnectionLost("connection lost: reset"), close=True)
        for thread in threads:
            thread.join(10)
        assert correlator.in_flight() == 0
        for pending in entered:
            with pytest.raises(ETPConnectionLost):
                pending.result(0)  # already failed: no wait


def test_fresh_error_keeps_class_and_attributes() -> None:
    closed = WebSocketClosed("websocket closed by peer", 1001, "going away")
    copy = fresh_error(closed)
    assert type(copy) is WebSocketClosed and copy is not closed
    assert (copy.close_code, copy.reason, copy.by_peer, str(copy)) == (
        1001,
        "going away",
        True,
        str(closed),
    )
    refused = ETPTransportError("refused", status=503)
    assert fresh_error(refused).status == 503


# -- the retry policy spends only the caller's time ------------------------------------------


def test_retry_makes_no_attempt_past_the_deadline() -> None:
    attempts: list[int] = []

    def refused() -> None:
        attempts.append(1)
        raise ETPTransportError("connection refused")

    slow = RetryPolicy(attempts=5, initial_wait=30.0, max_wait=30.0, jitter=0)
    with pytest.raises(ETPTransportError):
        slow.run(refused, "connecting", deadline=time.monotonic() + 5.0)
    assert len(attempts) == 1  # the first wait (30 s) would end past the deadline
    quick = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.001, jitter=0)
    with pytest.raises(ETPTransportError):
        quick.run(refused, "connecting", deadline=time.monotonic() + 60.0)
    assert len(attempts) == 1 + 3


@pytest.mark.parametrize(
    ("status", "retried"), [(None, True), (503, True), (429, True), (200, False), (401, False)]
)
def test_only_answers_that_may_change_are_retried(status: int | None, retried: bool) -> None:
    assert _retryable(ETPTransportError("upgrade failed", status=status)) is retried


def test_timeouts_are_one_family() -> None:
    assert issubclass(ETPConnectTimeout, ETPTimeout) and issubclass(
        ETPConnectTimeout, ETPTransportError
    )
    assert issubclass(ETPWriteTimeout, ETPTimeout) and issubclass(ETPReadTimeout, ETPTimeout)
    assert not issubclass(ETPWriteTimeout, ETPConnectionLost)


# -- the transport: sending and connecting within the deadline --------------------------------


@pytest.fixture()
def stalled_pair() -> Iterator[tuple[WebSocketTransport, socket.socket]]:
    """A client transport whose peer never reads."""
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, close_timeout=0.2)
    try:
        yield transport, theirs
    finally:
        transport.close()
        theirs.close()


def test_a_send_the_peer_never_reads_ends_at_its_deadline(
    stalled_pair: tuple[WebSocketTransport, socket.socket],
) -> None:
    transport, _ = stalled_pair
    big = np.zeros(16 << 20, dtype=np.uint8)
    begin = time.monotonic()
    with pytest.raises(ETPWriteTimeout):
        transport.send_message(big, deadline=begin + 1.0)
    assert time.monotonic() - begin <= 1.0 + MARGIN
    assert not transport.is_open  # cut off mid-message: the connection is gone


def test_the_send_lock_is_waited_for_within_the_deadline(
    stalled_pair: tuple[WebSocketTransport, socket.socket],
) -> None:
    transport, theirs = stalled_pair
    big = np.zeros(16 << 20, dtype=np.uint8)
    outcome: list[BaseException] = []

    def holder() -> None:
        try:
            transport.send_message(big, deadline=time.monotonic() + 3.0)
        except ETPWriteTimeout as exc:
            outcome.append(exc)

    thread = threading.Thread(target=holder)
    thread.start()
    assert theirs.recv(1)  # the holder is inside its send (which cannot finish): lock held
    begin = time.monotonic()
    with pytest.raises(ETPWriteTimeout, match="another send"):
        transport.send_message(b"small", deadline=begin + 0.3)
    assert time.monotonic() - begin <= 0.3 + MARGIN
    thread.join(10)
    assert outcome and isinstance(outcome[0], ETPWriteTimeout)


def test_a_send_whose_deadline_passed_before_any_byte_keeps_the_connection(
    stalled_pair: tuple[WebSocketTransport, socket.socket],
) -> None:
    transport, theirs = stalled_pair
    with pytest.raises(ETPWriteTimeout):
        transport.send_message(b"late", deadline=time.monotonic() - 1)
    assert transport.is_open
    transport.send_message(b"on time", deadline=time.monotonic() + 5)
    assert theirs.recv(64)  # it arrived


def serve_once(handle: Callable[[socket.socket], None]) -> tuple[int, Callable[[], None]]:
    """A one-connection server on 127.0.0.1 running ``handle``; returns (port, stop)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        listener.close()
        thread.join(5)

    return int(listener.getsockname()[1]), close


def test_an_upgrade_answer_trickling_in_ends_at_the_connect_timeout() -> None:
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        conn.recv(4096)
        for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" * 100:
            if stop.wait(0.05):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    port, close = serve_once(trickle)
    begin = time.monotonic()
    try:
        with pytest.raises(ETPConnectTimeout):
            WebSocketTransport.connect(f"ws://127.0.0.1:{port}/", connect_timeout=0.5)
        assert time.monotonic() - begin <= 0.5 + MARGIN
    finally:
        stop.set()
        close()


# -- the session: one deadline, and closed means closed ---------------------------------------


def test_a_silent_server_costs_one_deadline_not_the_retry_policy() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts TCP (backlog), never answers
    port = int(listener.getsockname()[1])
    session = ETPSession(f"ws://127.0.0.1:{port}/", timeout=1.0, connect_timeout=30)
    begin = time.monotonic()
    try:
        with pytest.raises(ETPConnectTimeout):
            session.ping()
        assert time.monotonic() - begin <= 1.0 + MARGIN
    finally:
        session.close()
        listener.close()


def upgrade_then_ignore(conn: socket.socket) -> None:
    """Accept the websocket upgrade, then never answer (no OpenSession), until closed."""
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n"
        b"Sec-WebSocket-Protocol: etp12.energistics.org\r\n\r\n"
    )
    while conn.recv(65536):
        pass


def test_a_session_never_opened_ends_at_the_deadline_with_connect_timeout() -> None:
    port, close = serve_once(upgrade_then_ignore)
    session = ETPSession(f"ws://127.0.0.1:{port}/", timeout=1.0, retry=RetryPolicy(attempts=1))
    begin = time.monotonic()
    try:
        with pytest.raises(ETPConnectTimeout, match="no ETP session"):
            session.get_dataspaces()
        assert time.monotonic() - begin <= 1.0 + MARGIN
    finally:
        session.close()
        close()


def test_after_close_every_call_raises_and_only_the_iterator_reopens(
    server: EmbeddedServer,
) -> None:
    session = ETPSession(server.url, timeout=5)
    session.ping()
    session.close()
    for action in (session.ping, session.get_dataspaces, session.connect):
        with pytest.raises(ETPSessionClosed):
            action()
    assert session.connect_count == 1 and not session.is_open
    for reopened in session:
        assert reopened.ping() > 0
        break
    assert session.connect_count == 2
    session.close()


def test_close_fails_a_waiting_request_with_session_closed(server: EmbeddedServer) -> None:
    session = ETPSession(server.url, timeout=5)
    session.connect()
    handle = session.send(m.Core.Ping(current_date_time=1))
    session.close()
    outcome: object
    try:
        outcome = handle.result()
    except ETPSessionClosed as exc:  # closed before the Pong arrived
        outcome = exc
    assert isinstance(outcome, ETPSessionClosed) or [p.etp_name for p in outcome] == ["Pong"]
    with pytest.raises(ETPSessionClosed):
        session.send(m.Core.Ping(current_date_time=1))


def test_a_final_part_routed_as_its_waiter_gives_up_leaves_no_id_behind() -> None:
    """The waiter times out (forget) after route() found its request and before the final
    part was handed over: the reply has ended, so its id is not kept as given up (review)."""
    correlator = Correlator()
    correlator.register(4, "GetDataspaces", protocol=24)

    class RacingDict(dict[int, Any]):
        def get(self, key: Any, default: Any = None) -> Any:
            found = super().get(key, default)
            if found is not None:
                correlator.forget(key)  # the waiter's timeout lands right here
            return found

    correlator._pending = RacingDict(correlator._pending)
    part = m.Dataspace.GetDataspacesResponse(dataspaces=[])
    assert correlator.route(header(4, 24, 2, fin=True), part, 10)
    assert correlator._given_up == {}


def test_the_rest_of_a_reply_after_an_undecodable_part_is_dropped() -> None:
    """A non-final part that cannot be decoded fails its request; the later parts are
    dropped, not handed on as unsolicited (review)."""
    correlator = Correlator()
    pending = correlator.register(4, "GetDataspaces", protocol=24)
    part = m.Dataspace.GetDataspacesResponse(dataspaces=[])
    assert correlator.route(header(4, 24, 2, fin=False), part, 10)
    correlator.fail(4, ETPDecodeError("garbled second part"), final=False)
    assert correlator.route(header(4, 24, 2, fin=False), part, 10)
    assert correlator.route(header(4, 24, 2, fin=True), part, 10)
    assert correlator.route(header(4, 24, 2, fin=True), part, 10)  # repeated: dropped too
    with pytest.raises(ETPDecodeError):
        pending.result(1)


def test_late_and_repeated_replies_are_dropped_and_notifications_handed_on() -> None:
    """A reply to one of our requests (an even id) that nobody waits for is dropped however
    many requests were given up before it, and a reply repeated after its final part too;
    notifications go on to the handlers whatever id they correlate to (implementations
    differ: some correlate them to the subscription's request)."""
    correlator = Correlator()
    reply = m.Dataspace.GetDataspacesResponse(dataspaces=[])
    late = []
    for message_id in range(2, 2 + 2 * 100, 2):  # 100 requests, each given up while waiting
        pending = correlator.register(message_id, "GetDataspaces", protocol=24)
        late.append(message_id)
        with pytest.raises(ETPReadTimeout):
            pending.result(0)
    assert all(correlator.route(header(i, 24, 2), reply, 10) for i in late)
    pending = correlator.register(400, "GetDataspaces", protocol=24)
    assert correlator.route(header(400, 24, 2), reply, 10)
    assert correlator.route(header(400, 24, 2), reply, 10)  # repeated after its final part
    assert pending.result(1).messages == [reply]
    with pytest.raises(queue.Empty):
        pending._queue.get_nowait()
    changed = m.StoreNotification.ObjectChanged(
        change={"change_kind": "insert", "change_time": 1, "data_object": {
            "resource": {"uri": "eml:///", "name": "x", "last_changed": 1,
                         "store_last_write": 1, "store_created": 1, "active_status": "Active"},
        }},
        request_uuid="00000000-0000-0000-0000-000000000001",
    )  # fmt: skip
    assert not correlator.route(header(2, 5, 2), changed, 10)  # correlated to a subscribe
    assert not correlator.route(header(3, 4, 3), reply, 10)  # an odd id is not ours


def test_a_pipelined_read_past_its_deadline_forgets_every_request_in_flight(
    harness: Any,
) -> None:
    """The requests still in flight when a pipelined read times out are given up with it (their
    late parts dropped), not left registered for good: a wait of 0 s on a handle is allowed."""
    srv = harness.server(max_message_size=1 << 20, dataspaces=["test/deadline"])
    epc = (
        "eml:///dataspace('test/deadline')/eml20.obj_EpcExternalPartReference("
        "9f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6)"
    )
    session = harness.session(srv, timeout=30)
    session.put_data_array(epc, "/big", np.arange(1_000_000, dtype=np.float64))
    srv.latency = 0.3  # every message waits this long on the server
    with pytest.raises(ETPReadTimeout):
        session.get_data_array(epc, "/big", timeout=1.0)
    assert session._conn.correlator.in_flight() == 0
    srv.latency = 0.0
    assert session.get_data_array(epc, "/big")[-1] == 999_999.0


@pytest.mark.parametrize("call", ["delete", "subarray"])
def test_a_call_that_must_connect_first_does_so_within_its_own_timeout(call: str) -> None:
    """A call whose request size depends on the grant (a delete's batches, a read's blocks)
    connects within the call's timeout, not the session's."""
    from _faults import SilentPeer

    from etp_sync.calls import ArrayMetadata

    uri = DataObjectURI.from_type("test/x", "resqml20.obj_LocalDepth3dCrs", uuid.uuid4())
    meta = ArrayMetadata(
        dimensions=(100,),
        dtype=np.dtype("float64"),
        transport_type="arrayOfDouble",
        logical_type="arrayOfDouble64LE",
    )
    with SilentPeer() as peer:
        session = ETPSession(peer.url, timeout=20, connect_timeout=20)
        begin = time.monotonic()
        try:
            with pytest.raises(ETPConnectTimeout):
                if call == "delete":
                    session.delete_data_objects([uri], timeout=0.5)
                else:
                    session.get_data_subarray(uri, "/a", [0], [10], metadata=meta, timeout=0.5)
            assert time.monotonic() - begin <= 0.5 + MARGIN
        finally:
            session.close()
