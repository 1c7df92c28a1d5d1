"""A client message whose biggest part follows a prefix of any length is masked where that part
lands aligned like its own memory (see ``_frame_writer._alignment_skew``): whatever the shift,
the peer receives exactly the bytes sent."""

from __future__ import annotations

import socket
import threading

import numpy as np

from etp_sync.transport._frame_writer import _alignment_skew
from etp_sync.transport._websocket import WebSocketTransport


def test_the_biggest_part_is_shifted_to_its_own_alignment() -> None:
    values = np.arange(1 << 14, dtype=np.float64)  # 128 KiB, 16-byte aligned
    for prefix in range(9):
        views = [memoryview(b"p" * prefix), values.data.cast("B"), memoryview(b"\x00")]
        skew = _alignment_skew(views)
        assert 0 <= skew < 8
        assert (16 + skew + prefix) % 8 == 0  # where the values land in the send buffer
    assert _alignment_skew([memoryview(b"small"), memoryview(b"x" * 100)]) == 0


def test_shifted_messages_arrive_intact() -> None:
    a, b = socket.socketpair()
    client = WebSocketTransport(a)
    server = WebSocketTransport(b, client=False)
    try:
        for prefix in (0, 1, 3, 5, 7, 8, 13):
            head = bytes(range(prefix))
            values = np.random.default_rng(prefix).random(40_000)[1:]  # its start: 8 past 16
            parts = [head, values, b"\x00\x01"]
            sender = threading.Thread(target=client.send_message, args=(parts,))
            sender.start()
            got = server.recv_message(timeout=10)
            sender.join()
            assert got == head + values.tobytes() + b"\x00\x01"
    finally:
        client.close()
        server.close()
