"""Every ETPError pickles: errors raised in worker processes (Dask, multiprocessing) travel to
the parent pickled, and classes whose ``__init__`` takes other arguments than ``args`` holds
could not be unpickled (``cls(*args)`` raised TypeError), which a multiprocessing pool answers
by waiting for ever."""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle
import pytest

from etp_sync import errors


def all_error_classes() -> list[type[errors.ETPError]]:
    seen: list[type[errors.ETPError]] = []
    todo: list[type[errors.ETPError]] = [errors.ETPError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


EXAMPLES: dict[type, Any] = {
    errors.WebSocketClosed: lambda: errors.WebSocketClosed("closed by peer", 1001, "bye", True),
    errors.StoreError: lambda: errors.StoreError(errors.ErrorCode.ENOT_FOUND, "no such object"),
    errors.ETPMissingDependency: lambda: errors.ETPMissingDependency("needs tqdm", "tqdm"),
    errors.ETPSessionClosed: lambda: errors.ETPSessionClosed("closed", "maintenance"),
    errors.ETPArrayReplaced: lambda: errors.ETPArrayReplaced({"dims": (3, 4)}),
    errors.InvalidURIError: lambda: errors.InvalidURIError("bad URI", "eml:///x"),
    errors.ETPTransportError: lambda: errors.ETPTransportError("refused", status=401),
    errors.ETPRemoteError: lambda: errors.ETPRemoteError("failed", 11, {"a": (11, "gone")}, [1]),
    errors.ETPPartialFailure: lambda: errors.ETPPartialFailure("some", 11, {"b": (5, "x")}, [2]),
}


def example(cls: type[errors.ETPError]) -> errors.ETPError:
    make = EXAMPLES.get(cls)
    return make() if make is not None else cls("something failed", 26)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_every_error_survives_pickling(cls: type[errors.ETPError], dumps: Any) -> None:
    error = example(cls)
    error.add_note("while writing the chunk at starts=[0, 0]")
    back = pickle.loads(dumps(error))
    assert type(back) is cls
    assert str(back) == str(error) and back.args == error.args
    assert vars(back) == vars(error)  # code, status, reason, close_code, notes...
