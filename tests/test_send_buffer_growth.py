"""The client's send buffer (masked frames are built in it) grows with a quarter of room over
the message that outgrew it, so the next messages, a little bigger as often as not (blocks of
varints), reuse it instead of faulting in a new buffer each; big ones are mapped page by page
(no huge pages). The peer receives exactly the bytes sent."""

from __future__ import annotations

import mmap
import socket
import threading

import numpy as np

from etp_sync.transport._websocket import WebSocketTransport


def _roundtrip(client: WebSocketTransport, server: WebSocketTransport, payload: bytes) -> None:
    sender = threading.Thread(target=client.send_message, args=([payload],))
    sender.start()
    got = server.recv_message(timeout=10)
    sender.join()
    assert got == payload


def test_slightly_bigger_messages_reuse_the_send_buffer() -> None:
    a, b = socket.socketpair()
    client = WebSocketTransport(a)
    server = WebSocketTransport(b, client=False)
    rng = np.random.default_rng(1)
    try:
        _roundtrip(client, server, rng.bytes(300_000))
        first = client._writer._sbuf
        assert first.nbytes >= 300_000 + 300_000 // 4
        for size in (301_000, 330_000, 370_000):  # within the quarter of room
            _roundtrip(client, server, rng.bytes(size))
            assert client._writer._sbuf is first
        _roundtrip(client, server, rng.bytes(1_000_000))  # beyond it: a bigger buffer
        assert client._writer._sbuf.nbytes >= 1_250_000
    finally:
        client.close()
        server.close()


def test_a_big_send_buffer_is_mapped_page_by_page() -> None:
    a, b = socket.socketpair()
    client = WebSocketTransport(a)
    server = WebSocketTransport(b, client=False)
    try:
        _roundtrip(client, server, np.random.default_rng(2).bytes(5 << 20))
        buf = client._writer._sbuf
        assert buf.nbytes >= 5 << 20
        owner: object = buf
        while isinstance(owner, np.ndarray):
            owner = owner.base
        assert isinstance(owner, memoryview) and isinstance(owner.obj, mmap.mmap)  # not np.empty
    finally:
        client.close()
        server.close()
