"""Timed receives of the websocket transport (the server's session loop waits with a timeout for
each request) and the stall timeout: on a plain Linux socket a timed wait is the kernel's receive
timeout, not a poll before each recv; stalls, message deadlines and close() still end it; any
positive stall timeout is taken, infinity included."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from etp_sync.errors import (
    ETPConnectionLost,
    ETPInvalidArgument,
    ETPProtocolError,
    ETPTransportError,
)
from etp_sync.transport import _websocket
from etp_sync.transport._frame_reader import MAX_WAIT
from etp_sync.transport._frames import FIN, OP_BINARY, small_frame
from etp_sync.transport._websocket import WebSocketTransport

kernel_only = pytest.mark.skipif(
    not _websocket._KERNEL_TIMEOUTS, reason="kernel socket timeouts are Linux-only"
)


def masked(payload: bytes) -> bytes:
    """A client's (masked) one-frame binary message."""
    return small_frame(FIN | OP_BINARY, payload, os.urandom(4))


@pytest.fixture()
def server_side() -> Iterator[tuple[WebSocketTransport, socket.socket]]:
    """A server transport (stall timeout 2 s) and the raw socket of its peer."""
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, client=False, stall_timeout=2.0, close_timeout=0.2)
    try:
        yield transport, theirs
    finally:
        transport.close()
        theirs.close()


def count_polls(transport: WebSocketTransport, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every poll of the transport's reader."""
    reader = transport._reader
    polls: list[float] = []
    poll = reader._poll

    def counted(wait: float | None) -> bool:
        polls.append(-1.0 if wait is None else wait)
        return poll(wait)

    monkeypatch.setattr(reader, "_poll", counted)
    return polls


@kernel_only
def test_timed_waits_for_requests_do_not_poll(
    server_side: tuple[WebSocketTransport, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like the server's session loop: each request is awaited with the same timeout and a
    message deadline; the recv itself waits (kernel receive timeout), no poll before it."""
    transport, peer = server_side
    polls = count_polls(transport, monkeypatch)
    for i in range(20):
        peer.sendall(masked(b"request %d" % i))
        received = transport.recv_data(timeout=0.5, deadline=time.monotonic() + 60)
        assert received == (bytearray(b"request %d" % i), False)
    assert polls == []


@kernel_only
def test_a_timed_wait_with_nothing_coming_returns_none_and_a_later_message_arrives(
    server_side: tuple[WebSocketTransport, socket.socket],
) -> None:
    transport, peer = server_side
    begin = time.monotonic()
    assert transport.recv_data(timeout=0.05) is None
    assert time.monotonic() - begin >= 0.05  # not before its timeout
    assert transport.recv_data(timeout=0) is None
    peer.sendall(masked(b"late"))
    assert transport.recv_data(timeout=5) == (bytearray(b"late"), False)


def test_a_pause_mid_frame_longer_than_the_wait_but_within_the_stall_timeout_is_no_stall(
    server_side: tuple[WebSocketTransport, socket.socket],
) -> None:
    """The receive timeout armed for a 0.05 s wait does not turn a 0.3 s pause mid-frame into
    a lost connection: only ``stall_timeout`` (2 s) without a byte does."""
    transport, peer = server_side
    assert transport.recv_data(timeout=0.05) is None  # arms the short wait
    data = masked(b"x" * 1000)
    started = threading.Event()

    def trickle() -> None:
        peer.sendall(data[:300])
        started.wait(5)
        time.sleep(0.3)  # the pause under test (several short waits long)
        peer.sendall(data[300:])

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        started.set()
        assert transport.recv_data(timeout=0.05) == (bytearray(b"x" * 1000), False)
    finally:
        thread.join(5)


def test_a_stall_mid_frame_is_lost_after_the_stall_timeout_not_the_wait() -> None:
    ours, peer = socket.socketpair()
    transport = WebSocketTransport(ours, client=False, stall_timeout=0.3, close_timeout=0.2)
    try:
        assert transport.recv_data(timeout=0.05) is None  # arms the short wait
        peer.sendall(masked(b"y" * 1000)[:300])
        begin = time.monotonic()
        with pytest.raises(ETPConnectionLost, match=r"stalled mid-frame for more than 0\.3 s"):
            transport.recv_data(timeout=0.05)
        assert time.monotonic() - begin >= 0.3
    finally:
        transport.close()
        peer.close()


def test_a_message_deadline_still_ends_a_trickle_under_short_waits(
    server_side: tuple[WebSocketTransport, socket.socket],
) -> None:
    """A byte every 0.05 s never stalls, but the message must be whole by its deadline."""
    transport, peer = server_side
    data = masked(b"z" * 200)
    done = threading.Event()

    def trickle() -> None:
        for i in range(len(data)):
            if done.is_set():
                return
            try:
                peer.sendall(data[i : i + 1])
            except OSError:
                return
            time.sleep(0.05)  # the trickle under test

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        begin = time.monotonic()
        with pytest.raises(ETPProtocolError, match="deadline"):
            transport.recv_data(timeout=0.5, deadline=begin + 0.6)
        assert time.monotonic() - begin >= 0.6
    finally:
        done.set()
        thread.join(5)


@kernel_only
def test_a_message_deadline_inside_the_last_stretch_of_a_stall_ends_the_message_on_time() -> None:
    """A frame that stops mid-way: once the kernel's wait ran out, the rest of the stall is
    waited for with the message deadline still in force (it overshot the deadline and reported
    a stall instead, reviewer R2)."""
    ours, peer = socket.socketpair()
    transport = WebSocketTransport(ours, client=False, stall_timeout=0.8, close_timeout=0.05)
    try:
        assert transport.recv_data(0.5, deadline=time.monotonic() + 10) is None  # arms 0.5 s
        peer.sendall(masked(b"q" * 10)[:2])  # the header's first bytes, then nothing
        begin = time.monotonic()
        with pytest.raises(ETPProtocolError, match="message not complete by its deadline"):
            transport.recv_data(0.5, deadline=begin + 0.6)
        assert 0.6 <= time.monotonic() - begin < 0.75  # the stall would end at 0.8 s
    finally:
        transport.close()
        peer.close()


def test_close_wakes_a_reader_in_a_long_timed_wait(
    server_side: tuple[WebSocketTransport, socket.socket],
) -> None:
    """The server's stop() closes each session's transport from another thread: a reader in
    a 30 s wait (the kernel's receive timeout armed to 30 s) ends at once."""
    transport, _peer = server_side
    reader = transport._reader
    blocked = threading.Event()
    recv_first, poll = reader._recv_first, reader._poll

    def waiting() -> bool:
        blocked.set()  # the reader now waits for bytes that never come
        return recv_first()

    def polling(wait: float | None) -> bool:
        blocked.set()  # or polls for them
        return poll(wait)

    reader._recv_first = waiting  # type: ignore[method-assign]
    reader._poll = polling  # type: ignore[method-assign]
    outcome: list[Any] = []

    def read() -> None:
        try:
            outcome.append(transport.recv_data(timeout=30))
        except ETPTransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    assert blocked.wait(5)
    begin = time.monotonic()
    transport.close()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - begin < 5
    assert len(outcome) == 1 and isinstance(outcome[0], ETPTransportError)


# -- stall_timeout values ---------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel-timeouts", "python-timeout"])
@pytest.mark.parametrize("value", [math.inf, 1e300, 10**30, pytest.param(10**400, id="10**400")])
def test_an_infinite_or_huge_stall_timeout_means_none_in_practice(
    value: float, kernel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Infinity (or more than the socket layer can wait) is taken as its longest wait, about
    24.8 days: no stall timeout in practice, and a working connection (it raised
    OverflowError or struct.error from the socket before)."""
    monkeypatch.setattr(_websocket, "_KERNEL_TIMEOUTS", kernel and _websocket._KERNEL_TIMEOUTS)
    ours, theirs = socket.socketpair()
    server = WebSocketTransport(ours, client=False, stall_timeout=value, close_timeout=0.2)
    client = WebSocketTransport(theirs, stall_timeout=value, close_timeout=0.2)
    try:
        assert server.stall_timeout == client.stall_timeout == MAX_WAIT
        client.send_message(b"hello")
        assert server.recv_data(timeout=5) == (bytearray(b"hello"), False)
        assert server.recv_data(timeout=0.01) is None
        server.send_message(b"world")
        assert client.recv_message(None) == b"world"
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("value", [Decimal("2.5"), Fraction(1, 2), np.int64(4), np.float32(3)])
def test_any_real_number_type_is_taken(value: Any) -> None:
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, stall_timeout=value, close_timeout=0.2)
    try:
        assert transport.stall_timeout == float(value)
    finally:
        transport.close()
        theirs.close()


@pytest.mark.parametrize("value", [0, -1.0, math.nan, -math.inf, "5", None, True, object()])
def test_a_stall_timeout_that_is_not_a_positive_number_is_refused(value: Any) -> None:
    ours, theirs = socket.socketpair()
    try:
        with pytest.raises(ETPInvalidArgument, match="stall_timeout"):
            WebSocketTransport(ours, stall_timeout=value)
    finally:
        ours.close()
        theirs.close()


def test_connect_refuses_a_bad_stall_timeout_before_dialling() -> None:
    with pytest.raises(ETPInvalidArgument, match="stall_timeout"):
        WebSocketTransport.connect("ws://127.0.0.1:9/", stall_timeout=-5)


@kernel_only
def test_a_timed_wait_that_first_finishes_a_buffered_control_frame_keeps_its_timeout(
    server_side: tuple[WebSocketTransport, socket.socket],
) -> None:
    """A ping begun in the read-ahead buffer when a timed wait starts, its rest arriving later:
    the wait for the next frame is what is left of the timeout, not the whole timeout again
    (the kernel's receive timeout was re-armed to it, so the call overran by the ping's time)."""
    transport, peer = server_side
    ping = small_frame(FIN | 0x9, b"are you there", os.urandom(4))
    peer.sendall(masked(b"a") + ping[:3])
    assert transport.recv_data(None) == (bytearray(b"a"), False)
    assert transport._reader.buffered  # the ping's first bytes
    rest = threading.Timer(0.3, peer.sendall, (ping[3:],))
    rest.start()
    try:
        begin = time.monotonic()
        assert transport.recv_data(0.5, deadline=begin + 10) is None
        elapsed = time.monotonic() - begin
    finally:
        rest.join()
    assert 0.45 <= elapsed < 0.7, elapsed
    peer.settimeout(5)
    assert peer.recv(64)[0] == FIN | 0xA  # the ping was answered
