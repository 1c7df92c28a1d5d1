"""EPC bench: a 1 GiB HDF5 dataset uploaded and downloaded through the ``etp-sync`` CLI, with
the client's peak RSS (target: under 300 MB each way; not a timed test).

The model is a RESQML 2.0.1 depth surface (CRS, HDF proxy, Grid2dRepresentation) whose z values
(``--rows`` x 8192 float64; 16384 rows = 1 GiB) are written to ``model.h5`` block by block, so
this script never holds them either. ``python -m etp_sync.server`` runs in its own process (it
keeps the array in memory). Each CLI run is a child process whose peak RSS is the ``ru_maxrss``
that ``os.wait4`` reports for it. The downloaded file is compared with the source block by block.

Run from the repository root (writes the "epc" section of bench/RESULTS.md unless
``--no-write``)::

    .venv/bin/python bench/epc.py [--rows 16384] [--max-message-size 16777216] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from _results import machine_note, write_section

from etp_sync.epc import EpcWriter
from etp_sync.samples import epc_external_part_reference, grid2d_representation, local_depth_crs

COLUMNS = 8192
BLOCK_ROWS = 512  # rows written / compared at a time: 32 MiB
TARGET_MB = 300
CLI = [sys.executable, "-m", "etp_sync"]


def write_model(folder: Path, rows: int) -> str:
    """model.epc + model.h5 with a rows x COLUMNS float64 z array; returns its path in the file."""
    crs, proxy, grid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    path = f"/RESQML/{grid}/zvalues"
    with EpcWriter(folder / "model.epc") as epc:
        epc.add(local_depth_crs(crs))
        epc.add(epc_external_part_reference(proxy))
        epc.add(
            grid2d_representation(grid, crs=crs, epc=proxy, shape=(rows, COLUMNS), array_path=path)
        )
        epc.set_external_file(str(proxy), "model.h5")
    with h5py.File(folder / "model.h5", "w") as f:
        z = f.create_dataset(path, shape=(rows, COLUMNS), dtype="f8")
        for start in range(0, rows, BLOCK_ROWS):
            block = block_values(start, min(BLOCK_ROWS, rows - start))
            z[start : start + len(block)] = block
    return path


def block_values(start: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(start)
    return 2000.0 + rng.normal(0.0, 50.0, (count, COLUMNS))


def run_cli(args: list[str]) -> tuple[float, int, str]:
    """Run ``etp-sync args``; (seconds, peak RSS bytes, stdout). Fails on a non-zero exit."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen([*CLI, *args], stdout=out, stderr=err)
        _pid, status, usage = os.wait4(child.pid, 0)  # reaps it: its own rusage
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"etp-sync {' '.join(args)} failed: {err.read().decode()}")
        return seconds, usage.ru_maxrss * 1024, out.read().decode()


def same_file(a: Path, b: Path, path: str, rows: int) -> bool:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        za, zb = fa[path], fb[path]
        if za.shape != zb.shape or za.dtype != zb.dtype:
            return False
        return all(
            np.array_equal(za[s : s + BLOCK_ROWS], zb[s : s + BLOCK_ROWS])
            for s in range(0, rows, BLOCK_ROWS)
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16384, help="rows of 8192 float64 (16384)")
    parser.add_argument("--max-message-size", type=int, default=16 << 20)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    nbytes = args.rows * COLUMNS * 8
    with tempfile.TemporaryDirectory(prefix="etp_sync_bench_epc_") as tmp:
        folder = Path(tmp)
        path = write_model(folder, args.rows)
        server = subprocess.Popen(
            [sys.executable, "-m", "etp_sync.server", "--port", "0", "--log-level", "WARNING",
             "--max-message-size", str(args.max_message_size), "--max-store-bytes", "0",
             "--max-array-bytes", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split()[-1]
            up_s, up_peak, up_out = run_cli(
                ["upload", url, str(folder / "model.epc"), "bench/epc", "--create-dataspace",
                 "--json", "--no-progress"]
            )  # fmt: skip
            down_s, down_peak, down_out = run_cli(
                ["download", url, "--dataspace", "bench/epc", "-o", str(folder / "copy.epc"),
                 "--json", "--no-progress"]
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=60)
        equal = same_file(folder / "model.h5", folder / "copy.h5", path, args.rows)
    assert json.loads(up_out)["array_bytes"] == nbytes
    assert json.loads(down_out)["array_bytes"] == nbytes
    mib = nbytes / (1 << 20)
    rows = [
        ("upload", up_s, up_peak),
        ("download", down_s, down_peak),
    ]
    lines = [
        "## EPC through the CLI: 1 GiB HDF5 dataset up and down (bench/epc.py)",
        "",
        f"Command: `.venv/bin/python bench/epc.py --rows {args.rows} --max-message-size "
        f"{args.max_message_size}` (from the repository root)",
        "",
        f"Machine: {machine_note(['h5py', 'etp_sync'])}. One run. The array: {args.rows} x "
        f"{COLUMNS} float64 = {mib:,.0f} MiB in model.h5; server: `python -m etp_sync.server` in "
        "its own process, store limits off (`--max-store-bytes 0 --max-array-bytes 0`); "
        "client: `python -m etp_sync upload|download` (default 32 MiB blocks); "
        "peak = the client process's ru_maxrss (os.wait4).",
        "",
        "| direction | seconds | MiB/s | client peak RSS MB |",
        "|---|--:|--:|--:|",
        *(f"| {d} | {s:.1f} | {mib / s:,.0f} | {p / 1e6:,.0f} |" for d, s, p in rows),
        "",
        f"Downloaded dataset equal to the source (shape, dtype, values): {equal}.",
        "",
        "Targets:",
        "",
        *(
            f"- {d}: client peak RSS under {TARGET_MB} MB: **{p / 1e6:,.0f} MB** -> "
            f"{'MET' if p < TARGET_MB * 1e6 else 'NOT MET'}"
            for d, _s, p in rows
        ),
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        print(f"written to {write_section('epc', section)}")
    return 0 if equal and all(p < TARGET_MB * 1e6 for _d, _s, p in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
