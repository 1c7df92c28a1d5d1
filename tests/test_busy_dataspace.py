"""A write while another session's write transaction holds its dataspace waits for that
transaction to end (with back-off, within the call's timeout), whether it is one request or
several; past its timeout it fails with EMAX_TRANSACTIONS_EXCEEDED and nothing of it is stored.
Before: a write of one request failed at once while one of several requests waited (review)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from etp_sync import ETPRemoteError, ETPSession
from etp_sync.errors import ErrorCode
from etp_sync.samples import crs_documents

SPACE = "busy/space"


def _docs(count: int) -> dict[str, bytes]:
    return crs_documents(SPACE, count)


class _Refusals(logging.Handler):
    """Sets :attr:`seen` when a session logs that it found the dataspace busy."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = threading.Event()
        self.retried: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("dataspace busy"):
            self.retried.append(text)
            self.seen.set()


@pytest.fixture()
def refusals() -> Iterator[_Refusals]:
    handler = _Refusals()
    logger = logging.getLogger("etp_sync.transaction")
    level = logger.level
    logger.setLevel(logging.DEBUG)  # later retries log at DEBUG
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


Write = Callable[[ETPSession, dict[str, bytes]], Any]
WRITES: dict[str, tuple[int, Write]] = {
    "one-object": (1, lambda s, docs: s.put_data_objects(docs)),
    "uri-from-xml": (1, lambda s, docs: s.put_data_object(*docs.values(), dataspace=SPACE)),
    "many-objects": (600, lambda s, docs: s.put_data_objects(docs)),  # in a transaction
    "delete": (1, lambda s, docs: s.delete_data_objects(list(docs))),
}


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_waits_for_another_sessions_transaction(
    harness: Any, refusals: _Refusals, kind: str
) -> None:
    count, write = WRITES[kind]
    server = harness.server(dataspaces=[SPACE])
    holder = harness.session(server)
    writer = harness.session(server, timeout=60)
    docs = _docs(count)
    if kind == "delete":
        writer.put_data_objects(docs)
    held = _docs(1)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = write(writer, docs)
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    with holder.transaction(SPACE):
        holder.put_data_objects(held)
        worker.start()
        assert refusals.seen.wait(20), "the write was not refused as busy"
        assert "result" not in outcome and "error" not in outcome
    worker.join(30)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    stored = {str(r.uri) for r in holder.get_resources(SPACE)}
    assert set(held) <= stored
    if kind == "delete":
        assert not set(docs) & stored
    else:
        assert set(docs) <= stored
        got = holder.get_data_objects(list(docs))
        assert {str(u): o.xml for u, o in got.items()} == docs


def test_a_write_still_refused_at_its_deadline_fails_with_the_servers_code(
    harness: Any, refusals: _Refusals
) -> None:
    server = harness.server(dataspaces=[SPACE])
    holder = harness.session(server)
    timeout = 1.0
    writer = harness.session(server, timeout=timeout)
    (uri, doc), *_ = _docs(1).items()
    with holder.transaction(SPACE):
        started = time.monotonic()
        with pytest.raises(ETPRemoteError) as info:
            writer.put_data_objects({uri: doc})
        waited = time.monotonic() - started
    assert info.value.errors[uri][0] == ErrorCode.EMAX_TRANSACTIONS_EXCEEDED
    assert len(refusals.retried) >= 2  # it was sent again, more than once
    assert waited < timeout + 1.0  # never past its deadline (and a margin for the last reply)
    assert uri not in {str(r.uri) for r in holder.get_resources(SPACE)}
