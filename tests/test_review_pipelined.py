"""Review of the pipelined Store calls (tests/test_store_pipelined.py has the main ones): what a
put of many objects does when the server refuses one of its batches as a whole.

A put of one request refused as a whole stores nothing; the same objects put in pipelined
batches inside an automatic transaction must not store the other batches either (the caller
cannot see, nor choose, how the objects were split)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from test_store_pipelined import COUNT, Requests, crs_docs, rig, stored

from etp_sync import ETPSession, ETPTimeout
from etp_sync.errors import ErrorCode, ETPError, ETPPartialFailure, ETPRemoteError, StoreError

__all__ = ["rig"]  # the fixture, shared


def refuse_call(srv: Any, number: int) -> list[int]:
    """Make the server's ``number``-th store put refuse its whole request (EREQUEST_DENIED);
    returns the list of calls made, counted."""
    original = srv.store.put_objects
    calls: list[int] = []

    def put_objects(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(calls) + 1)
        if len(calls) == number:
            raise StoreError(ErrorCode.EREQUEST_DENIED, "refused as a whole (review test)")
        return original(*args, **kwargs)

    srv.store.put_objects = put_objects
    return calls


def test_a_batch_refused_as_a_whole_rolls_the_whole_put_back(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    uris = list(docs)
    calls = refuse_call(srv, 2)
    requests = Requests(session)
    with pytest.raises(ETPRemoteError) as info:
        session.put_data_objects(docs)
    error = info.value
    assert len(calls) >= 3  # the refused batch was not the last one
    assert not isinstance(error, ETPPartialFailure) and not error.successes
    assert stored(srv, uris) == set()
    assert requests.sent[-1] == "RollbackTransaction"
    assert session.transaction_manager.current is None
    # Every object is reported, the refused batch's with the server's error.
    assert set(error.errors) == set(uris)
    codes = {code for code, _message in error.errors.values()}
    assert ErrorCode.EREQUEST_DENIED in codes
    session.put_data_objects(docs)  # the session goes on
    assert stored(srv, uris) == set(uris)


def test_a_get_of_many_uris_has_one_deadline_for_the_whole_call(rig: Any) -> None:
    # Every call has one deadline, the session's timeout (ETPSession's "Deadlines"): a get of
    # several batches must not give each batch a fresh timeout from the answer before it. The
    # server takes 0.6 timeout per batch (a slow store, not a synchronisation): the batches
    # together take well over the timeout, each well under it.
    timeout = 1.0
    session, srv = rig()
    session.timeout = timeout
    docs = crs_docs(COUNT)
    srv.store.put_objects("eml:///dataspace('pipe/main')", docs)
    original = srv.store.get_objects
    calls: list[int] = []
    slow = threading.Event()  # never set: each get_objects takes 0.6 timeout

    def get_objects(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        slow.wait(0.6 * timeout)
        return original(*args, **kwargs)

    session.connect()
    srv.store.get_objects = get_objects
    started = time.monotonic()
    with pytest.raises(ETPTimeout):
        session.get_data_objects(list(docs))
    elapsed = time.monotonic() - started
    assert len(calls) < 4  # four batches of 32, 64, 128 and 76 URIs: not all were answered
    assert elapsed < 2 * timeout


def test_a_put_connects_within_its_own_timeout() -> None:
    # The session's timeout is 8 s, the put's 0.5 s: connecting for the message size (and
    # to ask whether the server offers transactions) is part of the put, as for array calls.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there: every connection attempt is refused
    session = ETPSession(f"ws://127.0.0.1:{port}", timeout=8.0)
    docs = crs_docs(COUNT)
    try:
        started = time.monotonic()
        with pytest.raises(ETPError):
            session.put_data_objects(docs, timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        session.close()
    assert elapsed < 0.5 + ETPSession.DEADLINE_MARGIN + 1.0  # not the session's 8 s
