"""ETPSession against real sockets: negotiation, correlation under load, timeouts, reconnection."""

from __future__ import annotations

import contextlib
import inspect
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _fakepeer import FakePeer, PeerConnection
from conftest import connection_loss

from etp_sync import (
    ErrorCode,
    ETPConnectionLost,
    ETPInvalidArgument,
    ETPNotNegotiated,
    ETPReadTimeout,
    ETPRemoteError,
    ETPSession,
    ETPSessionClosed,
    ETPTimeout,
    ETPTransportError,
    RetryPolicy,
    etp_connect,
)
from etp_sync.codec import MessageHeader, encode_message_parts
from etp_sync.protocol.correlation import MessageIds
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m
from etp_sync.server import EmbeddedServer

FAST_RETRY = RetryPolicy(attempts=3, total_time=5, initial_wait=0.05, max_wait=0.2)


def _etp_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("etp_sync-")]


class LogSeen(logging.Handler):
    """Sets ``seen`` when a record whose message contains ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@contextlib.contextmanager
def log_seen(logger: str, text: str) -> Iterator[threading.Event]:
    """An event set when ``logger`` logs ``text`` at any level (DEBUG enabled meanwhile)."""
    handler, log = LogSeen(text), logging.getLogger(logger)
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler.seen
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)


def _dataspace(session: ETPSession, path: str) -> None:
    session.send_and_recv(
        m.Dataspace.PutDataspaces(
            dataspaces={
                "0": d.Object.Dataspace(
                    uri=f"eml:///dataspace('{path}')",
                    path=path,
                    store_last_write=0,
                    store_created=0,
                )
            }
        )
    )


def test_negotiation_exposes_what_the_server_granted(server: EmbeddedServer) -> None:
    # compression=True: by default a server on this host is offered no gzip
    # (tests/test_session_compression.py).
    with ETPSession(server.url, max_message_size=1 << 20, compression=True) as session:
        info = session.server
        assert {3, 4, 9, 18, 24}.issubset(info.protocols)
        assert all(g.role == "store" for g in info.protocols.values())
        assert info.compression == "gzip"
        assert info.formats == ("xml",)
        assert info.max_message_size == 1 << 20  # the smaller of ours and the server's
        assert session.ping() > 0
    assert not session.is_open


def test_sixteen_threads_each_get_their_own_responses(server: EmbeddedServer) -> None:
    with ETPSession(server.url) as session:
        for i in range(16):
            _dataspace(session, f"load/t{i}")
        errors: list[BaseException] = []

        def worker(i: int) -> None:
            try:
                mine = f"eml:///dataspace('load/t{i}')"
                for j in range(200):
                    if j % 3 == 0:
                        session.ping()
                    elif j % 3 == 1:
                        (resp,) = session.send_and_recv(m.Dataspace.GetDataspaces())
                        assert any(ds.uri == mine for ds in resp.dataspaces)
                    else:
                        key = f"k{i}-{j}"
                        msg = m.Discovery.GetResources(
                            context=d.Object.ContextInfo(
                                uri=mine, depth=1, navigable_edges="Primary"
                            ),
                            scope="self",
                        )
                        handle = session.send(msg)
                        replies = handle.result()
                        assert all(r.etp_name == "GetResourcesResponse" for r in replies), key
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        assert session._connection().correlator.in_flight() == 0


def test_many_requests_in_flight_from_one_thread(server: EmbeddedServer) -> None:
    with ETPSession(server.url) as session:
        handles = [session.send(m.Core.Ping(current_date_time=i)) for i in range(100)]
        ids = {h.message_id for h in handles}
        assert len(ids) == 100 and all(i % 2 == 0 for i in ids)
        for h in reversed(handles):
            (pong,) = h.result()
            assert pong.etp_name == "Pong"


def test_a_handle_gives_its_response_again(server: EmbeddedServer) -> None:
    # A second result() used to wait for parts already taken and time out (falsely); timeout
    # 0 makes that wait end at once.
    with ETPSession(server.url) as session:
        handle = session.send(m.Core.Ping(current_date_time=1))
        (pong,) = handle.result()
        assert handle.result(timeout=0) == [pong]
        assert handle.response(0).messages == [pong]
        failing = session.send(
            m.Dataspace.DeleteDataspaces(uris={"x": "eml:///dataspace('no/such')"})
        )
        for timeout in (None, 0):
            with pytest.raises(ETPRemoteError) as info:
                failing.result(timeout=timeout)
            assert info.value.code == ErrorCode.ENOT_FOUND and "x" in info.value.errors
        assert failing.response(0).errors


def test_a_handle_whose_wait_failed_raises_that_again_at_once() -> None:
    """A wait that timed out gave the request up: a second wait cannot get anything, so it
    raises the same error at once instead of waiting for its own timeout."""
    with (
        EmbeddedServer(port=0, latency=0.5) as slow,
        ETPSession(slow.url, timeout=30) as session,
    ):
        handle = session.send(m.Core.Ping(current_date_time=1))
        with pytest.raises(ETPReadTimeout):
            handle.result(timeout=0.05)
        begin = time.monotonic()
        with pytest.raises(ETPReadTimeout):
            handle.result(timeout=20)
        with pytest.raises(ETPReadTimeout):
            handle.response()
        assert time.monotonic() - begin < 5


def test_timeout_cleans_up_and_late_reply_is_dropped() -> None:
    # The server's latency (longer than the call's timeout) is the scenario, not a wait.
    with (
        EmbeddedServer(port=0, latency=0.5) as slow,
        ETPSession(slow.url, timeout=5) as session,
        log_seen("etp_sync.protocol", "dropping a late part") as dropped,
    ):
        conn = session._connection()
        dispatched: list[Any] = []
        queue_unsolicited = conn._dispatch

        def recording(header: Any, body: Any) -> None:  # the reader thread's hand-off
            dispatched.append(body)
            queue_unsolicited(header, body)

        conn._dispatch = recording  # type: ignore[method-assign]
        with pytest.raises(ETPTimeout) as info:
            session.send_and_recv(m.Dataspace.GetDataspaces(), timeout=0.1)
        assert info.value.code == ErrorCode.ETIMED_OUT
        assert conn.correlator.in_flight() == 0
        assert dropped.wait(10)  # the late reply arrives and is dropped ...
        assert dispatched == []  # ... not handed on as an unsolicited message
        assert session.send_and_recv(m.Dataspace.GetDataspaces())  # still usable


def test_protocol_exception_carries_code_and_name(server: EmbeddedServer) -> None:
    with ETPSession(server.url) as session:
        with pytest.raises(ETPRemoteError) as info:
            session.send_and_recv(
                m.Dataspace.DeleteDataspaces(uris={"x": "eml:///dataspace('no/such')"})
            )
        assert info.value.code == ErrorCode.ENOT_FOUND
        assert info.value.code_name == "ENOT_FOUND"
        assert "x" in info.value.errors


def test_refuses_messages_of_protocols_not_granted(server: EmbeddedServer) -> None:
    with ETPSession(server.url, protocols=(3, 4)) as session:
        assert set(session.server.protocols) == {3, 4}
        with pytest.raises(ETPNotNegotiated, match="protocol 24"):
            session.send_and_recv(m.Dataspace.GetDataspaces())


def test_token_callable_called_once_per_connect_and_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return "s3cret-token"

    with EmbeddedServer(port=0, required_token="s3cret-token") as srv:
        with caplog.at_level(logging.DEBUG, logger="etp_sync"):
            session = ETPSession(srv.url, authorization=token, retry=FAST_RETRY)
            session.connect()
            assert len(calls) == 1
            with connection_loss(session):
                srv.drop_connections()
            session.ping()  # reconnects
            assert len(calls) == 2
            assert "s3cret" not in repr(session)
            session.close()
        leaked = [(r.name, r.getMessage()) for r in caplog.records if "s3cret" in r.getMessage()]
        assert not leaked, leaked
        with pytest.raises(ETPTransportError) as info:
            ETPSession(srv.url, authorization="wrong", retry=FAST_RETRY).connect()
        assert "wrong" not in str(info.value)
        assert "401" in str(info.value)


def test_reconnects_after_the_server_restarts_on_the_same_port() -> None:
    first = EmbeddedServer(port=0)
    first.start()
    port = first.port
    session = ETPSession(first.url, retry=FAST_RETRY)
    session.connect()
    session.ping()
    first.stop()
    with pytest.raises(ETPTransportError):  # lost, or (if noticed first) cannot reconnect
        session.send_and_recv(m.Dataspace.PutDataspaces(dataspaces={}))  # not idempotent
    with EmbeddedServer(port=port) as second:
        assert second.port == port
        assert session.ping() > 0
        assert session.connect_count == 2
    session.close()


def test_drop_mid_multipart_fails_writes_and_retries_reads() -> None:
    state = {"drop": True}

    def handler(peer: PeerConnection, header: Any, body: Any) -> None:
        if body.etp_name == "GetDataObjects":
            part = m.Store.GetDataObjectsResponse(data_objects={})
            if state["drop"]:
                state["drop"] = False
                peer.send(part, correlation_id=header.message_id, fin=False)
                peer.drop()
                return
            peer.send(part, correlation_id=header.message_id, fin=False)
            peer.send(part, correlation_id=header.message_id, fin=True)
        elif body.etp_name == "DeleteDataObjects":
            peer.send(
                m.Store.DeleteDataObjectsResponse(deleted_uris={}),
                correlation_id=header.message_id,
                fin=False,
            )
            peer.drop()

    with FakePeer(handler) as peer, ETPSession(peer.url, retry=FAST_RETRY, timeout=10) as session:
        replies = session.send_and_recv(m.Store.GetDataObjects(uris={}))  # retried transparently
        assert len(replies) == 2 and peer.connections == 2
        with pytest.raises(ETPConnectionLost):
            session.send_and_recv(m.Store.DeleteDataObjects(uris={}))
        assert session.ping() > 0  # reconnected on next use
        assert peer.connections == 3


def test_server_ping_is_answered_and_close_session_reported() -> None:
    pongs: list[Any] = []
    ponged = threading.Event()

    def handler(peer: PeerConnection, header: Any, body: Any) -> None:
        if body.etp_name == "Ping":
            peer.send(m.Core.Ping(current_date_time=1))  # the server pings the client back
            peer.send(m.Core.Pong(current_date_time=2), correlation_id=header.message_id)
        elif body.etp_name == "Pong":
            pongs.append((header, body))
            ponged.set()
        elif body.etp_name == "GetDataspaces":
            peer.send(m.Core.CloseSession(reason="maintenance window"))

    with FakePeer(handler, auto_pong=False) as peer:
        session = ETPSession(peer.url, retry=FAST_RETRY, auto_reconnect=False)
        session.connect()
        session.ping()
        assert ponged.wait(5)
        assert pongs and pongs[0][0].correlation_id % 2 == 1  # answers the server's (odd) id
        with pytest.raises(ETPSessionClosed) as info:
            session.send_and_recv(m.Dataspace.GetDataspaces(), timeout=3)
        assert info.value.reason == "maintenance window"
        session.close()


def test_unsolicited_messages_go_to_handlers_off_the_reader_thread() -> None:
    seen: list[str] = []
    called = threading.Event()
    release = threading.Event()

    def handler(peer: PeerConnection, header: Any, body: Any) -> None:
        if body.etp_name == "Ping":
            peer.send(m.Core.ProtocolException(error=d.ErrorInfo(message="odd", code=5)))
            peer.send(m.Core.Pong(current_date_time=2), correlation_id=header.message_id)

    def slow_callback(header: Any, body: Any) -> None:
        seen.append(threading.current_thread().name)
        called.set()
        release.wait(5)

    with FakePeer(handler, auto_pong=False) as peer, ETPSession(peer.url, timeout=10) as session:
        session.add_handler(slow_callback, message_type=1000)
        session.ping()  # the Pong arrives...
        assert called.wait(5)
        assert seen == ["etp_sync-dispatch"]
        session.ping()  # ...and keeps arriving while the callback is still blocked
        release.set()


def test_unsolicited_message_while_closing_is_logged_not_dropped_silently(
    server: EmbeddedServer,
) -> None:
    """A message arriving once the session is closing can no longer reach the handlers (the
    dispatch thread ends at the closing mark): it is logged, at WARNING for a
    ProtocolException, and the dispatch thread is not started for it."""
    delivered: list[Any] = []
    with ETPSession(server.url) as session:
        session.add_handler(lambda header, body: delivered.append(body))
        engine = session._conn
        assert engine is not None
        engine._fail(ETPConnectionLost("closing"))  # what close() does before the socket goes
        header = MessageHeader(
            protocol=0, message_type=1000, correlation_id=0, message_id=7, message_flags=2
        )
        body = m.Core.ProtocolException(error=d.ErrorInfo(message="late", code=5))
        frame = bytearray(b"".join(bytes(p) for p in encode_message_parts(header, body)))
        logger = logging.getLogger("etp_sync.session.engine")
        with log_seen(logger.name, "ProtocolException (protocol 0) dropped") as seen:
            engine._handle_frame(frame)
        assert seen.is_set()
        assert engine._dispatcher.ident is None
    assert delivered == []


def test_message_ids_are_unique_and_increasing_across_threads() -> None:
    """Client ids are even from 2, server ids odd from 1; threads drawing at once never get
    the same id, and each thread's ids increase."""
    assert [MessageIds().next() for _ in range(2)] == [2, 2]
    server_ids = MessageIds(server=True)
    assert [server_ids.next() for _ in range(3)] == [1, 3, 5]
    ids = MessageIds()
    drawn: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(mine: list[int]) -> None:
        start.wait(5)
        mine.extend(ids.next() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(mine,)) for mine in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    every = [i for mine in drawn for i in mine]
    assert len(set(every)) == len(every) == 16000
    assert all(i % 2 == 0 for i in every) and set(every) == set(range(2, 32002, 2))
    assert all(mine == sorted(mine) for mine in drawn)


def test_etp_connect_three_ways(server: EmbeddedServer) -> None:
    with etp_connect(server.url) as session:
        assert session.is_open
    assert not session.is_open
    plain = etp_connect(server.url)
    assert plain.is_open
    plain.close()
    sessions = []
    for s in etp_connect(server.url, retry=FAST_RETRY):
        sessions.append(s.server.session_id)
        if len(sessions) == 1:
            server.drop_connections()
            continue
        break
    assert len(set(sessions)) == 2
    s.close()


def test_clean_shutdown_leaves_no_thread(server: EmbeddedServer) -> None:
    before = set(_etp_threads())
    for _ in range(3):
        with ETPSession(server.url) as session:
            session.ping()
    assert [t for t in set(_etp_threads()) - before if t.is_alive()] == []  # close joined them


def test_bad_urls_and_sizes_fail_clearly() -> None:
    with pytest.raises(ValueError, match="ws://"):
        ETPSession("http://example.invalid")
    with pytest.raises(ValueError, match="4096"):
        ETPSession("ws://127.0.0.1:1", max_message_size=100)
    session = ETPSession("ws://user:pw@127.0.0.1:1/?token=abc", retry=RetryPolicy(attempts=1))
    assert "pw" not in repr(session) and "abc" not in repr(session)
    with pytest.raises(ETPTransportError) as info:
        session.connect()
    assert "pw" not in str(info.value) and "abc" not in str(info.value)


def test_urls_are_checked_at_construction_their_scheme_in_any_case(
    server: EmbeddedServer,
) -> None:
    # websocket-client takes only lower-case schemes: WS:// failed at connect, after retries.
    upper = server.url.replace("ws://", "WS://")
    with ETPSession(upper, retry=RetryPolicy(attempts=1)) as session:
        assert session.url == server.url and session.ping() > 0
    for url in (
        "ws://[::1",  # urlsplit's ValueError came out of the first call
        "ws://alice:s3cret@127.0.0.1:99999/",
        "ws://alice:s3cret@:9100/",
        "wss://alice:s3/cret@host/",  # the password's "/" ends the host: port "s3"
    ):
        with pytest.raises(ETPInvalidArgument) as info:
            ETPSession(url)
        assert "s3" not in str(info.value) and "cret" not in str(info.value)


def test_tls_verifies_by_default_and_accepts_a_ca_bundle(
    self_signed_cert: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = self_signed_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    no_retry = RetryPolicy(attempts=1)
    with FakePeer(lambda *a: None, ssl_context=context) as peer:
        assert peer.url.startswith("wss://")
        with (
            caplog.at_level(logging.WARNING, logger="etp_sync.retry"),
            pytest.raises(ETPTransportError, match="certificate") as refused,
        ):
            ETPSession(peer.url).connect()  # the default policy: not asked again
        assert refused.value.permanent
        assert not [r for r in caplog.records if r.name == "etp_sync.retry"]
        with ETPSession(peer.url, ca_file=cert, retry=no_retry) as session:
            assert session.ping() > 0
        with ETPSession(peer.url, verify=False, retry=no_retry) as session:
            assert session.ping() > 0


def test_tls_to_a_plain_port_fails_at_once_and_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """wss:// to a server without TLS: the server answers the ClientHello at once (not after
    its handshake_timeout, waiting for an HTTP request head) and the client says to use ws://
    without asking again (it took 5 attempts of handshake_timeout each: about a minute)."""
    handshake_timeout = 30.0
    with EmbeddedServer(port=0, handshake_timeout=handshake_timeout) as server:
        url = server.url.replace("ws://", "wss://", 1)
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING, logger="etp_sync.retry"),
            pytest.raises(ETPTransportError, match="ws://") as refused,
        ):
            ETPSession(url, timeout=60).connect()
        waited = time.monotonic() - started
        assert refused.value.permanent
        assert not [r for r in caplog.records if r.name == "etp_sync.retry"]
        assert waited < handshake_timeout / 3  # answered at once, not at the server's timeout
        with ETPSession(server.url) as session:  # the server goes on serving
            assert session.ping() > 0


def test_partition_and_token_headers_reach_the_server() -> None:
    with FakePeer(lambda *a: None) as peer:
        with ETPSession(peer.url, authorization="tok", data_partition_id="osdu-1") as session:
            session.ping()
        headers = {k.lower(): v for k, v in peer.headers[0].items()}
        assert headers["authorization"] == "Bearer tok"
        assert headers["data-partition-id"] == "osdu-1"


def test_a_failing_fake_peer_handler_fails_the_test() -> None:
    """The fake peer closes the connection at once and re-raises the handler's error."""

    def handler(peer: PeerConnection, header: Any, body: Any) -> None:
        raise RuntimeError(f"handler cannot answer {body.etp_name}")

    with pytest.raises(RuntimeError, match="cannot answer GetDataspaces"):  # noqa: SIM117
        with FakePeer(handler) as peer:
            session = ETPSession(peer.url, retry=RetryPolicy(attempts=1), auto_reconnect=False)
            with session, pytest.raises(ETPConnectionLost):
                session.send_and_recv(m.Dataspace.GetDataspaces(), timeout=30)


def test_every_public_member_of_the_session_is_documented() -> None:
    """help(ETPSession) documents every public member, those ConnectionKeeper gives it too
    (is_open lost its text when it moved there: nothing on the keeper's side documented it)."""
    undocumented = [
        name
        for name in dir(ETPSession)
        if not name.startswith("_") and not inspect.getdoc(getattr(ETPSession, name))
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    ("protocols", "words"),
    [([], "names no protocol"), ([4, -1], "no ETP protocol number"), ([0], "no ETP protocol")],
)
def test_protocols_that_cannot_open_a_session_are_refused_at_once(
    protocols: list[int], words: str
) -> None:
    """Before: the session went to the server and reported its refusal
    (ENOSUPPORTEDPROTOCOLS, as an ETPProtocolError) for the caller's own mistake."""
    with pytest.raises(ETPInvalidArgument, match=words):
        ETPSession("ws://127.0.0.1:1", protocols=protocols)


def test_a_protocol_named_twice_is_requested_once(server: EmbeddedServer) -> None:
    with ETPSession(server.url, protocols=[4, 3, 4]) as session:
        assert session.protocols == (4, 3)
        assert set(session.server.protocols) == {3, 4}


def test_without_auto_reconnect_the_first_call_after_a_drop_raises_and_the_next_connects(
    server: EmbeddedServer,
) -> None:
    with ETPSession(server.url, auto_reconnect=False) as session:
        session.get_dataspaces()
        server.drop_connections()
        with pytest.raises(ETPConnectionLost):  # cut off in flight, or finding it dropped
            for _ in range(100):  # until the reader thread has seen the drop
                session.get_dataspaces()
        assert session.connect_count == 1
        session.get_dataspaces()  # the caller was told once: this call connects again
        assert session.connect_count == 2
