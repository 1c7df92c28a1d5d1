"""etp_sync against pyetp 0.0.58, side by side, on every workload of issue 14.

Both clients talk to the SAME ``python -m etp_sync.server`` process (started here on a free
127.0.0.1 port, store limits off, one ``--max-message-size`` that both clients use). Every
measurement runs in a FRESH client process (this script with ``--worker ROW SIDE``), and the
libraries alternate run by run: run 1 starts with etp_sync, run 2 with pyetp, and so on, for
``--runs`` runs of every row (5 by default). A worker reports its numbers as JSON, with the CPU
seconds (``resource.getrusage``, all threads, user + system) spent in its timed regions and its
peak RSS (VmHWM); a library that fails a row is reported with its error, not skipped.

Rows (``--rows`` picks some; ``--quick`` makes the sizes small for a development loop):

- ``tiny``: GetDataspaces, many calls after a warm-up; median and p99 of the per-call latency in
  µs. etp_sync ``get_dataspaces()`` vs pyetp ``RDDMSClient.list_dataspaces()``, and each
  library's raw ``send_and_recv(GetDataspaces)`` (calls alternate in blocks of 50).
- ``connect``: construct + connect + negotiate (RequestSession/OpenSession) of a new session,
  median of 10 in the process after one warm-up; closing is not timed.
- ``workflow``: 20 calls around a 600x700 float64 surface (3 objects from
  ``etp_sync.samples.surface_model``): create dataspace, list dataspaces, put objects, put
  array, list resources, get objects, array metadata, get array, get one object, put it again,
  list resources, metadata, put array, get array, list dataspaces, get objects, delete objects,
  list resources, delete dataspace, list dataspaces. pyetp: ``RDDMSClient`` calls where it has
  one (dataspaces, arrays, listing, deleting), raw messages for objects and array metadata.
  Median of 3 in the process after one warm-up.
- ``f64_64`` / ``f64_256``: put + get of a random float64 array of 64 / 256 MiB
  (``put_data_array`` + ``get_data_array`` vs ``upload_array`` + ``download_array``), one per
  process, no warm-up, checked after the timing. The 64 MiB row also runs pyetp without gzip;
  the 256 MiB row also runs the loopback reference of ``bench/arrays.py`` (the same bytes, in
  messages of etp_sync's block sizes, up and down through a bare websocket with no ETP) in its
  own fresh process, and reports etp_sync's MiB/s as a share of the reference of the same run,
  and the seconds of the put alone and of the get alone (the reference's too). It also
  measures memory: peak RSS growth of the get (VmHWM reset before it) / array size,
  and peak growth of the put (the array exists before the baseline).
- ``i64_full`` / ``i64_small``: 64 MiB of int64, full range and 0..1000, put + get MiB/s.
  pyetp sizes its blocks by ``itemsize`` with 4 KiB of slack, too small for 10-byte varints;
  a "tuned" pyetp (blocks of 80% of the message, ``max_array_size_margin`` raised) runs too.
- ``threads``: 16 threads on one etp_sync session calling ``get_dataspaces()`` vs 16 coroutines
  in pyetp's ``asyncio.gather`` over one connection calling ``send_and_recv(GetDataspaces)``;
  requests per second.
- ``objects``: 1,000 small RESQML objects (``samples.local_depth_crs``) put then get in one
  call each (etp_sync ``put_data_objects`` + ``get_data_objects``; pyetp one raw PutDataObjects
  and one GetDataObjects message, its pydantic records built inside the timing); median of 3
  in the process after one warm-up.

Per row and side the table gives min / median / p99 over the runs (per-call rows: of the
per-run medians and p99s), the ratio of the medians, the median CPU seconds and the median
peak RSS. Targets (issue 14) are judged on medians, the reference share on every run.
The table, the exact command, the load average before and after and the verdicts are printed
and written to the "compare" section of bench/RESULTS.md (unless ``--no-write``).

Run from the repository root::

    .venv/bin/python bench/compare.py [--runs 5] [--rows tiny,connect,...] [--quick]
        [--sides pyetp,reference] [--max-message-size 16777216] [--no-write]

``--sides`` keeps etp_sync and the sides named (e.g. ``--sides reference`` skips pyetp, whose
big-array rows take minutes, while optimising etp_sync).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _results import command_line, machine_note, publish, reset_peak, status_bytes
from arrays import ReferenceClient, block_sizes, child_env, start_child, start_etp_server

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
ARRAYS_SCRIPT = SCRIPT.parent / "arrays.py"
MIB = 1 << 20
TIMEOUT = 600.0
PACKAGES = ("pyetp", "websockets")
COLUMNS = 8192
SEED = 20240614
THREADS = 16
STORE_UNLIMITED = ("--max-store-bytes", "0", "--max-array-bytes", "0")


# ---------------------------------------------------------------------------------------------
# what is measured


@dataclass(frozen=True)
class Metric:
    """One number a worker reports; ``higher`` when bigger is better."""

    key: str
    label: str
    unit: str
    higher: bool = False


@dataclass(frozen=True)
class Row:
    """A workload: the sides that run it (``etp_sync`` first) and the metrics they report."""

    name: str
    sides: tuple[str, ...]
    metrics: tuple[Metric, ...]


PUT_GET = (
    Metric("seconds", "put+get", "s"),
    Metric("mibs", "put+get", "MiB/s", higher=True),
)
ROWS = (
    Row(
        "tiny",
        ("etp_sync", "pyetp"),
        (
            Metric("median_us", "tiny request (GetDataspaces), median", "µs"),
            Metric("p99_us", "tiny request (GetDataspaces), p99", "µs"),
            Metric("raw_median_us", "tiny request, raw send_and_recv, median", "µs"),
            Metric("raw_p99_us", "tiny request, raw send_and_recv, p99", "µs"),
        ),
    ),
    Row("connect", ("etp_sync", "pyetp"), (Metric("ms", "connect + negotiate", "ms"),)),
    Row(
        "workflow",
        ("etp_sync", "pyetp"),
        (Metric("ms", "20-call workflow with a 600x700 array", "ms"),),
    ),
    Row("f64_64", ("etp_sync", "pyetp", "pyetp-nogzip"), PUT_GET[:1]),
    Row(
        "f64_256",
        ("etp_sync", "pyetp", "reference"),
        (
            *PUT_GET,
            Metric("put_seconds", "put alone", "s"),
            Metric("get_seconds", "get alone", "s"),
            Metric("vs_reference", "put+get / loopback reference of the same run", "x", True),
            Metric("get_peak_x", "get peak RSS growth / array size", "x"),
            Metric("put_growth_mib", "put peak RSS growth", "MiB"),
        ),
    ),
    Row("i64_full", ("etp_sync", "pyetp", "pyetp-tuned"), PUT_GET[::-1]),
    Row("i64_small", ("etp_sync", "pyetp", "pyetp-tuned"), PUT_GET[::-1]),
    Row(
        "threads", ("etp_sync", "pyetp"), (Metric("rps", "16 threads, one session", "req/s", True),)
    ),
    Row("objects", ("etp_sync", "pyetp"), (Metric("seconds", "put+get", "s"),)),
)
SIDE_LABELS = {
    "pyetp": "pyetp",
    "pyetp-nogzip": "pyetp, no gzip",
    "pyetp-tuned": "pyetp, tuned blocks",
    "reference": "loopback reference",
}


@dataclass(frozen=True)
class Sizes:
    """Workload sizes: full, or small with ``--quick``."""

    f64_64: int = 64 * MIB
    f64_256: int = 256 * MIB
    i64: int = 64 * MIB
    tiny_calls: int = 2000
    connects: int = 10
    thread_calls: int = 200
    objects: int = 1000
    repeats: int = 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(4 * MIB, 16 * MIB, 4 * MIB, 200, 3, 20, 100, 1)

    def title(self, row: str) -> str:
        """How the table names a row's workload."""
        return {
            "f64_64": f"{self.f64_64 // MIB} MiB float64",
            "f64_256": f"{self.f64_256 // MIB} MiB float64",
            "i64_full": f"{self.i64 // MIB} MiB int64, full range",
            "i64_small": f"{self.i64 // MIB} MiB int64, 0..1000",
            "objects": f"{self.objects:,} small objects",
        }.get(row, "")


NOTES = (
    "Notes:",
    "",
    "- MiB/s = 2 x array bytes / (put + get seconds). The reference share compares each run's "
    "etp_sync put+get with the loopback reference measured in the same run, next to it.",
    "- Memory: get = (VmHWM after the get - VmRSS before it, peak reset) / array size; put = "
    "VmHWM during the put - VmRSS before it (the array already exists).",
    "- A side that failed shows 'failed n/runs' with its first error; the numbers beside it "
    "are from the runs that succeeded. On a loaded machine the absolute rates mostly measure "
    "the load: read the ratios of the same run and the load figures above.",
)


# ---------------------------------------------------------------------------------------------
# worker side: one measurement in a fresh process


class Meter:
    """CPU seconds of this process (all threads) inside ``with meter:`` blocks, and its peak
    RSS (the highest VmHWM seen, also before a peak reset)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.peak = 0
        self._start = 0.0

    @staticmethod
    def _cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def __enter__(self) -> Meter:
        self._start = self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu += self._cpu() - self._start

    def note_peak(self) -> int:
        """The current VmHWM (0 when unknown), kept in ``peak``."""
        hwm = status_bytes("VmHWM") or 0
        self.peak = max(self.peak, hwm)
        return hwm


@dataclass
class Job:
    """What a worker gets from the command line."""

    row: str
    side: str
    url: str
    ref_url: str
    mms: int
    sizes: Sizes
    meter: Meter = field(default_factory=Meter)
    dataspace: str = ""

    def __post_init__(self) -> None:
        self.dataspace = f"bench/compare-{self.row}-{self.side}-{os.getpid()}"

    @property
    def ds_uri(self) -> str:
        return f"eml:///dataspace('{self.dataspace}')"

    @property
    def epc(self) -> str:
        return f"{self.ds_uri}/eml20.obj_EpcExternalPartReference({uuid.UUID(int=SEED)})"


def make_array(kind: str, nbytes: int) -> np.ndarray:
    """float64 random, int64 over its full range, or int64 in 0..1000; ``nbytes`` of it."""
    rng = np.random.default_rng(SEED)
    shape = (max(1, nbytes // (8 * COLUMNS)), COLUMNS)
    if kind == "f64":
        return rng.random(shape)
    if kind == "i64_full":
        info = np.iinfo(np.int64)
        return rng.integers(info.min, info.max, shape, dtype=np.int64, endpoint=True)
    return rng.integers(0, 1000, shape, dtype=np.int64, endpoint=True)


def array_of(job: Job) -> np.ndarray:
    if job.row.startswith("f64"):
        return make_array("f64", job.sizes.f64_64 if job.row == "f64_64" else job.sizes.f64_256)
    return make_array(job.row, job.sizes.i64)


def check_same(got: np.ndarray, want: np.ndarray) -> None:
    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
        raise RuntimeError("the array read back differs from the one written")


def latency_stats(samples_ns: list[int]) -> tuple[float, float]:
    """(median, p99) in µs."""
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return float(np.median(us)), float(np.percentile(us, 99))


def put_get_metrics(
    job: Job, put: Callable[[np.ndarray], Any], get: Callable[[], Any]
) -> dict[str, float]:
    """Time put then get of the row's array; memory growth of each (peak reset before each)."""
    array = array_of(job)
    gc.collect()
    job.meter.note_peak()
    base_put = status_bytes("VmRSS") or 0
    reset_peak()
    with job.meter:
        t0 = time.perf_counter()
        put(array)
        t1 = time.perf_counter()
    put_peak = job.meter.note_peak()
    gc.collect()
    base_get = status_bytes("VmRSS") or 0
    reset_peak()
    with job.meter:
        t2 = time.perf_counter()
        result = get()
        t3 = time.perf_counter()
    get_peak = job.meter.note_peak()
    check_same(result, array)
    seconds = (t1 - t0) + (t3 - t2)
    return {
        "seconds": seconds,
        "put_seconds": t1 - t0,
        "get_seconds": t3 - t2,
        "mibs": 2 * array.nbytes / MIB / seconds,
        "get_peak_x": (get_peak - base_get) / array.nbytes,
        "put_growth_mib": (put_peak - base_put) / MIB,
    }


def repeat_median(job: Job, once: Callable[[int], float], count: int = 0) -> float:
    """One untimed warm-up of ``once(i)`` then the median of ``count`` (default ``repeats``)
    timed ones."""
    once(0)
    values = []
    for i in range(1, (count or job.sizes.repeats) + 1):
        with job.meter:
            values.append(once(i))
    return statistics.median(values)


async def repeat_median_async(job: Job, once: Callable[[int], Awaitable[float]]) -> float:
    """:func:`repeat_median` for pyetp's coroutines: one untimed warm-up, then the median of
    ``repeats`` timed runs."""
    await once(0)
    values = []
    for i in range(1, job.sizes.repeats + 1):
        with job.meter:
            values.append(await once(i))
    return statistics.median(values)


# -- etp_sync ------------------------------------------------------------------------------------


def etp_session(job: Job) -> Any:
    from etp_sync import ETPSession

    return ETPSession(job.url, timeout=TIMEOUT, max_message_size=job.mms)


def etp_tiny(job: Job) -> dict[str, float]:
    from etp_sync.schema import messages

    with etp_session(job) as session:
        lib: list[int] = []
        raw: list[int] = []
        calls = (
            (session.get_dataspaces, lib),
            (lambda: session.send_and_recv(messages.Dataspace.GetDataspaces()), raw),
        )
        for call, _ in calls:
            for _ in range(100):
                call()
        with job.meter:
            for _ in range(0, job.sizes.tiny_calls, 50):
                for call, samples in calls:
                    for _ in range(50):
                        t0 = time.perf_counter_ns()
                        call()
                        samples.append(time.perf_counter_ns() - t0)
    (m, p), (rm, rp) = latency_stats(lib), latency_stats(raw)
    return {"median_us": m, "p99_us": p, "raw_median_us": rm, "raw_p99_us": rp}


def etp_connect_ms(job: Job) -> dict[str, float]:
    def once(_: int) -> float:
        t0 = time.perf_counter()
        session = etp_session(job).connect()
        elapsed = time.perf_counter() - t0
        session.close()
        return elapsed * 1000

    return {"ms": repeat_median(job, once, job.sizes.connects)}


def etp_workflow(job: Job) -> dict[str, float]:
    from etp_sync.samples import surface_model

    with etp_session(job) as s:

        def once(i: int) -> float:
            ds = f"{job.dataspace}-{i}"
            model = surface_model(ds, shape=(600, 700), seed=i)
            uris = list(model.objects)
            grid = model.grid_uri
            t0 = time.perf_counter()
            s.put_dataspace(ds)  # 1
            s.get_dataspaces()  # 2
            s.put_data_objects(model.objects)  # 3
            s.put_data_array(model.epc_uri, model.array_path, model.z_values)  # 4
            s.get_resources(model.dataspace)  # 5
            s.get_data_objects(uris)  # 6
            s.get_data_array_metadata(model.epc_uri, model.array_path)  # 7
            z = s.get_data_array(model.epc_uri, model.array_path)  # 8
            xml = s.get_data_object(grid).xml  # 9
            s.put_data_objects({grid: xml})  # 10
            s.get_resources(model.dataspace)  # 11
            s.get_data_array_metadata(model.epc_uri, model.array_path)  # 12
            s.put_data_array(model.epc_uri, model.array_path, z + 1.0)  # 13
            s.get_data_array(model.epc_uri, model.array_path)  # 14
            s.get_dataspaces()  # 15
            s.get_data_objects(uris)  # 16
            s.delete_data_objects(uris)  # 17
            s.get_resources(model.dataspace)  # 18
            s.delete_dataspace(ds)  # 19
            s.get_dataspaces()  # 20
            return (time.perf_counter() - t0) * 1000

        return {"ms": repeat_median(job, once)}


def etp_put_get(job: Job) -> dict[str, float]:
    with etp_session(job) as s:
        s.put_dataspace(job.dataspace)
        try:
            return put_get_metrics(
                job,
                lambda a: s.put_data_array(job.epc, "/bench/values", a),
                lambda: s.get_data_array(job.epc, "/bench/values"),
            )
        finally:
            s.delete_dataspace(job.dataspace)


def etp_threads(job: Job) -> dict[str, float]:
    calls = job.sizes.thread_calls
    with etp_session(job) as s:
        s.get_dataspaces()
        start = threading.Barrier(THREADS + 1)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                s.get_dataspaces()
                start.wait()
                for _ in range(calls):
                    s.get_dataspaces()
            except BaseException as exc:  # reported below, after the join
                errors.append(exc)
                start.abort()

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for t in threads:
            t.start()
        with job.meter:
            start.wait()
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
        if errors:
            raise errors[0]
    return {"rps": THREADS * calls / elapsed}


def small_objects(job: Job, i: int) -> list[tuple[str, str, bytes]]:
    """(uri, title, xml) of ``sizes.objects`` small RESQML CRS objects."""
    from etp_sync.samples import local_depth_crs
    from etp_sync.uri import DataObjectURI

    out = []
    for k in range(job.sizes.objects):
        ref = uuid.uuid4()
        title = f"CRS {i}-{k}"
        uri = DataObjectURI.from_type(job.dataspace, "resqml20.obj_LocalDepth3dCrs", ref)
        out.append((str(uri), title, local_depth_crs(ref, title)))
    return out


def etp_objects(job: Job) -> dict[str, float]:
    with etp_session(job) as s:
        s.put_dataspace(job.dataspace)

        def once(i: int) -> float:
            objs = small_objects(job, i)
            docs = {uri: xml for uri, _, xml in objs}
            t0 = time.perf_counter()
            s.put_data_objects(docs)
            got = s.get_data_objects(list(docs))
            elapsed = time.perf_counter() - t0
            if [g.xml for g in got.values()] != list(docs.values()):
                raise RuntimeError("objects read back differ")
            return elapsed

        try:
            return {"seconds": repeat_median(job, once)}
        finally:
            s.delete_dataspace(job.dataspace)


# -- pyetp ---------------------------------------------------------------------------------------


def pyetp_connect(job: Job, compression: bool = True) -> Any:
    from pyetp.client import etp_connect

    return etp_connect(
        job.url, max_message_size=job.mms, use_compression=compression, etp_timeout=TIMEOUT
    )


def pyetp_run(job: Job, flow: Callable[[Any], Any], compression: bool = True) -> Any:
    """Run ``flow(client)`` on a pyetp connection in a fresh event loop."""

    async def main() -> Any:
        async with pyetp_connect(job, compression) as client:
            return await flow(client)

    return asyncio.run(main())


def pyetp_tiny(job: Job) -> dict[str, float]:
    from energistics.etp.v12.protocol.dataspace import GetDataspaces
    from rddms_io.client import RDDMSClient

    async def flow(client: Any) -> dict[str, float]:
        rc = RDDMSClient(client)
        lib: list[int] = []
        raw: list[int] = []
        calls = ((rc.list_dataspaces, lib), (lambda: client.send_and_recv(GetDataspaces()), raw))
        for call, _ in calls:
            for _ in range(100):
                await call()
        with job.meter:
            for _ in range(0, job.sizes.tiny_calls, 50):
                for call, samples in calls:
                    for _ in range(50):
                        t0 = time.perf_counter_ns()
                        await call()
                        samples.append(time.perf_counter_ns() - t0)
        (m, p), (rm, rp) = latency_stats(lib), latency_stats(raw)
        return {"median_us": m, "p99_us": p, "raw_median_us": rm, "raw_p99_us": rp}

    result: dict[str, float] = pyetp_run(job, flow)
    return result


def pyetp_connect_ms(job: Job) -> dict[str, float]:
    async def once() -> float:
        t0 = time.perf_counter()
        client = await pyetp_connect(job)
        elapsed = time.perf_counter() - t0
        await client.close()
        return elapsed * 1000

    async def main() -> list[float]:
        await once()
        values = []
        for _ in range(job.sizes.connects):
            with job.meter:
                values.append(await once())
        return values

    return {"ms": statistics.median(asyncio.run(main()))}


def pyetp_workflow(job: Job) -> dict[str, float]:
    from energistics.etp.v12.datatypes.data_array_types import (
        DataArrayIdentifier as _DataArrayIdentifier,
    )
    from energistics.etp.v12.protocol.data_array import (
        GetDataArrayMetadata as _GetDataArrayMetadata,
    )
    from energistics.etp.v12.protocol.store import GetDataObjects
    from rddms_io.client import RDDMSClient

    from etp_sync.samples import surface_model

    # pydantic models built with snake_case field names (accepted at runtime, populate_by_name);
    # their stubs know only the camelCase aliases, hence Any for mypy.
    DataArrayIdentifier: Any = _DataArrayIdentifier
    GetDataArrayMetadata: Any = _GetDataArrayMetadata

    async def flow(client: Any) -> float:
        rc = RDDMSClient(client)

        async def once(i: int) -> float:
            ds = f"{job.dataspace}-{i}"
            model = surface_model(ds, shape=(600, 700), seed=i)
            uris = [str(u) for u in model.objects]
            grid = str(model.grid_uri)
            epc, path = str(model.epc_uri), model.array_path
            titles = {str(u): f"object {n}" for n, u in enumerate(model.objects)}
            docs = {str(u): xml for u, xml in model.objects.items()}
            dai = DataArrayIdentifier(uri=epc, path_in_resource=path)
            t0 = time.perf_counter()
            await rc.create_dataspace(ds)  # 1
            await rc.list_dataspaces()  # 2
            await client.send_and_recv(pyetp_put_objects(docs, titles))  # 3
            await rc.upload_array(epc, path, model.z_values)  # 4
            await rc.list_objects_under_dataspace(ds)  # 5
            await client.send_and_recv(GetDataObjects(uris={u: u for u in uris}))  # 6
            await client.send_and_recv(GetDataArrayMetadata(data_arrays={path: dai}))  # 7
            z: np.ndarray = await rc.download_array(epc, path)  # 8
            (got,) = await client.send_and_recv(GetDataObjects(uris={grid: grid}))  # 9
            xml = got.data_objects[grid].data
            await client.send_and_recv(pyetp_put_objects({grid: xml}, titles))  # 10
            await rc.list_objects_under_dataspace(ds)  # 11
            await client.send_and_recv(GetDataArrayMetadata(data_arrays={path: dai}))  # 12
            await rc.upload_array(epc, path, z + 1.0)  # 13
            await rc.download_array(epc, path)  # 14
            await rc.list_dataspaces()  # 15
            await client.send_and_recv(GetDataObjects(uris={u: u for u in uris}))  # 16
            await rc.delete_model(uris, handle_transaction=False)  # 17
            await rc.list_objects_under_dataspace(ds)  # 18
            await rc.delete_dataspace(ds)  # 19
            await rc.list_dataspaces()  # 20
            return (time.perf_counter() - t0) * 1000

        return await repeat_median_async(job, once)

    return {"ms": pyetp_run(job, flow)}


def pyetp_put_objects(docs: dict[str, bytes], titles: dict[str, str]) -> Any:
    """One PutDataObjects message of pyetp's records (what its upload_model builds)."""
    from energistics.etp.v12.datatypes.object import DataObject
    from energistics.etp.v12.datatypes.object import Resource as _Resource
    from energistics.etp.v12.protocol.store import PutDataObjects as _PutDataObjects

    # pydantic models built with snake_case field names (accepted at runtime, populate_by_name);
    # their stubs know only the camelCase aliases, hence Any for mypy.
    PutDataObjects: Any = _PutDataObjects
    Resource: Any = _Resource

    now = int(time.time() * 1e6)
    return PutDataObjects(
        data_objects={
            uri: DataObject(
                format="xml",
                data=xml,
                resource=Resource(
                    uri=uri,
                    name=titles.get(uri, "object"),
                    last_changed=now,
                    store_created=now,
                    store_last_write=now,
                    active_status="Inactive",
                ),
            )
            for uri, xml in docs.items()
        }
    )


def pyetp_put_get(job: Job) -> dict[str, float]:
    from rddms_io.client import RDDMSClient

    async def flow(client: Any) -> dict[str, float]:
        if job.side == "pyetp-tuned":  # blocks small enough for 10-byte varints
            usable = int((client.max_size - client.max_array_size_margin) * 0.8)
            client.max_array_size_margin = client.max_size - usable
        rc = RDDMSClient(client)
        await rc.create_dataspace(job.dataspace)
        loop = asyncio.get_running_loop()
        path = "/bench/values"
        try:
            # put_get_metrics is synchronous: run each coroutine to completion from a thread.
            def put(a: np.ndarray) -> None:
                asyncio.run_coroutine_threadsafe(rc.upload_array(job.epc, path, a), loop).result()

            def get() -> np.ndarray:
                coro = rc.download_array(job.epc, path)
                result: np.ndarray = asyncio.run_coroutine_threadsafe(coro, loop).result()
                return result

            return await asyncio.to_thread(put_get_metrics, job, put, get)
        finally:
            await rc.delete_dataspace(job.dataspace)

    result: dict[str, float] = pyetp_run(job, flow, compression=job.side != "pyetp-nogzip")
    return result


def pyetp_threads(job: Job) -> dict[str, float]:
    from energistics.etp.v12.protocol.dataspace import GetDataspaces

    calls = job.sizes.thread_calls

    async def flow(client: Any) -> float:
        async def worker() -> None:
            for _ in range(calls):
                await client.send_and_recv(GetDataspaces())

        await asyncio.gather(*(client.send_and_recv(GetDataspaces()) for _ in range(THREADS)))
        with job.meter:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(THREADS)))
            return time.perf_counter() - t0

    return {"rps": THREADS * calls / pyetp_run(job, flow)}


def pyetp_objects(job: Job) -> dict[str, float]:
    from energistics.etp.v12.protocol.store import GetDataObjects
    from rddms_io.client import RDDMSClient

    async def flow(client: Any) -> float:
        rc = RDDMSClient(client)
        await rc.create_dataspace(job.dataspace)

        async def once(i: int) -> float:
            objs = small_objects(job, i)
            docs = {uri: xml for uri, _, xml in objs}
            titles = {uri: title for uri, title, _ in objs}
            t0 = time.perf_counter()
            await client.send_and_recv(pyetp_put_objects(docs, titles))
            (got,) = await client.send_and_recv(GetDataObjects(uris={u: u for u in docs}))
            elapsed = time.perf_counter() - t0
            if [got.data_objects[u].data for u in docs] != list(docs.values()):
                raise RuntimeError("objects read back differ")
            return elapsed

        try:
            return await repeat_median_async(job, once)
        finally:
            await rc.delete_dataspace(job.dataspace)

    return {"seconds": pyetp_run(job, flow)}


# -- the loopback reference (bench/arrays.py's) ---------------------------------------------------


def reference_put_get(job: Job) -> dict[str, float]:
    """The same bytes in messages of etp_sync's block sizes, up then down, no ETP."""
    from etp_sync.transport._websocket import WebSocketTransport

    array = array_of(job)
    sizes = block_sizes(array.shape, job.mms)
    transport = WebSocketTransport.connect(job.ref_url, max_message_size=max(sizes) + MIB)
    try:
        ref = ReferenceClient(transport, sizes, array)
        with job.meter:
            t0 = time.perf_counter()
            ref.upload()
            t1 = time.perf_counter()
            got = ref.download()
            t2 = time.perf_counter()
        job.meter.note_peak()
        ref.check(got)
    finally:
        transport.close()
    seconds = t2 - t0
    return {
        "seconds": seconds,
        "put_seconds": t1 - t0,
        "get_seconds": t2 - t1,
        "mibs": 2 * array.nbytes / MIB / seconds,
    }


WORKERS: dict[str, dict[str, Callable[[Job], dict[str, float]]]] = {
    "etp_sync": {
        "tiny": etp_tiny,
        "connect": etp_connect_ms,
        "workflow": etp_workflow,
        "threads": etp_threads,
        "objects": etp_objects,
    },
    "pyetp": {
        "tiny": pyetp_tiny,
        "connect": pyetp_connect_ms,
        "workflow": pyetp_workflow,
        "threads": pyetp_threads,
        "objects": pyetp_objects,
    },
}


def worker_for(row: str, side: str) -> Callable[[Job], dict[str, float]]:
    if side == "reference":
        return reference_put_get
    lib = "etp_sync" if side == "etp_sync" else "pyetp"
    if row.startswith(("f64", "i64")):
        return etp_put_get if lib == "etp_sync" else pyetp_put_get
    return WORKERS[lib][row]


def run_worker(job: Job) -> dict[str, Any]:
    """Measure; never raise: a failure is a result too."""
    report: dict[str, Any] = {"metrics": {}, "error": None}
    try:
        report["metrics"] = worker_for(job.row, job.side)(job)
    except Exception as exc:  # a library failing a workload is recorded, not hidden
        report["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    job.meter.note_peak()
    report["cpu"] = job.meter.cpu
    report["rss"] = job.meter.peak
    return report


# ---------------------------------------------------------------------------------------------
# parent side: servers, interleaving, statistics, report


@dataclass
class Cell:
    """Every run of one side of one row."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        return [r["metrics"][key] for r in self.runs if key in r.get("metrics", {})]

    def errors(self) -> list[str]:
        return [r["error"] for r in self.runs if r.get("error")]

    def median(self, key: str) -> float | None:
        v = self.values(key)
        return statistics.median(v) if v else None


def spawn_worker(job: Job, quick: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--worker",
        job.row,
        job.side,
        "--url",
        job.url,
        "--ref-url",
        job.ref_url,
        "--max-message-size",
        str(job.mms),
    ]
    if quick:
        cmd.append("--quick")
    try:
        out = subprocess.run(
            cmd, capture_output=True, env=child_env(), cwd=REPO, timeout=2 * TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"metrics": {}, "error": f"worker still running after {2 * TIMEOUT:g} s (killed)"}
    lines = out.stdout.decode().strip().splitlines()
    if out.returncode != 0 or not lines:
        tail = out.stderr.decode(errors="replace").strip().splitlines()[-3:]
        return {"metrics": {}, "error": f"worker exited {out.returncode}: {' | '.join(tail)}"}
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("x",):
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def spread(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    p99 = float(np.percentile(values, 99))
    return " / ".join(fmt(v, unit) for v in (min(values), statistics.median(values), p99))


def side_text(cell: Cell, metric: Metric, runs: int) -> str:
    text = spread(cell.values(metric.key), metric.unit)
    if errs := cell.errors():
        text += f" (failed {len(errs)}/{runs}: {errs[0][:120]})"
    return text


def resources_text(cell: Cell) -> str:
    cpu = [r["cpu"] for r in cell.runs if "cpu" in r]
    rss = [r["rss"] for r in cell.runs if r.get("rss")]
    cpu_text = f"{statistics.median(cpu):.3f}" if cpu else "-"
    rss_text = f"{statistics.median(rss) / MIB:,.0f}" if rss else "-"
    return f"{cpu_text} s, {rss_text} MiB"


def table(rows: list[Row], cells: dict[tuple[str, str], Cell], runs: int, sizes: Sizes) -> str:
    head = (
        "| workload | unit | etp_sync min / median / p99 | compared with | its min / median / p99 "
        "| etp_sync ÷ it (medians) | client CPU s, peak RSS MiB (median): etp_sync | : it |\n"
        "|---|---|--:|---|--:|--:|--:|--:|\n"
    )
    lines = []
    for row in rows:
        mine = cells[(row.name, "etp_sync")]
        for metric in row.metrics:
            for side in row.sides[1:]:
                other = cells[(row.name, side)]
                if metric.key == "vs_reference" or (
                    side == "reference" and metric.key in ("get_peak_x", "put_growth_mib")
                ):
                    continue
                if metric.key in ("get_peak_x", "put_growth_mib") and side != "pyetp":
                    continue
                a, b = mine.median(metric.key), other.median(metric.key)
                ratio = f"{a / b:.3f}" if a is not None and b else "-"
                label = f"{sizes.title(row.name)} {metric.label}".strip()
                lines.append(
                    f"| {label} | {metric.unit} | {side_text(mine, metric, runs)} "
                    f"| {SIDE_LABELS[side]} | {side_text(other, metric, runs)} | {ratio} "
                    f"| {resources_text(mine)} | {resources_text(other)} |"
                )
            if metric.key == "vs_reference":
                lines.append(
                    f"| {sizes.title(row.name)} {metric.label} | {metric.unit} "
                    f"| {side_text(mine, metric, runs)} | per run: "
                    + ", ".join(f"{v:.0%}" for v in mine.values(metric.key))
                    + " | | | | |"
                )
    return head + "\n".join(lines) + "\n"


@dataclass
class Target:
    """One of issue 14's targets, judged on this run's numbers."""

    text: str
    value: float | None
    ok: bool

    def line(self) -> str:
        shown = "not measured" if self.value is None else f"{self.value:,.3g}"
        verdict = "not measured" if self.value is None else ("MET" if self.ok else "NOT MET")
        return f"- {self.text}: **{shown}** -> {verdict}"


def targets(cells: dict[tuple[str, str], Cell], sizes: Sizes) -> list[Target]:
    def med(row: str, side: str, key: str) -> float | None:
        cell = cells.get((row, side))
        return None if cell is None else cell.median(key)

    def ratio(row: str, key: str, side: str = "pyetp") -> float | None:
        a, b = med(row, "etp_sync", key), med(row, side, key)
        return None if a is None or not b else a / b

    def most(value: float | None, limit: float) -> bool:
        return value is not None and value <= limit

    def least(value: float | None, limit: float) -> bool:
        return value is not None and value >= limit

    out = []
    for key, limit in (("median_us", 0.5), ("p99_us", 0.8)):
        r = ratio("tiny", key)
        out.append(
            Target(f"tiny request {key[:-3]} ÷ pyetp's, target <= {limit}", r, most(r, limit))
        )
    r = ratio("connect", "ms")
    out.append(Target("connect + negotiate ÷ pyetp's, target <= 1.0", r, most(r, 1.0)))
    r = ratio("objects", "seconds")
    out.append(
        Target(
            f"{sizes.title('objects')} put+get ÷ pyetp raw messages, target <= 0.5", r, most(r, 0.5)
        )
    )
    for row, limit in (("i64_full", 400), ("i64_small", 800)):
        v = med(row, "etp_sync", "mibs")
        out.append(
            Target(f"{sizes.title(row)} put+get MiB/s, target >= {limit}", v, least(v, limit))
        )
    v = med("f64_256", "etp_sync", "mibs")
    out.append(Target(f"{sizes.title('f64_256')} put+get MiB/s, target >= 1500", v, least(v, 1500)))
    shares = (
        cells["f64_256", "etp_sync"].values("vs_reference")
        if ("f64_256", "etp_sync") in (cells)
        else []
    )
    worst = min(shares) if shares else None
    out.append(
        Target(
            f"{sizes.title('f64_256')} put+get / loopback reference, lowest of {len(shares)} runs "
            f"(target >= 0.75 in every one of at least 5)",
            worst,
            least(worst, 0.75) and len(shares) >= 5,
        )
    )
    r = ratio("threads", "rps")
    out.append(Target("16 threads req/s ÷ pyetp asyncio.gather, target >= 2", r, least(r, 2.0)))
    v = med("f64_256", "etp_sync", "get_peak_x")
    out.append(Target("get peak RSS growth / array size, target <= 1.1", v, most(v, 1.1)))
    v = med("f64_256", "etp_sync", "put_growth_mib")
    out.append(Target("put peak RSS growth MiB, target <= 32", v, most(v, 32)))
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of every row (5)")
    parser.add_argument(
        "--rows",
        default=",".join(r.name for r in ROWS),
        help="comma-separated subset of: " + ", ".join(r.name for r in ROWS),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a dev loop")
    parser.add_argument(
        "--sides",
        default="",
        help="comma-separated subset of: etp_sync, " + ", ".join(SIDE_LABELS) + " (all)",
    )
    parser.add_argument(
        "--max-message-size", type=int, default=16 * MIB, help="server and clients (16 MiB)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--worker", nargs=2, metavar=("ROW", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ref-url", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.worker:
        row, side = args.worker
        job = Job(row, side, args.url, args.ref_url, args.max_message_size, sizes)
        print(json.dumps(run_worker(job)))
        return 0

    by_name = {r.name: r for r in ROWS}
    wanted = [n.strip() for n in args.rows.split(",") if n.strip()]
    if unknown := [n for n in wanted if n not in by_name]:
        raise SystemExit(f"unknown rows {unknown}; choose from {list(by_name)}")
    rows = [by_name[n] for n in wanted]
    if args.sides:
        keep = {"etp_sync", *(n.strip() for n in args.sides.split(","))}
        rows = [Row(r.name, tuple(s for s in r.sides if s in keep), r.metrics) for r in rows]
    cells = {(r.name, s): Cell() for r in rows for s in r.sides}
    load_before = os.getloadavg()
    run_loads: list[float] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        server = start_etp_server(args.max_message_size, stack, STORE_UNLIMITED)
        ref_url = ""
        if any("reference" in r.sides for r in rows):
            ref_url = start_child([str(ARRAYS_SCRIPT), "--role", "reference-server"], stack).url
        for run in range(args.runs):
            run_loads.append(os.getloadavg()[0])
            for row in rows:
                libs = list(row.sides)
                if run % 2:  # alternate which library goes first
                    libs = libs[1:] + libs[:1]
                for side in libs:
                    job = Job(row.name, side, server.url, ref_url, args.max_message_size, sizes)
                    report = spawn_worker(job, args.quick)
                    cells[row.name, side].runs.append(report)
                    shown = ", ".join(f"{k} {v:,.4g}" for k, v in report["metrics"].items())
                    print(
                        f"run {run + 1}/{args.runs} {row.name} {side}: {shown or report['error']}",
                        flush=True,
                    )
                if "reference" in row.sides:
                    ref = cells[row.name, "reference"].runs[-1]["metrics"].get("mibs")
                    for side in row.sides:
                        if side != "reference":
                            m = cells[row.name, side].runs[-1]["metrics"]
                            if ref and "mibs" in m:
                                m["vs_reference"] = m["mibs"] / ref
    load_after = os.getloadavg()
    loads = (load_before, load_after, run_loads)
    publish(
        "compare", report_section(args, argv, rows, cells, sizes, loads, started), not args.no_write
    )
    return 0


def report_section(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    rows: list[Row],
    cells: dict[tuple[str, str], Cell],
    sizes: Sizes,
    loads: tuple[tuple[float, ...], tuple[float, ...], list[float]],
    started: float,
) -> str:
    load_before, load_after, run_loads = loads

    def load(values: Sequence[float]) -> str:
        return " / ".join(f"{v:.2f}" for v in values)

    lines = [
        "## etp_sync against pyetp, side by side (bench/compare.py)",
        "",
        f"Command: `{command_line('bench/compare.py', argv)}` (from the repository root)",
        "",
        f"Machine: {machine_note(PACKAGES)}. Load average (1 / 5 / 15 min) before "
        f"{load(load_before)}, after {load(load_after)}; 1-min load at the start of each run "
        f"{load(run_loads)}; {os.cpu_count()} cores, shared with other work. "
        f"Wall time {time.perf_counter() - started:,.0f} s.",
        "",
        f"One `python -m etp_sync.server` for every client (127.0.0.1, max message "
        f"{args.max_message_size / MIB:g} MiB for the server and both clients, store limits "
        f"off); {args.runs} runs per row, each measurement in a fresh client process, the "
        "libraries alternating which goes first run by run. Sizes: float64 "
        f"{sizes.f64_64 // MIB} and {sizes.f64_256 // MIB} MiB, int64 {sizes.i64 // MIB} MiB, "
        f"{sizes.tiny_calls} tiny calls per process and call kind, {THREADS} x "
        f"{sizes.thread_calls} threaded calls, {sizes.objects} objects"
        + (" (--quick)" if args.quick else "")
        + ". min / median / p99 are over the runs (p99 of 5 runs is close to the max); "
        "CPU = user + system seconds of the client process in its timed regions, all threads "
        "(getrusage); peak RSS = the client's VmHWM. What each row does: see the docstring of "
        "bench/compare.py.",
        "",
        table(rows, cells, args.runs, sizes),
        "Targets (issue 14; medians unless said otherwise):",
        "",
        *(t.line() for t in targets(cells, sizes) if t.value is not None),
        "",
    ]
    missing = [t.text for t in targets(cells, sizes) if t.value is None]
    if missing:
        lines += ["Not measured in this run: " + "; ".join(missing) + ".", ""]
    lines += [*NOTES, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
