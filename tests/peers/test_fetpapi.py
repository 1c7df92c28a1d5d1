"""Interoperability with F2I's fetpapi 0.5.0 (C++ ETP 1.2 client, SWIG bindings) and fesapi.

fetpapi runs only in a subprocess, ``fetpapi_client.py``: it can crash the interpreter when it
shuts down and some of its calls have no timeout. That script prints what every step returned as
JSON; these tests check it and then check, on the server side, what fetpapi wrote: the objects
(XML byte for byte, through the store's change events and through :class:`etp_sync.ETPSession`)
and the z values of the grid.

The embedded server listens on a port below 32768 (fetpapi rejects larger ones) and delays every
response by 5 ms: fetpapi loses a response that arrives before its own write has completed (with
no delay most runs time out, see ``NOTES.md``). If a run still fails that way, it is retried once
on a fresh dataspace, with a warning.
"""

from __future__ import annotations

import errno
import json
import logging
import random
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest

from etp_sync import ETPSession
from etp_sync.server import EmbeddedServer
from etp_sync.server.store import ChangeEvent

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(
        find_spec("fetpapi") is None or find_spec("fesapi") is None,
        reason="fetpapi/fesapi are not installed (pip install --no-deps fetpapi==0.5.0)",
    ),
    pytest.mark.timeout(200),
]

CLIENT = Path(__file__).with_name("fetpapi_client.py")
RESULT_MARKER = "FETPAPI_RESULT "
CLOSE_MARKER = "FETPAPI_CLOSE "
WATCHDOG = 60.0  # the client's own hard stop, seconds
CLIENT_TIMEOUT = 75.0  # subprocess.run timeout, seconds
LATENCY = 0.005  # seconds the server waits before handling each message (fetpapi's race)
PORTS = (20000, 32000)  # fetpapi needs a port <= 32767
RACE = "Time out waiting for a response"  # how fetpapi reports a lost response

GRID_TITLE = "fetpapi peer grid"
GRID_UUID = "7721fb3c-39ba-4d59-ba0b-f9451706a94c"
MODEL_TYPES = {
    "eml20.obj_EpcExternalPartReference",
    "resqml20.obj_LocalDepth3dCrs",
    "resqml20.obj_GeneticBoundaryFeature",
    "resqml20.obj_HorizonInterpretation",
    "resqml20.obj_Grid2dRepresentation",
}
# The grid's HdfProxy (EpcExternalPartReference) is no link, as on open-etp-server.
GRID_TARGETS = {"resqml20.obj_LocalDepth3dCrs", "resqml20.obj_HorizonInterpretation"}
Z_ORIGIN, Z_STEP = 1000.0, 0.25


def start_low_port_server(**options: Any) -> EmbeddedServer:
    """An EmbeddedServer on a random free port of 127.0.0.1 in PORTS, started."""
    rng = random.Random()
    for _ in range(100):
        server = EmbeddedServer("127.0.0.1", rng.randrange(*PORTS), **options)
        try:
            return server.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    server = start_low_port_server(latency=LATENCY)
    try:
        yield server
    finally:
        server.stop()


def z_expected(ni: int, nj: int) -> np.ndarray:
    """The z values the client writes, shaped as stored: (nj, ni), slowest axis first."""
    return (Z_ORIGIN + Z_STEP * np.arange(ni * nj, dtype=np.float64)).reshape(nj, ni)


def qualified_type(uri: str) -> str:
    """``resqml20.obj_X`` from ``eml:///dataspace('p')/resqml20.obj_X(uuid)``."""
    return uri.rsplit("/", 1)[-1].split("(", 1)[0]


# -- running the client ---------------------------------------------------------------------


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _marked(stdout: str, marker: str) -> dict[str, Any] | None:
    for line in stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    return None


@dataclass
class ClientRun:
    """One run of fetpapi_client.py: exit status, its JSON, and its output for diagnostics."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        return _marked(self.stdout, RESULT_MARKER) or {}

    @property
    def close(self) -> dict[str, Any]:
        return _marked(self.stdout, CLOSE_MARKER) or {}

    @property
    def steps(self) -> dict[str, Any]:
        return self.result.get("steps", {})

    @property
    def ok(self) -> bool:
        return (
            self.returncode == 0
            and self.result.get("ok") is True
            and self.close.get("closed") is True
        )

    @property
    def lost_a_response(self) -> bool:
        return RACE in str(self.result.get("error", ""))

    def describe(self) -> str:
        stderr = "\n".join(self.stderr.splitlines()[-40:])
        return (
            f"fetpapi client exit status {self.returncode}; failed step "
            f"{self.result.get('failed_step')!r}: {self.result.get('error')!r}; "
            f"close: {self.close}\n--- stderr (tail) ---\n{stderr}"
        )


def run_client(url: str, cwd: Path, *options: str) -> ClientRun:
    command = [sys.executable, str(CLIENT), url, "--timeout", str(WATCHDOG), *options]
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:  # the watchdog should have fired before this
        return ClientRun(-9, _text(exc.stdout), _text(exc.stderr) + "\n[killed: timeout]")
    return ClientRun(done.returncode, done.stdout, done.stderr)


def run_workflow(server: EmbeddedServer, cwd: Path, dataspace: str, *options: str) -> ClientRun:
    """Run the client; once more on a fresh dataspace if fetpapi lost a response (its race)."""
    run = run_client(server.url, cwd, "--dataspace", dataspace, *options)
    if not run.ok and run.lost_a_response:
        warnings.warn(
            f"fetpapi lost a response (its known race), retrying once: {run.result['error']}",
            stacklevel=2,
        )
        run = run_client(server.url, cwd, "--dataspace", f"{dataspace}-retry", *options)
    assert run.ok, run.describe()
    return run


# -- checks shared by the tests -------------------------------------------------------------


def check_written(run: ClientRun, ni: int, nj: int) -> dict[str, dict[str, str]]:
    """Asserts on every step up to the z read-back; returns ``{uri: {name, xml}}`` as put."""
    steps, ds = run.steps, run.result["dataspace"]
    path = ds[len("eml:///dataspace('") : -2]
    assert steps["open_session"] == {"open": True}
    assert ds not in [d["uri"] for d in steps["get_dataspaces_before"]]
    assert steps["put_dataspaces"] == ["0"]
    assert {"uri": ds, "path": path} in steps["get_dataspaces_after_put"]
    assert steps["get_dataspace_info"] == [{"uri": ds, "path": path}]

    written = steps["write_model"]
    assert written["start_transaction"] == ""
    assert written["commit_transaction"] == ""
    put = written["objects"]
    assert {qualified_type(uri) for uri in put} == MODEL_TYPES
    assert all(uri.startswith(ds + "/") for uri in put)
    assert written["put_success_keys"] == written["request_keys"] == ["0", "1", "2", "3", "4"]

    # GetResources(dataspace, self) lists the dataspace's objects, with their titles.
    listed = {r["uri"]: r for r in steps["get_resources_dataspace"]}
    assert set(listed) == set(put)
    assert {uri: r["name"] for uri, r in listed.items()} == {u: p["name"] for u, p in put.items()}
    grid_uri = next(uri for uri in put if GRID_UUID in uri)
    assert listed[grid_uri]["name"] == GRID_TITLE
    assert listed[grid_uri]["targetCount"] == len(GRID_TARGETS)
    targets = {r["uri"] for r in steps["get_resources_grid_targets"]}
    assert {qualified_type(uri) for uri in targets} == GRID_TARGETS

    # GetDataObjects returns the XML exactly as fetpapi put it.
    got = steps["get_data_objects"]
    assert set(got) == set(put)
    for uri, obj in got.items():
        assert obj["uri"] == uri
        assert obj["format"] == "xml"
        assert obj["name"] == put[uri]["name"]
        assert obj["xml"] == put[uri]["xml"]

    # The z values come back through fesapi's HDF proxy (GetDataArrayMetadata + GetDataArrays).
    z = steps["read_z"]
    expected = z_expected(ni, nj).ravel()
    assert (z["title"], z["ni"], z["nj"], z["count"]) == (GRID_TITLE, ni, nj, ni * nj)
    assert z["head"] == expected[:8].tolist()
    assert z["tail"] == expected[-8:].tolist()
    assert z["equal"] is True
    return put


def hdf5_datasets(xml: str) -> list[tuple[str, str]]:
    """``(EpcExternalPartReference uuid, PathInHdfFile)`` of every Hdf5Dataset in a document."""
    found = []
    for element in ElementTree.fromstring(xml.encode()).iter():
        path = proxy = None
        for child in element:
            name = child.tag.rsplit("}", 1)[-1]
            if name == "PathInHdfFile":
                path = (child.text or "").strip()
            elif name == "HdfProxy":
                proxy = next((c.text or "").strip() for c in child if c.tag.endswith("}UUID"))
        if path and proxy:
            found.append((proxy, path))
    return found


def check_server_side(
    server: EmbeddedServer, run: ClientRun, put: dict[str, dict[str, str]], ni: int, nj: int
) -> None:
    """What fetpapi wrote, read back with etp_sync: XML byte for byte, the z array exactly.

    The array is found the way a reader finds it: from the grid's Hdf5Dataset, keyed by the
    URI of its EpcExternalPartReference in the same dataspace.
    """
    ds = run.result["dataspace"]
    grid_uri = next(uri for uri in put if GRID_UUID in uri)
    [(proxy_uuid, path)] = hdf5_datasets(put[grid_uri]["xml"])
    proxy_uri = f"{ds}/eml20.obj_EpcExternalPartReference({proxy_uuid})"
    assert proxy_uri in put
    with ETPSession(server.url, timeout=30.0) as session:
        objects = session.get_data_objects(list(put))
        assert {str(uri): obj.xml.decode() for uri, obj in objects.items()} == {
            uri: obj["xml"] for uri, obj in put.items()
        }
        assert {str(obj.uri): obj.name for obj in objects.values()} == {
            uri: obj["name"] for uri, obj in put.items()
        }
        assert {str(r.uri) for r in session.get_resources(ds)} == set(put)

        meta = session.get_data_array_metadata(proxy_uri, path)
        assert meta.dimensions == (nj, ni)
        assert meta.transport_type == "arrayOfDouble"
        values = session.get_data_array(proxy_uri, path)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, z_expected(ni, nj))


class Traffic(logging.Handler):
    """Names of the messages the embedded server receives (from its debug log)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.received: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message, args = record.msg, record.args
        if isinstance(message, str) and message.startswith("%s -> %s ") and isinstance(args, tuple):
            self.received.append(str(args[1]))


@pytest.fixture()
def traffic() -> Iterator[Traffic]:
    logger = logging.getLogger("etp_sync.server")
    handler, level = Traffic(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# -- tests ----------------------------------------------------------------------------------


def test_full_workflow_with_deletes(server: EmbeddedServer, tmp_path: Path) -> None:
    """Every step, deletes included; the store's change events show what fetpapi committed."""
    events: list[ChangeEvent] = []
    server.store.add_listener(events.extend)
    try:
        run = run_workflow(server, tmp_path, "fetpapi/full", "--ni", "4", "--nj", "3")
    finally:
        server.store.remove_listener(events.extend)
    put = check_written(run, 4, 3)
    steps, ds = run.steps, run.result["dataspace"]

    deleted = steps["delete_data_objects"]
    assert deleted == {
        "start_transaction": "",
        "deleted_keys": ["0", "1", "2", "3", "4"],
        "commit_transaction": "",
    }
    assert steps["get_data_objects_after_delete"] == {}  # ENOT_FOUND for each, no hang
    assert steps["get_deleted_resources"] == sorted(put)
    assert steps["delete_dataspaces"] == ["0"]
    assert ds not in [d["uri"] for d in steps["get_dataspaces_after_delete"]]

    # Server side: one commit inserted exactly what fetpapi put, a second one deleted it all.
    mine = [e for e in events if e.dataspace_uri == ds]
    inserted = {e.uri: e.obj for e in mine if e.kind == "insert"}
    assert set(inserted) == set(put)
    for uri, obj in inserted.items():
        assert obj is not None and obj.xml.decode() == put[uri]["xml"]
    assert {e.uri for e in mine if e.kind == "delete"} == set(put)
    assert not [e for e in mine if e.kind == "update"]
    assert ds not in [d.uri for d in server.store.get_dataspaces()]


def test_written_data_read_back_by_etp_sync(
    server: EmbeddedServer, tmp_path: Path, traffic: Traffic
) -> None:
    """Objects and z values fetpapi wrote (PutDataArrays) are what etp_sync reads."""
    run = run_workflow(server, tmp_path, "fetpapi/keep", "--ni", "5", "--nj", "4", "--keep")
    put = check_written(run, 5, 4)
    assert "delete_data_objects" not in run.steps
    for name in ("PutDataArrays", "PutDataObjects", "GetDataArrayMetadata", "GetDataArrays"):
        assert name in traffic.received
    assert "PutDataSubarrays" not in traffic.received
    check_server_side(server, run, put, 5, 4)


def test_large_array_travels_in_subarrays(
    server: EmbeddedServer, tmp_path: Path, traffic: Traffic
) -> None:
    """12.5 MB of z: fetpapi writes it in blocks and reads it back with GetDataSubarrays."""
    ni = nj = 1250  # 8 B x 1.56 M > 12 MB, fetpapi's fixed limit for one PutDataArrays
    size = ("--ni", str(ni), "--nj", str(nj))
    run = run_workflow(server, tmp_path, "fetpapi/large", *size, "--keep")
    put = check_written(run, ni, nj)
    for name in ("PutUninitializedDataArrays", "PutDataSubarrays", "GetDataSubarrays"):
        assert name in traffic.received
    assert "PutDataArrays" not in traffic.received
    check_server_side(server, run, put, ni, nj)
