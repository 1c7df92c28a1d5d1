"""The client's send buffer (masked frames are built in it) grows with a quarter of room over
the message that outgrew it, so the next messages, a little bigger as often as not (blocks of
varints), reuse it; a message bigger than one send piece (1 MiB) is built and sent piece by
piece in it, so it never grows past one piece. A server's unmasked frames go out by
``sendmsg`` offered at most one piece at a time. The peer receives exactly the bytes sent."""

from __future__ import annotations

import numpy as np
from _ws_pair import send_and_receive, ws_pair

from etp_sync.transport._send_regions import IOV_MAX, PAYLOAD_ALIGN, SEND_PIECE, first_bytes

_MOST = PAYLOAD_ALIGN + 8 + SEND_PIECE
"""The biggest the send buffer gets: one piece, a frame header and alignment slack."""


def test_slightly_bigger_messages_reuse_the_send_buffer() -> None:
    rng = np.random.default_rng(1)
    with ws_pair() as (client, server):
        for size in (300_000, 301_000, 330_000, 370_000, 1_000_000):
            payload = rng.bytes(size)
            assert send_and_receive(client, server, [payload]) == payload
            if size == 300_000:
                first = client._writer._sbuf
                assert first.nbytes >= 300_000 + 300_000 // 4
            elif size < 1_000_000:  # within the quarter of room
                assert client._writer._sbuf is first
            else:  # beyond it: a bigger buffer, but never past one piece
                assert 1_000_000 < client._writer._sbuf.nbytes <= _MOST


def test_a_big_message_goes_out_through_one_piece_of_buffer() -> None:
    payload = np.random.default_rng(2).bytes(40 << 20)
    with ws_pair(server_options={"max_message_size": 64 << 20}) as (client, server):
        assert send_and_receive(client, server, [payload]) == payload
        assert client._writer._sbuf.nbytes <= _MOST


def test_a_server_offers_sendmsg_one_piece_at_a_time() -> None:
    views = [memoryview(b"h" * 10), memoryview(bytes(3 << 20)), memoryview(b"t" * 5)]
    batch = first_bytes(views, 0, SEND_PIECE)
    assert [v.nbytes for v in batch] == [10, SEND_PIECE - 10]
    assert batch[1].obj is views[1].obj  # a view of the part's own memory, not a copy
    assert [v.nbytes for v in first_bytes(views, 2, SEND_PIECE)] == [5]
    many = [memoryview(b"x")] * (2 * IOV_MAX)
    assert len(first_bytes(many, 0, SEND_PIECE)) == IOV_MAX


def test_a_server_message_bigger_than_a_piece_arrives_intact() -> None:
    payload = np.random.default_rng(3).bytes((5 << 20) + 3)
    with ws_pair(client_options={"max_message_size": 64 << 20}) as (client, server):
        assert server._writer._gather  # sendmsg, offered piece by piece
        assert send_and_receive(server, client, [payload[:7], payload[7:]]) == payload
