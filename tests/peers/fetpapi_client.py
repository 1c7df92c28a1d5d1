"""Drive fetpapi 0.5.0 (F2I's C++ ETP 1.2 client) against a store and print the outcome as JSON.

``tests/peers/test_fetpapi.py`` runs this script in a subprocess: fetpapi can crash the
interpreter at shutdown and has calls without a timeout, so it never runs inside pytest.

    python fetpapi_client.py ws://127.0.0.1:29000/ [--dataspace fetpapi/demo] [--ni 4] [--nj 3]
        [--z-origin 1000] [--z-step 0.25] [--keep] [--timeout 100] [--call-timeout 10]

Workflow: open a session; GetDataspaces; PutDataspaces; GetDataspaceInfo (DataspaceOSDU);
build a small RESQML 2.0.1 model with fesapi (LocalDepth3dCrs, EpcExternalPartReference,
GeneticBoundaryFeature, HorizonInterpretation, Grid2dRepresentation); in one transaction, write
the grid's z values through fetpapi's HDF proxy (PutDataArrays, or PutUninitializedDataArrays
and PutDataSubarrays above 12 MB) and PutDataObjects; GetResources; GetDataObjects; read the z
values back through a fresh repository (GetDataArrayMetadata, then GetDataArrays or
GetDataSubarrays); unless ``--keep``: DeleteDataObjects in a transaction, GetDataObjects again,
GetDeletedResources, DeleteDataspaces; close. z value ``k`` (in the order fesapi writes them)
is ``z_origin + z_step * k``.

stdout gets one line ``FETPAPI_RESULT <json>`` (printed before closing: closing after a failed
call can crash the process) and, after a successful run, ``FETPAPI_CLOSE {"closed": true}``
once CloseSession is done. Progress and fetpapi's own messages go to stderr. Exit status: 0 when
everything succeeded, 2 when a step or the close failed (the JSON says which), 1 when the
watchdog fired (a traceback of every thread goes to stderr).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import fesapi  # must be imported before fetpapi (shared libFesapiCpp symbols)
import fetpapi

RESULT_MARKER = "FETPAPI_RESULT "
CLOSE_MARKER = "FETPAPI_CLOSE "
CONNECT_TIMEOUT = 15.0  # seconds for the HTTP GET, the websocket upgrade and the ETP handshake

CRS_UUID = "b2129512-b8f9-4721-8a70-1abac53ef406"
HDF_UUID = "f8160b8f-0517-4c55-ab6e-ed8bcdc87111"
HORIZON_UUID = "c0f12836-41f4-44a8-a3fd-95ac78f6232d"
INTERP_UUID = "dc217b29-8ceb-4b77-bdcc-6bcfd9cd3baf"
GRID_UUID = "7721fb3c-39ba-4d59-ba0b-f9451706a94c"
GRID_TITLE = "fetpapi peer grid"
SAMPLE = 8  # z values reported from each end of the array


def log(*parts: object) -> None:
    print("[fetpapi-client]", *parts, file=sys.stderr, flush=True)


def vector(v: Any) -> list[Any]:
    """A SWIG std::vector as a list, by index (iterating them once aborted the interpreter)."""
    return [v[i] for i in range(v.size())] if hasattr(v, "size") else list(v)


def string_map(values: dict[str, str]) -> Any:
    m = fetpapi.MapStringString()
    for key, value in values.items():
        m[key] = value
    return m


def as_text(data: Any) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else str(data)


class Client:
    """One fetpapi session and the JSON-ready record of what each step returned."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ds_uri = f"eml:///dataspace('{args.dataspace}')"
        self.session: Any = None
        self.io_thread: threading.Thread | None = None
        self.result: dict[str, Any] = {"ok": False, "dataspace": self.ds_uri, "steps": {}}
        self.uris: list[str] = []

    def step(self, name: str, call: Callable[[], Any]) -> Any:
        """Run one step; its JSON-ready return value is recorded under ``steps[name]``."""
        self.result["failed_step"] = name
        log(name, "...")
        value = call()
        self.result["steps"][name] = value
        return value

    # -- session ------------------------------------------------------------------------------

    def open(self) -> dict[str, Any]:
        params = fetpapi.InitializationParameters(str(uuid.uuid4()), self.args.url)
        session = fetpapi.createClientSession(params, "")  # blocks on the capabilities GET
        if session is None:
            raise ConnectionError("createClientSession returned None")
        session.setVerbose(False)
        self.session = session
        self.io_thread = threading.Thread(target=session.run, name="fetpapi-io", daemon=True)
        self.io_thread.start()
        # Polled on purpose: fetpapi's Python client tells that the session opened only through
        # isEtpSessionClosed(); it has no event or callback for it short of replacing its C++
        # CoreHandlers by a SWIG director subclass, which would change the client under test.
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while session.isEtpSessionClosed() and time.monotonic() < deadline:
            if not self.io_thread.is_alive():
                break  # run() returned: the websocket connection or the handshake failed
            time.sleep(0.05)
        if session.isEtpSessionClosed():
            raise ConnectionError(f"no ETP session with {self.args.url}")
        session.setTimeOut(self.args.call_timeout * 1000.0)  # ms, for every blocking call
        return {"open": True}

    def close(self) -> dict[str, Any]:
        """CloseSession and wait for the I/O thread: ``{"closed": bool[, "error": str]}``."""
        try:
            self.session.closeAndBlock()
        except Exception as exc:
            return {"closed": False, "error": f"{type(exc).__name__}: {exc}"}
        if self.io_thread is not None:
            self.io_thread.join(5.0)  # run() returns once the websocket is closed
            if self.io_thread.is_alive():
                return {"closed": False, "error": "the fetpapi I/O thread did not stop"}
        return {"closed": True}

    # -- dataspaces ---------------------------------------------------------------------------

    def get_dataspaces(self) -> list[dict[str, Any]]:
        return [{"uri": d.uri, "path": d.path} for d in vector(self.session.getDataspaces())]

    def put_dataspace(self) -> list[str]:
        ds = fetpapi.Dataspace()
        ds.uri = self.ds_uri
        ds.path = self.args.dataspace
        ds.storeCreated = ds.storeLastWrite = int(time.time() * 1e6)
        request = fetpapi.MapStringDataspace()
        request["0"] = ds
        return sorted(vector(self.session.putDataspaces(request)))

    def get_dataspace_info(self) -> list[dict[str, Any]]:
        found = self.session.getDataspaceInfo(string_map({"0": self.ds_uri}))
        return [{"uri": d.uri, "path": d.path} for d in vector(found)]

    # -- writing ------------------------------------------------------------------------------

    def z_values(self) -> Any:
        count = self.args.ni * self.args.nj
        z = fesapi.DoubleArray(count)
        for k in range(count):
            z.setitem(k, self.args.z_origin + self.args.z_step * k)
        return z

    def write_model(self) -> dict[str, Any]:
        """Transaction: the z array through the HDF proxy, then every object of the model."""
        session, ds_uri = self.session, self.ds_uri
        repo = fesapi.DataObjectRepository()
        repo.setHdfProxyFactory(fetpapi.FesapiHdfProxyFactory(session))
        crs = repo.createLocalDepth3dCrs(
            CRS_UUID, "peer crs", 0.0, 0.0, 0.0, 0.0,
            fesapi.eml20__LengthUom_m, 23031, fesapi.eml20__LengthUom_m, "Unknown", False,
        )  # fmt: skip
        repo.setDefaultCrs(crs)
        hdf = repo.createHdfProxy(
            HDF_UUID, "peer hdf proxy", ".", "unused.h5",
            fesapi.DataObjectRepository.openingMode_OVERWRITE,
        )  # fmt: skip
        hdf.setUriSource(ds_uri)  # arrays are keyed by this EpcExternalPartReference's URI
        repo.setDefaultHdfProxy(hdf)
        horizon = repo.createHorizon(HORIZON_UUID, "peer horizon")
        interp = repo.createHorizonInterpretation(horizon, INTERP_UUID, "peer interpretation")
        grid = repo.createGrid2dRepresentation(interp, GRID_UUID, GRID_TITLE)

        out: dict[str, Any] = {"start_transaction": session.startTransaction([ds_uri], False)}
        # Blocking: PutDataArrays, or PutUninitializedDataArrays + PutDataSubarrays when large.
        grid.setGeometryAsArray2dOfExplicitZ(
            self.z_values(), self.args.ni, self.args.nj, hdf,
            0.0, 0.0, 0.0,  # origin
            1.0, 0.0, 0.0, 25.0,  # fastest axis direction and spacing
            0.0, 1.0, 0.0, 50.0,  # slowest axis direction and spacing
        )  # fmt: skip
        repo.setUriSource(ds_uri)
        request = fetpapi.MapStringDataObject()
        put: dict[str, dict[str, str]] = {}
        uuids = repo.getUuids()
        for i in range(uuids.size()):
            dobj = fetpapi.buildEtpDataObjectFromEnergisticsObject(repo, uuids[i])
            request[str(i)] = dobj
            self.uris.append(dobj.resource.uri)
            put[dobj.resource.uri] = {"name": dobj.resource.name, "xml": as_text(dobj.data)}
        out["objects"] = put
        out["put_success_keys"] = sorted(vector(session.putDataObjects(request)))
        out["request_keys"] = sorted(str(i) for i in range(len(self.uris)))
        out["commit_transaction"] = session.commitTransaction()
        return out

    # -- reading ------------------------------------------------------------------------------

    def get_resources(self, uri: str, scope: Any) -> list[dict[str, Any]]:
        ctx = fetpapi.ContextInfo()
        ctx.uri = uri
        ctx.depth = 1
        ctx.navigableEdges = fetpapi.RelationshipKind_Primary
        ctx.includeSecondaryTargets = False
        ctx.includeSecondarySources = False
        found = self.session.getResources(ctx, scope, -1, True)
        return [
            {
                "uri": r.uri,
                "name": r.name,
                "sourceCount": r.get_sourceCount() if r.has_sourceCount() else None,
                "targetCount": r.get_targetCount() if r.has_targetCount() else None,
            }
            for r in vector(found)
        ]

    def get_data_objects(self) -> dict[str, dict[str, str]]:
        """GetDataObjects of every written URI, keyed back by URI."""
        keys = {str(i): uri for i, uri in enumerate(self.uris)}
        got = self.session.getDataObjects(string_map(keys))
        return {
            keys[key]: {
                "uri": dobj.resource.uri,
                "name": dobj.resource.name,
                "format": dobj.format,
                "xml": as_text(dobj.data),
            }
            for key, dobj in got.items()
        }

    def read_z(self) -> dict[str, Any]:
        """Load the objects into a fresh repository whose HDF proxy reads through the session."""
        keys = {str(i): uri for i, uri in enumerate(self.uris)}
        got = self.session.getDataObjects(string_map(keys))
        repo = fesapi.DataObjectRepository()
        repo.setHdfProxyFactory(fetpapi.FesapiHdfProxyFactory(self.session))
        for dobj in got.values():
            uri = dobj.resource.uri
            repo.addOrReplaceGsoapProxy(
                as_text(dobj.data), fetpapi.getDataObjectType(uri), fetpapi.getDataspaceUri(uri)
            )
        grid = repo.getHorizonGrid2dRepresentation(0)
        ni, nj = grid.getNodeCountAlongIAxis(), grid.getNodeCountAlongJAxis()
        z = fesapi.DoubleArray(ni * nj)
        grid.getZValues(z)  # GetDataArrayMetadata, then GetDataArrays or GetDataSubarrays
        values = [z.getitem(k) for k in range(ni * nj)]
        expected = [self.args.z_origin + self.args.z_step * k for k in range(ni * nj)]
        return {
            "title": grid.getTitle(),
            "ni": ni,
            "nj": nj,
            "count": len(values),
            "head": values[:SAMPLE],
            "tail": values[-SAMPLE:],
            "sum": sum(values),
            "equal": values == expected,
        }

    # -- deleting -----------------------------------------------------------------------------

    def delete_objects(self) -> dict[str, Any]:
        keys = {str(i): uri for i, uri in enumerate(self.uris)}
        out: dict[str, Any] = {
            "start_transaction": self.session.startTransaction([self.ds_uri], False)
        }
        out["deleted_keys"] = sorted(vector(self.session.deleteDataObjects(string_map(keys))))
        out["commit_transaction"] = self.session.commitTransaction()
        return out

    def get_deleted_resources(self) -> list[str]:
        return sorted(d.uri for d in vector(self.session.getDeletedResources(self.ds_uri)))

    def delete_dataspace(self) -> list[str]:
        return sorted(vector(self.session.deleteDataspaces(string_map({"0": self.ds_uri}))))

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> None:
        s = self.step
        s("open_session", self.open)
        s("get_dataspaces_before", self.get_dataspaces)
        s("put_dataspaces", self.put_dataspace)
        s("get_dataspaces_after_put", self.get_dataspaces)
        s("get_dataspace_info", self.get_dataspace_info)
        s("write_model", self.write_model)
        grid_uri = next(u for u in self.uris if GRID_UUID in u)
        own = fetpapi.ContextScopeKind__self
        s("get_resources_dataspace", lambda: self.get_resources(self.ds_uri, own))
        targets = fetpapi.ContextScopeKind_targets
        s("get_resources_grid_targets", lambda: self.get_resources(grid_uri, targets))
        s("get_data_objects", self.get_data_objects)
        s("read_z", self.read_z)
        if not self.args.keep:
            s("delete_data_objects", self.delete_objects)
            s("get_data_objects_after_delete", self.get_data_objects)
            s("get_deleted_resources", self.get_deleted_resources)
            s("delete_dataspaces", self.delete_dataspace)
            s("get_dataspaces_after_delete", self.get_dataspaces)
        self.result.pop("failed_step", None)
        self.result["ok"] = True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="ws://host:port/ of the ETP store (port <= 32767)")
    parser.add_argument("--dataspace", default="fetpapi/demo", help="dataspace path to create")
    parser.add_argument("--ni", type=int, default=4, help="grid nodes along I (fastest)")
    parser.add_argument("--nj", type=int, default=3, help="grid nodes along J")
    parser.add_argument("--z-origin", type=float, default=1000.0, help="first z value")
    parser.add_argument("--z-step", type=float, default=0.25, help="z increment per node")
    parser.add_argument("--keep", action="store_true", help="leave the data in the store")
    parser.add_argument("--timeout", type=float, default=100.0, help="watchdog, seconds")
    parser.add_argument("--call-timeout", type=float, default=10.0, help="per call, seconds")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    # Hard stop: a traceback of every thread on stderr, then exit status 1.
    faulthandler.dump_traceback_later(args.timeout, exit=True)
    client = Client(args)
    status = 0
    try:
        client.run()
    except Exception as exc:
        client.result["error"] = f"{type(exc).__name__}: {exc}"
        log("FAILED in", client.result.get("failed_step"), "->", client.result["error"])
        status = 2
    # Printed before closing: closing after a failed call can crash the process.
    print(RESULT_MARKER + json.dumps(client.result), flush=True)
    if status == 0:
        closed = client.close()
        print(CLOSE_MARKER + json.dumps(closed), flush=True)
        if not closed["closed"]:
            status = 2
    sys.stderr.flush()
    # Finalising the interpreter with fetpapi objects alive can segfault: leave without it.
    os._exit(status)


if __name__ == "__main__":
    main()
