"""The server's per-session queue of store changes (server/_notify_queue.py): bounded in bytes by
``max_notification_bytes``; a session that reads too slowly has its subscriptions ended
(SubscriptionEnded with the reason), and writers are never held back."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from _hostile import open_session

from etp_sync import samples
from etp_sync.errors import ETPInvalidArgument
from etp_sync.schema import datatypes, messages
from etp_sync.server import EmbeddedServer, _notify_queue, _session
from etp_sync.server.__main__ import build_parser
from etp_sync.server._notify_queue import NotificationQueue, Overflow, change_bytes
from etp_sync.server._server import MAX_NOTIFICATION_BYTES
from etp_sync.server.store import ChangeEvent
from etp_sync.server.store._core import RECORD_BYTES

DS = "eml:///dataspace('notify/queue')"
WAIT = 10.0


def deletes(count: int, start_us: int = 1000) -> list[ChangeEvent]:
    """``count`` delete events (each costs its URI plus RECORD_BYTES)."""
    return [
        ChangeEvent("delete", DS, f"{DS}/eml20.obj_X({uuid.UUID(int=i)})", start_us + i)
        for i in range(count)
    ]


def test_change_bytes_counts_uris_and_documents() -> None:
    [event] = deletes(1)
    assert change_bytes([event]) == len(event.uri) + RECORD_BYTES
    assert change_bytes(deletes(3)) == 3 * (len(event.uri) + RECORD_BYTES)


def test_batches_within_the_bound_come_out_in_order() -> None:
    one = change_bytes(deletes(1))
    queue = NotificationQueue(10 * one)
    a, b = deletes(2), deletes(3, 5000)
    queue.put(a)
    queue.put([])  # nothing to queue
    queue.put(b)
    assert queue.nbytes == 5 * one
    assert queue.get() is a
    assert queue.nbytes == 3 * one
    assert queue.get() is b
    assert queue.nbytes == 0 and queue.overflows == 0


def test_overflow_drops_what_waits_and_hands_over_one_overflow() -> None:
    one = change_bytes(deletes(1))
    queue = NotificationQueue(4 * one)
    queue.put(deletes(3, 100))
    queue.put(deletes(2, 50))  # 5 > 4: everything waiting is dropped
    assert queue.nbytes == 0 and queue.overflows == 1
    queue.put(deletes(1, 7))  # lost too: the notifier has not taken the overflow yet
    assert queue.nbytes == 0 and queue.overflows == 1
    overflow = queue.get()
    assert isinstance(overflow, Overflow)
    assert (overflow.dropped_changes, overflow.dropped_bytes) == (6, 6 * one)
    assert overflow.first_change_us == 7 and overflow.max_bytes == 4 * one
    assert "max_notification_bytes" in overflow.reason and "subscribe again" in overflow.reason
    after = deletes(1)
    queue.put(after)  # queued normally once the overflow was taken
    assert queue.get() is after and queue.overflows == 1


def test_one_batch_is_queued_when_nothing_waits_however_big() -> None:
    one = change_bytes(deletes(1))
    queue = NotificationQueue(2 * one)
    big = deletes(5)
    queue.put(big)
    assert queue.nbytes == 5 * one and queue.overflows == 0
    queue.put(deletes(1))  # something waits: now the bound holds
    assert queue.nbytes == 0 and queue.overflows == 1


def test_writers_are_never_held_back_and_memory_stays_bounded() -> None:
    """No notifier takes anything: puts still return at once, and the bytes never pass the
    bound (before the bound, the queue kept every batch)."""
    one = change_bytes(deletes(1))
    queue = NotificationQueue(50 * one)
    done = threading.Event()
    worst = 0

    def writer() -> None:
        nonlocal worst
        for i in range(2000):
            queue.put(deletes(1, i))
            worst = max(worst, queue.nbytes)
        done.set()

    threading.Thread(target=writer, daemon=True).start()
    assert done.wait(WAIT), "a writer was held back by the notification queue"
    assert worst <= 50 * one and queue.overflows == 1


def test_a_batch_measured_by_the_caller_counts_that_size() -> None:
    one = change_bytes(deletes(1))
    queue = NotificationQueue(3 * one)
    queue.put(deletes(1), one)
    queue.put(deletes(1, 2000), 2 * one)
    assert queue.nbytes == 3 * one and queue.overflows == 0
    queue.put(deletes(1, 3000), one)  # the bound counts the sizes given
    assert queue.overflows == 1 and queue.nbytes == 0


def test_close_wakes_the_notifier_and_drops_what_waits() -> None:
    queue = NotificationQueue(1 << 20)
    got: list[Any] = []
    taken = threading.Event()

    def notifier() -> None:
        got.append(queue.get())
        taken.set()

    threading.Thread(target=notifier, daemon=True).start()
    queue.close()
    assert taken.wait(WAIT) and got == [None]
    queue.put(deletes(1))
    assert queue.nbytes == 0 and queue.get() is None


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ETPInvalidArgument):
        NotificationQueue(0)
    with pytest.raises(ETPInvalidArgument, match="max_notification_bytes"):
        EmbeddedServer(max_notification_bytes=0)


def test_the_command_line_sets_the_bound() -> None:
    assert build_parser().parse_args([]).max_notification_bytes == MAX_NOTIFICATION_BYTES
    args = build_parser().parse_args(["--max-notification-bytes", "12345"])
    assert args.max_notification_bytes == 12345
    assert "--max-notification-bytes" in build_parser().format_help()


# -- end to end: a subscriber that stops reading ---------------------------------------------------


def _session_queues(srv: EmbeddedServer) -> list[NotificationQueue]:
    with srv._lock:
        sessions = [c.session for c in srv._connections if c.session is not None]
    return [s._notify_queue for s in sessions]


def _put(srv: EmbeddedServer, xml: bytes) -> None:
    _done, errors = srv.store.put_objects(DS, {"x": xml})
    assert not errors


def _subscribe(ws: Any, request_uuid: uuid.UUID) -> None:
    info = datatypes.Object.SubscriptionInfo(
        context=datatypes.Object.ContextInfo(
            uri=DS, depth=1, data_object_types=[], navigable_edges="Primary"
        ),
        scope="self",
        request_uuid=request_uuid,
        include_object_data=True,
    )
    [reply] = ws.request(messages.StoreNotification.SubscribeNotifications(request={"s": info}))
    assert reply.success == {"s": ""}


def test_a_subscriber_that_stops_reading_has_its_subscription_ended() -> None:
    """The server keeps at most max_notification_bytes of changes for a subscriber that does
    not read while another client writes; the writes all go through, and when the subscriber
    reads again it finds SubscriptionEnded with the reason, and a session still served."""
    bound = 1 << 20
    with EmbeddedServer(max_notification_bytes=bound) as srv:
        srv.store.put_dataspace(DS)
        with open_session(srv.port, compression=False) as ws:
            request_uuid = uuid.uuid4()
            _subscribe(ws, request_uuid)
            [queue] = _session_queues(srv)
            uid = uuid.uuid4()
            worst, writes = 0, 0
            # The subscriber reads nothing now: once the socket buffers are full, its changes
            # wait in the queue (each ~128 KiB), until the queue overflows.
            for writes in range(1, 801):
                xml = samples.padded(samples.local_depth_crs(uid, f"v{writes}"), 128 << 10)
                _put(srv, xml)
                worst = max(worst, queue.nbytes)
                if queue.overflows and writes % 8 == 0:
                    break
            assert queue.overflows == 1, "the queue of a subscriber that reads nothing overflowed"
            assert worst <= bound

            changed, ended = 0, None
            while ended is None:
                header, body = ws.recv_etp(WAIT)
                if body.etp_name == "SubscriptionEnded":
                    ended = body
                elif body.etp_name == "ObjectChanged":
                    assert body.request_uuid == request_uuid
                    changed += 1
            assert ended.request_uuid == request_uuid and header.correlation_id == 0
            assert "max_notification_bytes" in ended.reason and str(bound) in ended.reason
            assert changed < writes  # some changes were lost, and the reason says so

            # The session goes on: no more notifications for the ended subscription ...
            _put(srv, samples.local_depth_crs(uid, "after"))
            [pong] = ws.request(messages.Core.Ping(current_date_time=1))
            assert pong.etp_name == "Pong" and not ws.pending
            # ... and a new subscription gets changes again.
            _subscribe(ws, uuid.uuid4())
            _put(srv, samples.local_depth_crs(uid, "again"))
            _header, body = ws.recv_etp(WAIT)
            assert body.etp_name == "ObjectChanged" and b"again" in body.change.data_object.data


def test_a_change_is_measured_once_for_all_its_subscribers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's one store listener measures a committed batch once and queues it to each
    subscribed session (each session's listener measured it again before); every subscriber
    still gets the change, and without subscribers the store has no listener left."""
    calls: list[int] = []

    def counting(events: list[ChangeEvent]) -> int:
        calls.append(len(events))
        return change_bytes(events)

    monkeypatch.setattr(_notify_queue, "change_bytes", counting)
    uid = uuid.uuid4()
    with EmbeddedServer() as srv:
        srv.store.put_dataspace(DS)
        sessions = [open_session(srv.port, compression=False) for _ in range(3)]
        try:
            for ws in sessions:
                _subscribe(ws, uuid.uuid4())
            _put(srv, samples.local_depth_crs(uid, "once"))
            for ws in sessions:
                _header, body = ws.recv_etp(WAIT)
                assert body.etp_name == "ObjectChanged" and b"once" in body.change.data_object.data
            assert calls == [1]
        finally:
            for ws in sessions:
                ws.close()
        assert srv.wait_for_sessions(0, WAIT)
        assert srv.store._listeners == []
        _put(srv, samples.local_depth_crs(uid, "unwatched"))
        assert calls == [1]


def test_a_new_subscription_gets_no_change_handed_out_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change committed (and queued) before a subscription was made is not notified to it,
    however late the session's notifier gets to it; the older subscription gets it, and both
    get the changes after."""
    release = threading.Event()
    waiting = threading.Event()
    real = _session.notifications_for

    def lagging(session: Any, events: Any) -> Any:
        waiting.set()
        assert release.wait(WAIT)  # the notifier lags: it reads the subscriptions late
        return real(session, events)

    uid = uuid.uuid4()
    with EmbeddedServer() as srv, open_session(srv.port, compression=False) as ws:
        srv.store.put_dataspace(DS)
        first, second = uuid.uuid4(), uuid.uuid4()
        _subscribe(ws, first)
        monkeypatch.setattr(_session, "notifications_for", lagging)
        _put(srv, samples.local_depth_crs(uid, "before"))  # handed out: in the queue now
        assert waiting.wait(WAIT)
        _subscribe(ws, second)
        monkeypatch.setattr(_session, "notifications_for", real)
        release.set()
        _put(srv, samples.local_depth_crs(uid, "after"))
        got: list[tuple[uuid.UUID, bytes]] = []
        while len(got) < 3:
            _header, body = ws.recv_etp(WAIT)
            assert body.etp_name == "ObjectChanged"
            title = b"before" if b"before" in body.change.data_object.data else b"after"
            got.append((body.request_uuid, title))
        assert sorted(got) == sorted([(first, b"before"), (first, b"after"), (second, b"after")])
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))  # and nothing else came
        assert pong.etp_name == "Pong" and not ws.pending
