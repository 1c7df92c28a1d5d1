"""A caller reading for itself polls its socket briefly before it sleeps
(``etp_sync.transport._spin``): the compiled poll (GIL released, bounded, errors reported as
readable), the policy (budget, deadline, backing off after misses, probing), the transport
using it only where asked, and sessions over a real socket to the embedded server.
"""

from __future__ import annotations

import importlib
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _helpers import can_build_extension, printed_without_compiled
from conftest import Harness
from test_frame_reader_short import Pair, frame

from etp_sync import ETPSession
from etp_sync.errors import ETPError, ETPInvalidArgument
from etp_sync.transport import _spin
from etp_sync.transport._frames import FIN, OP_BINARY
from etp_sync.transport._spin import DEFAULT_SPIN_WAIT, MISSES, PROBE, Spinner

# -- the compiled poll ---------------------------------------------------------------------


def test_the_poll_is_built_where_it_can_be() -> None:
    """An install that could build the module has it (a broken build must not go unnoticed)."""
    if os.environ.get("ETP_SYNC_NO_COMPILED"):
        pytest.skip("ETP_SYNC_NO_COMPILED is set")
    if not can_build_extension("poll.h"):
        pytest.skip("no C compiler or Python headers: callers sleep at once")
    importlib.import_module("etp_sync.transport._spin_c")
    if _spin._usable_cpus() > 1:
        assert _spin.spinning_available()


def test_the_environment_can_keep_the_poll_off() -> None:
    code = "from etp_sync.transport import _spin; print(_spin.spinning_available())"
    assert printed_without_compiled(code) == "False"


def test_sessions_work_without_the_poll() -> None:
    code = (
        "from etp_sync import ETPSession\n"
        "from etp_sync.server import EmbeddedServer\n"
        "with EmbeddedServer(port=0) as srv, ETPSession(srv.url) as s:\n"
        "    s.put_dataspace('a/b')\n"
        "    print([d.path for d in s.get_dataspaces()])\n"
    )
    assert printed_without_compiled(code) == "['a/b']"


@pytest.fixture()
def poll_briefly() -> Callable[[int, float], bool]:
    try:
        module = importlib.import_module("etp_sync.transport._spin_c")
    except ImportError:
        pytest.skip("etp_sync.transport._spin_c is not built here")
    poll: Callable[[int, float], bool] = module.poll_briefly
    return poll


@pytest.fixture()
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_the_poll_sees_bytes_that_wait_and_ends_when_none_come(
    poll_briefly: Callable[[int, float], bool], sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, peer = sockets
    started = time.monotonic()
    assert poll_briefly(ours.fileno(), 0.02) is False
    assert time.monotonic() - started >= 0.02  # it polled for its whole budget
    assert poll_briefly(ours.fileno(), 0.0) is False
    assert poll_briefly(ours.fileno(), -1.0) is False
    peer.send(b"x")
    assert poll_briefly(ours.fileno(), 0.0) is True
    assert poll_briefly(ours.fileno(), 0.5) is True
    assert ours.recv(1) == b"x"


def test_a_hang_up_counts_as_readable(
    poll_briefly: Callable[[int, float], bool], sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, peer = sockets
    peer.close()  # the receive that follows reports the EOF
    assert poll_briefly(ours.fileno(), 0.5) is True
    assert ours.recv(1) == b""


@pytest.mark.parametrize(
    ("fd", "seconds", "error"),
    [
        (-1, 0.001, ValueError),
        (0, 1.5, ValueError),
        (0, math.nan, ValueError),
        (0, math.inf, ValueError),
        ("0", 0.001, TypeError),
        (0, "0.001", TypeError),
    ],
)
def test_the_poll_refuses_bad_arguments(
    poll_briefly: Callable[[int, float], bool], fd: Any, seconds: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        poll_briefly(fd, seconds)


def test_other_threads_run_while_one_polls(
    poll_briefly: Callable[[int, float], bool], sockets: tuple[socket.socket, socket.socket]
) -> None:
    """The GIL is released for the whole poll: another thread's Python code runs meanwhile, and
    what it sends ends the poll early."""
    ours, peer = sockets
    polling = threading.Event()
    result: list[bool] = []

    def poll() -> None:
        polling.set()
        result.append(poll_briefly(ours.fileno(), 1.0))

    thread = threading.Thread(target=poll)
    thread.start()
    assert polling.wait(5)
    steps = 0
    while thread.is_alive() and steps < 1_000_000:  # Python code, which needs the GIL
        steps += 1
        if steps == 1000:
            peer.send(b"x")
    thread.join(5)
    assert result == [True]
    assert steps < 1_000_000  # the poll ended on the bytes, long before its second was up


# -- the policy -----------------------------------------------------------------------------


class FakePoll:
    """Stands in for the compiled poll: answers from ``answers`` (True after they run out),
    recording each budget asked for."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.budgets: list[float] = []

    def __call__(self, fd: int, seconds: float) -> bool:
        self.budgets.append(seconds)
        return self.answers.pop(0) if self.answers else True


class SelectPoll(FakePoll):
    """A stand-in that truly waits (with ``select``, sleeping) for at most the budget."""

    def __call__(self, fd: int, seconds: float) -> bool:
        self.budgets.append(seconds)
        return bool(select.select([fd], [], [], seconds)[0])


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakePoll]:
    def install(*answers: bool) -> FakePoll:
        poll = FakePoll(*answers)
        monkeypatch.setattr(_spin, "POLL_BRIEFLY", poll)
        return poll

    return install


def test_a_spinner_polls_for_its_budget_and_a_catch_keeps_it_polling(
    fake: Callable[..., FakePoll],
) -> None:
    poll = fake(True, False, True)
    spinner = Spinner(0.0005)
    assert [spinner.ready(3, None) for _ in range(3)] == [True, False, True]
    assert poll.budgets == [0.0005] * 3
    assert spinner.misses == 0


def test_after_misses_in_a_row_only_one_wait_in_probe_polls_until_one_catches(
    fake: Callable[..., FakePoll],
) -> None:
    poll = fake(*[False] * (MISSES + 1))  # then True
    spinner = Spinner(0.0005)
    assert [spinner.ready(3, None) for _ in range(MISSES)] == [False] * MISSES
    assert len(poll.budgets) == MISSES
    skipped = [spinner.ready(3, None) for _ in range(2 * PROBE - MISSES)]
    assert skipped == [False] * len(skipped)
    assert len(poll.budgets) == MISSES + 1  # one probe among them, which missed too
    assert spinner.ready(3, None) is True  # the next probe catches its reply
    assert [spinner.ready(3, None) for _ in range(3)] == [True] * 3
    assert len(poll.budgets) == MISSES + 5  # so every wait polls again
    assert spinner.misses == 0


def test_a_spinner_never_polls_past_the_deadline(fake: Callable[..., FakePoll]) -> None:
    poll = fake()
    spinner = Spinner(0.0005)
    assert spinner.ready(3, time.monotonic() - 1) is False  # no time left: no poll at all
    assert spinner.ready(3, time.monotonic() + 0.0001) is True
    assert poll.budgets and poll.budgets[0] <= 0.0001
    assert spinner.ready(3, time.monotonic() + 10) is True
    assert poll.budgets[1] == 0.0005


def test_a_spinner_without_the_poll_or_budget_sleeps_at_once(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[..., FakePoll]
) -> None:
    poll = fake()
    assert Spinner(0.0).ready(3, None) is False
    assert poll.budgets == []
    monkeypatch.setattr(_spin, "POLL_BRIEFLY", None)
    assert Spinner(0.0005).ready(3, None) is False


# -- the transport --------------------------------------------------------------------------


def test_a_bounded_read_polls_before_it_sleeps_only_when_asked(
    client_pair: Pair, fake: Callable[..., FakePoll]
) -> None:
    poll = fake(False, True)
    transport = client_pair.transport
    payload = os.urandom(40)
    client_pair.send(frame(FIN | OP_BINARY, payload, False))
    assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)
    assert poll.budgets == []  # none asked for yet
    transport.spin_before_sleeping(0.0005)
    client_pair.send(frame(FIN | OP_BINARY, payload, False))
    # the fake says nothing came (a miss): the read then waits in poll as before, and gets it
    assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)
    client_pair.send(frame(FIN | OP_BINARY, payload, False))
    assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)
    assert poll.budgets == [0.0005, 0.0005]
    transport.spin_before_sleeping(0)
    client_pair.send(frame(FIN | OP_BINARY, payload, False))
    assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)
    assert len(poll.budgets) == 2


def test_a_bounded_read_with_the_real_poll_keeps_its_deadline(
    client_pair: Pair, poll_briefly: Callable[[int, float], bool]
) -> None:
    if not _spin.spinning_available():
        pytest.skip("one CPU: callers do not spin here")
    transport = client_pair.transport
    transport.spin_before_sleeping(0.01)
    started = time.monotonic()
    assert transport.recv_bounded(started + 0.005) is None  # nothing came
    assert time.monotonic() - started < 2.0
    payload = os.urandom(300)
    client_pair.send(frame(FIN | OP_BINARY, payload, False))
    assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)


# -- sessions -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.001, 0.011, math.nan, math.inf, True, "0.001", None])
def test_spin_wait_must_be_a_short_number_of_seconds(bad: Any) -> None:
    with pytest.raises(ETPInvalidArgument, match="spin_wait"):
        ETPSession("ws://127.0.0.1:9", spin_wait=bad)


def test_spin_wait_defaults_to_the_module_default() -> None:
    assert ETPSession("ws://127.0.0.1:9").spin_wait == DEFAULT_SPIN_WAIT == 0.0002
    assert ETPSession("ws://127.0.0.1:9", spin_wait=0).spin_wait == 0.0


class CountingPoll:
    """Wraps the real poll, counting what it answered (thread-safe enough: one reader at a
    time holds the transport's receive lock)."""

    def __init__(self, poll: Callable[[int, float], bool]) -> None:
        self.poll = poll
        self.answers: list[bool] = []

    def __call__(self, fd: int, seconds: float) -> bool:
        answer = self.poll(fd, seconds)
        self.answers.append(answer)
        return answer


def test_a_session_catches_replies_while_it_polls(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    poll_briefly: Callable[[int, float], bool],
) -> None:
    """Over a real socket to the embedded server: with a budget far above a small request's
    time, callers catch their replies while polling, and every reply is the right one."""
    counting = CountingPoll(poll_briefly)
    monkeypatch.setattr(_spin, "POLL_BRIEFLY", counting)
    server = harness.server(dataspaces=["spin/a"])
    session = harness.session(server, spin_wait=0.01)
    for i in range(50):
        session.put_dataspace(f"spin/b{i}")
        assert f"spin/b{i}" in {d.path for d in session.get_dataspaces()}
    assert True in counting.answers  # replies came while the callers polled
    # nothing is lost either way: misses went on to sleep in poll and got their reply


def test_a_session_with_spin_wait_zero_never_polls_first(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll = SelectPoll()
    monkeypatch.setattr(_spin, "POLL_BRIEFLY", poll)
    server = harness.server(dataspaces=["spin/a"], spin_wait=0)  # only the clients may poll
    session = harness.session(server, spin_wait=0)
    for _ in range(20):
        assert [d.path for d in session.get_dataspaces()] == ["spin/a"]
    assert poll.budgets == []
    other = harness.session(server)  # the default polls first
    for _ in range(20):
        assert [d.path for d in other.get_dataspaces()] == ["spin/a"]
    assert poll.budgets and set(poll.budgets) <= {DEFAULT_SPIN_WAIT}


def test_a_thread_polls_only_while_no_other_waits(
    client_pair: Pair, fake: Callable[..., FakePoll]
) -> None:
    """Another thread of the process waiting in a bounded read (another session's caller, say)
    keeps this one from polling: the server is likely busy with it."""
    poll = fake()
    transport = client_pair.transport
    transport.spin_before_sleeping(0.0005)
    payload = os.urandom(40)
    _spin.WAITING.append(None)  # as another waiting thread would
    try:
        client_pair.send(frame(FIN | OP_BINARY, payload, False))
        assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)
        assert poll.budgets == []
    finally:
        _spin.WAITING.pop()
    client_pair.send(frame(FIN | OP_BINARY, payload, False))
    assert transport.recv_bounded(time.monotonic() + 5) == bytearray(payload)
    assert poll.budgets == [0.0005]
    assert _spin.WAITING == []


def test_a_wait_leaves_no_mark_however_it_ends(client_pair: Pair) -> None:
    transport = client_pair.transport
    transport.spin_before_sleeping(0.0005)
    assert transport.recv_bounded(time.monotonic() + 0.01) is None  # the deadline
    assert _spin.WAITING == []
    client_pair.peer.close()  # EOF: the connection is lost
    with pytest.raises(ETPError):
        transport.recv_bounded(time.monotonic() + 5)
    assert _spin.WAITING == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_a_forked_child_starts_with_no_waiting_threads() -> None:
    """A thread waiting while the process forks does not exist in the child: its mark must
    not keep the child's callers (or its server) from polling."""
    _spin.WAITING.append(None)  # as a thread waiting at the fork would
    _spin.SERVING.append(None)
    try:
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            os._exit(0 if _spin.WAITING == [] == _spin.SERVING else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        _spin.WAITING.pop()
        _spin.SERVING.pop()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


# -- the embedded server --------------------------------------------------------------------


def test_the_server_polls_for_the_next_request_of_its_only_connection(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over real sockets: with one connection the server polls before it sleeps (the client
    here does not, so every poll is the server's); with a second one, idle, it does not; with
    ``spin_wait=0`` never. Every reply is right either way."""
    poll = SelectPoll()
    monkeypatch.setattr(_spin, "POLL_BRIEFLY", poll)
    server = harness.server(dataspaces=["spin/a"])
    assert server.spin_wait == DEFAULT_SPIN_WAIT
    first = harness.session(server, spin_wait=0)
    for _ in range(20):
        assert [d.path for d in first.get_dataspaces()] == ["spin/a"]
    assert poll.budgets and set(poll.budgets) <= {DEFAULT_SPIN_WAIT}
    second = harness.session(server, spin_wait=0)
    assert [d.path for d in second.get_dataspaces()] == ["spin/a"]
    assert _serving_becomes(2)  # both connections' threads wait for their next request
    polled = len(poll.budgets)
    for _ in range(20):
        assert [d.path for d in first.get_dataspaces()] == ["spin/a"]
    assert len(poll.budgets) == polled  # the idle second connection waits too
    second.close()
    first.close()
    assert _serving_becomes(0)  # their threads have ended
    quiet = harness.server(dataspaces=["spin/a"], spin_wait=0)
    third = harness.session(quiet, spin_wait=0)
    polled = len(poll.budgets)
    for _ in range(20):
        assert [d.path for d in third.get_dataspaces()] == ["spin/a"]
    assert len(poll.budgets) == polled


def _serving_becomes(count: int, within: float = 10.0) -> bool:
    """Whether as many server connections as ``count`` wait for a request within ``within``
    seconds (a server thread enters or leaves its wait just after its last reply was sent:
    there is no event to wait on)."""
    deadline = time.monotonic() + within
    while len(_spin.SERVING) != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


@pytest.mark.parametrize("bad", [-0.001, 0.011, math.nan, True, "0.001"])
def test_the_servers_spin_wait_must_be_a_short_number_of_seconds(bad: Any) -> None:
    from etp_sync.server import EmbeddedServer

    with pytest.raises(ETPInvalidArgument, match="spin_wait"):
        EmbeddedServer(port=0, spin_wait=bad)


def test_the_server_command_takes_spin_wait() -> None:
    from etp_sync.server.__main__ import build_parser

    assert build_parser().parse_args([]).spin_wait == DEFAULT_SPIN_WAIT
    assert build_parser().parse_args(["--spin-wait", "0"]).spin_wait == 0.0


def test_a_spinner_started_late_polls_once_a_probe_catches(fake: Callable[..., FakePoll]) -> None:
    """``at_once=False`` (the server's connections): the first waits sleep at once, the probe
    polls, and from its catch every wait polls."""
    poll = fake()  # answers True: the probe catches
    spinner = Spinner(0.0005, at_once=False)
    skipped = [spinner.ready(3, None) for _ in range(PROBE - MISSES)]
    assert skipped == [False] * (PROBE - MISSES) and poll.budgets == []
    assert spinner.ready(3, None) is True  # the probe
    assert [spinner.ready(3, None) for _ in range(3)] == [True] * 3
    assert len(poll.budgets) == 4


def test_a_servers_wait_for_a_request_never_outlives_its_deadline_for_the_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The poll before a server's wait for a frame uses part of that wait: what follows waits
    only for what is left (here the poll takes 0.5 s of a 0.6 s wait, and nothing comes)."""
    poll = SelectPoll()  # sleeps for its whole budget when nothing comes
    monkeypatch.setattr(_spin, "POLL_BRIEFLY", poll)
    server_side = Pair(client=False)
    try:
        server_side.transport._reader.spinner = Spinner(0.5)  # longer than spin_wait may be
        assert server_side.transport._reader._kernel_timeouts  # the path that was at fault
        started = time.monotonic()
        assert server_side.transport.recv_data(timeout=0.6) is None
        took = time.monotonic() - started
        assert poll.budgets and poll.budgets[0] == 0.5
        assert took < 0.9, took  # not the poll's 0.5 s plus a whole 0.6 s kernel wait
        assert _spin.SERVING == []
    finally:
        server_side.close()
