"""Malformed integer array values sent to a real server process over a socket: an over-long
varint, one beyond 64 bits, a truncated run. The server decodes integer arrays with the
compiled varint loops when they are built and with the numpy kernels otherwise; either way
each bad put is refused with the same error and the session goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _hostile import (
    OP_TIMEOUT,
    OPCODE_BINARY,
    ServerProcess,
    header_bytes,
    open_session,
    start_server,
)

from etp_sync.codec import compiled_varints
from etp_sync.codec._numeric import write_varint
from etp_sync.schema import messages

EPC = (
    "eml:///dataspace('x')/eml20.obj_EpcExternalPartReference(00000000-0000-0000-0000-000000000001)"
)


def _string(text: str) -> bytes:
    data = text.encode()
    return write_varint(len(data)) + data


def _put_longs(message_id: int, values: bytes, count: int = 4) -> bytes:
    """A PutDataArrays frame of one array of ``count`` longs whose varint bytes are
    ``values`` (AnyArray branch 2, ArrayOfLong: one block of ``count`` items, then 0)."""
    body = messages.DataArray.PutDataArrays(data_arrays={})
    item = _string("k") + _string(EPC) + _string("/p")
    dims = write_varint(1) + write_varint(count) + write_varint(0)
    data = write_varint(2) + write_varint(count) + values + write_varint(0)
    return header_bytes(body, message_id) + write_varint(1) + item + dims + data + write_varint(0)


BAD = {
    "over-long": b"\x02" + b"\xff" * 11 + b"\x00" + b"\x04\x06",
    "beyond 64 bits": b"\x02" + b"\xff" * 9 + b"\x7f" + b"\x04\x06",
    "truncated": b"\x02\x04",
}


@pytest.fixture()
def launch(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def launch(*flags: str) -> ServerProcess:
        server = start_server(tmp_path, *flags)
        started.append(server)
        return server

    yield launch
    for server in started:
        server.stop()
    assert all(not s.alive() for s in started)


def _answers(server: ServerProcess) -> dict[str, list[tuple[int, str]]]:
    """(code, message) of every error answering each bad put; a Ping after them all."""
    answers: dict[str, list[tuple[int, str]]] = {}
    with open_session(server.port) as ws:
        for n, (what, values) in enumerate(BAD.items()):
            message_id = 100 + 2 * n
            ws.send_frame(OPCODE_BINARY, _put_longs(message_id, values))
            errors: list[tuple[int, str]] = []
            for body in ws.collect(message_id, OP_TIMEOUT):
                found: list[Any] = []
                if body.etp_message_type == 1000:
                    found = [body.error] if body.error is not None else []
                    found += list((body.errors or {}).values())
                errors += [(int(e.code), e.message) for e in found]
            answers[what] = errors
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        assert pong.etp_name == "Pong"
    return answers


@pytest.mark.timeout(120)
def test_bad_varints_are_refused_alike_by_both_kernels(
    launch: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not compiled_varints():
        pytest.skip("the compiled loops are not built here: one kernel only")
    compiled = _answers(launch())
    monkeypatch.setenv("ETP_SYNC_NO_COMPILED", "1")
    numpy_only = _answers(launch())
    for what, errors in compiled.items():
        assert errors, f"{what}: the put was not refused"
        assert all("varint" in message or "truncat" in message for _, message in errors), errors
    assert compiled == numpy_only
