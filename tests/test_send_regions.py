"""The send-buffer layout of a big message on its own, without a socket: the regions
:func:`~etp_sync.transport._send_regions.regions` yields, joined, are the message's frames
(headers, masks, payloads), and none is bigger than one send piece."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from websocket._abnf import frame_buffer

from etp_sync.transport._frames import FIN, OP_BINARY, OP_CONT
from etp_sync.transport._send_regions import (
    HEADER_ROOM,
    REGION_BUFFER,
    SEND_PIECE,
    regions,
)


def _frames(wire: bytes) -> list[tuple[int, bool, bytes]]:
    """(first header byte, masked, unmasked payload) of each frame in ``wire``, read by
    websocket-client's own frame parser (an implementation independent of ours)."""
    stream = io.BytesIO(wire)
    frames = frame_buffer(stream.read, skip_utf8_validation=True)
    out = []
    while stream.tell() < len(wire):
        f = frames.recv_frame()
        out.append(((FIN if f.fin else 0) | f.opcode, bool(f.mask_value), bytes(f.data)))
    return out


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize(
    ("part_sizes", "frame_sizes"),
    [
        ([3 << 20], [3 << 20]),  # one frame, three regions
        ([5, (2 << 20) + 3, 70_000], None),  # parts of any size, one frame
        ([(2 << 20) + 11], [(1 << 20) - 1, (1 << 20) - 1, 13]),  # frames across regions
    ],
)
def test_joined_regions_are_the_frames(
    masked: bool, part_sizes: list[int], frame_sizes: list[int] | None
) -> None:
    rng = np.random.default_rng(sum(part_sizes))
    data = rng.bytes(sum(part_sizes))
    cuts = list(itertools.accumulate(part_sizes, initial=0))
    views = [memoryview(data)[a:b] for a, b in itertools.pairwise(cuts)]
    sizes = frame_sizes or [len(data)]
    keys = iter(rng.bytes(4 * len(sizes))[i : i + 4] for i in range(0, 4 * len(sizes), 4))
    given: list[bytes] = []

    def mask_key() -> bytes:
        given.append(next(keys))
        return given[-1]

    buffer = np.empty(REGION_BUFFER, np.uint8)
    address = buffer.__array_interface__["data"][0]
    wire = bytearray()
    for region in regions(
        buffer.data, address, OP_BINARY, views, sizes, mask_key if masked else None
    ):
        assert region.nbytes <= SEND_PIECE
        wire += region  # sent before the next region is built over it
    frames = _frames(bytes(wire))
    assert [len(p) for _, _, p in frames] == sizes
    assert b"".join(p for _, _, p in frames) == data
    assert [m for _, m, _ in frames] == [masked] * len(sizes)
    assert len(given) == (len(sizes) if masked else 0)  # a fresh key per frame
    firsts = [OP_CONT] * len(sizes)
    firsts[0] = OP_BINARY
    firsts[-1] |= FIN
    assert [first for first, _, _ in frames] == firsts


def test_a_region_leaves_room_for_the_next_header() -> None:
    """Every region but the last is cut at least :data:`HEADER_ROOM` bytes before its end:
    only full regions are sent before the message ends."""
    data = bytes(3 << 20)
    buffer = np.empty(REGION_BUFFER, np.uint8)
    address = buffer.__array_interface__["data"][0]
    sizes = [
        r.nbytes
        for r in regions(buffer.data, address, OP_BINARY, [memoryview(data)], [len(data)], None)
    ]
    assert sum(sizes) == len(data) + 10  # one 64-bit-length header
    assert all(SEND_PIECE - HEADER_ROOM - 8 <= s <= SEND_PIECE for s in sizes[:-1])
