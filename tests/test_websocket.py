"""Tests of the websocket transport against a real websockets server and a scripted raw peer.

The websockets server unmasks what we send, so an intact echo also proves our masking right.
The raw peer (a few lines of RFC 6455 over a plain socket) produces what a well-behaved library
will not: abrupt EOF, mid-frame stalls, masked or malformed server frames.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import logging
import os
import random
import socket
import struct
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.sync.server import Server, ServerConnection, serve

from etp_sync.errors import (
    ETPConnectionLost,
    ETPError,
    ETPInvalidArgument,
    ETPProtocolError,
    ETPSessionClosed,
    ETPTransportError,
)
from etp_sync.transport._frames import mask_into
from etp_sync.transport._quick_send import quick_send
from etp_sync.transport._websocket import ETP_SUBPROTOCOL, WebSocketClosed, WebSocketTransport

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cr3t-t0ken-value"


# ------------------------------------------------------------------------------------------
# Helpers


@contextlib.contextmanager
def ws_server(
    handler: Callable[[ServerConnection], None], **kwargs: object
) -> Iterator[tuple[str, Server]]:
    """A websockets sync server on a free loopback port, stopped on exit."""
    kwargs.setdefault("subprotocols", [ETP_SUBPROTOCOL])
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("compression", None)
    kwargs.setdefault("ping_interval", None)
    server = serve(handler, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.socket.getsockname()[1]
        yield f"ws://127.0.0.1:{port}/etp", server
    finally:
        server.shutdown()
        thread.join(10)


def echo(ws: ServerConnection) -> None:
    """Send every message back."""
    with contextlib.suppress(ConnectionClosed):
        for message in ws:
            ws.send(message)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from ``sock`` (raises EOFError on EOF)."""
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One client frame (opcode, unmasked payload), as a server reads it."""
    b0, b1 = recv_exact(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", recv_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", recv_exact(sock, 8))
    key = recv_exact(sock, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = recv_exact(sock, length)
    return b0 & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


def frame(opcode: int, payload: bytes, fin: bool = True, key: bytes | None = None) -> bytes:
    """A server frame (unmasked unless ``key``)."""
    b0 = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if key is not None else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawPeer:
    """A one-connection websocket 'server' on a raw socket that runs a script after the upgrade."""

    def __init__(
        self,
        script: Callable[[socket.socket], None],
        subprotocol: str | None = ETP_SUBPROTOCOL,
        after_head: bytes = b"",
        eol: bytes = b"\r\n",
        between: Callable[[], None] | None = None,
    ) -> None:
        """``after_head``: bytes sent in the same write as the 101 answer (frames that follow
        it at once); ``eol`` ends the answer's lines (a bare LF is tolerated by clients);
        ``between``: the answer goes in two writes, its first half, then (once ``between()``
        returns) the rest with ``after_head``."""
        self.script = script
        self.subprotocol = subprotocol
        self.after_head = after_head
        self.eol = eol
        self.between = between
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                accept = base64.b64encode(hashlib.sha1(key + guid).digest())
                response = (
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
                )
                if self.subprotocol:
                    response += f"Sec-WebSocket-Protocol: {self.subprotocol}\r\n".encode()
                head = (response + b"\r\n").replace(b"\r\n", self.eol)
                if self.between is not None:
                    conn.sendall(head[: len(head) // 2])
                    self.between()
                    head = head[len(head) // 2 :]
                conn.sendall(head + self.after_head)
                self.script(conn)
            except BaseException as exc:  # reported through .error
                self.error = exc

    def stop(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux; shutdown() does.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(10)

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def naive_mask(src: bytes, key: bytes, phase: int) -> bytes:
    return bytes(b ^ key[(phase + i) % 4] for i, b in enumerate(src))


# ------------------------------------------------------------------------------------------
# mask_into


def test_mask_into_matches_naive_reference() -> None:
    rng = random.Random(1234)
    for length in [*range(18), 511, 512, 513, 515, 1000, 4099, 70001]:
        for phase in range(4):
            src = rng.randbytes(length)
            key = rng.randbytes(4)
            offset = rng.randrange(0, 9)
            dst = bytearray(rng.randbytes(length + offset + 3))
            before = bytes(dst)
            next_phase = mask_into(dst, offset, src, key, phase)
            assert next_phase == (phase + length) % 4
            assert bytes(dst[offset : offset + length]) == naive_mask(src, key, phase)
            assert dst[:offset] == before[:offset]  # nothing outside the target is touched
            assert dst[offset + length :] == before[offset + length :]


@given(
    data=st.binary(max_size=2000),
    key=st.binary(min_size=4, max_size=4),
    cuts=st.lists(st.integers(0, 2000), max_size=5),
)
def test_mask_into_split_parts_equal_whole(data: bytes, key: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    dst = bytearray(len(data))
    phase = 0
    for lo, hi in itertools.pairwise(bounds):
        phase = mask_into(dst, lo, memoryview(data)[lo:hi], key, phase)
    assert bytes(dst) == naive_mask(data, key, 0)


def test_mask_into_in_place_and_numpy_buffers() -> None:
    data = np.random.default_rng(5).integers(0, 256, 10_003, dtype=np.uint8)
    key = b"\x01\x80\xff\x37"
    buf = bytearray(data.tobytes())
    mask_into(buf, 0, buf, key, 2)
    assert bytes(buf) == naive_mask(data.tobytes(), key, 2)
    mask_into(buf, 0, buf, key, 2)  # masking twice restores
    assert bytes(buf) == data.tobytes()
    out = np.zeros(10_003, dtype=np.uint8)
    mask_into(out, 0, data, key)
    assert out.tobytes() == naive_mask(data.tobytes(), key, 0)


def test_mask_into_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        mask_into(bytearray(4), 0, b"abcd", b"abc")
    with pytest.raises(ValueError):
        mask_into(bytearray(3), 0, b"abcd", b"abcd")
    with pytest.raises(ETPInvalidArgument, match="writable"):
        mask_into(b"xxxx", 0, b"abcd", b"abcd")


# ------------------------------------------------------------------------------------------
# Round trips against websockets


def test_round_trip_sizes_and_part_types() -> None:
    rng = np.random.default_rng(7)
    with ws_server(echo) as (url, _), WebSocketTransport.connect(url) as transport:
        assert transport.subprotocol == ETP_SUBPROTOCOL
        for size in [0, 1, 3, 125, 126, 127, 511, 512, 4095, 65535, 65536, 1_000_003]:
            payload = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            a, b = size // 3, 2 * size // 3
            parts: list[bytes | bytearray | memoryview] = [
                payload[:a],
                bytearray(payload[a:b]),
                memoryview(payload)[b:],
            ]
            transport.send_message(parts)
            received = transport.recv_message(timeout=10)
            assert isinstance(received, bytearray)
            assert received == payload
        # a single buffer (not a list) and a numpy array part
        transport.send_message(b"single")
        assert transport.recv_message(10) == b"single"
        array = np.arange(1000, dtype=np.float64)
        transport.send_message([b"head", array])
        assert transport.recv_message(10) == b"head" + array.tobytes()
        transport.send_message([])
        assert transport.recv_message(10) == b""


def test_round_trip_32_mb_in_parts() -> None:
    payload = os.urandom(32 * 1024 * 1024 + 5)
    view = memoryview(payload)
    parts = [view[:7], view[7 : 1 << 24], view[1 << 24 : (1 << 24) + 1], view[(1 << 24) + 1 :]]
    with ws_server(echo) as (url, _), WebSocketTransport.connect(url) as transport:
        transport.send_message(parts)
        received = transport.recv_message(timeout=60)
        assert received is not None and len(received) == len(payload)
        assert received == payload


def test_outgoing_fragmentation_with_max_frame_size() -> None:
    payload = os.urandom(300_001)
    with (
        ws_server(echo) as (url, _),
        WebSocketTransport.connect(url, max_frame_size=65536) as transport,
    ):
        transport.send_message([payload[:100], payload[100:]])
        assert transport.recv_message(10) == payload
        transport.max_frame_size = 1000
        transport.send_message([payload[:5000]])
        assert transport.recv_message(10) == payload[:5000]
        transport.max_frame_size = 100  # below the small-message fast path
        transport.send_message([payload[:150], payload[150:301]])
        assert transport.recv_message(10) == payload[:301]


def test_server_side_transport_both_ways() -> None:
    """``client=False``: unmasked frames gathered straight from the parts (also fragmented, also
    more parts than one sendmsg takes), masked frames from the client unmasked; text flagged."""
    a, b = socket.socketpair()
    server = WebSocketTransport(a, client=False)
    client = WebSocketTransport(b)
    try:
        data = np.random.default_rng(3).random(200_000)
        raw = data.tobytes()
        many = [raw[i : i + 100] for i in range(0, len(raw), 100)]  # 16,000 parts
        for frame_size in (None, 70_000, 1000):
            server.max_frame_size = frame_size
            client.max_frame_size = frame_size
            for parts, expected in (([b"head", data, b"t"], b"head" + raw + b"t"), (many, raw)):
                sender = threading.Thread(target=server.send_message, args=(parts,))
                sender.start()
                assert client.recv_message(10) == expected
                sender.join()
            client.send_message([raw[:5000], raw[5000:9000]])
            assert server.recv_data(10) == (bytearray(raw[:9000]), False)
        client._writer.send(0x1, [memoryview(b"caf\xc3\xa9")], 5)  # a text message
        assert server.recv_data(10) == (bytearray(b"caf\xc3\xa9"), True)
    finally:
        client.close()
        server.close()


def test_incoming_fragmented_message_is_reassembled() -> None:
    pieces = [os.urandom(n) for n in (10, 0, 70_000, 3, 200_000)]

    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.send(pieces)  # an iterable is sent as one fragmented message
        ws.send(b"after")
        ws.recv(timeout=5)

    with ws_server(handler) as (url, _), WebSocketTransport.connect(url) as transport:
        transport.send_message([b"go"])
        assert transport.recv_message(10) == b"".join(pieces)
        assert transport.recv_message(10) == b"after"


def test_server_ping_is_answered() -> None:
    def handler(ws: ServerConnection) -> None:
        pong = ws.ping(b"are you there")
        ws.send(b"ok" if pong.wait(5) else b"no pong")
        ws.recv(timeout=5)

    with ws_server(handler) as (url, _), WebSocketTransport.connect(url) as transport:
        assert transport.recv_message(10) == b"ok"


def test_pong_queued_while_a_send_holds_the_lock() -> None:
    """The reader never waits on the send lock for a pong; the lock holder sends it."""
    ready = threading.Event()

    def handler(ws: ServerConnection) -> None:
        pong = ws.ping(b"p")
        ready.set()
        ws.send(b"ok" if pong.wait(5) else b"no pong")
        ws.recv(timeout=5)

    with ws_server(handler) as (url, _), WebSocketTransport.connect(url) as transport:
        ready.wait(5)
        transport._writer._lock.acquire()  # as if a big send were in progress
        assert transport.recv_message(timeout=0.5) is None  # ping handled, pong queued
        assert transport._writer._pending_pong == b"p"
        transport._writer._release()  # the "sender" finishes and flushes the pong
        assert transport._writer._pending_pong is None
        assert transport.recv_message(10) == b"ok"


def test_client_ping_records_pong() -> None:
    with ws_server(echo) as (url, _), WebSocketTransport.connect(url) as transport:
        assert transport.last_pong is None
        before = time.monotonic()
        transport.ping(b"hi")
        assert transport.recv_message(timeout=0.5) is None
        assert transport.last_pong is not None and transport.last_pong >= before


def test_server_close_raises_session_closed_with_code_and_reason() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.close(4001, "bye now")

    with ws_server(handler) as (url, _):
        transport = WebSocketTransport.connect(url)
        with pytest.raises(ETPSessionClosed) as info:
            transport.recv_message(10)
        assert isinstance(info.value, WebSocketClosed)
        assert info.value.close_code == 4001
        assert info.value.reason == "bye now"
        assert info.value.by_peer
        assert "bye now" in str(info.value)
        assert transport.state == "closed"
        with pytest.raises(ETPSessionClosed):
            transport.send_message([b"late"])
        with pytest.raises(ETPSessionClosed):
            transport.recv_message(1)
        transport.close()  # idempotent, no error
        transport.close()


def test_close_handshake_from_client() -> None:
    seen: list[tuple[int | None, str | None]] = []

    def handler(ws: ServerConnection) -> None:
        echo(ws)
        seen.append((ws.close_code, ws.close_reason))

    with ws_server(handler) as (url, _):
        transport = WebSocketTransport.connect(url)
        transport.send_message([b"x"])
        assert transport.recv_message(5) == b"x"
        transport.close(4000, "done here")  # how long it takes: bench/timing.py
        assert transport.state == "closed"
        transport.close()
        with pytest.raises(ETPSessionClosed):
            transport.send_message([b"late"])
    assert seen == [(4000, "done here")]


def test_close_wakes_a_blocked_reader() -> None:
    with ws_server(echo) as (url, _):
        transport = WebSocketTransport.connect(url)
        outcome: list[BaseException | bytearray | None] = []
        blocked = threading.Event()
        recv_first = transport._reader._recv_first

        def waiting() -> bool:
            blocked.set()  # the reader is now waiting for bytes that never come
            return recv_first()

        transport._reader._recv_first = waiting  # type: ignore[method-assign]

        def reader() -> None:
            try:
                outcome.append(transport.recv_message(None))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        assert blocked.wait(5)
        transport.close()
        thread.join(5)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], ETPSessionClosed)


def test_recv_timeout_returns_none_then_message_arrives() -> None:
    timed_out = threading.Event()

    def handler(ws: ServerConnection) -> None:
        ws.recv()
        timed_out.wait(10)  # the message is sent only after the client's receive timed out
        ws.send(b"late")
        ws.recv(timeout=5)

    with ws_server(handler) as (url, _), WebSocketTransport.connect(url) as transport:
        transport.send_message([b"go"])
        assert transport.recv_message(timeout=0.1) is None  # how precise: bench/timing.py
        assert transport.recv_message(timeout=0) is None
        timed_out.set()
        assert transport.recv_message(timeout=5) == b"late"


def test_max_message_size_enforced() -> None:
    closes: list[int | None] = []

    def handler(ws: ServerConnection) -> None:
        ws.send(b"x" * 1000)
        ws.send(b"y" * 1001)
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=5)
        closes.append(ws.close_code)

    with ws_server(handler) as (url, _):
        transport = WebSocketTransport.connect(url, max_message_size=1000)
        assert transport.recv_message(5) == b"x" * 1000
        with pytest.raises(ETPProtocolError, match="max_message_size"):
            transport.recv_message(5)
        with pytest.raises(ETPConnectionLost):
            transport.recv_message(1)
        transport.close()
    assert closes == [1009]


def test_max_message_size_applies_to_fragmented_messages() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send([b"a" * 600, b"b" * 600])
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=5)

    with ws_server(handler) as (url, _):
        transport = WebSocketTransport.connect(url, max_message_size=1000)
        with pytest.raises(ETPProtocolError):
            transport.recv_message(5)
        transport.close()


def test_concurrent_senders_do_not_interleave() -> None:
    threads, per_thread = 8, 25
    rng = random.Random(99)
    messages = {
        (t, i): struct.pack("!II", t, i) + rng.randbytes(rng.choice([0, 10, 3000, 70_000, 300_000]))
        for t in range(threads)
        for i in range(per_thread)
    }
    with ws_server(echo) as (url, _), WebSocketTransport.connect(url) as transport:
        received: list[bytearray] = []
        reader_error: list[BaseException] = []

        def reader() -> None:
            try:
                while len(received) < threads * per_thread:
                    message = transport.recv_message(timeout=20)
                    assert message is not None
                    received.append(message)
            except BaseException as exc:
                reader_error.append(exc)

        def sender(t: int) -> None:
            for i in range(per_thread):
                transport.send_message([messages[(t, i)][:8], messages[(t, i)][8:]])

        reader_thread = threading.Thread(target=reader)
        reader_thread.start()
        senders = [threading.Thread(target=sender, args=(t,)) for t in range(threads)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(60)
        reader_thread.join(60)
        assert not reader_error
        by_key = {struct.unpack("!II", bytes(m[:8])): bytes(m) for m in received}
        assert len(by_key) == len(messages)
        assert by_key == messages


# ------------------------------------------------------------------------------------------
# Handshake, credentials, TLS


def test_authorization_header_sent_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Request] = []

    def record(connection: ServerConnection, request: Request) -> None:
        seen.append(request)

    caplog.set_level(logging.DEBUG, logger="etp_sync")
    with ws_server(echo, process_request=record) as (url, _):
        secret_url = url.replace("ws://", "ws://user:pw@") + "?access_token=" + TOKEN
        transport = WebSocketTransport.connect(
            secret_url,
            headers={"Authorization": f"Bearer {TOKEN}", "data-partition-id": "opendes"},
        )
        transport.send_message([b"x"])
        assert transport.recv_message(5) == b"x"
        text = repr(transport) + str(transport) + transport.url
        transport.close()
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen[0].headers["data-partition-id"] == "opendes"
    assert seen[0].headers["Sec-WebSocket-Protocol"] == ETP_SUBPROTOCOL
    assert TOKEN not in text and "pw" not in text and "127.0.0.1" in text
    assert caplog.records  # we did log
    for record_ in caplog.records:
        if record_.name.startswith("etp_sync"):
            assert TOKEN not in record_.getMessage()


def test_refused_upgrade_does_not_leak_token(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(connection: ServerConnection, request: Request) -> object:
        return connection.respond(401, "bad token\n")

    caplog.set_level(logging.DEBUG, logger="etp_sync")
    with (
        ws_server(echo, process_request=refuse) as (url, _),
        pytest.raises(ETPTransportError) as info,
    ):
        WebSocketTransport.connect(
            url + "?token=" + TOKEN, headers=[("Authorization", f"Bearer {TOKEN}")]
        )
    assert "401" in str(info.value)
    assert TOKEN not in str(info.value)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_header_injection_refused() -> None:
    with pytest.raises(ValueError) as info:
        WebSocketTransport.connect("ws://127.0.0.1:9/", headers={"Authorization": "a\r\nX: y"})
    assert "a\r\nX" not in str(info.value)


def test_subprotocol_refused_by_websockets_server() -> None:
    with (
        ws_server(echo, subprotocols=["something.else"]) as (url, _),
        pytest.raises(ETPTransportError),
    ):
        WebSocketTransport.connect(url)


def test_subprotocol_missing_in_response() -> None:
    with (
        RawPeer(lambda conn: None, subprotocol=None) as peer,
        pytest.raises(ETPTransportError, match="subprotocol"),
    ):
        WebSocketTransport.connect(peer.url)


def test_connection_refused_is_transport_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ETPTransportError):
        WebSocketTransport.connect(f"ws://127.0.0.1:{port}/", connect_timeout=2)


def test_tls_round_trip_and_verification(self_signed_cert: tuple[str, str]) -> None:
    import ssl

    cert, key = self_signed_cert
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    payload = os.urandom(3 * 1024 * 1024 + 3)
    with ws_server(echo, ssl=server_context) as (url, _):
        wss = url.replace("ws://", "wss://")
        with pytest.raises(ETPTransportError, match=r"(?i)certificate"):
            WebSocketTransport.connect(wss)  # self-signed: not trusted by default
        with WebSocketTransport.connect(wss, ca_file=cert) as transport:
            transport.send_message([payload[:10], payload[10:]])
            assert transport.recv_message(20) == payload
            assert transport.recv_message(0.05) is None  # nothing more was sent
        with WebSocketTransport.connect(wss, verify=False) as transport:
            transport.send_message([b"unverified"])
            assert transport.recv_message(5) == b"unverified"


# ------------------------------------------------------------------------------------------
# Misbehaving peers


def test_abrupt_socket_close_is_connection_lost() -> None:
    received = threading.Event()

    def script(conn: socket.socket) -> None:
        conn.sendall(frame(2, b"first"))
        received.wait(10)  # cut only once the first message is in the client's hands
        conn.shutdown(socket.SHUT_RDWR)

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        assert transport.recv_message(5) == b"first"
        received.set()
        with pytest.raises(ETPConnectionLost, match="without a close frame"):
            transport.recv_message(5)
        with pytest.raises(ETPConnectionLost):
            transport.send_message([b"x"])
        transport.close()


def test_abrupt_close_mid_frame_is_connection_lost() -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(frame(2, b"x" * 1000)[:500])
        conn.shutdown(socket.SHUT_RDWR)

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        with pytest.raises(ETPConnectionLost):
            transport.recv_message(5)
        transport.close()


def test_mid_frame_stall_is_connection_lost() -> None:
    release = threading.Event()

    def script(conn: socket.socket) -> None:
        conn.sendall(frame(2, b"x" * 100)[:50])
        release.wait(10)

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url, stall_timeout=0.3)
        with pytest.raises(ETPConnectionLost, match="stalled"):  # how soon: bench/timing.py
            transport.recv_message(timeout=None)
        release.set()
        transport.close()


def test_a_send_the_peer_never_reads_without_a_deadline_is_lost_after_the_stall_timeout() -> None:
    """A plain socket's sends never block (they take what fits): with no deadline, the writer
    waits for room itself, at most ``stall_timeout`` without progress."""
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, stall_timeout=0.3, close_timeout=0.2)
    try:
        with pytest.raises(ETPConnectionLost, match="no progress"):
            transport.send_message(np.zeros(16 << 20, dtype=np.uint8))
        assert not transport.is_open
    finally:
        transport.close()
        theirs.close()


def test_small_messages_wait_for_room_and_arrive_whole_and_in_order() -> None:
    """Small frames sent while the socket is full wait for room (no deadline, and within one)
    and arrive whole, one after the other."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # full after a few frames
    transport = WebSocketTransport(ours, client=False, close_timeout=0.2)
    started = threading.Event()

    def sender() -> None:
        started.set()
        for i in range(2000):
            deadline = None if i % 2 else time.monotonic() + 30
            transport.send_message(b"%d;" % i * 20, deadline=deadline)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert started.wait(5)
        got = bytearray()
        want = sum(len(frame(2, b"%d;" % i * 20)) for i in range(2000))
        theirs.settimeout(10)
        while len(got) < want:
            got += theirs.recv(4096)
        pos = 0
        for i in range(2000):
            expected = frame(2, b"%d;" % i * 20)
            assert bytes(got[pos : pos + len(expected)]) == expected
            pos += len(expected)
    finally:
        thread.join(10)
        transport.close()
        theirs.close()


def test_quick_send_takes_what_fits_and_reports_a_full_or_failed_socket() -> None:
    """The GIL-holding send of small frames (Linux): what fits goes, a full socket raises
    BlockingIOError (the writer then waits for room), a dead or closed one OSError."""
    assert (quick_send is not None) == sys.platform.startswith("linux")
    send = quick_send or (lambda sock, data: sock.send(data, socket.MSG_DONTWAIT))
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    assert send(ours, b"hello") == 5
    assert theirs.recv(16) == b"hello"
    with pytest.raises(BlockingIOError):  # the loop fills the socket
        while True:
            assert send(ours, b"x" * 500) > 0
    theirs.close()
    with pytest.raises(BrokenPipeError):
        send(ours, b"x")
    ours.close()
    with pytest.raises(OSError):
        send(ours, b"x")


def test_counted_parts_go_as_they_are_short_or_long() -> None:
    """send_counted (bytes and bytearray parts, their size counted by the caller) sends the
    same message as send_message: one frame of the parts joined, short (one small frame) or
    long (through the send buffer)."""
    ours, theirs = socket.socketpair()
    client = WebSocketTransport(ours, close_timeout=0.2)
    server = WebSocketTransport(theirs, client=False, close_timeout=0.2)
    try:
        for parts in ([b"\x02\x03", bytearray(b"body")], [b"h" * 3, bytearray(20_000)]):
            client.send_counted(parts, sum(len(p) for p in parts))
            assert server.recv_message(5) == b"".join(parts)
    finally:
        client.abort()
        server.abort()


def test_a_tiny_stall_timeout_still_bounds_the_socket() -> None:
    """On a plain socket the stall timeout becomes the kernel's receive and send timeouts: one
    under a microsecond must not round to 0 s 0 us, which means "wait forever"."""
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, stall_timeout=1e-9, close_timeout=0.2)
    try:
        if ours.gettimeout() is None:  # kernel timeouts (Linux)
            for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
                timeval = ours.getsockopt(socket.SOL_SOCKET, option, 16)
                assert struct.unpack("@ll", timeval) != (0, 0)
        else:
            assert ours.gettimeout() == 1e-9
    finally:
        transport.abort()
        theirs.close()


def test_a_masked_server_frame_ends_the_connection() -> None:
    """RFC 6455 5.1: a client must close the connection on a masked frame from the server
    (they were once unmasked and taken): the call fails as a protocol error and the server
    gets a close with 1002."""
    closes: list[tuple[int, bytes]] = []

    def script(conn: socket.socket) -> None:
        conn.sendall(frame(2, b"masked payload " * 100, key=b"\x11\x22\x33\x44"))
        closes.append(read_frame(conn))

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        with pytest.raises(ETPProtocolError, match="masked frame from a server"):
            transport.recv_message(5)
        transport.abort()
    assert peer.error is None
    assert len(closes) == 1 and closes[0][0] == 8 and closes[0][1][:2] == struct.pack("!H", 1002)


def test_fragmented_message_with_interleaved_ping() -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(frame(2, b"abc", fin=False))
        conn.sendall(frame(9, b"mid"))
        conn.sendall(frame(0, b"def" * 10000, fin=False))
        conn.sendall(frame(0, b"", fin=False))
        conn.sendall(frame(0, b"!"))
        assert read_frame(conn) == (10, b"mid")
        conn.sendall(frame(8, b""))  # close without status
        read_frame(conn)

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        assert transport.recv_message(5) == b"abc" + b"def" * 10000 + b"!"
        with pytest.raises(WebSocketClosed) as info:
            transport.recv_message(5)
        assert info.value.close_code == 1005
    assert peer.error is None


@pytest.mark.parametrize(
    "bad",
    [
        bytes([0xC2, 0x01]) + b"x",  # RSV1 without an extension
        frame(0, b"orphan continuation"),
        frame(9, b"p", fin=False),  # fragmented control frame
        frame(9, b"p" * 126),  # oversized control frame
        frame(3, b"reserved opcode"),
        frame(2, b"a", fin=False) + frame(2, b"b"),  # new message inside a fragmented one
    ],
)
def test_protocol_violations_close_with_1002(bad: bytes) -> None:
    assert close_answer(bad) == struct.pack("!H", 1002)


def close_answer(bad: bytes) -> bytes:
    """The payload of the close frame our client answers ``bad`` (a peer's bytes) with; the
    client must raise ETPProtocolError."""
    codes: list[bytes] = []

    def script(conn: socket.socket) -> None:
        conn.sendall(bad)
        opcode, payload = read_frame(conn)
        assert opcode == 8
        codes.append(payload)

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        with pytest.raises(ETPProtocolError):
            transport.recv_message(5)
        transport.close()
    assert peer.error is None and len(codes) == 1
    return codes[0]


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        (b"\x03", 1002),  # one byte: no room for a code
        (struct.pack("!H", 1005), 1002),  # codes that must never be on the wire
        (struct.pack("!H", 1006), 1002),
        (struct.pack("!H", 1015), 1002),
        (struct.pack("!H", 999), 1002),  # below the range
        (struct.pack("!H", 2000), 1002),  # reserved
        (struct.pack("!H", 1000) + b"\xff\xfe", 1007),  # a reason that is not UTF-8
    ],
)
def test_a_malformed_close_frame_fails_the_connection_and_is_not_echoed(
    payload: bytes, answer: int
) -> None:
    """RFC 6455 5.5.1, 7.4 and 8.1: our close answers with 1002 (1007 for the reason), never
    with the peer's bytes."""
    assert close_answer(frame(8, payload)) == struct.pack("!H", answer)


def test_a_valid_close_frame_is_echoed_with_its_code() -> None:
    codes: list[bytes] = []

    def script(conn: socket.socket) -> None:
        conn.sendall(frame(8, struct.pack("!H", 4001) + "fin é".encode()))
        codes.append(read_frame(conn)[1])

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        with pytest.raises(WebSocketClosed) as info:
            transport.recv_message(5)
        assert (info.value.close_code, info.value.reason) == (4001, "fin é")
    assert codes == [struct.pack("!H", 4001)]


def test_announced_frame_takes_memory_only_as_bytes_arrive_and_a_deadline_cuts_it() -> None:
    """A header announcing 1 GiB, then 100 KB and a trickle: the buffer follows what arrived,
    and a message not complete by its deadline closes the connection with 1008."""
    codes: list[bytes] = []
    stop = threading.Event()

    def script(conn: socket.socket) -> None:
        conn.sendall(struct.pack("!BBQ", 0x82, 127, 1 << 30) + b"z" * 100_000)
        conn.settimeout(0.05)
        while not stop.is_set():  # a byte per 50 ms until our close frame arrives
            conn.sendall(b"z")
            try:
                opcode, payload = read_frame(conn)
            except TimeoutError:
                continue
            if opcode == 8:
                codes.append(payload)
                return

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url, max_message_size=2 << 30)
        tracemalloc.start()
        try:
            with pytest.raises(ETPProtocolError, match="deadline"):
                transport.recv_data(timeout=5, deadline=time.monotonic() + 0.5)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            stop.set()
        transport.close()
    assert peak < 1 << 20
    assert codes == [struct.pack("!H", 1008)]


def test_deadline_leaves_a_message_that_arrives_in_time_alone() -> None:
    payload = os.urandom(3 << 20)

    def script(conn: socket.socket) -> None:
        conn.sendall(frame(2, payload[: 1 << 20], fin=False) + frame(0, payload[1 << 20 :]))
        read_frame(conn)  # our close

    with RawPeer(script) as peer:
        transport = WebSocketTransport.connect(peer.url)
        received = transport.recv_data(timeout=5, deadline=time.monotonic() + 30)
        assert received is not None and received[0] == payload
        transport.close()


class _NoKernelTimeouts(socket.socket):
    """A socket that refuses the kernel's send timeout (as some socket types do)."""

    def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
        if option == socket.SO_SNDTIMEO:
            raise OSError(22, "Invalid argument")
        super().setsockopt(level, option, value, *rest)


def test_a_socket_refusing_kernel_timeouts_gets_a_python_timeout_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Where the kernel timeouts cannot be set, the stall timeout is the socket's Python timeout
    (still bounding every call), and the fallback is logged, not passed over silently."""
    ours, theirs = socket.socketpair()
    sock = _NoKernelTimeouts(fileno=ours.detach())
    with caplog.at_level(logging.DEBUG, logger="etp_sync.transport"):
        transport = WebSocketTransport(sock, stall_timeout=7.5, close_timeout=0.2)
    try:
        assert sock.gettimeout() == 7.5
        if sys.platform.startswith("linux"):
            assert any("kernel socket timeouts not set" in r.getMessage() for r in caplog.records)
    finally:
        transport.abort()
        theirs.close()


@pytest.mark.parametrize("client", [True, False])
def test_send_batch_keeps_to_the_max_frame_size(client: bool) -> None:
    """A batch with a message longer than ``max_frame_size`` is sent as ``send_message`` sends
    it: fragmented into frames no longer than the limit, the messages whole and in order."""
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, client=client, close_timeout=0.2)
    try:
        transport.max_frame_size = 100
        batch = [[b"a" * 250], [b"b" * 50, bytearray(b"c" * 60)], [b"d" * 30]]
        transport.send_batch(batch)
        theirs.settimeout(10)  # a frame too few fails the test instead of hanging it
        frames = [read_frame(theirs) for _ in range(6)]
        assert all(len(payload) <= 100 for _, payload in frames)
        assert [opcode for opcode, _ in frames] == [2, 0, 0, 2, 0, 2]
        received: list[bytes] = []
        for opcode, payload in frames:
            received.append(payload) if opcode == 2 else received.append(received.pop() + payload)
        assert received == [b"".join(parts) for parts in batch]
    finally:
        transport.abort()
        theirs.close()


@pytest.mark.parametrize("how", ["close", "abort"])
def test_closing_from_another_thread_ends_a_send_waiting_for_room(how: str) -> None:
    """A send blocked on a peer that stopped reading (no deadline, a long stall timeout: the
    writer waits for room itself, the socket taking nothing) ends as soon as another thread
    closes the transport, with an ETPError, not after the stall timeout."""
    ours, theirs = socket.socketpair()
    transport = WebSocketTransport(ours, stall_timeout=60, close_timeout=0.2)
    outcome: list[BaseException | None] = []

    def sender() -> None:
        try:
            transport.send_message(np.zeros(16 << 20, dtype=np.uint8))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        theirs.settimeout(10)
        assert theirs.recv(1, socket.MSG_PEEK)  # the message started going out
        getattr(transport, how)()
        thread.join(10)  # far below the 60 s stall timeout
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], ETPError)
        assert not transport.is_open
    finally:
        transport.abort()
        thread.join(10)
        theirs.close()


def test_quick_send_is_not_used_without_a_gil(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GIL-holding send relies on the GIL to keep the fd from being closed and reused between
    fileno() and the call: a free-threaded Python gets the plain socket send instead."""
    from etp_sync.transport import _quick_send

    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert _quick_send._libc_send() is None
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    assert (_quick_send._libc_send() is not None) == sys.platform.startswith("linux")
