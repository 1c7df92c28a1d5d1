"""Dask read benchmark (issue 15): a 2 GiB float64 array read by 1, 2 and 4 worker processes.

The array (``--rows`` x 8192 float64, 2 GiB by default) is written once with
``etp_sync.dask.write_array`` by two worker processes to ``python -m etp_sync.server``
running in its own process (store limits off). Then, for each worker count, a fresh
``distributed.LocalCluster`` of single-threaded worker processes computes
``read_array(...).sum()`` (chunks "auto": one message's worth each), which reads every
chunk; the time and the largest worker peak RSS (VmHWM) are recorded. Beside it:
``session.get_data_array`` of the whole array in this one process (time and VmHWM growth).
Each sum is checked against the get_data_array result.

On a 2-core machine the point is correctness and a worker memory that stays constant (a few
chunks) whatever the array size, not a speed-up: client, scheduler, workers and server share the
two cores.

Run from the repository root::

    .venv/bin/python bench/dask_read.py [--rows 32768] [--workers 1 2 4] [--no-write]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence

import dask.array as da
import numpy as np
from _results import machine_note, reset_peak, status_bytes, write_section
from distributed import Client, LocalCluster

from etp_sync import DataObjectURI, ETPSession
from etp_sync.dask import read_array, write_array
from etp_sync.samples import surface_model

COLUMNS = 8192
PATH = "/bench/dask/values"


def worker_peak() -> int:
    """VmHWM of the calling (worker) process, in bytes."""
    return status_bytes("VmHWM") or 0


def worker_rss() -> int:
    """VmRSS of the calling (worker) process, in bytes."""
    return status_bytes("VmRSS") or 0


def read_with(workers: int, url: str, uri: str | DataObjectURI) -> tuple[float, float, int, int]:
    """(seconds, sum, largest worker RSS before, largest worker peak RSS) of a full read with
    ``workers`` processes (etp_sync imported in each beforehand)."""
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(importlib.import_module, "etp_sync.dask")
        before = max(client.run(worker_rss).values())
        stored = read_array(url, uri, PATH)
        start = time.perf_counter()
        total = float(stored.sum().compute())
        seconds = time.perf_counter() - start
        peak = max(client.run(worker_peak).values())
    return seconds, total, before, peak


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=32768, help="rows of 8192 float64 (32768)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    nbytes = args.rows * COLUMNS * 8
    mib = nbytes / (1 << 20)
    server = subprocess.Popen(
        [sys.executable, "-m", "etp_sync.server", "--port", "0", "--log-level", "WARNING",
         "--max-store-bytes", "0", "--max-array-bytes", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        with ETPSession(url) as session:
            session.put_dataspace("bench/dask")
            model = surface_model("bench/dask", shape=(4, 4))
            session.put_data_objects(model.objects)
            chunk = session.server.max_message_size
        i = da.arange(args.rows, chunks=256)[:, None]
        source = da.sin(i * 0.001 + da.arange(COLUMNS)[None, :] * 0.002)
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
            ) as cluster,
            Client(cluster),
        ):
            start = time.perf_counter()
            write_array(source, url, model.epc_uri, PATH)
            write_s = time.perf_counter() - start

        gc.collect()
        base = status_bytes("VmRSS") or 0
        reset_peak()
        with ETPSession(url) as session:
            start = time.perf_counter()
            whole = session.get_data_array(model.epc_uri, PATH)
            one_s = time.perf_counter() - start
        one_peak = (status_bytes("VmHWM") or 0) - base
        expected = float(whole.sum())
        del whole
        gc.collect()

        runs = [(n, *read_with(n, url, model.epc_uri)) for n in args.workers]
    finally:
        server.terminate()
        server.wait(timeout=60)
    load_after = os.getloadavg()[0]
    correct = all(np.isclose(run[2], expected, rtol=1e-9) for run in runs)
    lines = [
        f"## Dask: a {mib / 1024:g} GiB array read by "
        f"{', '.join(map(str, args.workers))} worker processes (bench/dask_read.py)",
        "",
        f"Command: `.venv/bin/python bench/dask_read.py --rows {args.rows} --workers "
        f"{' '.join(map(str, args.workers))}` (from the repository root)",
        "",
        f"Machine: {machine_note(['dask', 'distributed', 'etp_sync'])}. One run. The array: "
        f"{args.rows} x {COLUMNS} float64 = {mib:,.0f} MiB, written by `write_array` from 2 "
        f"workers in {write_s:.1f} s ({mib / write_s:,.0f} MiB/s); server: `python -m "
        "etp_sync.server` in its own process, store limits off, "
        f"{chunk >> 20} MiB messages. Dask rows: `read_array(...).sum().compute()` on a fresh "
        'LocalCluster of single-threaded worker processes, chunks "auto" (one message\'s worth '
        "of values each), etp_sync imported in the workers beforehand; worker RSS = the largest "
        "worker VmRSS before the read and VmHWM after it (whole process: Python, dask, "
        "distributed included). One-process row: `get_data_array` of the whole array; peak = "
        "VmHWM growth of this process. The machine is shared: 1-minute load average "
        f"{load_before:.1f} at the start, {load_after:.1f} at the end (on 2 cores, anything "
        "above 2 means the numbers include waiting for a core).",
        "",
        "| reader | seconds | MiB/s | RSS MB |",
        "|---|--:|--:|--:|",
        f"| get_data_array, one process | {one_s:.1f} | {mib / one_s:,.0f} | "
        f"+{one_peak / 1e6:,.0f} (peak growth) |",
        *(
            f"| read_array, {n} worker process{'es' if n > 1 else ''} | {s:.1f} | "
            f"{mib / s:,.0f} | {b / 1e6:,.0f} -> {p / 1e6:,.0f} (per worker) |"
            for n, s, _t, b, p in runs
        ),
        "",
        f"Every sum equals the sum of the get_data_array result (rtol 1e-9): {correct}.",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        print(f"written to {write_section('dask_read', section)}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
