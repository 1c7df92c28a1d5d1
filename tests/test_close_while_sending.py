"""A transport closed while another thread sends releases the socket's descriptor only once
that send is over: a send in ``socket.send`` (GIL released) reads the descriptor's number right
before the system call, and a number closed meanwhile may already name a file or socket opened
since, which the send would write into. The socket is shut down first, so the send ends at once
(and closes the descriptor as it releases the send lock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from etp_sync import ETPError
from etp_sync.transport import _frame_writer
from etp_sync.transport._websocket import WebSocketTransport


@pytest.fixture
def pair() -> Iterator[tuple[WebSocketTransport, socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, client=True, stall_timeout=30, close_timeout=0.2)
    try:
        yield transport, ours, theirs
    finally:
        transport.abort()
        ours.close()
        theirs.close()


def test_the_descriptor_outlives_a_send_holding_the_writer(
    pair: tuple[WebSocketTransport, socket.socket, socket.socket],
) -> None:
    transport, ours, theirs = pair
    writer = transport._writer
    assert writer._lock.acquire(timeout=5)  # a send in progress
    transport.abort()
    assert ours.fileno() != -1  # not released under the send (before: closed at once)
    theirs.settimeout(5)
    assert theirs.recv(1) == b""  # but shut down: the send fails at once
    writer._release()  # the send ends
    assert ours.fileno() == -1


def test_a_send_blocked_on_a_full_socket_ends_when_the_transport_is_aborted(
    pair: tuple[WebSocketTransport, socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport, ours, _ = pair
    waiting = threading.Event()
    wait_writable = _frame_writer.FrameWriter._wait_writable

    def noting(self: Any, deadline: float, *, started: bool) -> None:
        waiting.set()
        wait_writable(self, deadline, started=started)

    monkeypatch.setattr(_frame_writer.FrameWriter, "_wait_writable", noting)
    outcome: list[BaseException] = []

    def send() -> None:
        try:  # far more than the socket buffers hold, to a peer that does not read
            transport.send_message(np.zeros(8 << 20, np.uint8), deadline=time.monotonic() + 60)
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert waiting.wait(10)
        begin = time.monotonic()
        transport.abort()
        sender.join(10)
        assert not sender.is_alive() and time.monotonic() - begin < 5
    finally:
        sender.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], ETPError)
    assert ours.fileno() == -1  # released by the send as it ended
