"""The embedded server's limits against clients, in process: connections (max_connections,
request_session_timeout, idle_timeout) and unfinished multipart requests (max_pending_bytes,
pending_timeout). The same attacks at scale, against a server subprocess: wip_hostile_test.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _hostile import (
    MB,
    OPCODE_BINARY,
    HandshakeRefused,
    RawWebSocket,
    crs_uri,
    crs_xml,
    data_object,
    error_codes,
    open_session,
    put_dataspace,
)

from etp_sync import ETPSession
from etp_sync.errors import ErrorCode, ETPError, ETPInvalidArgument
from etp_sync.schema import messages
from etp_sync.server import EmbeddedServer
from etp_sync.server._pending import MAX_CONCURRENT, PendingRequests

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def serve() -> Iterator[Any]:
    """``serve(**limits)`` starts an EmbeddedServer; all are stopped afterwards."""
    servers: list[EmbeddedServer] = []

    def start(**limits: Any) -> EmbeddedServer:
        server = EmbeddedServer(**limits).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _put_part(ws: RawWebSocket, ds: str, size: int, *, first: int = 0, fin: bool = False) -> int:
    """One PutDataObjects part holding an object of about ``size`` bytes; its message id."""
    ref = uuid.uuid4()
    body = messages.Store.PutDataObjects(
        data_objects={"k": data_object(crs_xml(ref, filler=size), crs_uri(ds, ref))}
    )
    return ws.send_etp(body, correlation_id=first, flags=2 if fin else 0)


# -- connections ----------------------------------------------------------------------------------


def test_connections_over_the_limit_get_503_and_slots_come_back(serve: Any) -> None:
    server = serve(max_connections=2)
    first, second = open_session(server.port), open_session(server.port)
    with pytest.raises(HandshakeRefused) as refused:
        RawWebSocket.open(server.port)
    assert refused.value.reply is not None and refused.value.reply.status == 503
    assert refused.value.reply.headers.get("retry-after") == "1"
    second.send_etp(messages.Core.CloseSession(reason="done"))
    assert second.wait_closed() == 1000
    second.close()
    with ETPSession(server.url, auto_reconnect=False, connect_timeout=5) as session:
        # The slot of the closed session is free again (its thread has ended by now or soon).
        session.ping()
    first.close()


def test_request_session_deadline_is_not_extended_by_a_trickle(serve: Any) -> None:
    server = serve(request_session_timeout=0.5)
    with RawWebSocket.open(server.port) as ws:
        write = ws.start_frame(OPCODE_BINARY, 16 * MB)
        code: int | str | None = "still open"
        for _ in range(200):  # a byte per round, for at most 200 rounds
            try:
                write(b"\0")
                code = ws.wait_closed(0.1)
            except TimeoutError:
                continue
            except OSError:
                code = None  # closed and reset before we read the close frame
            break
        assert code in (1008, None), code


def test_idle_session_is_closed_with_close_session(serve: Any) -> None:
    server = serve(idle_timeout=0.3)
    with open_session(server.port) as ws:
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        assert pong.etp_name == "Pong"
        _header, body = ws.recv_etp(10)
        assert body.etp_name == "CloseSession" and "idle" in body.reason
        assert ws.wait_closed(10) == 1000


def _subscribe(ds: str, keys: list[str]) -> Any:
    """A SubscribeNotifications to ``ds`` with one new subscription per key."""
    info = {
        "context": {"uri": ds, "depth": 1, "data_object_types": [], "navigable_edges": "Primary"},
        "scope": "self",
        "include_object_data": False,
        "format": "xml",
    }
    return messages.StoreNotification.SubscribeNotifications(
        request={key: {**info, "request_uuid": uuid.uuid4().bytes} for key in keys}
    )


def test_a_session_with_subscriptions_is_not_idle(serve: Any) -> None:
    server = serve(idle_timeout=0.3)
    with open_session(server.port) as ws:
        ds = put_dataspace(ws, "limits/sub")
        [reply] = ws.request(_subscribe(ds, ["s"]))
        assert reply.etp_name == "SubscribeNotificationsResponse", reply
        with pytest.raises(TimeoutError):  # nothing arrives: no CloseSession, no close frame
            ws.recv_etp(1.0)


def test_subscriptions_past_max_subscriptions_are_refused_per_key(serve: Any) -> None:
    server = serve(max_subscriptions=3)
    with RawWebSocket.open(server.port) as ws:
        opened = ws.request_session()
        [notification] = [p for p in opened.supported_protocols if p.protocol == 5]
        assert notification.protocol_capabilities["MaxSubscriptionSessionCount"].item == 3
        ds = put_dataspace(ws, "limits/subscriptions")
        reply = ws.request(_subscribe(ds, ["a", "b"]))
        assert sorted(reply[0].success) == ["a", "b"]
        request = _subscribe(ds, ["c", "d", "e"])
        reply = ws.request(request)
        [ok, refused] = reply
        assert len(ok.success) == 1 and len(refused.errors) == 2
        assert error_codes(reply) == [ErrorCode.ELIMIT_EXCEEDED] * 2
        assert "max_subscriptions" in next(iter(refused.errors.values())).message
        # An ended subscription makes room for another.
        [accepted] = ok.success
        [ended] = ws.request(
            messages.StoreNotification.UnsubscribeNotifications(
                request_uuid=request.request[accepted].request_uuid
            )
        )
        assert ended.etp_name == "SubscriptionEnded"
        [reply_f] = ws.request(_subscribe(ds, ["f"]))
        assert list(reply_f.success) == ["f"]


def test_bad_limits_are_refused() -> None:
    limits = ("request_session_timeout", "idle_timeout", "max_connections", "pending_timeout")
    for limit in (*limits, "max_subscriptions"):
        with pytest.raises(ETPInvalidArgument, match=limit):
            EmbeddedServer(**{limit: 0})


# -- unfinished multipart requests ----------------------------------------------------------------


def test_multipart_put_past_max_pending_bytes_is_cancelled(serve: Any) -> None:
    server = serve(max_pending_bytes=2 * MB)
    with open_session(server.port) as ws:
        ds = put_dataspace(ws, "limits/pending")
        first = _put_part(ws, ds, MB)
        for _ in range(4):  # the third part passes the bound; later ones are dropped quietly
            _put_part(ws, ds, MB // 2, first=first)
        _put_part(ws, ds, 10, first=first, fin=True)
        [refusal] = ws.collect(first)
        assert error_codes([refusal]) == [ErrorCode.ELIMIT_EXCEEDED]
        assert "max_pending_bytes" in refusal.error.message
        # The session goes on, and nothing else answered the dropped parts.
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        assert pong.etp_name == "Pong" and not ws.pending


@pytest.mark.parametrize("compress", [False, True])
def test_multipart_parts_are_charged_whole_not_only_their_data(serve: Any, compress: bool) -> None:
    """Parts with empty data and big names: their names count against max_pending_bytes (a
    compressed part is charged as it decodes, not as it arrived)."""
    server = serve(max_pending_bytes=MB)
    with open_session(server.port) as ws:
        ds = put_dataspace(ws, "limits/names")
        first = 0
        for i in range(6):  # 300 KB each: the fourth passes the bound
            ref = uuid.uuid4()
            dobj = data_object(b"", crs_uri(ds, ref), blob_id=uuid.uuid4())
            dobj = dobj.replace(resource=dobj.resource.replace(name="x" * 300_000 + str(i)))
            body = messages.Store.PutDataObjects(data_objects={f"k{i}": dobj})
            sent = ws.send_etp(body, correlation_id=first, flags=0, compress=compress)
            first = first or sent
        ws.send_etp(messages.Store.PutDataObjects(data_objects={}), correlation_id=first)
        [refusal] = ws.collect(first)
        assert error_codes([refusal]) == [ErrorCode.ELIMIT_EXCEEDED]
        assert "max_pending_bytes" in refusal.error.message
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        assert pong.etp_name == "Pong" and not ws.pending


def test_stalled_multipart_put_is_cancelled_after_pending_timeout(serve: Any) -> None:
    server = serve(pending_timeout=0.3)
    with open_session(server.port) as ws:
        ds = put_dataspace(ws, "limits/stalled")
        first = _put_part(ws, ds, 1000)
        [cancelled] = ws.collect(first, 10)
        assert error_codes([cancelled]) == [ErrorCode.EMULTIPART_CANCELLED]
        assert "pending_timeout" in cancelled.error.message
        _put_part(ws, ds, 10, first=first, fin=True)  # too late: dropped quietly
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        assert pong.etp_name == "Pong" and not ws.pending


def test_pending_requests_bounds() -> None:
    pending = PendingRequests(max_bytes=100, timeout=5.0)
    pending.hold(2, 4, "a", 60)
    pending.hold(2, 4, "a", 30)
    assert pending.total_bytes == 90 and pending.get(2) == "a"
    with pytest.raises(ETPError) as info:
        pending.hold(4, 4, "b", 11)
    assert info.value.code == ErrorCode.ELIMIT_EXCEEDED
    assert 4 not in pending and pending.was_cancelled(4) and 2 in pending
    assert pending.expire() == []
    assert pending.expire(now=10**9) == [(2, 4)]
    assert len(pending) == 0 and pending.was_cancelled(2)
    for request_id in range(MAX_CONCURRENT):
        pending.hold(100 + request_id, 4, None, 0)
    with pytest.raises(ETPError, match="unfinished multipart requests already"):
        pending.hold(1, 4, None, 0)
