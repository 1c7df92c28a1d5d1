"""Writes of several requests that are not pipelined (puts over several dataspaces, deletes):
in the automatic transaction, a request the server refuses as a whole rolls the whole write back
and raises ETPRemoteError with every URI, as a pipelined put does (tests/test_review_pipelined.py)
and as one request refused would. Inside the caller's own transaction the refusal stays reported
per URI (the caller's ``with`` decides)."""

from __future__ import annotations

from typing import Any

import pytest
from test_store_pipelined import DS, DS2, Requests, crs_docs, rig, stored

from etp_sync.errors import ErrorCode, ETPPartialFailure, ETPRemoteError, StoreError

__all__ = ["rig"]  # the fixture, shared

FEW = 5  # per dataspace: one plain request each, not pipelined


def refuse_first(srv: Any, method: str) -> list[int]:
    """Make the server store's first call of ``method`` refuse its whole request."""
    original = getattr(srv.store, method)
    calls: list[int] = []

    def refusing(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            raise StoreError(ErrorCode.EREQUEST_DENIED, "refused as a whole (review test)")
        return original(*args, **kwargs)

    setattr(srv.store, method, refusing)
    return calls


def assert_every_uri_failed(error: ETPRemoteError, uris: list[str]) -> None:
    assert not isinstance(error, ETPPartialFailure) and not error.successes
    assert set(error.errors) == set(uris)
    assert ErrorCode.EREQUEST_DENIED in {code for code, _message in error.errors.values()}


def test_a_put_over_two_dataspaces_refused_in_one_rolls_both_back(rig: Any) -> None:
    session, srv = rig()
    docs = {**crs_docs(FEW, DS), **crs_docs(FEW, DS2)}
    uris = list(docs)
    calls = refuse_first(srv, "put_objects")
    requests = Requests(session)
    with pytest.raises(ETPRemoteError) as info:
        session.put_data_objects(docs)
    assert requests.count("PutDataObjects") == 1  # the write ended at the refusal
    assert requests.sent[-1] == "RollbackTransaction" and calls == [1]
    # Before: the other dataspace's request was committed (ETPPartialFailure, FEW stored).
    assert stored(srv, uris) == set()
    assert_every_uri_failed(info.value, uris)
    assert session.transaction_manager.current is None
    session.put_data_objects(docs)  # the session goes on
    assert stored(srv, uris) == set(uris)


def test_a_delete_over_two_dataspaces_refused_in_one_deletes_nothing(rig: Any) -> None:
    session, srv = rig()
    docs = {**crs_docs(FEW, DS), **crs_docs(FEW, DS2)}
    uris = list(docs)
    session.put_data_objects(docs)
    refuse_first(srv, "delete_objects")
    with pytest.raises(ETPRemoteError) as info:
        session.delete_data_objects(uris)
    assert stored(srv, uris) == set(uris)  # before: the other dataspace's were deleted
    assert_every_uri_failed(info.value, uris)


def test_inside_the_callers_transaction_the_refusal_stays_per_uri(rig: Any) -> None:
    session, srv = rig()
    first, second = crs_docs(FEW, DS), crs_docs(FEW, DS2)
    refuse_first(srv, "put_objects")
    with session.transaction([DS, DS2]), pytest.raises(ETPPartialFailure) as info:
        session.put_data_objects({**first, **second})
    # The caller's block committed: the request that was not refused is stored.
    assert set(info.value.errors) == set(first)
    assert {str(uri) for uri in info.value.successes} == set(second)
    assert stored(srv, [*first, *second]) == set(second)
