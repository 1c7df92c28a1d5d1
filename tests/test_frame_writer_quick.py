"""Which send a small frame takes: libc's with the GIL held (``quick_send``) only when other
threads than the sender and one reader run; the socket's own otherwise. The bytes are the same
either way."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from etp_sync.errors import ETPTransportError, ETPWriteTimeout
from etp_sync.transport._frame_writer import FrameWriter
from etp_sync.transport._frames import OP_BINARY, mask_into
from etp_sync.transport._quick_send import quick_send


def _writer(sock: socket.socket, calls: list[int]) -> FrameWriter:
    def lost(message: str) -> ETPTransportError:
        return ETPTransportError(message)

    writer = FrameWriter(
        sock,
        masked=True,
        max_frame_size=None,
        stall_timeout=5.0,
        safe_url="ws://test/",
        state=lambda: "open",
        check=lambda opcode: None,
        lost=lost,
    )

    def recording(sock: socket.socket, data: bytes) -> int:
        calls.append(len(data))
        return quick_send(sock, data) if quick_send else sock.send(data)

    writer._quick_send = recording
    return writer


def _payload(frame: bytes) -> bytes:
    assert frame[0] == 0x80 | OP_BINARY and frame[1] & 0x80
    key, masked = frame[2:6], bytearray(frame[6:])
    mask_into(masked, 0, masked, key)
    return bytes(masked)


@pytest.mark.parametrize(("threads", "quick"), [(1, False), (2, False), (3, True), (17, True)])
def test_small_frames_keep_the_gil_only_when_other_threads_run(
    monkeypatch: pytest.MonkeyPatch, threads: int, quick: bool
) -> None:
    a, b = socket.socketpair()
    with a, b:
        calls: list[int] = []
        writer = _writer(a, calls)
        monkeypatch.setattr(threading, "active_count", lambda: threads)
        writer.send(OP_BINARY, [b"head", bytearray(b"body")], 8)
        frame = b.recv(100)
        assert _payload(frame) == b"headbody"
        assert calls == ([len(frame)] if quick else [])


def test_a_small_frame_keeps_its_deadline_on_a_socket_with_a_python_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A socket in Python timeout mode (no kernel timeouts: other platforms, or setsockopt
    refused) waits up to its timeout inside ``send`` even with MSG_DONTWAIT: a small frame sent
    by the socket's own send to a full socket must still end at its deadline (before: it
    waited the socket's whole timeout, then called the connection lost)."""
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                a.send(b"x" * 65536)  # the peer reads nothing: no room left
        a.settimeout(5.0)
        writer = _writer(a, [])
        monkeypatch.setattr(threading, "active_count", lambda: 2)  # the socket's own send
        started = time.monotonic()
        with pytest.raises(ETPWriteTimeout):
            writer.send(OP_BINARY, [b"ping"], 4, deadline=started + 0.2)
        assert time.monotonic() - started < 3.0
