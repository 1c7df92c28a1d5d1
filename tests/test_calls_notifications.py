"""StoreNotification calls (etp_sync.calls.notifications), end to end with two sessions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Harness, connection_loss

from etp_sync import ETPSession, samples
from etp_sync.calls import NotificationEvent, Subscription
from etp_sync.errors import ETPRemoteError
from etp_sync.server import EmbeddedServer
from etp_sync.uri import DataObjectURI

CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
DS = "notify/test"
EPC_TYPE = "eml20.obj_EpcExternalPartReference"
WAIT = 5.0


def epc_xml(uid: str, title: str = "Hdf Proxy", padding: int = 0) -> bytes:
    """A RESQML 2.0.1 EpcExternalPartReference (``padding`` filler characters added)."""
    xml = samples.epc_external_part_reference(uuid.UUID(uid), title, created=CREATED)
    return samples.padded(xml, padding)


def new_object(**kwargs: Any) -> tuple[DataObjectURI, bytes]:
    uid = str(uuid.uuid4())
    return DataObjectURI.from_type(DS, EPC_TYPE, uid), epc_xml(uid, **kwargs)


@pytest.fixture()
def pair(harness: Harness) -> Callable[..., tuple[ETPSession, ETPSession, EmbeddedServer]]:
    """Factory: an embedded server with dataspace DS and two connected sessions."""

    def make(**server_kwargs: Any) -> tuple[ETPSession, ETPSession, EmbeddedServer]:
        srv = harness.server(dataspaces=[DS], **server_kwargs)
        return harness.session(srv, timeout=20), harness.session(srv, timeout=20), srv

    return make


def next_event(sub: Subscription) -> NotificationEvent:
    event = sub.get(timeout=WAIT)
    assert event is not None, "no notification arrived"
    return event


def test_dataspace_subscription_sees_puts_updates_and_deletes(pair: Any) -> None:
    watcher, writer, _ = pair()
    with watcher.subscribe_notifications(DS) as sub:
        assert sub.active and sub in watcher.subscriptions
        uri, xml = new_object()
        writer.put_data_objects([xml], dataspace=DS)
        event = next_event(sub)
        assert (event.kind, event.uri, event.change_kind) == ("changed", str(uri), "insert")
        assert event.xml is None  # not asked for
        assert event.request_uuid == sub.request_uuid
        assert event.time is not None and event.datetime is not None
        assert event.datetime.year >= 2024

        writer.put_data_objects([epc_xml(str(uri.uuid), title="renamed")], dataspace=DS)
        event = next_event(sub)
        assert (event.kind, event.uri, event.change_kind) == ("changed", str(uri), "update")
        assert event.resource is not None and event.resource.name == "renamed"

        writer.delete_data_objects([uri])
        event = next_event(sub)
        assert (event.kind, event.uri) == ("deleted", str(uri))
    assert not sub.active and sub not in watcher.subscriptions
    assert sub.get(timeout=0.1) is None


def test_object_data_included_and_object_scope(pair: Any) -> None:
    watcher, writer, _ = pair()
    uri, xml = new_object()
    other_uri, other_xml = new_object()
    writer.put_data_objects([xml, other_xml], dataspace=DS)
    sub = watcher.subscribe_notifications(uri, include_object_data=True)
    writer.put_data_objects([epc_xml(str(other_uri.uuid), title="other")], dataspace=DS)
    new_xml = epc_xml(str(uri.uuid), title="changed title")
    writer.put_data_objects([new_xml], dataspace=DS)
    event = next_event(sub)  # the other object's change is not for this subscription
    assert event.uri == str(uri) and event.kind == "changed"
    assert event.xml is not None and b"changed title" in event.xml
    assert sub.get(timeout=0.2) is None
    sub.unsubscribe()
    sub.unsubscribe()  # idempotent


def test_big_objects_are_reassembled_from_chunks(pair: Any) -> None:
    watcher, writer, _ = pair(max_message_size=64 * 1024)
    sub = watcher.subscribe_notifications(DS, include_object_data=True)
    chunks: list[Any] = []
    watcher.add_handler(lambda header, body: chunks.append(body), protocol=5, message_type=9)
    uri, xml = new_object(padding=200_000)
    writer.put_data_objects([xml], dataspace=DS)
    event = next_event(sub)
    assert event.uri == str(uri) and event.xml is not None
    assert len(event.xml) >= 200_000 and event.xml.endswith(xml[-60:])
    assert len(chunks) >= 3 and chunks[-1].final
    assert watcher.subscription_registry.pending_changes == 0


def test_unsubscribe_stops_events(pair: Any) -> None:
    watcher, writer, _ = pair()
    sub = watcher.subscribe_notifications(f"eml:///dataspace('{DS}')")
    sub.unsubscribe()
    assert not sub.active
    writer.put_data_objects([new_object()[1]], dataspace=DS)
    writer.ping()
    assert sub.get(timeout=0.3) is None
    assert list(sub) == []  # the iteration is over at once


def test_callback_mode_and_type_filter(pair: Any) -> None:
    watcher, writer, _ = pair()
    received: list[NotificationEvent] = []
    threads: set[str] = set()
    two_arrived = threading.Event()

    def on_event(event: NotificationEvent) -> None:
        received.append(event)
        threads.add(threading.current_thread().name)
        if len(received) == 2:
            two_arrived.set()

    sub = watcher.subscribe_notifications(DS, types=EPC_TYPE, callback=on_event)
    assert sub.types == (EPC_TYPE,)  # one type given as a str (was split into characters)
    ignored = watcher.subscribe_notifications(
        DS, types=["resqml20.obj_Grid2dRepresentation"], callback=on_event
    )
    first, second = new_object(), new_object()
    writer.put_data_objects([first[1]], dataspace=DS)
    writer.put_data_objects([second[1]], dataspace=DS)
    # Events are dispatched in order: had the filtered subscription wrongly matched the first
    # put, its event would be among the first two.
    assert two_arrived.wait(WAIT)
    assert [(e.kind, e.uri, e.request_uuid) for e in received] == [
        ("changed", str(first[0]), sub.request_uuid),
        ("changed", str(second[0]), sub.request_uuid),
    ]
    assert threads == {"etp_sync-dispatch"}
    assert sub.get(timeout=0) is None  # nothing queued in callback mode
    ignored.unsubscribe()
    sub.unsubscribe()


def test_iterating_a_subscription(pair: Any) -> None:
    watcher, writer, _ = pair()
    sub = watcher.subscribe_notifications(DS)
    uris = []
    for _ in range(3):
        uri, xml = new_object()
        uris.append(str(uri))
        writer.put_data_objects([xml], dataspace=DS)
    seen: list[str | None] = []
    guard = threading.Timer(WAIT, sub.unsubscribe)  # never hang the test suite
    guard.start()
    try:
        for event in sub:
            seen.append(event.uri)
            if len(seen) == 3:
                sub.unsubscribe()
    finally:
        guard.cancel()
    assert seen == uris


def test_bad_subscription_is_refused(pair: Any) -> None:
    watcher, _, _ = pair()
    with pytest.raises(ETPRemoteError):
        watcher.subscribe_notifications("no/such-space")
    assert watcher.subscriptions == []
    with pytest.raises(ValueError):
        watcher.subscribe_notifications(DS, scope="everything")


def test_subscribing_before_the_first_connect(pair: Any) -> None:
    """The first connect's restore does not send the new subscription a second time."""
    _, writer, srv = pair()
    watcher = ETPSession(srv.url, timeout=20)
    try:
        sub = watcher.subscribe_notifications(DS)
        uri, xml = new_object()
        writer.put_data_objects([xml], dataspace=DS)
        assert (next_event(sub).uri, watcher.connect_count) == (str(uri), 1)
    finally:
        watcher.close()
    assert not sub.active and sub.end_reason == "the session was closed"
    assert sub.get(timeout=WAIT) is None  # at once: the end is queued


def test_subscriptions_are_restored_after_a_reconnect(pair: Any) -> None:
    watcher, writer, srv = pair()
    sub = watcher.subscribe_notifications(DS)
    first_uri, first_xml = new_object()
    writer.put_data_objects([first_xml], dataspace=DS)
    assert next_event(sub).uri == str(first_uri)

    count = watcher.connect_count
    with connection_loss(watcher, writer):
        srv.drop_connections()
    gap = next_event(sub)  # the session reconnected by itself and restored the subscription
    assert (gap.kind, gap.request_uuid) == ("gap", sub.request_uuid)
    assert gap.gap_start is not None and gap.gap_end is not None
    assert gap.gap_start <= gap.gap_end
    watcher.ping()
    assert watcher.connect_count == count + 1
    writer.ping()  # reconnect the writer too
    uri, xml = new_object()
    writer.put_data_objects([xml], dataspace=DS)
    event = next_event(sub)
    assert (event.uri, event.request_uuid) == (str(uri), sub.request_uuid)
    sub.unsubscribe()


def test_gap_covers_what_an_out_of_order_server_would_send_late(pair: Any) -> None:
    """A server sending notifications out of change-time order (not ours) widens later gaps by
    the reordering seen: a change between the late one and the latest, lost in the drop, lies
    inside the gap (with the latest change time alone as the start it would not)."""
    watcher, _writer, srv = pair()
    sub = watcher.subscribe_notifications(DS)
    base = sub.notified_until
    for late in (300, 100):  # base + 300 arrives before base + 100, as such a server may send
        sub.deliver(
            NotificationEvent(
                kind="changed", request_uuid=sub.request_uuid, uri="eml:///x", time=base + late
            )
        )
    assert [e.time for e in sub.drain()] == [base + 300, base + 100]
    assert (sub.notified_until, sub.reordering) == (base + 300, 200)
    with connection_loss(watcher):
        srv.drop_connections()
    gap = next_event(sub)
    assert gap.kind == "gap" and gap.gap_start is not None and gap.gap_end is not None, gap
    lost_change = base + 150  # e.g. still on its way when the connection dropped
    assert gap.gap_start <= lost_change <= gap.gap_end, gap
