"""Where the time of compare.py's 1,000-objects row goes: per phase (put, get), the wall time,
the server's CPU and the client's CPU, for etp_sync and for pyetp's raw messages.

Both clients talk to one ``python -m etp_sync.server`` process and each measurement runs in a
fresh client process, the libraries alternating which goes first run by run, as in
``bench/compare.py`` (whose object builders this script uses: the same documents, the same
pyetp PutDataObjects). A client process puts then gets 1,000 small objects ``--rounds``
times after one untimed round; the server's CPU is read from ``/proc/<pid>/task/*/schedstat``
around each phase (all its threads, kernel time included), the client's from ``getrusage``.

The point: pyetp sends one message and waits, so its wall time is its own CPU plus the
server's, one after the other; etp_sync pipelines batches, so its put costs about the larger
of the two, and the server's share is paid by both libraries alike. Linux only (schedstat).

    python bench/objects_cost.py [--runs 5] [--rounds 6] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _results import command_line, load_average, machine_note, publish
from arrays import REPO, child_env, start_etp_server
from compare import (
    STORE_UNLIMITED,
    Job,
    Sizes,
    pyetp_put_objects,
    pyetp_run,
    small_objects,
)

MIB = 1 << 20
MAX_MESSAGE = 16 * MIB
SIDES = ("etp_sync", "pyetp")
PHASES = ("put", "get")
KEYS = ("wall", "server", "client")


def _server_ms(pid: int) -> float:
    """CPU milliseconds the process ``pid`` has run, all its threads (schedstat: ns)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError), open(path) as f:
            total += int(f.read().split()[0])
    return total / 1e6


def _client_ms() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1e3


class _Phases:
    """Wall, server CPU and client CPU (ms) of each timed phase of one process."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.rows: list[dict[str, float]] = []
        self._marks: list[tuple[float, float, float]] = []

    def mark(self) -> None:
        self._marks.append((time.perf_counter() * 1e3, _server_ms(self.pid), _client_ms()))

    def end_round(self, keep: bool) -> None:
        """Turn the marks of one round (before put, after put, after get) into a row."""
        (w0, s0, c0), (w1, s1, c1), (w2, s2, c2) = self._marks
        self._marks = []
        if keep:
            self.rows.append(
                {
                    "put_wall": w1 - w0,
                    "put_server": s1 - s0,
                    "put_client": c1 - c0,
                    "get_wall": w2 - w1,
                    "get_server": s2 - s1,
                    "get_client": c2 - c1,
                }
            )

    def medians(self) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in self.rows) for k in self.rows[0]}


def _etp_worker(url: str, pid: int, rounds: int) -> dict[str, float]:
    from etp_sync import ETPSession

    job = Job("objects", "etp_sync", url, "", MAX_MESSAGE, Sizes())
    job.dataspace = f"bench/cost{os.getpid()}"
    phases = _Phases(pid)
    with ETPSession(url, max_message_size=MAX_MESSAGE) as s:
        s.put_dataspace(job.dataspace)
        try:
            for i in range(rounds + 1):
                docs = {uri: xml for uri, _, xml in small_objects(job, i)}
                phases.mark()
                s.put_data_objects(docs)
                phases.mark()
                got = s.get_data_objects(list(docs))
                phases.mark()
                phases.end_round(keep=i > 0)
                if [g.xml for g in got.values()] != list(docs.values()):
                    raise RuntimeError("objects read back differ")
        finally:
            s.delete_dataspace(job.dataspace)
    return phases.medians()


def _pyetp_worker(url: str, pid: int, rounds: int) -> dict[str, float]:
    from energistics.etp.v12.protocol.store import GetDataObjects
    from rddms_io.client import RDDMSClient

    job = Job("objects", "pyetp", url, "", MAX_MESSAGE, Sizes())
    job.dataspace = f"bench/cost{os.getpid()}"
    phases = _Phases(pid)

    async def flow(client: Any) -> dict[str, float]:
        rc = RDDMSClient(client)
        await rc.create_dataspace(job.dataspace)
        try:
            for i in range(rounds + 1):
                objs = small_objects(job, i)
                docs = {uri: xml for uri, _, xml in objs}
                titles = {uri: title for uri, title, _ in objs}
                phases.mark()
                await client.send_and_recv(pyetp_put_objects(docs, titles))
                phases.mark()
                (got,) = await client.send_and_recv(GetDataObjects(uris={u: u for u in docs}))
                phases.mark()
                phases.end_round(keep=i > 0)
                if [got.data_objects[u].data for u in docs] != list(docs.values()):
                    raise RuntimeError("objects read back differ")
        finally:
            await rc.delete_dataspace(job.dataspace)
        return phases.medians()

    result: dict[str, float] = pyetp_run(job, flow)
    return result


WORKERS: dict[str, Callable[[str, int, int], dict[str, float]]] = {
    "etp_sync": _etp_worker,
    "pyetp": _pyetp_worker,
}


def _spawn(side: str, url: str, pid: int, rounds: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--worker", side, url, str(pid), "--rounds", str(rounds)]
    out = subprocess.run(cmd, capture_output=True, env=child_env(), cwd=REPO, check=False)
    lines = out.stdout.decode().strip().splitlines()
    if out.returncode != 0 or not lines:
        tail = " | ".join(out.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise SystemExit(f"{side} worker exited {out.returncode}: {tail}")
    report: dict[str, float] = json.loads(lines[-1])
    return report


def _section(argv: Sequence[str] | None, runs: dict[str, list[dict[str, float]]], args: Any) -> str:
    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    lines = [
        "## Where the 1,000-objects row's time goes (bench/objects_cost.py)",
        "",
        f"Command: `{command_line('bench/objects_cost.py', argv)}` (from the repository root)",
        "",
        f"Machine: {machine_note(['pyetp'])}. Load average (1 / 5 / 15 min) at the end "
        f"{load_average()}.",
        "",
        f"One `python -m etp_sync.server` for both clients; {args.runs} runs per library, each a "
        f"fresh client process (the libraries alternating which goes first) putting then "
        f"getting 1,000 small objects {args.rounds} times after one untimed round; the table "
        "holds medians of the per-process medians, in ms per 1,000 objects. Server CPU: all "
        "its threads, kernel time included (schedstat); client CPU: getrusage of the client "
        "process. pyetp sends one raw PutDataObjects (gzip on, its default), etp_sync "
        "`put_data_objects` (pipelined batches inside a transaction).",
        "",
        "| library | put wall | put server CPU | put client CPU | get wall | get server CPU "
        "| get client CPU | put+get wall |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for side in SIDES:
        cells = [f"{med(side, f'{p}_{k}'):.1f}" for p in PHASES for k in KEYS]
        total = statistics.median(r["put_wall"] + r["get_wall"] for r in runs[side])
        lines.append(f"| {side} | {' | '.join(cells)} | {total:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per library (5)")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds per process (6)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        side, url, pid = args.worker
        print(json.dumps(WORKERS[side](url, int(pid), args.rounds)))
        return 0
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with contextlib.ExitStack() as stack:
        server = start_etp_server(MAX_MESSAGE, stack, STORE_UNLIMITED)
        for run in range(args.runs):
            order = SIDES if run % 2 == 0 else SIDES[::-1]
            for side in order:
                report = _spawn(side, server.url, server.proc.pid, args.rounds)
                runs[side].append(report)
                shown = ", ".join(f"{k} {v:.1f}" for k, v in report.items())
                print(f"run {run + 1}/{args.runs} {side}: {shown}", flush=True)
    publish("objects-cost", _section(argv, runs, args), not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
