"""Thread stacks of every process of a multi-process test, dumped before pytest-timeout fires.

pytest-timeout dumps the stacks of the test's own process only. When a test hangs waiting on
other processes (Dask workers, a server subprocess), where those stopped is what matters:

- :class:`DumpStacksOnSignal`, a ``distributed`` worker plugin: each worker process registers
  :mod:`faulthandler` for ``SIGUSR1``, writing all its threads' stacks to a file of its own
  (``worker-<pid>.txt`` in a shared directory) without stopping;
- a server subprocess started with ``PYTHONFAULTHANDLER=1`` (:data:`FAULTHANDLER_ENV`) dumps its
  threads to its log when it gets ``SIGABRT`` (and dies: the test is failing by then anyway);
- :class:`Watchdog` does both shortly before the test's timeout, and writes the dumps to
  ``sys.stderr`` (shown in the failure report with the test's captured output).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import distributed
import psutil
from _hostile import ServerProcess, wait_until

FAULTHANDLER_ENV = {"PYTHONFAULTHANDLER": "1"}
"""Environment of a child whose fatal signals (SIGABRT included) dump all its threads."""


class DumpStacksOnSignal(distributed.WorkerPlugin):
    """In each worker process: ``SIGUSR1`` writes all thread stacks to
    ``<directory>/worker-<pid>.txt`` (the process goes on)."""

    name = "etp-sync-stack-dumps"

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._file: IO[str] | None = None

    def setup(self, worker: Any) -> None:
        if self._file is not None:
            return
        path = Path(self.directory) / f"worker-{os.getpid()}.txt"
        self._file = path.open("w")  # kept open: faulthandler writes to its descriptor
        faulthandler.register(signal.SIGUSR1, file=self._file, all_threads=True)

    def teardown(self, worker: Any) -> None:
        if self._file is not None:
            faulthandler.unregister(signal.SIGUSR1)
            self._file.close()
            self._file = None


def _worker_pids(directory: Path) -> list[int]:
    return [int(p.stem.split("-")[1]) for p in directory.glob("worker-*.txt")]


def _ours(pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` that are processes this one started (directly or not): the file of a
    worker gone since (killed by a test, restarted by its nanny) names a number the system may
    have given to an unrelated process, which SIGUSR1 would kill (its default action)."""
    descendants = {child.pid for child in psutil.Process().children(recursive=True)}
    return [pid for pid in pids if pid in descendants]


def scheduler_summary(scheduler: Any) -> str:
    """What a LocalCluster's scheduler (in this process) holds: each worker's state and the
    tasks it is running, and how many tasks are in each state (read without its event loop,
    which may be the thing that is stuck; a diagnostic, so a torn read is acceptable)."""
    lines = []
    for ws in list(scheduler.workers.values()):
        running = sorted(str(ts.key) for ts in list(ws.processing))
        lines.append(f"worker {ws.address} pid {ws.pid} {ws.status}: processing {running}")
    states: dict[str, int] = {}
    for ts in list(scheduler.tasks.values()):
        states[ts.state] = states.get(ts.state, 0) + 1
    lines.append(f"tasks by state: {states}")
    return "\n".join(lines)


def dump_everything(
    directory: Path, servers: Iterable[ServerProcess], out: IO[str], scheduler: Any = None
) -> None:
    """Dump the scheduler's view, the workers' stacks (SIGUSR1), then the servers' (SIGABRT),
    and write them all."""
    if scheduler is not None:
        try:
            out.write(f"\n===== dask scheduler =====\n{scheduler_summary(scheduler)}\n")
        except Exception as exc:  # a diagnostic aid: go on with the stacks
            out.write(f"\n===== dask scheduler: not readable ({exc!r}) =====\n")
    pids = _ours(_worker_pids(directory))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
    paths = [directory / f"worker-{pid}.txt" for pid in pids]
    wait_until(lambda: all(p.stat().st_size > 0 for p in paths), 5.0)
    for path in paths:
        out.write(f"\n===== stacks of dask {path.stem} =====\n{path.read_text(errors='replace')}")
    for server in list(servers):
        if not server.alive():
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGABRT)
        wait_until(lambda s=server: not s.alive(), 5.0)  # type: ignore[misc]
        out.write(f"\n===== server {server.pid} log tail (stacks at the end) =====\n")
        out.write(server.log_text()[-20000:])
    out.flush()


class Watchdog:
    """Calls ``dump`` once after ``seconds`` unless cancelled first (a daemon timer thread)."""

    def __init__(self, seconds: float, dump: Callable[[], None]) -> None:
        self._timer = threading.Timer(seconds, self._fire, args=(dump,))
        self._timer.daemon = True
        self._timer.name = "stack-dump-watchdog"
        self.fired = False

    def _fire(self, dump: Callable[[], None]) -> None:
        self.fired = True
        try:
            dump()
        except Exception as exc:  # a diagnostic aid: say it failed, never mask the test
            print(f"stack dump watchdog failed: {exc!r}", file=sys.stderr)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
