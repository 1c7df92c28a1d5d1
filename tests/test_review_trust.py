"""Review of the deadline/trust round: errors that keep their attributes through pickling and
:func:`~etp_sync.errors.fresh_error`, and the reader's queued Pongs."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import subprocess
from pathlib import Path
from typing import Any

import _stack_dumps
import numpy as np
import pytest
from _fakepeer import FakePeer

from etp_sync import ETPSession, errors
from etp_sync._timeouts import seconds
from etp_sync.errors import ETPWriteTimeout
from etp_sync.schema import messages as m
from etp_sync.session.engine import MAX_QUEUED_REPLIES


def test_a_missing_dependency_keeps_its_import_error_name_through_pickle_and_fresh_error() -> None:
    """ImportError keeps ``name`` outside ``__dict__``: a copy rebuilt from ``__dict__`` alone
    said ``name is None`` (code catching ImportError reads it to tell which package)."""
    error = errors.ETPMissingDependency("needs tqdm", "tqdm")
    for copy in (pickle.loads(pickle.dumps(error)), errors.fresh_error(error)):
        assert isinstance(copy, errors.ETPMissingDependency) and isinstance(copy, ImportError)
        assert copy.name == "tqdm" and copy.package == "tqdm"
        assert copy.msg == error.msg and copy.path == error.path


def test_queued_pongs_the_socket_does_not_take_hold_their_sender_for_one_wait_only() -> None:
    """The queued Pongs (up to 32) are sent by the reader or by a caller releasing the
    send-order lock, each given REPLY_WAIT (0.25 s) for the socket. A socket that took nothing
    in that time (a peer not reading) takes no later Pong either: trying each held that thread
    32 x 0.25 s = 8 s (a caller whose own send just timed out, past its deadline by that)."""
    with FakePeer(lambda peer, header, body: None) as peer, ETPSession(peer.url) as session:
        engine = session._conn
        assert engine is not None
        tries: list[float] = []

        def full_socket(parts: Any, size: int, body: Any, deadline: float | None) -> None:
            assert deadline is not None
            tries.append(deadline)
            raise ETPWriteTimeout("send did not complete within its deadline")

        assert engine._order.acquire(timeout=5)  # a send in progress while the pings come
        try:
            for ping_id in range(2, 2 + MAX_QUEUED_REPLIES * 2, 2):
                engine._reply(m.Core.Pong(current_date_time=1), ping_id)
            assert len(engine._replies) == MAX_QUEUED_REPLIES
            engine._transmit = full_socket  # type: ignore[method-assign]
        finally:
            engine._order.release()
        try:
            engine._send_replies()  # what that send does as it releases the lock
        finally:
            del engine._transmit
        assert len(tries) == 1  # before: 32 tries of 0.25 s each
        assert not engine._replies
        assert engine.is_open


def test_the_dask_watchdog_signals_only_processes_of_this_test_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's dump file outlives the worker (one a test killed), and its number may since
    name an unrelated process: SIGUSR1, whose default action is to end a process, must go only
    to processes this one started."""
    orphan = subprocess.run(  # a process alive but not ours: its parent shell has exited
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True, check=True
    )
    stranger = int(orphan.stdout)
    child = subprocess.Popen(["sleep", "60"])
    try:
        for pid in (stranger, child.pid):
            (tmp_path / f"worker-{pid}.txt").write_text("stacks\n")
        signalled: list[int] = []

        def kill(pid: int, sig: int) -> None:
            if sig != 0:
                signalled.append(pid)

        with monkeypatch.context() as patch:  # os.kill itself: undone before the cleanup
            patch.setattr(_stack_dumps.os, "kill", kill)
            _stack_dumps.dump_everything(tmp_path, [], io.StringIO())
        assert signalled == [child.pid]  # before: the stranger too
    finally:
        child.kill()
        child.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(stranger, signal.SIGKILL)


def test_numpy_bools_are_refused_as_timeouts_like_python_bools() -> None:
    """Python's True is refused; numpy's (a mask element, ``arr.any()``) was taken as 1 s."""
    value: Any = np.True_
    with pytest.raises(errors.ETPInvalidArgument, match="timeout must be a positive number"):
        seconds(value)
    with pytest.raises(errors.ETPInvalidArgument, match="timeout must be"):
        ETPSession("ws://127.0.0.1:9/", timeout=value)
