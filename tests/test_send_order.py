"""Message ids reach the wire strictly increasing whichever thread sends (ETP 1.2: each sender's
ids increase strictly), also when threads are switched between taking an id and writing."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from etp_sync import ETPSession, ETPWriteTimeout
from etp_sync.codec import MessageFramer, peek_header
from etp_sync.schema import messages as m
from etp_sync.server import EmbeddedServer
from etp_sync.transport import _frame_writer

THREADS = 8
CALLS = 60


def test_ids_reach_the_wire_in_order_under_contention(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    send_small = _frame_writer.FrameWriter._send_small
    parts = MessageFramer.parts

    def recording(self: Any, opcode: int, frame_parts: Any, deadline: Any) -> None:
        payload = b"".join(bytes(p) for p in frame_parts)
        header = peek_header(memoryview(payload)) if self._masked else None
        if header is not None:
            sent.append(header[3])
        send_small(self, opcode, frame_parts, deadline)

    def yielding(self: MessageFramer, *args: Any, **kwargs: Any) -> Any:
        out = parts(self, *args, **kwargs)
        time.sleep(0)  # let another thread run between framing (the id is in it) and writing
        return out

    monkeypatch.setattr(_frame_writer.FrameWriter, "_send_small", recording)
    monkeypatch.setattr(MessageFramer, "parts", yielding)
    with EmbeddedServer(port=0) as server, ETPSession(server.url, timeout=60) as session:
        start = threading.Barrier(THREADS)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                start.wait()
                for _ in range(CALLS):
                    session.request(m.Dataspace.GetDataspaces())
            except BaseException as exc:  # reported after the join
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(sent) >= THREADS * CALLS
    backwards = [(a, b) for a, b in itertools.pairwise(sent) if b <= a]
    assert backwards == []


def test_a_send_waiting_for_the_send_order_keeps_its_deadline() -> None:
    """Another send holding the connection (here: its send-order lock, held by the test) makes a
    request fail with ETPWriteTimeout at its deadline, not wait for it."""
    with EmbeddedServer(port=0) as server, ETPSession(server.url, timeout=60) as session:
        session.get_dataspaces()
        engine = session._conn
        assert engine is not None
        assert engine._order.acquire(timeout=5)
        try:
            begin = time.monotonic()
            with pytest.raises(ETPWriteTimeout, match="another send held the connection"):
                session.request(m.Dataspace.GetDataspaces(), timeout=0.3)
            assert 0.25 <= time.monotonic() - begin < 3
        finally:
            engine._order.release()
        assert session.get_dataspaces() is not None  # the session goes on
