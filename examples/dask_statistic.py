"""Statistics of a stored array bigger than this process may hold, computed by Dask workers.

A Dask array is written to the server by two worker processes (``write_array``), then this
process limits its own address space to less than the array's size (``RLIMIT_AS``) and still gets
its mean, standard deviation, minimum and maximum: ``read_array`` gives a lazy array whose
chunks the workers read from the server, and only the four numbers come back here. The
statistics are checked against the same numbers computed from the source expression.
Needs ``pip install 'etp_sync[dask]'``. Linux (``resource``).

Run: ``python examples/dask_statistic.py [URL] [--size-mb 256] [--client-headroom-mb 128]``
(without a URL, ``python -m etp_sync.server`` is started in its own process for the run).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import subprocess
import sys
from collections.abc import Iterator

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from etp_sync import ETPSession
from etp_sync.dask import read_array, write_array
from etp_sync.samples import surface_model

COLS = 8192


@contextlib.contextmanager
def server_process(url: str | None) -> Iterator[str]:
    """``url``, or the URL of ``python -m etp_sync.server`` started for the run (and stopped)."""
    if url:
        yield url
        return
    argv = [sys.executable, "-m", "etp_sync.server", "--port", "0", "--log-level", "WARNING"]
    argv += ["--max-store-bytes", "0", "--max-array-bytes", "0"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            yield proc.stdout.readline().split()[-1]  # "ETP 1.2 store listening on ws://..."
        finally:
            proc.terminate()


def limit_address_space(headroom: int) -> int:
    """Let this process map at most ``headroom`` bytes more than it maps now; returns the limit."""
    with open("/proc/self/status") as f:
        mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (mapped + headroom, resource.RLIM_INFINITY))
    return mapped + headroom


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="ws:// URL of an ETP server (default: start one)")
    parser.add_argument("--size-mb", type=int, default=256, help="array size in MiB (256)")
    parser.add_argument(
        "--client-headroom-mb", type=int, default=128, help="what this process may add (128)"
    )
    args = parser.parse_args()
    rows = args.size_mb * (1 << 20) // (8 * COLS)
    with (
        server_process(args.url) as url,
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        Client(cluster),
    ):
        with ETPSession(url) as session:
            session.put_dataspace("examples/dask")
            model = surface_model("examples/dask", shape=(4, 4))
            session.put_data_objects(model.objects)

        # The source: values computed from their indices, chunk by chunk, on the workers.
        i = da.arange(rows, chunks=256)[:, None]
        j = da.arange(COLS)[None, :]
        source = da.sin(i * 0.001) * da.cos(j * 0.002) * 50.0 + (i + j) % 7
        written = write_array(source, url, model.epc_uri, "/examples/dask/values")
        print(f"workers wrote {written / 2**20:.0f} MiB")

        limit = limit_address_space(args.client_headroom_mb << 20)
        print(f"this process may now map {limit / 2**20:.0f} MiB in all")
        try:
            np.ones(rows * COLS)  # the whole array, here: refused
            print("the whole array fits here after all: make --size-mb bigger")
            return 1
        except MemoryError:
            print(f"holding the {args.size_mb} MiB array here: MemoryError")

        stored = read_array(url, model.epc_uri, "/examples/dask/values")
        stats = dask.compute(stored.mean(), stored.std(), stored.min(), stored.max())
        expected = dask.compute(source.mean(), source.std(), source.min(), source.max())
        mean, std, low, high = (float(v) for v in stats)
        print(f"{stored.shape} {stored.dtype} in {stored.npartitions} chunks")
        print(f"mean {mean:.6f}  std {std:.6f}  min {low:.6f}  max {high:.6f}")
        same = bool(np.allclose(stats, expected, rtol=1e-9, atol=0))
        print(f"statistics equal the source's: {same}")
        with ETPSession(url) as session:
            session.delete_dataspace("examples/dask")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
