"""GetDeletedResources against the change retention period (server/_h_discovery.py), over a real
socket with the client: a deleteTimeFilter before the store's earliestRetainedChangeTime, once the
retention period has dropped records, is answered with ERETENTION_PERIOD_EXCEEDED (5001); one the
store can still answer in full is answered."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from etp_sync import samples
from etp_sync.errors import ErrorCode, ETPRemoteError

DS = "eml:///dataspace('deleted/retention')"
HOUR_US = 3600 * 1_000_000


def deleted_store(harness: Any, age_us: int, **options: Any) -> tuple[Any, list[str]]:
    """A server whose store has run for ``age_us`` µs, with two objects put and deleted."""
    srv = harness.server(dataspaces=["deleted/retention"], **options)
    srv.store.created_us -= age_us  # as if started that long ago (its clock is the real one)
    uids = [uuid.uuid4(), uuid.uuid4()]
    _done, errors = srv.store.put_objects(DS, {str(u): samples.local_depth_crs(u) for u in uids})
    assert not errors
    uris = [f"{DS}/resqml20.obj_LocalDepth3dCrs({u})" for u in uids]
    srv.store.delete_objects(uris)
    return srv, sorted(uris)


def now_us() -> int:
    return time.time_ns() // 1000


def test_a_filter_before_the_retained_changes_is_refused_with_5001(harness: Any) -> None:
    srv, uris = deleted_store(harness, HOUR_US, change_retention_period=60)
    session = harness.session(srv)
    earliest = srv.store.earliest_retained_change_us()
    assert earliest > srv.store.created_us  # the retention period is what limits it now
    with pytest.raises(ETPRemoteError) as info:
        session.get_deleted_resources(DS, delete_time_filter=now_us() - 120_000_000)
    assert info.value.code == ErrorCode.ERETENTION_PERIOD_EXCEEDED
    assert "earliestRetainedChangeTime" in str(info.value) and "60 s" in str(info.value)
    with pytest.raises(ETPRemoteError) as info:
        session.get_deleted_resources(DS, delete_time_filter=0)
    assert info.value.code == ErrorCode.ERETENTION_PERIOD_EXCEEDED
    # Within the retention period, and without a filter, the answer is complete; the session
    # is still served after the refusals.
    recent = session.get_deleted_resources(DS, delete_time_filter=now_us() - 30_000_000)
    assert sorted(str(d.uri) for d in recent) == uris
    assert sorted(str(d.uri) for d in session.get_deleted_resources(DS)) == uris


def test_a_filter_before_a_young_store_existed_is_answered(harness: Any) -> None:
    """Nothing has been dropped yet (earliestRetainedChangeTime is the store's creation): the
    store knows every deletion, so any filter gets the full answer."""
    srv, uris = deleted_store(harness, 0, change_retention_period=3600)
    session = harness.session(srv)
    assert srv.store.earliest_retained_change_us() == srv.store.created_us
    for since in (0, srv.store.created_us - HOUR_US):
        found = session.get_deleted_resources(DS, delete_time_filter=since)
        assert sorted(str(d.uri) for d in found) == uris


def test_without_a_retention_period_every_filter_is_answered(harness: Any) -> None:
    srv, uris = deleted_store(harness, 24 * HOUR_US, change_retention_period=None)
    session = harness.session(srv)
    found = session.get_deleted_resources(DS, delete_time_filter=0)
    assert sorted(str(d.uri) for d in found) == uris
