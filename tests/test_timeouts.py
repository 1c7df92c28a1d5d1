"""Every ``timeout`` a caller gives is checked once where it enters, by one rule
(:mod:`etp_sync._timeouts`): a positive number of seconds of any real type; infinity (or
anything beyond about 24.8 days) is no deadline in practice, as for ``stall_timeout``; zero,
negatives, NaN, bools, strings and non-numbers raise ETPInvalidArgument. ``math.inf`` used to
escape as OverflowError from ``Lock.acquire``/``Queue.get``, NaN as ValueError."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from etp_sync import ETPInvalidArgument, ETPRemoteError, ETPSession
from etp_sync._timeouts import MAX_WAIT, optional_seconds, seconds
from etp_sync.schema import messages as m
from etp_sync.server import EmbeddedServer

BAD = [0, 0.0, -1, -0.5, math.nan, -math.inf, True, False, "5", b"5", object(), [1], None]
MISSING = "eml:///dataspace('t/none')/resqml20.obj_Grid2dRepresentation(4b2a1a0e-8d6a-4f9e-9c3a-1d2e3f405162)"
LONG = [math.inf, 10**400, 1e300, MAX_WAIT * 2]


@pytest.mark.parametrize("value", [1, 2.5, Decimal("0.25"), Fraction(1, 3), np.float32(0.5),
                                   np.int64(7)])  # fmt: skip
def test_real_numbers_are_taken_as_seconds(value: Any) -> None:
    assert seconds(value) == pytest.approx(float(value)) and type(seconds(value)) is float


@pytest.mark.parametrize("value", LONG)
def test_infinity_and_huge_values_are_the_longest_wait(value: Any) -> None:
    assert seconds(value) == MAX_WAIT


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_anything_else_is_refused_with_its_name(value: Any) -> None:
    with pytest.raises(ETPInvalidArgument, match=r"^wait must be a positive number of seconds"):
        seconds(value, "wait")


def test_zero_only_where_a_wait_may_end_at_once() -> None:
    assert seconds(0, zero=True) == 0.0 and optional_seconds(None) is None
    with pytest.raises(ETPInvalidArgument, match="non-negative"):
        seconds(-1, zero=True)


@pytest.fixture(scope="module")
def session() -> Iterator[ETPSession]:
    with EmbeddedServer(port=0) as server, ETPSession(server.url, timeout=30) as s:
        yield s


@pytest.mark.parametrize("value", [math.inf, 10**400])
def test_calls_without_a_deadline_in_practice(session: ETPSession, value: Any) -> None:
    assert session.request(m.Dataspace.GetDataspaces(), timeout=value).messages
    assert session.send_and_recv(m.Dataspace.GetDataspaces(), timeout=value)
    assert session.send(m.Core.Ping(current_date_time=1), timeout=value).result(value)
    assert session.ping(timeout=value) > 0
    session.connect(timeout=value)
    with pytest.raises(ETPRemoteError, match="ENOT_FOUND"):  # the calls' Deadline
        session.get_data_array_metadata(MISSING, "/a", timeout=value)


@pytest.mark.parametrize("value", [v for v in BAD if v is not None], ids=repr)
def test_calls_refuse_bad_timeouts_before_sending(session: ETPSession, value: Any) -> None:
    calls = [
        lambda: session.get_data_array_metadata(MISSING, "/a", timeout=value),
        lambda: session.request(m.Dataspace.GetDataspaces(), timeout=value),
        lambda: session.send_and_recv(m.Dataspace.GetDataspaces(), timeout=value),
        lambda: session.send(m.Dataspace.GetDataspaces(), timeout=value),
        lambda: session.ping(timeout=value),
        lambda: session.connect(timeout=value),
    ]
    for call in calls:
        with pytest.raises(ETPInvalidArgument, match="timeout must be a positive number"):
            call()
    # A handle's wait may be 0 (it takes a response already in whole: a poll).
    handle = session.send(m.Core.Ping(current_date_time=1))
    if value == 0 and value.__class__ in (int, float):
        handle.result(10)
        assert handle.result(value)
    else:
        with pytest.raises(ETPInvalidArgument, match="timeout must be a non-negative number"):
            handle.result(value)
    assert session.ping() > 0  # the session goes on


@pytest.mark.parametrize("name", ["timeout", "connect_timeout", "etp_timeout"])
def test_session_timeouts_follow_the_same_rule(name: str) -> None:
    for value in [v for v in BAD if v is not None]:
        options: dict[str, Any] = {name: value}
        with pytest.raises(ETPInvalidArgument, match="timeout must be a positive number"):
            ETPSession("ws://127.0.0.1:9/", **options)
    assert ETPSession("ws://127.0.0.1:9/", timeout=math.inf).timeout == MAX_WAIT
    assert ETPSession("ws://127.0.0.1:9/", timeout=Decimal("2.5")).timeout == 2.5  # type: ignore[arg-type]


def test_subscription_get_takes_zero_and_refuses_negatives(session: ETPSession) -> None:
    session.put_dataspace("t/sub")
    try:
        sub = session.subscribe_notifications("t/sub", timeout=math.inf)
        assert sub.get(timeout=0) is None
        with pytest.raises(ETPInvalidArgument, match="non-negative"):
            sub.get(timeout=-1)
        sub.unsubscribe(timeout=math.inf)
    finally:
        session.delete_dataspace("t/sub")
