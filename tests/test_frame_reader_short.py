"""The frame reader's short path: a whole small binary frame in the read-ahead buffer (already
there, or come in the first receive) is taken at once; every other frame (split over receives,
text, fragmented, control, too big, malformed) goes the general way with the same outcome.

Receives are cut where a test says by a socket whose ``recv_into`` takes at most the next of a
list of sizes (the bytes are all sent beforehand), so each split point is met exactly.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from etp_sync.errors import ETPConnectionLost, ETPProtocolError
from etp_sync.transport._frame_reader import FrameReader
from etp_sync.transport._frames import (
    FIN,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SMALL_MASK,
    header_len,
    mask_into,
    write_header,
)
from etp_sync.transport._websocket import WebSocketTransport


class CutSocket(socket.socket):
    """A socket whose receives take at most the next size of ``cuts`` (all they can when the
    list is empty); ``recvs`` counts them."""

    cuts: list[int]
    recvs: int

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.recvs += 1
        return super().recv_into(buffer, self.cuts.pop(0) if self.cuts else nbytes, flags)


def frame(first: int, payload: bytes, masked: bool) -> bytes:
    """One frame of ``payload`` (``first`` = FIN|opcode), masked with a random key if asked."""
    key = os.urandom(4) if masked else None
    head = bytearray(header_len(len(payload), masked))
    write_header(memoryview(head), 0, first, len(payload), key)
    body = bytearray(payload)
    if key is not None:
        mask_into(body, 0, body, key)
    return bytes(head + body)


class Pair:
    """A transport reading from a :class:`CutSocket` and the raw socket of its peer; the
    reader's general path (``_read_frames``) is counted."""

    def __init__(self, *, client: bool, stall_timeout: float = 5.0, **kwargs: Any) -> None:
        ours, self.peer = socket.socketpair()
        self.sock = CutSocket(ours.family, ours.type, fileno=ours.detach())
        self.sock.cuts, self.sock.recvs = [], 0
        self.transport = WebSocketTransport(
            self.sock, client=client, stall_timeout=stall_timeout, close_timeout=0.2, **kwargs
        )
        self.general = 0
        reader: FrameReader = self.transport._reader
        read_frames = reader._read_frames

        def counted(*args: Any) -> tuple[bytearray, bool] | None:
            self.general += 1
            return read_frames(*args)

        reader._read_frames = counted  # type: ignore[method-assign, assignment]
        self.masked = not client  # what a peer of this side sends

    def send(self, data: bytes) -> None:
        self.peer.sendall(data)

    def close(self) -> None:
        self.peer.close()  # first: the transport's close then meets EOF, no wait
        self.transport.close()


@pytest.fixture(params=[True, False], ids=["client-reads-unmasked", "server-reads-masked"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    made = Pair(client=request.param)
    try:
        yield made
    finally:
        made.close()


SIZES = [0, 1, 5, 125, 126, 300, SMALL_MASK - 1, SMALL_MASK, SMALL_MASK + 3]


@pytest.mark.parametrize("size", SIZES)
def test_a_whole_frame_takes_the_short_path(pair: Pair, size: int) -> None:
    payload = os.urandom(size)
    pair.send(frame(FIN | OP_BINARY, payload, pair.masked))
    assert pair.transport.recv_data(None) == (bytearray(payload), False)
    assert pair.general == 0 and pair.sock.recvs == 1


@pytest.mark.parametrize("size", [0, 5, 125, 126, 300])
def test_a_frame_split_over_two_receives_at_every_byte(pair: Pair, size: int) -> None:
    payload = os.urandom(size)
    data = frame(FIN | OP_BINARY, payload, pair.masked)
    for cut in range(1, len(data)):
        pair.sock.cuts, pair.sock.recvs, pair.general = [cut], 0, 0
        pair.send(data)
        assert pair.transport.recv_data(None) == (bytearray(payload), False), cut
        assert pair.sock.recvs == 2 and pair.general == 1, cut


def test_a_frame_byte_by_byte_with_a_timed_wait_and_deadline(pair: Pair) -> None:
    """The server's session loop: a timed wait for the first byte, then the rest mid-frame."""
    payload = os.urandom(200)
    data = frame(FIN | OP_BINARY, payload, pair.masked)
    pair.sock.cuts = [1] * len(data)
    pair.send(data)
    received = pair.transport.recv_data(0.5, deadline=time.monotonic() + 30)
    assert received == (bytearray(payload), False)
    assert pair.sock.recvs == len(data)


def test_two_frames_in_one_receive(pair: Pair) -> None:
    pair.send(
        frame(FIN | OP_BINARY, b"first", pair.masked) + frame(FIN | OP_BINARY, b"2", pair.masked)
    )
    assert pair.transport.recv_data(None) == (bytearray(b"first"), False)
    assert pair.transport.message_ready
    assert pair.transport.recv_data(0.5) == (bytearray(b"2"), False)
    assert not pair.transport.message_ready
    assert pair.sock.recvs == 1 and pair.general == 0


def test_a_whole_frame_then_the_start_of_the_next(pair: Pair) -> None:
    second = frame(FIN | OP_BINARY, os.urandom(150), pair.masked)
    first = frame(FIN | OP_BINARY, b"whole", pair.masked)
    for cut in range(1, len(second)):
        pair.sock.cuts, pair.sock.recvs, pair.general = [len(first) + cut], 0, 0
        pair.send(first + second)
        assert pair.transport.recv_data(None) == (bytearray(b"whole"), False)
        assert not pair.transport.message_ready
        assert pair.transport.recv_data(None) == (bytearray(_payload(second)), False)
        assert pair.sock.recvs == 2 and pair.general == 1, cut


def _payload(data: bytes) -> bytes:
    """The payload of one small frame ``data`` (unmasked)."""
    length = data[1] & 0x7F
    start = 2 if length < 126 else 4
    if not data[1] & 0x80:
        return data[start:]
    body = bytearray(data[start + 4 :])
    mask_into(body, 0, body, data[start : start + 4])
    return bytes(body)


def test_control_frames_between_data_frames(pair: Pair) -> None:
    """A ping in the same receive as the data frames around it: answered, and each message
    returned in order; the data frame behind the ping takes the short path again."""
    pair.send(
        frame(FIN | OP_BINARY, b"one", pair.masked)
        + frame(FIN | OP_PING, b"are you there", pair.masked)
        + frame(FIN | OP_PONG, b"", pair.masked)
        + frame(FIN | OP_BINARY, b"two", pair.masked)
    )
    assert pair.transport.recv_data(None) == (bytearray(b"one"), False)
    assert pair.transport.last_pong is None
    assert pair.transport.recv_data(0.5) == (bytearray(b"two"), False)
    assert pair.transport.last_pong is not None
    assert pair.sock.recvs == 1 and pair.general == 2  # once per control frame
    pair.peer.settimeout(5)
    pong = pair.peer.recv(64)
    assert pong[0] == FIN | OP_PONG and _payload(pong) == b"are you there"


def test_text_and_fragmented_messages_take_the_general_path(pair: Pair) -> None:
    pair.send(
        frame(FIN | OP_TEXT, b"text", pair.masked)
        + frame(OP_BINARY, b"frag", pair.masked)
        + frame(FIN | OP_PING, b"", pair.masked)
        + frame(FIN | OP_CONT, b"ment", pair.masked)
    )
    assert pair.transport.recv_data(None) == (bytearray(b"text"), True)
    assert pair.transport.recv_data(None) == (bytearray(b"fragment"), False)
    assert pair.general == 2


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_the_largest_frame_the_read_ahead_buffer_holds(masked: bool) -> None:
    """The short path takes a frame only when it is whole in the 64 KiB read-ahead buffer:
    64 KiB less its header exactly fits, one byte more goes the general way (same bytes)."""
    made = Pair(client=not masked)
    try:
        fits = (64 << 10) - header_len(65000, masked)
        for size, general in ((fits, 0), (fits + 1, 1), (65535, 1), (65536, 1)):
            payload = os.urandom(size)
            made.general = 0
            threading.Thread(
                target=made.send, args=(frame(FIN | OP_BINARY, payload, masked),)
            ).start()
            if not general:  # all of it in the socket before the first receive
                while _pending(made.sock) < size + header_len(size, masked):
                    time.sleep(0.001)
            assert made.transport.recv_data(5) == (bytearray(payload), False), size
            assert made.general == general, size
    finally:
        made.close()


def _pending(sock: socket.socket) -> int:
    """Bytes waiting in ``sock``'s receive queue."""
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"), "little")


def test_max_message_size_at_its_edge(pair: Pair) -> None:
    """A whole small frame of exactly max_message_size bytes is taken; one byte more is
    refused (1009) with the general path's words."""
    pair.transport.max_message_size = 100
    pair.send(frame(FIN | OP_BINARY, bytes(100), pair.masked))
    assert pair.transport.recv_data(None) == (bytearray(100), False)
    assert pair.general == 0
    pair.send(frame(FIN | OP_BINARY, bytes(101), pair.masked))
    with pytest.raises(
        ETPProtocolError, match="incoming message of 101 bytes exceeds max_message_size 100"
    ):
        pair.transport.recv_data(None)
    pair.peer.settimeout(5)
    close = pair.peer.recv(64)
    assert close[0] == FIN | OP_CLOSE and _payload(close) == (1009).to_bytes(2, "big")


def test_a_whole_frame_with_reserved_bits_is_refused(pair: Pair) -> None:
    pair.send(frame(FIN | 0x40 | OP_BINARY, b"x", pair.masked))
    with pytest.raises(ETPProtocolError, match="reserved bits set without an extension"):
        pair.transport.recv_data(None)


@pytest.mark.parametrize("timeout", [None, 0.1], ids=["client-wait", "server-timed-wait"])
def test_a_stall_inside_a_small_frame_is_still_a_lost_connection(timeout: float | None) -> None:
    """The first receive brings the header and part of the payload and nothing more comes:
    the short path declines, and the connection is lost after stall_timeout (not after the
    shorter timed wait)."""
    made = Pair(client=False, stall_timeout=0.4)
    try:
        made.send(frame(FIN | OP_BINARY, b"0123456789", True)[:-3])
        begin = time.monotonic()
        with pytest.raises(ETPConnectionLost, match=r"stalled mid-frame for more than 0\.4 s"):
            made.transport.recv_data(timeout, deadline=None if timeout is None else begin + 30)
        assert time.monotonic() - begin >= 0.39
        assert made.general == 1
    finally:
        made.close()


@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize(
    ("first", "payload"),
    [
        (FIN | OP_BINARY, b"whole"),  # the short path's kind of frame
        (FIN | OP_BINARY, b"x" * 70_000),  # the general path's
        (FIN | OP_PING, b"ping"),
    ],
    ids=["small", "big", "ping"],
)
def test_a_frame_masked_the_wrong_way_is_refused(client: bool, first: int, payload: bytes) -> None:
    """RFC 6455 5.1: a server closes the connection (1002) on a frame that is not masked, a
    client on a frame that is (each was once taken as if masked the right way)."""
    made = Pair(client=client)
    data = frame(first, payload, masked=client)  # the wrong way for the reader
    wrong = "masked frame from a server" if client else "unmasked frame from a client"
    try:
        threading.Thread(target=made.send, args=(data,), daemon=True).start()
        with pytest.raises(ETPProtocolError, match=wrong):
            made.transport.recv_data(5)
        made.peer.settimeout(5)
        close = made.peer.recv(64)
        assert close[0] == FIN | OP_CLOSE and _payload(close)[:2] == (1002).to_bytes(2, "big")
    finally:
        made.close()
