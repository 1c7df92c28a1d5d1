"""Whether a session offers gzip: by default not to a server on this host (loopback, no proxy),
where compressing only costs CPU; always when asked; and what goes over the wire either way."""

from __future__ import annotations

import logging
import socket
import threading
import uuid

import numpy as np
import pytest
from test_proxy import ConnectProxy

from etp_sync import ETPSession, samples
from etp_sync.samples import local_depth_crs
from etp_sync.server import EmbeddedServer
from etp_sync.session.engine import offers_gzip
from etp_sync.transport._connect import peer_is_loopback
from etp_sync.transport._websocket import WebSocketTransport
from etp_sync.uri import DataObjectURI

# More objects than a put sends in one request: the put is pipelined in several batches.
OBJECTS = 300


def _docs(space: str) -> dict[str, bytes]:
    return samples.crs_documents(space, OBJECTS)


def _round_trip(session: ETPSession, space: str) -> None:
    """Put and get back many small XML objects (gzip pays for them: ratio far under 0.75)."""
    session.put_dataspace(space)
    docs = _docs(space)
    session.put_data_objects(docs)
    got = session.get_data_objects(list(docs))
    assert {str(uri): obj.xml for uri, obj in got.items()} == docs


def _compressed(caplog: pytest.LogCaptureFixture, direction: str) -> int:
    """Messages traced in ``direction`` (``->`` sent, ``<-`` received) with the COMPRESSED flag."""
    return sum(
        1
        for r in caplog.records
        if r.name == "etp_sync.trace"
        and r.getMessage().startswith(direction)
        and "COMPRESSED" in r.getMessage()
    )


def test_offers_gzip_decides_as_asked_or_by_where_the_server_is() -> None:
    assert offers_gzip(None, direct_loopback=False) is True
    assert offers_gzip(None, direct_loopback=True) is False
    assert offers_gzip(True, direct_loopback=True) is True
    assert offers_gzip(False, direct_loopback=False) is False


def test_peer_is_loopback_reads_the_connected_address(server: EmbeddedServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        assert peer_is_loopback(sock)
    unix_a, unix_b = socket.socketpair()  # no IP address: cannot tell, so not loopback
    with unix_a, unix_b:
        assert not peer_is_loopback(unix_a)
    unconnected = socket.socket()
    with unconnected:
        assert not peer_is_loopback(unconnected)


def test_a_server_on_this_host_is_offered_no_gzip_by_default(
    server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etp_sync.trace")
    with ETPSession(server.url, trace=True) as session:
        assert session.compression is None  # the default: decided per connection
        assert session.server.compression == ""
        _round_trip(session, "gzip/default")
    assert _compressed(caplog, "->") == 0
    assert _compressed(caplog, "<-") == 0


def test_compression_true_compresses_both_ways_on_loopback(
    server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etp_sync.trace")
    with ETPSession(server.url, compression=True, trace=True) as session:
        assert session.server.compression == "gzip"
        _round_trip(session, "gzip/asked")
    assert _compressed(caplog, "->") > 0  # the client's batches of XML
    assert _compressed(caplog, "<-") > 0  # the server's responses


def test_a_server_reached_through_a_proxy_is_offered_gzip(server: EmbeddedServer) -> None:
    """A proxy on this host may lead anywhere: the default offers gzip through it."""
    proxy = ConnectProxy(hosts=())
    try:
        with ETPSession(server.url, proxy=proxy.url) as session:
            assert session.server.compression == "gzip"
            _round_trip(session, "gzip/proxied")
    finally:
        proxy.close()
    assert proxy.targets == [f"127.0.0.1:{server.port}"]


def test_a_server_reached_by_a_followed_redirect_is_not_known_local(
    server: EmbeddedServer,
) -> None:
    """After a redirect the peer may be another host's (through a proxy on this host): the
    transport does not call it local, so a session would offer gzip (review)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def redirect() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as request:
            for line in request:
                if line in (b"\r\n", b""):
                    break
            conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {server.url}\r\n\r\n".encode())

    thread = threading.Thread(target=redirect, daemon=True)
    thread.start()
    try:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        transport = WebSocketTransport.connect(url, follow_redirects=True, proxy=False)
        try:
            assert peer_is_loopback(transport._sock)  # loopback indeed, but reached by a redirect
            assert transport.direct_loopback is False
        finally:
            transport.close()
        direct = WebSocketTransport.connect(server.url, proxy=False)
        assert direct.direct_loopback is True
        direct.close()
    finally:
        listener.close()
        thread.join(5)


def test_compressed_chunks_and_arrays_round_trip(caplog: pytest.LogCaptureFixture) -> None:
    """With gzip asked for on loopback, the client's compressed paths end to end: an object
    larger than a message (its Chunks compressed both ways) and a compressible array (its
    messages compressed both ways, so not received in place) come back equal."""
    caplog.set_level(logging.DEBUG, logger="etp_sync.trace")
    space = "gzip/big"
    ref = uuid.uuid4()
    uri = str(DataObjectURI.from_type(space, "resqml20.obj_LocalDepth3dCrs", ref))
    big = samples.padded(local_depth_crs(ref, "big"), 300_000)
    epc = str(DataObjectURI.from_type(space, "resqml20.obj_EpcExternalPartReference", ref))
    smooth = np.linspace(0.0, 1.0, 200_000).reshape(400, 500)  # gzip shrinks its doubles
    with (
        EmbeddedServer(host="127.0.0.1", port=0, max_message_size=64 * 1024) as server,
        ETPSession(server.url, compression=True, trace=True, max_response_size=1 << 20) as session,
    ):
        assert session.server.compression == "gzip"
        session.put_dataspace(space)
        session.put_data_objects({uri: big})
        assert session.get_data_object(uri).xml == big
        session.put_data_array(epc, "/smooth", smooth)
        assert np.array_equal(session.get_data_array(epc, "/smooth"), smooth)

    def compressed(direction: str, kind: str) -> int:
        return sum(
            1
            for r in caplog.records
            if r.name == "etp_sync.trace"
            and r.getMessage().startswith(f"{direction} {kind}")
            and "COMPRESSED" in r.getMessage()
        )

    assert compressed("->", "4.8 Chunk") > 0 and compressed("<-", "4.8 Chunk") > 0
    assert compressed("->", "9.") > 0 and compressed("<-", "9.") > 0
