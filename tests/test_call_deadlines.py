"""Calls that read what the server granted (the message size, the protocols) before sending
anything connect within the session's ``timeout``: ``ETPSession.server`` connected with no
deadline, so a first call to a silent server took the retry policy's attempts, each a whole
``connect_timeout``, whatever the session's timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from etp_sync import ETPConnectTimeout, ETPSession, RetryPolicy, etp_connect
from etp_sync.cli import EXIT_CONNECTION

TIMEOUT = 1.0
SLACK = 1.5  # DEADLINE_MARGIN (0.5 s) and a loaded machine
URI = "eml:///dataspace('a/b')/resqml20.obj_Grid2dRepresentation(4b2a1a0e-8d6a-4f9e-9c3a-1d2e3f405162)"


@pytest.fixture
def silent_url() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts TCP (backlog), never answers
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()


CALLS: list[Callable[[ETPSession], Any]] = [
    lambda s: s.server,
    lambda s: s.array_block_budget(URI, "/a", 2),
    lambda s: s.put_data_subarray(URI, "/a", [0], np.zeros(4)),
    lambda s: s.get_data_objects([URI]),
]


@pytest.mark.parametrize("call", CALLS, ids=["server", "budget", "put_subarray", "get_objects"])
def test_a_first_call_to_a_silent_server_ends_at_the_session_timeout(
    silent_url: str, call: Callable[[ETPSession], Any]
) -> None:
    session = ETPSession(
        silent_url, timeout=TIMEOUT, connect_timeout=5, retry=RetryPolicy(attempts=1)
    )
    begin = time.monotonic()
    try:
        with pytest.raises(ETPConnectTimeout):
            call(session)
        assert time.monotonic() - begin < TIMEOUT + SLACK  # before: connect_timeout (5 s)
    finally:
        session.close()


PUTS: list[Callable[[ETPSession, float], Any]] = [
    lambda s, t: s.put_data_subarray(URI, "/a", [0], np.zeros(4), timeout=t),
    lambda s, t: s.put_data_array(URI, "/a", np.zeros(4), timeout=t),
    lambda s, t: s.get_data_array(URI, "/a", timeout=t),
    lambda s, t: s.get_data_subarray(URI, "/a", [0], [2], timeout=t),
]


@pytest.mark.parametrize("call", PUTS, ids=["put_subarray", "put_array", "get", "get_subarray"])
def test_an_array_call_connects_within_its_own_timeout(
    silent_url: str, call: Callable[[ETPSession, float], Any]
) -> None:
    """Puts read the message size before sending anything: that connect now counts against
    the call's own deadline (the session's timeout is far longer here)."""
    session = ETPSession(silent_url, timeout=60, connect_timeout=5, retry=RetryPolicy(attempts=1))
    begin = time.monotonic()
    try:
        with pytest.raises(ETPConnectTimeout):
            call(session, TIMEOUT)
        assert time.monotonic() - begin < TIMEOUT + SLACK  # before: connect_timeout (5 s)
    finally:
        session.close()


OPENINGS: list[Callable[[str], Any]] = [
    lambda url: ETPSession(url, timeout=TIMEOUT, connect_timeout=5).__enter__(),
    lambda url: etp_connect(url, timeout=TIMEOUT, connect_timeout=5),
    lambda url: ETPSession(url, timeout=TIMEOUT, connect_timeout=5).connect(),
    lambda url: next(iter(ETPSession(url, timeout=TIMEOUT, connect_timeout=5))),
]


@pytest.mark.parametrize("opening", OPENINGS, ids=["with", "etp_connect", "connect", "for"])
def test_opening_a_session_to_a_silent_server_ends_at_the_session_timeout(
    silent_url: str, opening: Callable[[str], Any]
) -> None:
    """``with ETPSession(url, timeout=...)``, ``etp_connect`` and ``connect()`` connect within
    the session's timeout, the retry policy's attempts included: before, the default policy
    made 5 attempts of ``connect_timeout`` each (here 5 x 5 s) whatever the timeout."""
    begin = time.monotonic()
    with pytest.raises(ETPConnectTimeout):
        opening(silent_url)
    assert time.monotonic() - begin < TIMEOUT + SLACK


def test_the_cli_connects_within_its_timeout(silent_url: str) -> None:
    """``etp-sync ping URL --timeout 1``: exit 3 (connection) within the timeout."""
    begin = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "etp_sync", "ping", silent_url, "--timeout", str(TIMEOUT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_CONNECTION, (done.returncode, done.stderr)
    assert time.monotonic() - begin < TIMEOUT + SLACK + 5  # + the interpreter's start-up


def test_a_for_loop_over_a_session_drops_its_connection_when_it_ends(server: Any) -> None:
    """``for s in etp_connect(url): ... break`` (or an exception out of the loop) leaves no
    session open on the server, as pyetp's ``async for`` does not."""
    session = etp_connect(server.url)
    try:
        for s in session:
            s.get_dataspaces()
            break
        assert not session.is_open
        assert server.wait_for_sessions(0, 10)
        with pytest.raises(KeyError):
            for s in session:  # the loop form reopens it
                s.get_dataspaces()
                assert server.session_count == 1
                raise KeyError("out of the loop")
        assert not session.is_open
        assert server.wait_for_sessions(0, 10)
    finally:
        session.close()
