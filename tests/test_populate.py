"""A read of several blocks into a fresh result faults its pages in from a thread of its own
(:class:`~etp_sync.calls._populate.Populator`), ahead of the replies received into them; a
stopped populator leaves the rest alone, and one that fails only logs (the writes fault the
pages in anyway)."""

from __future__ import annotations

import logging
import mmap
import sys
import threading

import numpy as np
import pytest
from _helpers import minor_faults
from conftest import Harness

from etp_sync import ETPSession
from etp_sync.calls import _populate
from etp_sync.calls._populate import Populator
from etp_sync.codec.arrays import fresh_empty
from etp_sync.uri import DataObjectURI

LINUX = sys.platform.startswith("linux")
DS = "populate/test"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "00000000-0000-0000-0000-00000000000e"
)


def _faults_writing(fresh: np.ndarray) -> int:
    before = minor_faults()
    fresh[...] = 1.5
    return minor_faults() - before


def _halves(fresh: np.ndarray) -> list[np.ndarray]:
    return [fresh[: len(fresh) // 2], fresh[len(fresh) // 2 :]]


@pytest.mark.skipif(not LINUX, reason="pages are populated ahead on Linux only")
def test_a_populator_faults_its_parts_in_from_its_own_thread() -> None:
    fresh = fresh_empty((2048, 1024), "<f8")  # 16 MiB, a fresh mapping
    ahead = Populator(_halves(fresh))
    ahead.start()
    ahead._thread.join(30)
    assert not ahead._thread.is_alive()
    pages = fresh.nbytes // mmap.PAGESIZE
    assert _faults_writing(fresh) < pages // 4  # mapped already: (almost) no fault left
    assert (fresh == 1.5).all()


def test_a_stopped_populator_leaves_the_rest_to_the_writes() -> None:
    fresh = fresh_empty((2048, 1024), "<f8")
    ahead = Populator(_halves(fresh))
    ahead.stop()
    ahead.start()
    ahead._thread.join(30)
    assert not ahead._thread.is_alive()
    if LINUX:
        assert _faults_writing(fresh) > fresh.nbytes // mmap.PAGESIZE // 2
    else:
        fresh[...] = 1.5
    assert (fresh == 1.5).all()


def test_a_failing_populator_logs_and_ends(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(part: np.ndarray) -> None:
        raise OSError("no madvise here")

    monkeypatch.setattr(_populate, "populate", broken)
    ahead = Populator([np.zeros(10)])
    with caplog.at_level(logging.DEBUG, logger="etp_sync.arrays"):
        ahead.start()
        ahead._thread.join(30)
    assert not ahead._thread.is_alive()
    assert any("not populated ahead" in r.getMessage() for r in caplog.records)


def test_a_read_of_several_blocks_populates_ahead_and_stops_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[Populator, int]] = []
    stopped: list[Populator] = []
    start, stop = Populator.start, Populator.stop

    def spy_start(self: Populator) -> None:
        made.append((self, len(self._parts)))
        start(self)

    def spy_stop(self: Populator) -> None:
        stopped.append(self)
        stop(self)

    monkeypatch.setattr(Populator, "start", spy_start)
    monkeypatch.setattr(Populator, "stop", spy_stop)
    srv = harness.server(max_message_size=1 << 20, dataspaces=[DS])
    session: ETPSession = harness.session(srv, timeout=30)
    values = np.random.default_rng(3).random((1024, 1024))  # 8 MiB: blocks under 1 MiB
    session.put_data_array(EPC, "/v", values)
    got = session.get_data_array(EPC, "/v")
    np.testing.assert_array_equal(got, values)
    assert len(made) == 1 and made[0][1] > 1  # one populator, over every block
    assert stopped == [made[0][0]]
    made[0][0]._thread.join(30)  # it ends: nothing holds the result after the read
    assert not [t for t in threading.enumerate() if t.name == "etp_sync-populate" and t.is_alive()]


def test_a_failing_read_stops_its_populator(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that fails (here: the connection lost after the first block was asked for) stops
    its populator too, which then lets go of the result."""
    from etp_sync.calls import _array_read
    from etp_sync.errors import ETPConnectionLost

    made: list[Populator] = []
    stopped: list[Populator] = []
    start, stop = Populator.start, Populator.stop
    monkeypatch.setattr(Populator, "start", lambda self: (made.append(self), start(self))[1])
    monkeypatch.setattr(Populator, "stop", lambda self: (stopped.append(self), stop(self))[1])
    srv = harness.server(max_message_size=1 << 20, dataspaces=[DS])
    session: ETPSession = harness.session(srv, timeout=30)
    session.put_data_array(EPC, "/v", np.zeros((1024, 1024)))

    def lost_midway(*args: object, **kwargs: object) -> None:
        raise ETPConnectionLost("dropped mid-read")

    monkeypatch.setattr(_array_read, "run_pipeline", lost_midway)
    with pytest.raises(ETPConnectionLost):
        session.get_data_array(EPC, "/v")
    assert len(made) == 1 and stopped == made
    made[0]._thread.join(30)
    assert not made[0]._thread.is_alive() and made[0]._parts == []
