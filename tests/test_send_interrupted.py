"""A big client message is masked and sent region by region: one stopped after part of it went
out (an interrupt between two regions) must not leave the connection open, where the peer would
read the next message as the rest of this one; one stopped before any byte went out leaves the
connection usable."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from _ws_pair import send_and_receive, ws_pair

from etp_sync.errors import ETPTransportError
from etp_sync.transport import _send_regions


class _Stop(Exception):
    pass


def _mask_failing_at(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    real = _send_regions.mask_into
    calls = [0]

    def mask_into(*args: Any, **kwargs: Any) -> int:
        calls[0] += 1
        if calls[0] == call:
            raise _Stop
        return real(*args, **kwargs)

    monkeypatch.setattr(_send_regions, "mask_into", mask_into)


def test_a_send_stopped_mid_message_loses_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = np.random.default_rng(4).bytes(5 << 20)  # five regions, one mask call each
    with ws_pair(server_options={"max_message_size": 64 << 20}) as (client, server):
        received: list[BaseException | bytes | None] = []

        def read() -> None:
            try:
                got = server.recv_message(timeout=30)
                received.append(None if got is None else bytes(got))
            except BaseException as exc:  # what the peer saw, checked below
                received.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        _mask_failing_at(monkeypatch, 3)  # two regions went out
        try:
            with pytest.raises(_Stop):
                client.send_message([payload])
        finally:
            monkeypatch.undo()
            reader.join(30)
        with pytest.raises(ETPTransportError):
            client.send_message([b"next message"])
        # The peer saw the connection end mid-message, never a message made of two.
        assert len(received) == 1 and isinstance(received[0], ETPTransportError)


def test_a_send_stopped_before_any_byte_keeps_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = np.random.default_rng(5).bytes(5 << 20)
    with ws_pair(server_options={"max_message_size": 64 << 20}) as (client, server):
        _mask_failing_at(monkeypatch, 1)
        with pytest.raises(_Stop):
            client.send_message([payload])
        monkeypatch.undo()
        assert send_and_receive(client, server, [payload]) == payload
