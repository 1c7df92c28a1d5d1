"""Shared fixtures: the official protocol file (skipped cleanly when absent), servers, a
self-signed certificate, and waiting for a session to notice a cut connection."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
AVPR = SHARED / "reference" / "etp12.avpr"


def pytest_configure(config: pytest.Config) -> None:
    """Compiled generated code goes to a throwaway cache folder (etp_sync/schema/_code_cache.py),
    for the processes tests start too, never to the user's ~/.cache."""
    folder = tempfile.mkdtemp(prefix="etp_sync-test-code-")
    os.environ["ETP_SYNC_CACHE_DIR"] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder))


@pytest.fixture()
def numpy_varints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integer arrays go through the numpy varint kernels, not the compiled loops (the tests
    of those kernels; codec/_varint_arrays.py)."""
    from etp_sync.codec import _varint_arrays

    monkeypatch.setattr(_varint_arrays, "KERNEL", None)


@pytest.fixture(scope="session")
def avpr() -> dict[str, Any]:
    """The official ETP 1.2 Avro protocol file from ../shared (tests skip without it)."""
    if not AVPR.is_file():
        pytest.skip(f"official protocol file not found at {AVPR}")
    return json.loads(AVPR.read_text())


class Harness:
    """Starts embedded servers and connects sessions; stops and closes all of them at the end."""

    def __init__(self) -> None:
        self._started: list[Any] = []

    def server(self, *, dataspaces: Sequence[str] = (), **kwargs: Any) -> Any:
        """An ``EmbeddedServer(port=0, **kwargs)``, started, holding the named ``dataspaces``."""
        from etp_sync.server import EmbeddedServer

        srv = EmbeddedServer(port=0, **kwargs).start()
        self._started.append(srv)
        for path in dataspaces:
            srv.store.put_dataspace(f"eml:///dataspace('{path}')")
        return srv

    def session(self, server: Any, **kwargs: Any) -> Any:
        """A connected ``ETPSession`` to ``server`` (an EmbeddedServer or a URL)."""
        from etp_sync import ETPSession

        session = ETPSession(getattr(server, "url", server), **kwargs)
        self._started.append(session)
        return session.connect()

    def close(self) -> None:
        for thing in reversed(self._started):
            if hasattr(thing, "close"):
                thing.close()
            else:
                thing.stop()
        self._started.clear()


@pytest.fixture()
def harness() -> Iterator[Harness]:
    """Servers and sessions that are always stopped and closed after the test."""
    h = Harness()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture()
def server() -> Iterator[Any]:
    """A running embedded ETP server on a free port of 127.0.0.1, stopped afterwards."""
    from etp_sync.server import EmbeddedServer

    with EmbeddedServer(port=0) as srv:
        yield srv


@pytest.fixture()
def client_pair() -> Iterator[Any]:
    """A client-side transport over a socket pair (``test_frame_reader_short.Pair``), closed
    afterwards."""
    from test_frame_reader_short import Pair

    made = Pair(client=True)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Paths of a throwaway self-signed certificate and its key, valid for ``localhost`` and
    ``127.0.0.1`` (made with the openssl command line; tests that need it skip without it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl command not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def connection_loss(*sessions: Any, timeout: float = 5.0) -> Iterator[None]:
    """Wait, on leaving the block, until each session has noticed that its current connection
    ended (the block cuts it, e.g. ``server.drop_connections()``): the next call then reconnects
    instead of racing the reader thread."""
    connections = [session._connection() for session in sessions]
    yield
    for conn in connections:
        assert conn._closed.wait(timeout), "the session did not notice the connection loss"
