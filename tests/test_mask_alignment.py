"""A region of the client's send buffer starts where the first big payload part it holds lands
aligned like its own memory (see ``_send_regions.region_skew``), after a frame header and a
prefix of any length: whatever the shift, the peer receives exactly the bytes sent, over
messages of several regions and frames."""

from __future__ import annotations

import numpy as np
from _ws_pair import send_and_receive, ws_pair

from etp_sync.transport._frames import address_of
from etp_sync.transport._send_regions import PAYLOAD_ALIGN, region_skew


def test_the_first_big_part_is_shifted_to_its_own_alignment() -> None:
    values = np.arange(1 << 14, dtype=np.float64).data.cast("B")  # 128 KiB
    for buffer_address in (4096, 4099, 4101):
        for lead in (0, 2, 14):
            for prefix in range(9):
                views = [memoryview(b"p" * prefix), values, memoryview(b"\x00")]
                skew = region_skew(buffer_address, lead, views, 0)
                assert 0 <= skew < 8
                lands = buffer_address + PAYLOAD_ALIGN + skew + lead + prefix
                assert (lands - address_of(values)) % 8 == 0
    for offset in (1, 3, 8, 70_000):  # a part already partly sent: its rest is aligned
        skew = region_skew(4096, 0, [values], offset)
        assert (4096 + PAYLOAD_ALIGN + skew - address_of(values) - offset) % 8 == 0
    assert region_skew(4096, 14, [memoryview(b"small"), memoryview(b"x" * 100)], 0) == 0


def test_shifted_messages_arrive_intact() -> None:
    with ws_pair() as (client, server):
        for prefix in (0, 1, 3, 5, 7, 8, 13):
            head = bytes(range(prefix))
            values = np.random.default_rng(prefix).random(40_000)[1:]  # its start: 8 past 16
            got = send_and_receive(client, server, [head, values, b"\x00\x01"])
            assert got == head + values.tobytes() + b"\x00\x01"


def test_messages_of_many_regions_and_frames_arrive_intact() -> None:
    """Regions end mid-part and mid-frame, frame headers fall inside regions, mask phases carry
    over from region to region."""
    rng = np.random.default_rng(11)
    for frame_size in (None, 1_000_003, 3 << 20, 65_537):
        with ws_pair({"max_frame_size": frame_size}) as (client, server):
            for prefix in (0, 5, 200_001):
                head = rng.bytes(prefix)
                values = rng.random(700_001)[1:]  # 5.3 MiB, unaligned to 16
                tail = rng.bytes(3)
                got = send_and_receive(client, server, [head, values, tail, values[:9]])
                assert got == head + values.tobytes() + tail + values[:9].tobytes()
