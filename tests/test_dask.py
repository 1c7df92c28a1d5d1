"""etp_sync.dask on a real cluster (issue 15): a ``distributed.LocalCluster`` of two worker
processes against ``python -m etp_sync.server`` in its own process.

What the workers asked for is counted where it arrives: the server runs with DEBUG logging, which
writes one ``-> MessageName`` line per request received before answering it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import dask.array as da
import distributed
import numpy as np
import pytest
from _hostile import ServerProcess, start_server, wait_until
from _stack_dumps import FAULTHANDLER_ENV, DumpStacksOnSignal, Watchdog, dump_everything

from etp_sync import ETPError, ETPRemoteError, ETPSession
from etp_sync.dask import (
    HiddenToken,
    SessionSpec,
    aligned_chunks,
    cached_sessions,
    read_array,
    write_array,
)
from etp_sync.samples import surface_model

TOKEN = "dask-test-secret-7f3a"
COLS = 8192
# The round trip of issue 15: a 1 GiB float64 array (about 25 s on 2 cores; lower it with
# ETP_DASK_TEST_MB when iterating).
ROUND_TRIP_MB = int(os.environ.get("ETP_DASK_TEST_MB", "1024"))
SMALL_ROWS = 1024  # 64 MiB arrays for the other tests
DATASPACE = "dask/tests"
DUMP_BEFORE_TIMEOUT = 30.0  # seconds before pytest-timeout fires that every process dumps


class Processes:
    """Where the worker processes write their stacks, and the servers alive: what the
    watchdog (see ``dump_stacks_before_timeout``) dumps when a test hangs."""

    def __init__(self) -> None:
        self.dumps: Path | None = None
        self.servers: dict[int, ServerProcess] = {}
        self.scheduler: Any = None  # the newest LocalCluster's (it runs in this process)


PROCESSES = Processes()


def pattern(xp: Any, i: Any, j: Any) -> Any:
    """Values from indices alone, so numpy and Dask (any chunking) build the same array."""
    return xp.sin(i * 0.37 + j * 0.011) * 100.0 + (i * COLS + j) % 97


def dask_pattern(rows: int, row_chunk: int) -> Any:
    return pattern(da, da.arange(rows, chunks=row_chunk)[:, None], da.arange(COLS)[None, :])


def numpy_pattern(rows: int) -> np.ndarray:
    out = np.empty((rows, COLS))
    for a in range(0, rows, 1024):
        i = np.arange(a, min(a + 1024, rows))[:, None]
        out[a : a + 1024] = pattern(np, i, np.arange(COLS)[None, :])
    return out


class Server:
    """The server process, its log read from an offset, and a model to hang arrays on."""

    def __init__(self, proc: ServerProcess) -> None:
        self.proc = proc
        self.url = proc.url
        with ETPSession(self.url, authorization=TOKEN) as session:
            session.put_dataspace(DATASPACE)
            self.model = surface_model(DATASPACE, shape=(4, 4))
            session.put_data_objects(self.model.objects)
        self.uri = self.model.epc_uri

    def mark(self) -> int:
        return len(self.proc.log_text())

    def since(self, mark: int) -> str:
        return self.proc.log_text()[mark:]

    def requests(self, name: str, mark: int) -> int:
        """``name`` requests received since ``mark``."""
        return len(re.findall(rf"-> {name} id=", self.since(mark)))


def start(tmp: Path, *flags: str) -> Server:
    """A server process (its fatal signals dump its threads: see dump_stacks_before_timeout)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAULTHANDLER_ENV.items():
            env.setenv(name, value)
        proc = start_server(
            tmp,
            "--max-store-bytes",
            "0",
            "--max-array-bytes",
            "0",
            *flags,
            token=TOKEN,
            log_level="DEBUG",
        )
    PROCESSES.servers[proc.pid] = proc
    try:
        return Server(proc)
    except BaseException:
        stop(proc)
        raise


def stop(proc: ServerProcess) -> None:
    PROCESSES.servers.pop(proc.pid, None)
    proc.stop()


@contextlib.contextmanager
def cluster() -> Iterator[Any]:
    """A LocalCluster of two single-threaded worker processes, and its client."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as local,
        distributed.Client(local) as client,
    ):
        if PROCESSES.dumps is not None:
            client.register_plugin(DumpStacksOnSignal(str(PROCESSES.dumps)))
        PROCESSES.scheduler = local.scheduler
        yield client


@pytest.fixture(scope="module", autouse=True)
def stack_dumps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The directory the workers' stack dumps go to (see DumpStacksOnSignal)."""
    PROCESSES.dumps = tmp_path_factory.mktemp("dask-stacks")
    yield
    PROCESSES.dumps = None


@pytest.fixture(autouse=True)
def dump_stacks_before_timeout(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that hangs shows where every process stopped: shortly before pytest-timeout ends
    it (and dumps this process's threads), the workers' and the servers' threads are written to
    stderr (one CI hang waited on dask with no sign of where the workers were)."""
    timeout = float(request.config.getoption("timeout", None) or 0)
    if timeout <= 2 * DUMP_BEFORE_TIMEOUT or PROCESSES.dumps is None:
        yield
        return
    dumps = PROCESSES.dumps
    with Watchdog(
        timeout - DUMP_BEFORE_TIMEOUT,
        lambda: dump_everything(dumps, PROCESSES.servers.values(), sys.stderr, PROCESSES.scheduler),
    ):
        yield


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start(tmp_path_factory.mktemp("dask-server"))
    yield srv
    stop(srv.proc)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with cluster() as c:
        yield c


def etp_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("etp_sync-")}


# -- chunk planning and session specs (no cluster) --------------------------------------------


def test_aligned_chunks_only_subdivide_and_fit_the_budget() -> None:
    grid = aligned_chunks(((700, 300), (50, 50)), 8, 64 * 100 * 8)
    assert grid[1] == (50, 50)  # later axes kept
    assert sum(grid[0]) == 1000 and max(grid[0]) * 50 * 8 <= 64 * 100 * 8
    assert 700 in itertools.accumulate(grid[0])  # no chunk straddles the old boundary
    # One row of the later axes too big: the first axis goes to single rows, the second is cut.
    grid = aligned_chunks(((3,), (1000,)), 8, 4000)
    assert grid == ((1, 1, 1), (500, 500))
    assert aligned_chunks(((0,), (5,)), 8, 4000) == ((0,), (5,))


def test_session_spec_hides_the_token_and_keys_on_the_options() -> None:
    spec = SessionSpec.of("ws://user:pw@127.0.0.1:1/", {"authorization": TOKEN})
    assert TOKEN not in repr(spec) and "pw" not in repr(spec)
    token = dict(spec.options)["authorization"]
    assert isinstance(token, HiddenToken) and token() == TOKEN and TOKEN not in repr(token)
    assert pickle.loads(pickle.dumps(token))() == TOKEN
    same = SessionSpec.of("ws://user:pw@127.0.0.1:1/", {"authorization": TOKEN})
    other = SessionSpec.of("ws://user:pw@127.0.0.1:1/", {"authorization": TOKEN + "x"})
    partition = SessionSpec.of(
        "ws://user:pw@127.0.0.1:1/", {"authorization": TOKEN, "data_partition_id": "p"}
    )
    assert same.key == spec.key and len({spec.key, other.key, partition.key}) == 3
    with pytest.raises(ETPError, match="must pickle"):
        SessionSpec.of("ws://127.0.0.1:1/", {"retry": threading.Lock()})


# -- on the cluster ----------------------------------------------------------------------------


def test_round_trip_mean_and_slice_equal_numpy(server: Server, client: Any) -> None:
    rows = ROUND_TRIP_MB * (1 << 20) // (8 * COLS)
    source = dask_pattern(rows, row_chunk=128)  # chunks of 8 MiB
    mark = server.mark()
    written = write_array(source, server.url, server.uri, "/dask/big", authorization=TOKEN)
    assert written == rows * COLS * 8
    # The source's chunks fit a message each: one PutDataSubarrays per chunk.
    assert server.requests("PutDataSubarrays", mark) == len(source.chunks[0])

    mark = server.mark()
    stored = read_array(server.url, server.uri, "/dask/big", authorization=TOKEN)
    assert stored.shape == (rows, COLS) and stored.dtype == np.float64
    assert server.requests("GetDataArrayMetadata", mark) == 1  # at graph build, only there
    assert server.requests("GetDataSubarrays", mark) == 0
    with ETPSession(server.url, authorization=TOKEN) as session:
        budget = session.array_block_budget(server.uri, "/dask/big", 2)
    # chunks="auto": the fewest row chunks of at most one message each.
    assert all(n * COLS * 8 <= budget for n in stored.chunks[0])
    assert len(stored.chunks[0]) == -(-rows // (budget // (COLS * 8)))
    mark = server.mark()
    mean = float(stored.mean().compute())
    # Each chunk computed is exactly one GetDataSubarrays, and no chunk asks for metadata.
    assert server.requests("GetDataSubarrays", mark) == stored.npartitions
    assert server.requests("GetDataArrayMetadata", mark) == 0
    window = (slice(rows // 3, rows // 3 + 500), slice(1000, 1100))
    part = stored[window].compute()
    assert bool((stored == source).all().compute())  # every value, compared on the workers

    expected = numpy_pattern(rows)
    assert mean == pytest.approx(float(expected.mean()), rel=1e-12)
    assert np.array_equal(part, expected[window])


def test_nothing_fetched_before_compute_and_slices_read_their_chunks(
    server: Server, client: Any
) -> None:
    write_array(
        dask_pattern(SMALL_ROWS, 128), server.url, server.uri, "/dask/lazy", authorization=TOKEN
    )
    mark = server.mark()
    stored = read_array(
        server.url, server.uri, "/dask/lazy", chunks=(64, COLS), authorization=TOKEN
    )
    window = stored[100:200, 5:50]  # rows 64..255: chunks 1, 2 and 3 of 16
    total = window.sum()
    assert server.requests("GetDataArrayMetadata", mark) == 1  # read_array's own
    assert server.requests("GetDataSubarrays", mark) == 0

    mark = server.mark()
    assert float(total.compute()) == pytest.approx(
        float(numpy_pattern(SMALL_ROWS)[100:200, 5:50].sum()), rel=1e-12
    )
    # Each chunk read is one GetDataSubarrays, with the metadata read_array already had.
    assert server.requests("GetDataSubarrays", mark) == 3
    assert server.requests("GetDataArrayMetadata", mark) == 0


def test_tasks_pickle_small_and_never_show_the_token(server: Server, client: Any) -> None:
    mark = server.mark()
    pending = write_array(
        da.ones((8, 8), chunks=4), server.url, server.uri, "/dask/p", compute=False,
        authorization=TOKEN,
    )  # fmt: skip
    assert server.requests("PutUninitializedDataArrays", mark) == 1
    assert server.requests("PutDataSubarrays", mark) == 0
    puts = {k: t for k, t in dict(pending.__dask_graph__()).items() if "etp-write" in str(k)}
    assert len(puts) == 4 and all(len(cloudpickle.dumps(t)) < 4096 for t in puts.values())
    assert int(pending.compute()) == 8 * 8 * 8
    assert server.requests("PutDataSubarrays", mark) == 4
    stored = read_array(server.url, server.uri, "/dask/p", chunks=4, authorization=TOKEN)
    tasks = dict(stored.__dask_graph__())
    assert len(tasks) == 4
    for key, task in tasks.items():
        size = len(cloudpickle.dumps(task))
        assert size < 4096, (key, size)
        assert TOKEN not in repr(task) and TOKEN not in str(key)
    assert TOKEN not in repr(stored)
    assert float(stored.sum().compute()) == 64.0


def test_failed_chunk_write_is_reported_with_its_chunk_and_retried(
    tmp_path: Path, client: Any
) -> None:
    # A store of 48 MiB: a 32 MiB array already there leaves room for half of a second one.
    srv = start(tmp_path, "--max-store-bytes", str(48 << 20))
    try:
        filler = da.ones((512, COLS), chunks=(64, COLS))
        write_array(filler, srv.url, srv.uri, "/dask/filler", authorization=TOKEN)
        second = dask_pattern(512, 64)
        with pytest.raises(ETPRemoteError) as failed:
            write_array(second, srv.url, srv.uri, "/dask/second", authorization=TOKEN)
        notes = "\n".join(getattr(failed.value, "__notes__", []))
        assert re.search(r"the chunk at starts=\[\d+, 0\] counts=\[64, 8192\]", notes), notes
        assert "re-run write_array" in notes
        # Make room, then run the same write again: it completes and replaces everything.
        with ETPSession(srv.url, authorization=TOKEN) as session:
            session.put_uninitialized_data_array(srv.uri, "/dask/filler", (1,), np.float64)
        write_array(second, srv.url, srv.uri, "/dask/second", authorization=TOKEN)
        back = read_array(srv.url, srv.uri, "/dask/second", authorization=TOKEN).compute()
        assert np.array_equal(back, numpy_pattern(512))
    finally:
        stop(srv.proc)


def test_worker_killed_mid_read_is_retried_elsewhere(tmp_path: Path) -> None:
    # Each request waits 20 ms at the server: the read of 128 chunks (one request each) takes
    # over a second per worker.
    srv = start(tmp_path, "--latency", "0.02")
    try:
        with cluster() as client:
            write_array(
                dask_pattern(SMALL_ROWS, 32), srv.url, srv.uri, "/dask/kill", authorization=TOKEN
            )
            stored = read_array(
                srv.url, srv.uri, "/dask/kill", chunks=(8, COLS), authorization=TOKEN
            )
            mark = srv.mark()
            futures = client.compute(stored.to_delayed().ravel().tolist())
            first = next(iter(distributed.as_completed(futures)))
            holder = client.who_has([first])[first.key][0]
            done = sum(f.done() for f in futures)
            assert done < len(futures)  # mid-read
            pid = client.run(os.getpid)[holder]
            os.kill(pid, signal.SIGKILL)
            blocks = client.gather(futures)
            values = np.concatenate(blocks)
        assert np.array_equal(values, numpy_pattern(SMALL_ROWS))
        # The chunk held by the killed worker was read again: more chunk reads than chunks.
        assert srv.requests("GetDataSubarrays", mark) > len(futures)
    finally:
        stop(srv.proc)


def test_one_session_per_worker_and_none_left_after_the_cluster_closes(tmp_path: Path) -> None:
    srv = start(tmp_path)
    try:
        threads_before = etp_threads()
        mark = srv.mark()
        with cluster() as client:
            write_array(
                dask_pattern(SMALL_ROWS, 64), srv.url, srv.uri, "/dask/s", authorization=TOKEN
            )
            stored = read_array(srv.url, srv.uri, "/dask/s", chunks=(64, COLS), authorization=TOKEN)
            assert float(stored.max().compute()) == float(numpy_pattern(SMALL_ROWS).max())
            held = client.run(cached_sessions)
            pids = set(client.run(os.getpid).values())
        # Both workers wrote and read through one session each, kept across tasks and calls.
        assert len(held) == 2 and all(len(sessions) == 1 for sessions in held.values())
        assert all(TOKEN not in s for sessions in held.values() for s in sessions)
        log = srv.since(mark)
        connected = re.findall(r"(\S+) connected$", log, re.M)
        assert len(connected) == 2 + 2  # write_array's and read_array's own, one per worker
        # Worker processes gone, and each of their sessions ended with CloseSession.
        assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 30)
        closed = srv.since(mark)
        assert all(f"{peer}: CloseSession" in closed for peer in connected), closed[-3000:]
        assert etp_threads() == threads_before and cached_sessions() == []
    finally:
        stop(srv.proc)
