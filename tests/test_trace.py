"""The opt-in wire trace: one line per message on ``etp_sync.trace`` (protocol, type, ids,
flags, size), never a body or a token; ``trace=True`` or ``ETP_SYNC_TRACE=1``."""

from __future__ import annotations

import logging
import re

import pytest

from etp_sync import ETPSession
from etp_sync.samples import surface_model
from etp_sync.server import EmbeddedServer

TOKEN = "tr4ce-s3cret-token"


def _traced(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "etp_sync.trace"]


def test_trace_logs_headers_and_sizes_never_bodies_or_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="etp_sync.trace")
    model = surface_model("trace/model", (3, 4), title="Tr4ceTitle")
    with (
        EmbeddedServer(port=0, required_token=TOKEN) as server,
        ETPSession(server.url, authorization=TOKEN, trace=True) as session,
    ):
        session.put_dataspace("trace/model")
        session.put_data_objects(list(model.objects.values()), dataspace="trace/model")
    lines = _traced(caplog)
    assert lines[0].startswith("-> 0.1 RequestSession id=2 corr=0 flags=FIN ")
    assert re.fullmatch(r"<- 0\.2 OpenSession id=1 corr=2 flags=FIN \d+ B", lines[1])
    assert any(re.match(r"-> 4\.2 PutDataObjects id=\d+ corr=0 flags=FIN", x) for x in lines)
    assert any(x.startswith("<- 4.9 PutDataObjectsResponse") for x in lines)
    assert any(x.startswith("-> 0.5 CloseSession") for x in lines)
    text = "\n".join(lines)
    assert TOKEN not in text and "Tr4ceTitle" not in text and "eml:///" not in text


def test_the_environment_switches_it_on_and_the_argument_wins(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, server: EmbeddedServer
) -> None:
    caplog.set_level(logging.DEBUG, logger="etp_sync.trace")
    monkeypatch.setenv("ETP_SYNC_TRACE", "1")
    with ETPSession(server.url) as session:
        session.ping()
    assert any(line.startswith("-> 0.8 Ping") for line in _traced(caplog))
    assert any(line.startswith("<- 0.9 Pong") for line in _traced(caplog))
    caplog.clear()
    with ETPSession(server.url, trace=False) as session:
        session.ping()
    monkeypatch.setenv("ETP_SYNC_TRACE", "0")
    with ETPSession(server.url) as session:
        session.ping()
    assert _traced(caplog) == []
