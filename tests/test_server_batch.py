"""The server writes its replies to pipelined requests together, never holding one back.

Requests that arrive in one packet are answered in order, with strictly increasing message ids,
and their short replies go out in one write (``WebSocketTransport.send_batch``); a reply is never
held for a request that is not whole yet, and replies held go out before the server's close.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _hostile import (
    OPCODE_BINARY,
    RawWebSocket,
    WsClosed,
    crs_uri,
    crs_xml,
    frame_header,
    header_for,
    mask,
    wait_until,
)

from etp_sync.codec import encode_message, peek_header
from etp_sync.errors import ETPInvalidArgument
from etp_sync.protocol.correlation import MessageIds
from etp_sync.schema import Record, messages
from etp_sync.server import EmbeddedServer
from etp_sync.server._connections import CLOSE_TIMEOUT
from etp_sync.server._handlers import HANDLERS
from etp_sync.server._sending import BATCH_BYTES, BATCH_DELAY, BATCH_MESSAGE
from etp_sync.server._session import ServerSession
from etp_sync.transport._websocket import WebSocketTransport


@pytest.fixture()
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The sizes (bytes of each message) of every batch the server writes."""
    seen: list[list[int]] = []
    original = WebSocketTransport.send_batch

    def spy(self: WebSocketTransport, msgs: Any, **kwargs: Any) -> None:
        seen.append([sum(len(p) for p in parts) for parts in msgs])
        original(self, msgs, **kwargs)

    monkeypatch.setattr(WebSocketTransport, "send_batch", spy)
    return seen


@pytest.fixture()
def ws() -> Iterator[RawWebSocket]:
    with EmbeddedServer() as srv, RawWebSocket.open(srv.port) as sock:
        sock.request_session()
        yield sock


def frame(sock: RawWebSocket, body: Record) -> tuple[int, bytes]:
    """A request's message id and its whole masked frame (not sent)."""
    message_id = next(sock.ids)
    payload = encode_message(header_for(body, message_id), body)
    head, key = frame_header(OPCODE_BINARY, len(payload))
    return message_id, head + mask(payload, key)


def replies(sock: RawWebSocket, count: int) -> list[tuple[Any, Any]]:
    return [sock.recv_etp() for _ in range(count)]


def ping() -> Record:
    return messages.Core.Ping(current_date_time=1)


def test_pipelined_requests_are_answered_in_order_in_one_write(
    ws: RawWebSocket, batches: list[list[int]]
) -> None:
    bodies = [ping() if i % 2 else messages.Dataspace.GetDataspaces() for i in range(20)]
    framed = [frame(ws, body) for body in bodies]
    ws.send_raw(b"".join(data for _id, data in framed))
    got = replies(ws, len(framed))
    assert [h.correlation_id for h, _b in got] == [mid for mid, _data in framed]
    assert [b.etp_name for _h, b in got] == [
        "Pong" if i % 2 else "GetDataspacesResponse" for i in range(20)
    ]
    ids = [h.message_id for h, _b in got]
    assert ids == sorted(set(ids))
    # One packet held every request: their replies went out together (in one or more batches).
    assert sum(len(b) for b in batches) >= 2
    assert all(len(b) >= 2 for b in batches)


def test_a_reply_is_not_held_for_a_request_not_whole_yet(
    ws: RawWebSocket, batches: list[list[int]]
) -> None:
    framed = [frame(ws, ping()) for _ in range(4)]
    last_id, last = framed[-1]
    cut = len(last) // 2
    ws.send_raw(b"".join(data for _id, data in framed[:-1]) + last[:cut])
    # The first three are answered although the fourth has only begun to arrive.
    got = replies(ws, 3)
    assert [h.correlation_id for h, _b in got] == [mid for mid, _data in framed[:-1]]
    ws.send_raw(last[cut:])
    [(header, body)] = replies(ws, 1)
    assert (header.correlation_id, body.etp_name) == (last_id, "Pong")
    assert header.message_id > got[-1][0].message_id


def test_batches_stay_within_their_bound(ws: RawWebSocket, batches: list[list[int]]) -> None:
    framed = [frame(ws, messages.Dataspace.GetDataspaces()) for _ in range(600)]
    ws.send_raw(b"".join(data for _id, data in framed))
    got = replies(ws, len(framed))
    assert [h.correlation_id for h, _b in got] == [mid for mid, _data in framed]
    assert batches
    for sizes in batches:
        assert all(size < BATCH_MESSAGE for size in sizes)
        assert sum(sizes) < BATCH_BYTES + BATCH_MESSAGE


def test_a_reply_is_held_at_most_batch_delay_and_one_more_request(
    batches: list[list[int]],
) -> None:
    # Each message takes the server 10 ms (its simulated latency), far beyond BATCH_DELAY:
    # a held reply goes out with the next one at the latest.
    assert BATCH_DELAY < 0.01
    with EmbeddedServer(latency=0.01) as srv, RawWebSocket.open(srv.port) as sock:
        sock.request_session()
        framed = [frame(sock, ping()) for _ in range(6)]
        sock.send_raw(b"".join(data for _id, data in framed))
        got = replies(sock, len(framed))
    assert [h.correlation_id for h, _b in got] == [mid for mid, _data in framed]
    assert all(len(sizes) <= 2 for sizes in batches)


def test_replies_held_go_out_before_the_close(ws: RawWebSocket) -> None:
    framed = [frame(ws, ping()) for _ in range(3)]
    _id, close = frame(ws, messages.Core.CloseSession(reason="done"))
    ws.send_raw(b"".join(data for _id, data in framed) + close)
    got = replies(ws, 3)
    assert [h.correlation_id for h, _b in got] == [mid for mid, _data in framed]
    with pytest.raises(WsClosed) as closed:
        ws.recv_etp()
    assert closed.value.code == 1000


def test_close_from_another_thread_does_not_wait_for_a_stalled_send() -> None:
    # The session thread is stuck sending big replies to a client that reads nothing: closing
    # the session from another thread (the server stopping) must not wait for that send.
    ds = "eml:///dataspace('batch/close')"
    ref = uuid.uuid4()
    with EmbeddedServer(max_message_size=16 << 20) as srv, RawWebSocket.open(srv.port) as sock:
        srv.store.put_dataspace(ds)
        srv.store.put_objects(ds, {"big": crs_xml(ref, filler=12 << 20)})
        sock.request_session(compression=False)
        uri = crs_uri(ds, ref)
        for _ in range(4):
            sock.send_etp(messages.Store.GetDataObjects(uris={"a": uri}))
        [session] = [c.session for c in srv._connections if c.session is not None]
        assert wait_until(session._send_lock.locked, 10.0)
        closer = threading.Thread(target=session.close, args=(1001, "stopping"))
        closer.start()
        closer.join(CLOSE_TIMEOUT + 5.0)
        assert not closer.is_alive()


def test_send_batch_refuses_a_long_message() -> None:
    transport = WebSocketTransport.__new__(WebSocketTransport)
    with pytest.raises(ETPInvalidArgument):
        transport.send_batch([[b"x" * (1 << 16)]])


class _Wire:
    """A transport stand-in that records, per write, the message ids it carried."""

    def __init__(self) -> None:
        self.writes: list[list[int]] = []

    def _ids(self, parts: Any) -> int:
        peek = peek_header(b"".join(bytes(p) for p in parts))
        assert peek is not None
        return peek[3]

    def send_counted(self, parts: Any, size: int) -> None:
        self.writes.append([self._ids(parts)])

    def send_message(self, parts: Any) -> None:
        self.writes.append([self._ids(parts)])

    def send_batch(self, msgs: Any) -> None:
        self.writes.append([self._ids(parts) for parts in msgs])


def test_a_send_from_another_thread_first_sends_the_replies_held() -> None:
    # The notifier thread sends while the session thread holds replies for a batch: the held
    # replies go first (their ids are lower), so ids reach the client strictly increasing.
    session = ServerSession.__new__(ServerSession)
    wire = _Wire()
    session.transport = wire  # type: ignore[assignment]
    session.compression = False
    session._ids = MessageIds(server=True)
    session._send_lock = threading.Lock()
    session._batch, session._batch_bytes, session._batch_since = [], 0, 0.0
    session._thread_id = threading.get_ident()
    session._holding = True
    session.send_parts([ping()], 1)
    session.send_parts([ping()], 3)
    assert wire.writes == []  # held while more requests wait
    notifier = threading.Thread(target=session.send_parts, args=([ping()], None))
    notifier.start()
    notifier.join(5.0)
    ids = [i for write in wire.writes for i in write]
    assert wire.writes[0] == ids[:2] and len(wire.writes) == 2
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert session._batch == [] and session._batch_bytes == 0


def test_a_held_reply_does_not_wait_for_a_slow_request(
    ws: RawWebSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Ping and then a request the server takes long over (blocked here until released),
    # pipelined: the Pong is not held while that request is handled, as its kind (protocol,
    # messageType) was not handled quickly before.
    slow = messages.Dataspace.GetDataspaces()
    kind = (int(slow.etp_protocol or 0), int(slow.etp_message_type or 0))
    original = HANDLERS[kind]
    release = threading.Event()

    def blocked(session: Any, header: Any, body: Any) -> Any:
        release.wait(10.0)
        return original(session, header, body)

    monkeypatch.setitem(HANDLERS, kind, blocked)
    ping_id, ping_frame = frame(ws, ping())
    slow_id, slow_frame = frame(ws, slow)
    timer = threading.Timer(2.0, release.set)
    timer.start()
    try:
        ws.send_raw(ping_frame + slow_frame)
        header, body = ws.recv_etp()
        assert (header.correlation_id, body.etp_name) == (ping_id, "Pong")
        assert not release.is_set()  # arrived while the slow request was still being handled
    finally:
        release.set()
        timer.cancel()
    [(header, body)] = replies(ws, 1)
    assert (header.correlation_id, body.etp_name) == (slow_id, "GetDataspacesResponse")
