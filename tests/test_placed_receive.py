"""A big one-frame message whose middle a placer claims is received straight into that memory
(aligned or not), unmasked piece by piece as it arrives (see ``FrameReader.read_into``), with
the mask phase of each byte's position; the rest of the payload comes back as the message."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _ws_pair import send_and_receive, ws_pair


def _placer(
    payload: bytes, offset: int, dest: np.ndarray, seen: list[int]
) -> Callable[[memoryview, int], tuple[int, memoryview]]:
    def placer(first: memoryview, length: int) -> tuple[int, memoryview]:
        seen.append(length)
        assert bytes(first) == payload[: first.nbytes]  # offered unmasked
        return offset, memoryview(dest)

    return placer


def test_placed_bytes_are_unmasked_with_the_phase_of_their_position() -> None:
    rng = np.random.default_rng(5)
    with ws_pair(server_options={"max_message_size": 64 << 20}) as (client, server):
        cases = (
            (0, 3 << 20, 0, 0),
            (1, (2 << 20) + 5, 7, 3),
            (6, 70_001, 2, 0),
            (3, 3 << 20, 1, 5),
        )
        for offset, placed, after, shift in cases:
            payload = rng.bytes(offset + placed + after)
            dest = np.zeros(placed + 8, np.uint8)[shift : shift + placed]  # shift: unaligned
            seen: list[int] = []
            server.placer = _placer(payload, offset, dest, seen)
            got = send_and_receive(client, server, [payload])
            assert seen == [len(payload)]
            assert dest.tobytes() == payload[offset : offset + placed]
            assert got == payload[:offset] + payload[offset + placed :]
