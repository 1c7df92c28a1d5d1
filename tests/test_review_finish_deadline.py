"""The commit and rollback of an automatic transaction within the call's deadline.

A pipelined put that times out rolls its transaction back; the rollback waits behind the
batches the server is still storing. It is waited for until the call's deadline plus half the
session's DEADLINE_MARGIN only: not confirmed by then, the connection is dropped (the server
rolls back a transaction still open on disconnect), so the call returns within its timeout plus
the margin and no transaction stays open. A commit not confirmed in time drops the connection
too, and its error says the outcome is unknown.

The server's store is held on an Event the test sets only once the call has returned (the
server's wait is bounded by WAIT, a guard only).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import Harness
from test_store_pipelined import COUNT, DS, WAIT, crs_docs, stored

from etp_sync import ETPSession, ETPTimeout
from etp_sync.errors import TransactionError
from etp_sync.server import EmbeddedServer

SESSION_TIMEOUT = 4.0  # what the commit or rollback waited for before (the session's)
TIMEOUT = 0.5


@pytest.fixture
def rig(harness: Harness) -> Any:
    """Factory: an embedded server holding DS and a session to it with ``timeout``."""

    def make(timeout: float = SESSION_TIMEOUT) -> tuple[ETPSession, EmbeddedServer]:
        srv = harness.server(dataspaces=(DS,))
        return harness.session(srv, timeout=timeout), srv

    return make


def hold(srv: EmbeddedServer, method: str) -> tuple[threading.Event, threading.Event]:
    """Hold every call of the server store's ``method`` until the first event is set; the
    second is set when a call arrives."""
    release, entered = threading.Event(), threading.Event()
    original = getattr(srv.store, method)

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(WAIT)
        return original(*args, **kwargs)

    setattr(srv.store, method, held)
    return release, entered


def no_transaction_left(session: ETPSession, srv: EmbeddedServer) -> None:
    """The dataspace can be written again in a transaction (the session reconnects), and the
    server holds no transaction afterwards."""
    more = crs_docs(COUNT, tag="after")
    session.put_data_objects(more)  # pipelined: in an automatic transaction on DS
    assert stored(srv, list(more)) == set(more)
    with session.transaction([DS]):
        pass
    assert not srv.store._session_tx


def test_a_rollback_behind_slow_batches_drops_the_connection_at_the_deadline(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    release, entered = hold(srv, "put_objects")
    connects = session.connect_count
    started = time.monotonic()
    try:
        with pytest.raises(ETPTimeout):
            session.put_data_objects(docs, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert entered.is_set()  # the batches were being stored, slowly
    # Before: 4.0 s (the rollback waited for the session's timeout, then ETPTimeout escaped).
    assert elapsed < TIMEOUT + session.DEADLINE_MARGIN
    assert session.transaction_manager.current is None
    assert not session.is_open  # dropped: the server rolls the transaction back
    assert stored(srv, list(docs)) == set()
    no_transaction_left(session, srv)
    assert session.connect_count == connects + 1
    assert stored(srv, list(docs)) == set()


def test_a_commit_not_confirmed_by_the_deadline_says_its_outcome_is_unknown(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    release, entered = hold(srv, "commit_transaction")
    timeout = 2.0  # the batches are stored well within it; the commit is held
    started = time.monotonic()
    try:
        with pytest.raises(TransactionError) as caught:
            session.put_data_objects(docs, timeout=timeout)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert entered.is_set()
    assert elapsed < timeout + session.DEADLINE_MARGIN  # before: 4.0 s, then ETPTimeout
    text = str(caught.value)
    assert "commit" in text and "outcome is unknown" in text and "rolls" not in text
    assert session.transaction_manager.current is None and not session.is_open
    no_transaction_left(session, srv)
    # The held commit went through once released: claiming a rollback would have been wrong.
    assert stored(srv, list(docs)) == set(docs)


def test_a_start_not_answered_by_the_deadline_leaves_no_transaction_open(rig: Any) -> None:
    session, srv = rig()
    release, entered = hold(srv, "start_transaction")
    started = time.monotonic()
    try:
        with pytest.raises(ETPTimeout):
            session.put_data_objects(crs_docs(COUNT), timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert entered.is_set()
    assert elapsed < TIMEOUT + session.DEADLINE_MARGIN
    assert session.transaction_manager.current is None and not session.is_open
    # Before: the server opened the transaction once released, on the same connection, and
    # the session's next transaction was refused (a second one) until its timeout.
    no_transaction_left(session, srv)


def test_inside_the_callers_transaction_an_unconfirmed_rollback_drops_too(rig: Any) -> None:
    session, srv = rig(TIMEOUT * 2)
    docs = crs_docs(COUNT)
    release, _entered = hold(srv, "rollback_transaction")
    try:
        with pytest.raises(KeyError), session.transaction([DS]):
            session.put_data_objects(docs)
            raise KeyError("the caller's failure is the one raised")
    finally:
        release.set()
    # Before: the rollback's ETPTimeout replaced the KeyError and the write gate was released
    # while the server still held the transaction open.
    assert session.transaction_manager.current is None and not session.is_open
    no_transaction_left(session, srv)
    assert stored(srv, list(docs)) == set()


def test_a_drop_after_the_commit_was_sent_past_the_deadline_says_the_outcome_is_unknown(
    rig: Any,
) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    timeout = 2.0
    deadline = time.monotonic() + timeout
    never = threading.Event()
    original = srv.store.commit_transaction

    def commit_then_drop(*args: Any, **kwargs: Any) -> Any:
        never.wait(max(deadline - time.monotonic(), 0.0) + 0.05)  # bounded: past the deadline
        result = original(*args, **kwargs)  # committed ...
        srv.drop_connections()  # ... but the client never gets the answer
        return result

    srv.store.commit_transaction = commit_then_drop
    with pytest.raises(TransactionError) as caught:
        session.put_data_objects(docs, timeout=timeout)
    # Before: "nothing of it was stored", while all of it was.
    assert "outcome is unknown" in str(caught.value)
    assert stored(srv, list(docs)) == set(docs)
