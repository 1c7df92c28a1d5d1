"""The reader thread's own replies (ETP Pong to a server's Ping) never make it wait for the
send-order lock: a caller may hold that lock as long as its deadline allows (blocked on a
socket the peer does not empty), and a reader waiting behind it would route no reply, not
even the one the peer is trying to deliver."""

from __future__ import annotations

import threading
import time
from typing import Any

from _fakepeer import FakePeer, PeerConnection

from etp_sync import ETPSession
from etp_sync.schema import messages as m
from etp_sync.session.engine import MAX_QUEUED_REPLIES


def test_a_server_ping_while_a_send_holds_the_connection_does_not_stop_the_reader() -> None:
    go = threading.Event()
    ponged = threading.Event()
    pongs: list[tuple[Any, float]] = []
    sent: dict[str, int] = {}

    def handler(peer: PeerConnection, header: Any, body: Any) -> None:
        if body.etp_name == "Ping":
            peer.send(m.Core.Pong(current_date_time=2), correlation_id=header.message_id)
        elif body.etp_name == "GetDataspaces":
            assert go.wait(10)  # the client's send-order lock is held by then
            sent["ping"] = peer.send(m.Core.Ping(current_date_time=1))
            reply = m.Dataspace.GetDataspacesResponse(dataspaces=[])
            peer.send(reply, correlation_id=header.message_id)
        elif body.etp_name == "Pong":
            pongs.append((header, time.monotonic()))
            ponged.set()

    with FakePeer(handler, auto_pong=False) as peer, ETPSession(peer.url, timeout=30) as session:
        session.ping()
        engine = session._conn
        assert engine is not None
        handle = session.send(m.Dataspace.GetDataspaces())
        # Hold the lock as a caller stuck in a long send would (its deadline: 30 s).
        assert engine._order.acquire(timeout=5)
        try:
            go.set()
            # The reply after the Ping is routed although the Pong cannot go yet (before: the
            # reader waited for the lock, and the request timed out).
            assert handle.result(timeout=5) == [m.Dataspace.GetDataspacesResponse(dataspaces=[])]
            assert not ponged.is_set()
            released = time.monotonic()
        finally:
            engine._order.release()
        # The next sender sends the queued Pong when it is done with the lock.
        assert session.ping() > 0
        assert ponged.wait(5)
        header, at = pongs[0]
        assert header.correlation_id == sent["ping"] and at >= released


def test_pings_while_a_send_holds_the_connection_queue_a_bounded_number_of_pongs() -> None:
    """A peer that pings faster than the Pongs can go (here: all the while the lock is held)
    gets answers to its latest pings only; the queue does not grow with the pings."""
    go = threading.Event()
    pings: list[int] = []
    pongs: list[int] = []
    all_ponged = threading.Event()

    def handler(peer: PeerConnection, header: Any, body: Any) -> None:
        if body.etp_name == "Ping":
            peer.send(m.Core.Pong(current_date_time=2), correlation_id=header.message_id)
        elif body.etp_name == "GetDataspaces":
            assert go.wait(10)
            for _ in range(MAX_QUEUED_REPLIES * 3):
                pings.append(peer.send(m.Core.Ping(current_date_time=1)))
            reply = m.Dataspace.GetDataspacesResponse(dataspaces=[])
            peer.send(reply, correlation_id=header.message_id)
        elif body.etp_name == "Pong":
            pongs.append(header.correlation_id)
            if len(pongs) == MAX_QUEUED_REPLIES:
                all_ponged.set()

    with FakePeer(handler, auto_pong=False) as peer, ETPSession(peer.url, timeout=30) as session:
        engine = session._conn
        assert engine is not None
        handle = session.send(m.Dataspace.GetDataspaces())
        assert engine._order.acquire(timeout=5)
        try:
            go.set()
            assert handle.result(timeout=5)  # every Ping read before the reply
            assert len(engine._replies) == MAX_QUEUED_REPLIES
        finally:
            engine._order.release()
        session.ping()  # sends the queued Pongs
        assert all_ponged.wait(5)
        assert pongs == pings[-MAX_QUEUED_REPLIES:]  # the latest, in order
