"""Instructions, not seconds: what the 1,000-objects row of compare.py costs the client and
the embedded server, counted by valgrind's callgrind.

Timings on a shared 2-core machine move by 20% from run to run; instruction counts repeat to
about 0.1%, whatever else runs. They are the measure to decide whether a change to the code
paths of that row helps (compare.py's side-by-side ratios remain the proof against pyetp).

The server (``python -m etp_sync.server``) and the client (this script with ``--client``) each
run under ``valgrind --tool=callgrind --instr-atstart=no``: nothing is counted until the client,
after one untimed round, turns counting on in both processes (``callgrind_control -i on``),
runs ``--rounds`` rounds of the phase (``put``: ``put_data_objects`` of ``--objects`` fresh
``samples.local_depth_crs`` documents; ``get``: ``get_data_objects`` of objects put before
counting started), and dumps the counts. Every thread and the kernel boundary of each process
are counted (not the kernel's own work). Neither side polls before it sleeps
(``spin_wait=0``, ``--spin-wait 0``): that poll's count is waiting, as long as the other side
takes. Linux with valgrind only.

    python bench/instructions.py [--objects 1000] [--calls 2000] [--rounds 3]
        [--phases put,get,tiny] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from _results import command_line, machine_note, publish

PHASES = ("put", "get", "tiny")
_VALGRIND = ("valgrind", "--tool=callgrind", "--instr-atstart=no")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def client(port: int, phase: str, items: int, rounds: int, server_pid: int) -> None:
    """The client side (run under callgrind): rounds of ``phase``, counted in both processes."""
    from etp_sync import ETPSession
    from etp_sync.samples import local_depth_crs
    from etp_sync.uri import DataObjectURI

    space = "eml:///dataspace('bench/instructions')"
    crs = "resqml20.obj_LocalDepth3dCrs"

    def documents(i: int) -> dict[str, bytes]:
        docs = {}
        for k in range(objects):
            ref = uuid.uuid4()
            docs[str(DataObjectURI.from_type(space, crs, ref))] = local_depth_crs(ref, f"{i}-{k}")
        return docs

    objects = 1 if phase == "tiny" else items
    rounds_docs = [documents(i) for i in range(rounds + 1)]
    pids = [str(server_pid), str(os.getpid())]
    # spin_wait=0: a caller's brief poll before it sleeps counts instructions while it waits,
    # as many as the reply's delay allows; this script counts work
    with ETPSession(f"ws://127.0.0.1:{port}", timeout=600, spin_wait=0) as s:
        s.put_dataspace(space)
        s.put_data_objects(rounds_docs[0])
        s.get_data_objects(list(rounds_docs[0]))
        if phase == "get":
            for docs in rounds_docs[1:]:
                s.put_data_objects(docs)
        for pid in pids:
            _callgrind("-i", "on", pid)
        for docs in rounds_docs[1:]:
            if phase == "put":
                s.put_data_objects(docs)
            elif phase == "get":
                s.get_data_objects(list(docs))
            else:
                for _ in range(items):
                    s.get_dataspaces()
        for pid in pids:
            _callgrind("-d", pid)
            _callgrind("-i", "off", pid)
        s.delete_dataspace(space)


def _summary(path: Path) -> int:
    match = re.search(r"^summary: (\d+)$", path.read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no summary line in {path}")
    return int(match.group(1))


def _wait_listening(port: int, server: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server under valgrind did not start listening in time")


def measure(phase: str, items: int, rounds: int) -> dict[str, int]:
    """Instructions of the server and of the client for ``rounds`` rounds of ``phase``."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="etp-instructions-") as tmp:
        out = Path(tmp)
        server_cmd = [sys.executable, "-m", "etp_sync.server", "--port", str(port)]
        server_cmd += ["--max-store-bytes", "0", "--max-array-bytes", "0", "--spin-wait", "0"]
        server = subprocess.Popen(
            [*_VALGRIND, f"--callgrind-out-file={out}/server.%p", *server_cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(port, server, time.monotonic() + 120)
            client_cmd = [sys.executable, __file__, "--client", str(port), phase]
            client_cmd += ["--objects", str(items), "--rounds", str(rounds)]
            client_cmd += ["--server-pid", str(server.pid)]
            done = subprocess.run(
                [*_VALGRIND, f"--callgrind-out-file={out}/client.%p", *client_cmd],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"the client failed:\n{done.stderr[-3000:]}")
        finally:
            server.terminate()
            server.wait(60)
        counts = {}
        for side in ("server", "client"):
            dumps = sorted(out.glob(f"{side}.*.1"))
            if len(dumps) != 1:
                raise RuntimeError(f"expected one {side} dump, found {dumps}")
            counts[side] = _summary(dumps[0])
        return counts


def section(
    argv: Sequence[str] | None, counts: dict[str, tuple[float, float]], items: dict[str, int]
) -> str:
    """The RESULTS.md section of ``counts``: (server, client) instructions per round by phase,
    of ``items[phase]`` objects or calls a round."""
    rows = [
        "| phase | per round | server, M instructions | client, M instructions | "
        "server, k per object or call | client, k per object or call |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for phase, (server, client_count) in counts.items():
        n = items[phase]
        what = "calls" if phase == "tiny" else "objects"
        rows.append(
            f"| {phase} | {n:,} {what} | {server / 1e6:.1f} | {client_count / 1e6:.1f} | "
            f"{server / 1e3 / n:.1f} | {client_count / 1e3 / n:.1f} |"
        )
    return "\n".join(
        [
            "## Instructions of the 1,000-objects row and the tiny request (bench/instructions.py)",
            "",
            f"Command: `{command_line('bench/instructions.py', argv)}` (from the repository root)",
            "",
            f"Machine: {machine_note([])}.",
            "",
            "valgrind's callgrind counts every instruction the server and the client run for "
            "one round (the mean of the rounds counted), all threads; see the script's "
            "docstring. Neither side polls before it sleeps here (spin_wait=0, "
            "--spin-wait 0): that poll counts waiting, not work.",
            "",
            *rows,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000, help="objects per round (1000)")
    parser.add_argument("--calls", type=int, default=2000, help="tiny calls per round (2000)")
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds (3)")
    parser.add_argument(
        "--phases", default="put,get,tiny", help="a subset of put, get, tiny (put,get,tiny)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--client", nargs=2, metavar=("PORT", "PHASE"), help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.objects < 1 or args.calls < 1 or args.rounds < 1:
        parser.error("--objects, --calls and --rounds must be positive")
    if args.client:
        client(int(args.client[0]), args.client[1], args.objects, args.rounds, args.server_pid)
        return 0
    phases = [p for p in args.phases.split(",") if p]
    if not phases or any(p not in PHASES for p in phases):
        parser.error(f"--phases: a comma-separated subset of {', '.join(PHASES)}")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    counts: dict[str, tuple[float, float]] = {}
    items = {phase: args.calls if phase == "tiny" else args.objects for phase in phases}
    for phase in phases:
        measured = measure(phase, items[phase], args.rounds)
        counts[phase] = (measured["server"] / args.rounds, measured["client"] / args.rounds)
    publish("instructions", section(argv, counts, items), not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
