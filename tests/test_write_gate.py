"""WriteGate: a transaction excludes plain writes, plain writes share, and no waiter is left
asleep when what held it back goes away (no lost wake-ups)."""

from __future__ import annotations

import threading
import time

import pytest

from etp_sync.calls._core import Deadline
from etp_sync.calls._write_gate import WriteGate
from etp_sync.errors import ETPSessionClosed, ETPTimeout


def _waiters(gate: WriteGate) -> int:
    return len(gate._cond._waiters)  # type: ignore[attr-defined]


def _until(test: object, seconds: float = 10.0) -> None:
    """Spin (yielding) until ``test()`` holds; fails the test past ``seconds``."""
    end = time.monotonic() + seconds
    while not test():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0)


def test_the_last_plain_writer_leaving_lets_a_waiting_transaction_in() -> None:
    gate = WriteGate()
    held = threading.Event()

    def transaction() -> None:
        gate.hold(Deadline(10))
        held.set()
        gate.release()

    with gate.shared(Deadline(10)):
        thread = threading.Thread(target=transaction, daemon=True)
        thread.start()
        _until(lambda: _waiters(gate) == 1)
        assert not held.is_set()  # excluded while a plain write is in progress
    assert held.wait(10)
    thread.join(10)


def test_a_transaction_giving_up_wakes_the_plain_writers_it_held_back() -> None:
    """A plain writer queued behind a waiting transaction must go as soon as that transaction
    times out, although the plain write that held the transaction back is still in progress."""
    gate = WriteGate()
    outcome: dict[str, object] = {}
    entered = threading.Event()

    def transaction() -> None:
        try:
            gate.hold(Deadline(1.0))
        except ETPTimeout as exc:
            outcome["transaction"] = exc

    def plain() -> None:
        try:
            with gate.shared(Deadline(60)):  # woken long before: entered.wait(10) below
                entered.set()
        except ETPTimeout as exc:  # the lost wake-up: asleep until its own deadline
            outcome["plain"] = exc

    with gate.shared(Deadline(10)):
        waiting = threading.Thread(target=transaction, daemon=True)
        waiting.start()
        _until(lambda: _waiters(gate) == 1)
        writer = threading.Thread(target=plain, daemon=True)
        writer.start()  # queued behind the waiting transaction (it goes first)
        waiting.join(10)
        assert isinstance(outcome.get("transaction"), ETPTimeout)
        assert entered.wait(10), outcome.get("plain")
        writer.join(10)
    assert "plain" not in outcome
    assert repr(gate) == "WriteGate(owner=None, shared=0, waiting=0)"


def test_a_plain_write_waits_for_an_open_transaction_within_its_deadline() -> None:
    gate = WriteGate()
    gate.hold(Deadline(10))
    try:
        with pytest.raises(ETPTimeout), gate.shared(Deadline(0.05)):
            pass  # never entered
        with gate._cond:
            assert gate._shared == 0
    finally:
        gate.release()
    with gate.shared(Deadline(1)):
        assert gate.owner is None


@pytest.mark.parametrize("kind", ["plain", "transaction"])
def test_closing_the_session_wakes_the_writes_waiting_at_once(kind: str) -> None:
    """A write waiting for another thread's transaction raises ETPSessionClosed when the
    session closes (wake), not ETPTimeout at its own deadline."""
    closed = threading.Event()
    gate = WriteGate(closed=closed.is_set)
    outcome: dict[str, BaseException] = {}

    def write() -> None:
        try:
            if kind == "plain":
                with gate.shared(Deadline(60)):
                    pass
            else:
                gate.hold(Deadline(60))
        except BaseException as exc:
            outcome["error"] = exc

    gate.hold(Deadline(10))  # this thread's transaction
    waiting = threading.Thread(target=write, daemon=True)
    waiting.start()
    _until(lambda: _waiters(gate) == 1)
    closed.set()
    gate.wake()
    waiting.join(10)
    assert not waiting.is_alive(), "the waiting write was not woken"
    assert isinstance(outcome.get("error"), ETPSessionClosed), outcome
    gate.release()
    assert repr(gate) == "WriteGate(owner=None, shared=0, waiting=0)"
