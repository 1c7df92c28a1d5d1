"""The error family of public calls: argument errors are ETPInvalidArgument (an ETPError and a
ValueError) raised before anything is sent, and retry decisions read attributes, not text."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from etp_sync import (
    ETPError,
    ETPInvalidArgument,
    ETPSession,
    ETPTransportError,
    InvalidURIError,
    RetryPolicy,
)
from etp_sync.server import EmbeddedServer

# No server listens on port 1: a call that tried to connect would raise ETPTransportError,
# which is not a ValueError, so each case below also proves the check ran before any I/O.
OFFLINE = "ws://127.0.0.1:1"
OBJ = "eml:///dataspace('p/s')/resqml20.obj_EpcExternalPartReference(c0ffee00-0000-4000-8000-000000000001)"
QUICK = RetryPolicy(attempts=3, total_time=5, initial_wait=0.001, max_wait=0.001, jitter=0)


def _offline() -> ETPSession:
    return ETPSession(OFFLINE, retry=RetryPolicy(attempts=1))


ARGUMENT_ERRORS: dict[str, Callable[[], Any]] = {
    "url scheme": lambda: ETPSession("http://example.invalid"),
    "max_message_size": lambda: ETPSession(OFFLINE, max_message_size=100),
    "header injection": lambda: ETPSession(OFFLINE, authorization="a\r\nX: y").connect(),
    "empty path_in_resource": lambda: _offline().put_data_array(OBJ, "", np.zeros(3)),
    "starts/array axes": lambda: _offline().put_data_subarray(OBJ, "/a", [0, 0], np.zeros(3)),
    "starts/counts lengths": lambda: _offline().get_data_subarray(OBJ, "/a", [0], [1, 2]),
    "max_in_flight": lambda: _offline().get_data_array(OBJ, "/a", max_in_flight=0),
    "subscription scope": lambda: _offline().subscribe_notifications("p/s", scope="all"),
    "subscription uri type": lambda: _offline().subscribe_notifications(42),  # type: ignore[arg-type]
    "subscription malformed uri": lambda: _offline().subscribe_notifications("eml:///garbage("),
    "subscription negative depth": lambda: _offline().subscribe_notifications("p/s", depth=-1),
    "subscription depth type": lambda: _offline().subscribe_notifications("p/s", depth="x"),  # type: ignore[arg-type]
    "subscription bad type": lambda: _offline().subscribe_notifications("p/s", types=["garbage"]),
    "subscription types type": lambda: _offline().subscribe_notifications("p/s", types=5),  # type: ignore[arg-type]
    "resources types type": lambda: _offline().get_resources("p/s", types=5),  # type: ignore[arg-type]
    "bad uri": lambda: _offline().get_data_object("eml:///nonsense"),
    "transaction dataspace": lambda: _offline().transaction("eml:///dataspace('')"),
    "negative count": lambda: _offline().get_data_subarray(OBJ, "/a", [0, 0], [-1, 2]),
    "negative start": lambda: _offline().get_data_subarray(OBJ, "/a", [0, -1], [1, 2]),
    "fractional start": lambda: _offline().get_data_subarray(OBJ, "/a", [0.5], [1]),
    "negative start of a put": lambda: _offline().put_data_subarray(OBJ, "/a", [-1], np.ones(2)),
    "a str sent raw": lambda: _offline().send_and_recv("hello"),  # type: ignore[arg-type]
    "nothing sent raw": lambda: _offline().send_and_recv([]),
    "None sent without waiting": lambda: _offline().send(None),  # type: ignore[arg-type]
    "a str sent without waiting": lambda: _offline().send("hello"),  # type: ignore[arg-type]
    "a list sent without waiting": lambda: _offline().send([]),  # type: ignore[arg-type]
    "data_partition_id": lambda: ETPSession(OFFLINE, data_partition_id=5),  # type: ignore[arg-type]
    "compression as text": lambda: ETPSession(OFFLINE, compression="no"),  # type: ignore[arg-type]
    "retry not a policy": lambda: ETPSession(OFFLINE, retry="x"),  # type: ignore[arg-type]
    # Arguments taking one item or a list of them, given neither (a bare TypeError before):
    "transaction of an int": lambda: _offline().transaction(5),  # type: ignore[arg-type]
    "types an int": lambda: _offline().get_resources("p/s", types=5),  # type: ignore[arg-type]
    "types of a find an int": lambda: _offline().find_resources("p/s", types=5),  # type: ignore[arg-type]
    "subscription types an int": lambda: _offline().subscribe_notifications("p/s", types=5),  # type: ignore[arg-type]
    "subscription type unknown": lambda: _offline().subscribe_notifications("p/s", types=["x"]),
    "uris an int": lambda: _offline().get_data_objects(5),  # type: ignore[arg-type]
    "uris to delete an int": lambda: _offline().delete_data_objects(5),  # type: ignore[arg-type]
    "objects an int": lambda: _offline().put_data_objects(5, dataspace="p/s"),  # type: ignore[arg-type]
    "dataspace paths an int": lambda: _offline().put_dataspaces(5),  # type: ignore[arg-type]
    "dataspaces to delete an int": lambda: _offline().delete_dataspaces(5),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_argument_errors_are_etp_errors_and_value_errors(case: str) -> None:
    with pytest.raises(ETPInvalidArgument) as info:
        ARGUMENT_ERRORS[case]()
    assert isinstance(info.value, ETPError) and isinstance(info.value, ValueError)


def test_invalid_uri_error_is_an_invalid_argument_with_its_own_code() -> None:
    with pytest.raises(InvalidURIError) as info:
        _offline().get_data_object("eml:///nonsense")
    assert isinstance(info.value, ETPInvalidArgument)
    assert info.value.code_name == "EINVALID_URI"


@pytest.mark.parametrize(
    "arguments",
    [{"uri": "eml:///garbage("}, {"uri": "p/s", "types": ["garbage"]}],
    ids=["uri", "types"],
)
def test_a_subscription_checks_uris_and_types_as_get_resources_does(
    arguments: dict[str, Any],
) -> None:
    with pytest.raises(InvalidURIError):
        _offline().subscribe_notifications(**arguments)


def test_retry_reads_the_status_attribute_not_the_message() -> None:
    def refused() -> None:
        attempts.append("refused")
        raise ETPTransportError("refused", status=401)

    attempts: list[str] = []
    with pytest.raises(ETPTransportError):
        QUICK.run(refused, "connecting")
    assert attempts == ["refused"]

    def flaky() -> str:
        attempts.append("flaky")
        if len(attempts) < 3:
            raise ETPTransportError("mentions HTTP 401 in its text only")
        return "open"

    attempts = []
    assert QUICK.run(flaky, "connecting") == "open"
    assert attempts == ["flaky"] * 3


def test_a_401_upgrade_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    with EmbeddedServer(port=0, required_token="right") as srv:
        session = ETPSession(srv.url, authorization="wrong", retry=QUICK)
        with (
            caplog.at_level(logging.WARNING, logger="etp_sync.retry"),
            pytest.raises(ETPTransportError) as info,
        ):
            session.connect()
    assert info.value.status == 401
    assert "wrong" not in str(info.value)
    assert not [r for r in caplog.records if r.name == "etp_sync.retry"], "it was retried"
