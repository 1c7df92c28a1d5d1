"""Interoperability with Geosiris' py-etp-client 1.1.0 (with etpproto 1.0.7).

py-etp-client pins pydantic<2 and numpy<2, so it gets a virtualenv of its own, made once by
the session fixture below under ``.venv-geosiris`` at the top of the repository (git ignores it;
``ETP_SYNC_GEOSIRIS_VENV`` moves it) and reused while its marker names the same pins. The client
is driven in that interpreter by ``geosiris_client.py``, one subprocess per test.

Its quirks, as seen here:

* every PutDataObjects carries each object's whole ``data`` *and* a ``blobId`` (the object's
  uuid) with no Chunk: the server takes the inline data (issue 10);
* it sends a request and only then registers it as pending, so an answer that arrives before
  the registration is lost and the call times out: the server needs ``latency`` (a few ms; 50
  ms here) for it, as fetpapi does;
* ``get_data_array`` reads whole arrays with GetDataArrays only, as the transport type's natural
  dtype; ``put_data_array`` sends PutDataArrays with the values' natural transport type.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from etp_sync import ETPSession
from etp_sync.samples import surface_model
from etp_sync.server import EmbeddedServer

pytestmark = [pytest.mark.peers, pytest.mark.timeout(900)]

PINS = ("py-etp-client==1.1.0", "etpproto==1.0.7")
ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("geosiris_client.py")
LATENCY = 0.05  # seconds before each message is handled: py-etp-client registers late
TIMEOUT = 20.0


@pytest.fixture(scope="session")
def geosiris_python() -> Path:
    """The Python of a virtualenv with py-etp-client, created (once) when missing."""
    venv = Path(os.environ.get("ETP_SYNC_GEOSIRIS_VENV", ROOT / ".venv-geosiris"))
    python = venv / "bin" / "python"
    marker = venv / "installed.txt"
    wanted = "\n".join(PINS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *PINS],
        check=True,
        timeout=600,
    )
    marker.write_text(wanted)
    return python


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(latency=LATENCY) as srv:
        yield srv


def drive(python: Path, job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the py-etp-client driver on ``job``; its result (the traceback on failure)."""
    job_file, result_file = workdir / "job.json", workdir / "result.json"
    job_file.write_text(json.dumps(job))
    done = subprocess.run(
        [str(python), str(DRIVER), str(job_file), str(result_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result_file.exists(), done.stderr[-4000:]
    result: dict[str, Any] = json.loads(result_file.read_text())
    assert done.returncode == 0 and "error" not in result, result.get("error", done.stderr)
    return result


def test_py_etp_client_puts_and_gets_objects_and_arrays(
    geosiris_python: Path, server: EmbeddedServer, tmp_path: Path
) -> None:
    """py-etp-client writes a surface model (inline data with blobIds) and arrays in a
    transaction and reads back objects and arrays that etp_sync wrote; etp_sync reads what
    py-etp-client wrote, byte for byte and value for value."""
    ds = "peers/geosiris"
    theirs = surface_model(ds, (6, 7))
    ours = surface_model(ds, (5, 4))
    files = []
    for i, xml in enumerate(theirs.objects.values()):
        files.append(tmp_path / f"object{i}.xml")
        files[-1].write_bytes(xml)
    their_arrays = {
        "/geosiris/z": theirs.z_values,
        "/geosiris/i64": np.arange(-20, 22, dtype=np.int64).reshape(6, 7),
        "/geosiris/flags": np.arange(42).reshape(6, 7) % 3 == 0,
    }
    our_arrays = {"/etp_sync/z": ours.z_values, "/etp_sync/i32": np.arange(20, dtype=np.int32)}
    with ETPSession(server.url, timeout=TIMEOUT) as session:
        session.put_dataspace(ds)
        with session.transaction(ds):
            session.put_data_objects(ours.objects)
            for path, values in our_arrays.items():
                session.put_data_array(ours.epc_uri, path, values)
        for name, values in their_arrays.items():
            np.save(tmp_path / f"{name.rsplit('/', 1)[1]}.npy", values)
        job = {
            "url": server.url,
            "dataspace": ds,
            "put_objects": [str(f) for f in files],
            "put_arrays": [
                {
                    "uri": str(theirs.epc_uri),
                    "path": path,
                    "file": str(tmp_path / f"{path.rsplit('/', 1)[1]}.npy"),
                }
                for path in their_arrays
            ],
            "get_objects": [str(u) for u in ours.objects],
            "get_arrays": [
                {"uri": str(ours.epc_uri), "path": path, "file": str(tmp_path / f"got{i}.npy")}
                for i, path in enumerate(our_arrays)
            ],
        }
        result = drive(geosiris_python, job, tmp_path)

        assert result["connected"] is True
        assert result["put_objects"] == ["0", "1", "2"]
        assert result["put_arrays"] == [["0"]] * len(their_arrays)
        assert result["commit"] is True
        assert [x.encode() for x in result["get_objects"]] == list(ours.objects.values())
        for i, values in enumerate(our_arrays.values()):
            got = np.load(tmp_path / f"got{i}.npy")
            assert got.shape == values.shape
            np.testing.assert_array_equal(got, values)

        stored = session.get_data_objects(list(theirs.objects))
        assert {u: o.xml for u, o in stored.items()} == dict(theirs.objects)
        for path, values in their_arrays.items():
            got = session.get_data_array(theirs.epc_uri, path)
            assert got.dtype == values.dtype and got.shape == values.shape
            np.testing.assert_array_equal(got, values)
        # The grid it wrote links to its CRS only (the HdfProxy is no link).
        targets = session.get_resources(theirs.grid_uri, scope="targets")
        assert targets.uris == [theirs.crs_uri]
