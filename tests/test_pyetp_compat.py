"""pyetp users feel at home (issue 13): pyetp 0.0.58's documented ``etp_connect`` call runs
unchanged against the embedded server (``with`` for ``async with``), the signatures are
explicit, and the README's migration table covers pyetp's API, RDDMSClient included."""

from __future__ import annotations

import inspect
import pydoc
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from etp_sync import ETPSession, etp_connect
from etp_sync.server import EmbeddedServer

pyetp_client = pytest.importorskip("pyetp.client")
rddms_client = pytest.importorskip("rddms_io.client")

README = Path(__file__).resolve().parents[1] / "README.md"
PYETP_NAMES = ("uri", "etp_timeout", "use_compression", "requested_protocols")


def test_the_documented_pyetp_call_runs_unchanged() -> None:
    with EmbeddedServer(port=0, required_token="s3cret-token") as server:
        uri = server.url
        with etp_connect(
            uri=uri,
            data_partition_id="",
            authorization=SecretStr("Bearer s3cret-token"),
            etp_timeout=None,
            max_message_size=2**20,
            use_compression=True,
        ) as etp_client:
            etp_client.put_dataspace("pyetp/user")
            assert [d.path for d in etp_client.get_dataspaces()] == ["pyetp/user"]
            assert etp_client.timeout == 60.0  # pyetp's "no timeout" is our default deadline
            assert "s3cret" not in repr(etp_client)


def test_pyetp_protocol_objects_and_timeouts_are_accepted(server: EmbeddedServer) -> None:
    wanted = [pyetp_client.ETPClient.get_default_server_supported_protocols(p) for p in (3, 4, 24)]
    with ETPSession(
        uri=server.url, requested_protocols=wanted, etp_timeout=12.5, use_compression=False
    ) as session:
        assert session.server.protocols.keys() <= {3, 4, 24}
        assert session.timeout == 12.5 and session.compression is False


def test_signatures_are_explicit_and_documented() -> None:
    for func in (etp_connect, ETPSession):
        parameters = inspect.signature(func).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        assert set(PYETP_NAMES) <= parameters.keys()
        assert {"url", "authorization", "timeout", "proxy", "trace"} <= parameters.keys()
    text = pydoc.render_doc(etp_connect, renderer=pydoc.plaintext)
    assert "etp_timeout" in text and "async with" in text
    assert all(name in (ETPSession.__doc__ or "") for name in PYETP_NAMES)


def _migration_table() -> list[str]:
    text = README.read_text()
    start = text.index("### Coming from pyetp")
    end = text.index("\n#", start + 1)
    return [line for line in text[start:end].splitlines() if line.startswith("|")]


def test_the_migration_table_covers_rddms_client_and_names_real_methods() -> None:
    table = "\n".join(_migration_table())
    methods = [
        name
        for name, _ in inspect.getmembers(rddms_client.RDDMSClient, inspect.isfunction)
        if not name.startswith("_")
    ]
    missing = [name for name in methods if f"`{name}" not in table and f".{name}(" not in table]
    assert not missing, f"migration table lacks RDDMSClient.{missing}"
    ours = set(re.findall(r"session\.(\w+)", table))
    assert ours and not [name for name in ours if not hasattr(ETPSession, name)]
    for name in ("etp_connect", "send_and_recv", "ETPError"):
        assert name in table
