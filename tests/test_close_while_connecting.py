"""close() while another thread is connecting: close returns at once (it never waits for the
connection lock that thread holds for all its attempts), and the connecting call raises
ETPSessionClosed at once, whatever step it is in (the websocket upgrade, the ETP handshake, the
wait between two attempts); a connection opened just as the session closed is not kept."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import threading
import time
from typing import Any

import pytest
from _faults import (
    _WS_GUID,
    ETP_SUBPROTOCOL,
    SilentPeer,
    TcpService,
    TimedCall,
    read_http_head,
)

from etp_sync import ETPSession, RetryPolicy
from etp_sync.errors import ETPSessionClosed, ETPTransportError
from etp_sync.server import EmbeddedServer
from etp_sync.session.engine import SessionEngine

MARGIN = ETPSession.DEADLINE_MARGIN
ONE_ATTEMPT = RetryPolicy(attempts=1)


class MutePeer(TcpService):
    """Accepts the websocket upgrade, then never answers (no OpenSession); ``requested`` is
    set once the client's RequestSession has arrived."""

    name = "mute"

    def __init__(self) -> None:
        super().__init__()
        self.requested = threading.Event()

    def on_accept(self, sock: socket.socket) -> None:
        self.spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            key = read_http_head(sock)["sec-websocket-key"]
            accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                + f"\r\nSec-WebSocket-Protocol: {ETP_SUBPROTOCOL}\r\n\r\n".encode()
            )  # fmt: skip
            if sock.recv(65536):
                self.requested.set()
            while sock.recv(65536):
                pass
        except (OSError, ConnectionError):
            return


def close_during(session: ETPSession, call: TimedCall) -> float:
    """Close ``session`` while ``call`` connects; return how long close() took."""
    assert not call.done.is_set(), call
    begin = time.monotonic()
    session.close()
    return time.monotonic() - begin


def assert_closed_at_once(call: TimedCall, close_took: float) -> None:
    assert close_took <= MARGIN, f"close() took {close_took:.2f} s"
    assert call.wait(MARGIN), "the connecting call was not woken by close()"
    assert isinstance(call.error, ETPSessionClosed), call


def test_close_during_the_websocket_upgrade_wakes_the_connecting_call() -> None:
    with SilentPeer() as peer:
        session = ETPSession(peer.url, timeout=30, connect_timeout=30, retry=ONE_ATTEMPT)
        call = TimedCall(session.connect)
        assert peer.wait_accepted(1, 10)  # the client waits for the upgrade's answer
        took = close_during(session, call)
        assert_closed_at_once(call, took)
        assert session.connect_count == 0 and not session.is_open
        with pytest.raises(ETPSessionClosed):
            session.ping()


def test_close_during_the_etp_handshake_wakes_the_connecting_call() -> None:
    with MutePeer() as peer:
        session = ETPSession(peer.url, timeout=30, connect_timeout=30, retry=ONE_ATTEMPT)
        call = TimedCall(session.get_dataspaces)
        assert peer.requested.wait(10)  # the client waits for OpenSession
        took = close_during(session, call)
        assert_closed_at_once(call, took)
        assert session.connect_count == 0 and not session.is_open


class _Noted(logging.Handler):
    """Sets ``event`` on the first record logged."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


def test_close_during_the_wait_between_attempts_ends_the_retries() -> None:
    with socket.socket() as unused:  # a port nobody listens on: every attempt is refused
        unused.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{unused.getsockname()[1]}/"
        patient = RetryPolicy(attempts=5, total_time=120, initial_wait=60, max_wait=60, jitter=0)
        session = ETPSession(url, timeout=120, retry=patient)
        noted = _Noted()
        retry_log = logging.getLogger("etp_sync.retry")
        retry_log.addHandler(noted)
        try:
            call = TimedCall(session.connect)
            assert noted.event.wait(10)  # "retrying in 60 s": the wait has begun
            took = close_during(session, call)
        finally:
            retry_log.removeHandler(noted)
        assert_closed_at_once(call, took)
        assert isinstance(call.error.__cause__, ETPTransportError)  # why it was retrying


def test_the_retry_policy_stops_when_interrupted() -> None:
    interrupt = threading.Event()
    attempts: list[bool] = []

    def refused() -> None:
        attempts.append(interrupt.is_set())
        if interrupt.is_set():
            raise ETPSessionClosed("closed")
        raise ETPTransportError("connection refused")

    slow = RetryPolicy(attempts=5, initial_wait=60, max_wait=60, jitter=0)
    noted = _Noted()
    retry_log = logging.getLogger("etp_sync.retry")
    retry_log.addHandler(noted)
    try:
        call = TimedCall(slow.run, refused, "connecting", interrupt=interrupt)
        assert noted.event.wait(10)
    finally:
        retry_log.removeHandler(noted)
    interrupt.set()
    assert call.wait(MARGIN), "the wait between attempts was not interrupted"
    assert isinstance(call.error, ETPSessionClosed) and attempts == [False, True]


def test_a_connection_opened_as_the_session_closes_is_closed_not_kept(
    server: EmbeddedServer,
) -> None:
    opened: list[SessionEngine] = []

    class ClosedWhileOpening(ETPSession):
        def _open_connection(self, *args: Any, **kwargs: Any) -> SessionEngine:
            conn = super()._open_connection(*args, **kwargs)
            opened.append(conn)
            closer = threading.Thread(target=self.close, daemon=True)
            closer.start()  # another thread closes the session right now
            closer.join(10)
            assert not closer.is_alive(), "close() waited for the thread connecting"
            return conn

    session = ClosedWhileOpening(server.url, timeout=30, retry=ONE_ATTEMPT)
    with pytest.raises(ETPSessionClosed):
        session.connect()
    assert len(opened) == 1 and not opened[0].is_open
    assert session._conn is None and session.connect_count == 0
    with pytest.raises(ETPSessionClosed):
        session.ping()
