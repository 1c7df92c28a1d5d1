"""Soak (issue 8): processes x threads sharing sessions through a dropping proxy, checking every
acknowledged write and every notification.

This process runs an :class:`~etp_sync.server.EmbeddedServer` behind the
:class:`FaultProxy` of ``tests/_faults.py`` and starts ``--processes`` worker processes (this
script with ``--worker``). Each worker opens one :class:`~etp_sync.ETPSession` through the proxy,
subscribes (``for event in sub``, one listening thread per subscription) to every worker's
dataspace, and runs ``--threads`` threads sharing that session. Each thread does random reads and
writes: its own data objects (single puts and batches of several requests), its own arrays (one
multi-block, one single-message; each version filled with its own value), arrays shared by every
thread of every process, explicit transactions (two new objects and a multi-block array), Ping
and Discovery. Every few seconds this process drops every connection (the proxy resets them; every
third drop the server cuts them instead).

Checked while running: a read of the thread's own object or array returns a version between the
last acknowledged and the last attempted one; every array read is one whole written version (a
single fill value), never a mix; no call runs past its ``timeout`` + ``ETPSession.DEADLINE_MARGIN``
(a hang); every error is an ETPError (counted by type). Checked at the end against the server's
store: each object and array holds a version between its last acknowledged and last attempted
write, committed transactions are wholly stored and failed ones wholly or not at all, shared
arrays hold one written version; and for every subscription, every acknowledged change made while
it was open arrived as a "changed" event with its version, or lies in a "gap" event's span; every
"changed" event names a version that some thread wrote. RSS of each process is sampled each
second (glibc's mmap threshold pinned as in the fault matrix, so RSS shows live memory).

Run from the repository root (writes the "soak" section of bench/RESULTS.md unless
``--no-write``; exits 1 when a check failed)::

    .venv/bin/python bench/soak.py [--duration 120] [--processes 3] [--threads 6] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _results import machine_note, status_bytes, write_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _faults import FaultProxy, fill_of, pin_malloc_mmap_threshold  # noqa: E402

from etp_sync import DataObjectURI, ETPError, ETPRemoteError, ETPSession  # noqa: E402
from etp_sync.errors import ErrorCode  # noqa: E402
from etp_sync.samples import epc_external_part_reference, padded, witsml_well  # noqa: E402
from etp_sync.server import EmbeddedServer  # noqa: E402

TIMEOUT = 10.0  # the deadline of every call
MARGIN = ETPSession.DEADLINE_MARGIN  # a call running past TIMEOUT + MARGIN is a hang
MAX_MESSAGE = 64 << 10  # small messages: arrays and object batches take several requests
OWN_OBJECTS = 32  # data objects per thread (all of them together need two requests)
OBJECT_PAD = 2500  # bytes of filler per object
BIG_SHAPE = (100, 250)  # 200 KB of float64: 4+ blocks
SMALL_SHAPE = (500,)  # one message
SHARED_PATHS = ("shared0", "shared1")
SHARED_SPACE = "soak/shared"
WELL_TYPE = "witsml21.Well"
EPC_UUID = uuid.UUID("0b5f5c1e-2d7a-4c1b-9e3f-5a6b7c8d9e0f")
VERSION = re.compile(rb"soak v(\d+)")
DRAIN_QUIET = 2.0  # notifications are drained once none arrived for this long
DRAIN_MAX = 30.0
WEIGHTS = {
    "put_object": 18, "put_objects": 5, "get_object": 12, "get_objects": 5, "put_array": 14,
    "get_array": 12, "get_subarray": 4, "put_shared": 5, "get_shared": 6, "transaction": 8,
    "ping": 3, "get_resources": 2,
}  # fmt: skip


def space_of(proc: int) -> str:
    return f"soak/p{proc}"


def epc_uri(space: str) -> DataObjectURI:
    return DataObjectURI.from_type(space, "eml20.obj_EpcExternalPartReference", EPC_UUID)


def code_of(proc: int, thread: int, seq: int) -> float:
    """The fill value of one write: unique per (process, thread, seq), increasing with seq."""
    return float(((proc + 1) * 100 + thread) * 10**7 + seq)


def document(ref: uuid.UUID, seq: int) -> bytes:
    return bytes(padded(witsml_well(ref, f"soak v{seq}"), OBJECT_PAD))


def text(uri: DataObjectURI | str) -> str:
    """The URI as an interned string: the soak's records hold one copy of each."""
    return sys.intern(str(uri))


def deep_size(root: Any) -> int:
    """Bytes of ``root`` and every container, string and number it holds (each counted once)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
    return total


def version_of(xml: bytes | str | None) -> int | None:
    found = VERSION.search(xml.encode() if isinstance(xml, str) else xml or b"")
    return int(found.group(1)) if found else None


def now_us() -> int:
    return time.time_ns() // 1000


class NonETPError(Exception):
    """A call raised something other than an ETPError (recorded as a violation)."""


def in_range(value: float | None, acked: float | None, attempted: float) -> bool:
    return value is not None and (acked is None or acked <= value) and value <= attempted


# -- worker process ----------------------------------------------------------------------------


class Thread:
    """One worker thread: its own objects and arrays, what it attempted and what was acknowledged,
    errors, hangs and violations."""

    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.session = worker.session
        self.index = index
        self.space = space_of(worker.proc)
        self.epc = epc_uri(self.space)
        self.rng = random.Random(worker.seed * 1000 + worker.proc * 100 + index)
        self.seq = 0
        self.objects = [
            DataObjectURI.from_type(
                self.space, WELL_TYPE, uuid.UUID(int=self.rng.getrandbits(128), version=4)
            )
            for _ in range(OWN_OBJECTS)
        ]
        self.paths = {f"t{index}/big": BIG_SHAPE, f"t{index}/small": SMALL_SHAPE}
        self.tx_path = f"t{index}/tx"
        # str(uri) or array path -> [last acknowledged, last attempted]
        self.obj_state: dict[str, list[int | None]] = {}
        self.arr_state: dict[str, list[float | None]] = {}
        self.written: list[tuple[str, int]] = []  # every (uri, version) attempted
        self.acked: list[tuple[str, int, int, int]] = []  # (uri, version, start µs, end µs)
        self.shared_attempted: list[tuple[str, float]] = []
        self.shared_reads: list[tuple[str, float]] = []
        self.transactions: list[dict[str, Any]] = []
        self.ops: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.hangs: list[str] = []
        self.violations: list[str] = []
        self.checks = Counter[str]()
        self.last_error: BaseException | None = None
        self.last_end = 0.0
        self.acks = Counter[str]()
        self.samples: dict[str, str] = {}  # the first message of each error type

    # -- plumbing ----------------------------------------------------------------------------

    def call(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` timed; errors are counted by type and re-raised."""
        start = time.monotonic()
        outcome = "ok"
        try:
            return fn(*args, **kwargs)
        except ETPError as exc:
            outcome = type(exc).__name__
            self.errors[outcome] += 1
            self.samples.setdefault(outcome, f"{op}: {exc}"[:300])
            self.last_error = exc
            raise
        except Exception as exc:
            outcome = type(exc).__name__
            self.violations.append(f"{op} raised a non-ETP error: {traceback.format_exc()}")
            self.last_error = exc
            raise NonETPError(op) from exc
        finally:
            self.last_end = time.monotonic()
            if self.last_end - start > TIMEOUT + MARGIN:
                self.hangs.append(f"{op}: {self.last_end - start:.2f} s ({outcome})")

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.checks[what] += 1
        if not ok:
            self.violations.append(f"{what}: {detail}")

    def run(self, until: float, max_ops: int) -> None:
        names = list(WEIGHTS)
        weights = [WEIGHTS[n] for n in names]
        while time.monotonic() < until and sum(self.ops.values()) < max_ops:
            op = self.rng.choices(names, weights)[0]
            self.ops[op] += 1
            with contextlib.suppress(ETPError, NonETPError):  # counted by call()
                getattr(self, op)()

    # -- objects -----------------------------------------------------------------------------

    def put(self, uris: Sequence[DataObjectURI]) -> None:
        seq = self.next_seq()
        for uri in uris:
            self.obj_state.setdefault(text(uri), [None, 0])[1] = seq
            self.written.append((text(uri), seq))
        start = now_us()
        docs = {uri: document(uri.uuid, seq) for uri in uris}
        op = "put_object" if len(uris) == 1 else "put_objects"
        self.call(op, self.session.put_data_objects, docs, timeout=TIMEOUT)
        end = now_us()
        for uri in uris:
            self.obj_state[text(uri)][0] = seq
            self.acked.append((text(uri), seq, start, end))
        self.acks["object"] += len(uris)

    def put_object(self) -> None:
        self.put([self.rng.choice(self.objects)])

    def put_objects(self) -> None:
        self.put(self.objects)

    def read_objects(self, uris: Sequence[DataObjectURI], op: str) -> None:
        wanted = [u for u in uris if str(u) in self.obj_state]
        if not wanted:
            return
        try:
            found = self.call(op, self.session.get_data_objects, wanted)
        except ETPRemoteError as exc:
            found = exc.successes or {}
            if exc.code != ErrorCode.ENOT_FOUND:
                raise
        for uri in wanted:
            acked, attempted = self.obj_state[str(uri)]
            obj = found.get(uri)
            if obj is None:
                self.check("object read", acked is None, f"{uri} acknowledged v{acked}, missing")
                continue
            got = version_of(obj.xml)
            self.check(
                "object read",
                got is not None and in_range(got, acked, attempted or 0),
                f"{uri}: read v{got}, acknowledged v{acked}, attempted v{attempted}",
            )

    def get_object(self) -> None:
        self.read_objects([self.rng.choice(self.objects)], "get_object")

    def get_objects(self) -> None:
        self.read_objects(self.objects, "get_objects")

    # -- arrays ------------------------------------------------------------------------------

    def put_array(self) -> None:
        path = self.rng.choice(list(self.paths))
        self.put_own_array(path, self.paths[path], "put_array")

    def put_own_array(self, path: str, shape: tuple[int, ...], op: str) -> None:
        code = code_of(self.worker.proc, self.index, self.next_seq())
        self.arr_state.setdefault(path, [None, 0.0])[1] = code
        self.call(op, self.session.put_data_array, self.epc, path, np.full(shape, code))
        self.arr_state[path][0] = code
        self.acks["array"] += 1

    def check_own(self, path: str, values: np.ndarray, what: str) -> None:
        acked, attempted = self.arr_state[path]
        fill = fill_of(values)
        self.check(
            what,
            in_range(fill, acked, attempted or 0.0),
            f"{path}: read {fill} (None: mixed), acknowledged {acked}, attempted {attempted}",
        )

    def own_written(self) -> str | None:
        paths = [p for p in self.paths if p in self.arr_state]
        return self.rng.choice(paths) if paths else None

    def get_array(self) -> None:
        path = self.own_written()
        if path is not None:
            values = self.call("get_array", self.session.get_data_array, self.epc, path)
            self.check_own(path, values, "array read")

    def get_subarray(self) -> None:
        path = f"t{self.index}/big"
        if path not in self.arr_state:
            return
        row = self.rng.randrange(BIG_SHAPE[0] - 10)
        box = self.call(
            "get_subarray",
            self.session.get_data_subarray,
            self.epc,
            path,
            [row, 0],
            [self.rng.randint(1, BIG_SHAPE[0] - row), BIG_SHAPE[1]],
        )
        self.check_own(path, box, "subarray read")

    def put_shared(self) -> None:
        path = self.rng.choice(SHARED_PATHS)
        code = code_of(self.worker.proc, self.index, self.next_seq())
        self.shared_attempted.append((path, code))
        self.call(
            "put_shared",
            self.session.put_data_array,
            epc_uri(SHARED_SPACE),
            path,
            np.full(BIG_SHAPE, code),
        )
        self.acks["shared array"] += 1

    def get_shared(self) -> None:
        path = self.rng.choice(SHARED_PATHS)
        try:
            values = self.call(
                "get_shared", self.session.get_data_array, epc_uri(SHARED_SPACE), path
            )
        except ETPRemoteError as exc:
            if exc.code == ErrorCode.ENOT_FOUND:
                return  # nobody wrote it yet
            raise
        fill = fill_of(values)
        self.check("shared read", fill is not None, f"{path}: a mixed array")
        if fill is not None:
            self.shared_reads.append((path, fill))

    # -- transactions and the rest -----------------------------------------------------------

    def transaction(self) -> None:
        """Two new objects and a multi-block array in one explicit transaction."""
        seq = self.next_seq()
        new = [
            DataObjectURI.from_type(self.space, WELL_TYPE, uuid.UUID(int=self.rng.getrandbits(128)))
            for _ in range(2)
        ]
        code = code_of(self.worker.proc, self.index, seq)
        record: dict[str, Any] = {"objects": [text(u) for u in new], "version": seq}
        self.transactions.append(record)
        self.written.extend((text(uri), seq) for uri in new)
        self.arr_state.setdefault(self.tx_path, [None, 0.0])[1] = code
        self.last_error = None
        start, step = now_us(), time.monotonic()
        try:
            with self.session.transaction(self.space):
                self.timed_step("transaction start", step)
                docs = {uri: document(uri.uuid, seq) for uri in new}
                self.call("tx put_objects", self.session.put_data_objects, docs, timeout=TIMEOUT)
                self.call(
                    "tx put_array",
                    self.session.put_data_array,
                    self.epc,
                    self.tx_path,
                    np.full(BIG_SHAPE, code),
                )
                step = time.monotonic()
            self.timed_step("transaction commit", step)
        except (ETPError, NonETPError) as exc:
            self.timed_step("transaction end", max(step, self.last_end))
            record["outcome"] = type(exc).__name__
            if exc is not self.last_error and isinstance(exc, ETPError):  # start or commit
                self.errors[type(exc).__name__] += 1
                self.samples.setdefault(type(exc).__name__, f"transaction: {exc}"[:300])
            return
        end = now_us()
        record["outcome"] = "committed"
        self.acks["transaction"] += 1
        self.arr_state[self.tx_path][0] = code
        self.acked.extend((text(uri), seq, start, end) for uri in new)

    def timed_step(self, what: str, since: float) -> None:
        elapsed = time.monotonic() - since
        if elapsed > TIMEOUT + MARGIN:
            self.hangs.append(f"{what}: {elapsed:.2f} s")

    def ping(self) -> None:
        self.call("ping", self.session.ping, timeout=TIMEOUT)

    def get_resources(self) -> None:
        self.call("get_resources", self.session.get_resources, self.space)

    def report(self) -> dict[str, Any]:
        return {
            "ops": dict(self.ops),
            "errors": dict(self.errors),
            "hangs": self.hangs,
            "violations": self.violations,
            "checks": dict(self.checks),
            "acks": dict(self.acks),
            "samples": self.samples,
            "objects": self.obj_state,
            "arrays": {f"{space_of(self.worker.proc)}|{p}": s for p, s in self.arr_state.items()},
            "written": self.written,
            "acked": self.acked,
            "shared_attempted": self.shared_attempted,
            "shared_reads": self.shared_reads,
            "transactions": self.transactions,
        }


class Worker:
    """One worker process: a session shared by its threads, its subscriptions and their
    listeners, and an RSS sampler."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.proc = args.worker
        self.seed = args.seed
        self.session = ETPSession(args.url, timeout=TIMEOUT, max_message_size=MAX_MESSAGE)
        self.events: dict[str, list[Any]] = {}
        self.last_event = time.monotonic()
        self.rss: list[tuple[float, int]] = []
        self.stop_sampling = threading.Event()
        self.started = time.monotonic()

    def sample(self) -> None:
        while True:
            self.rss.append((round(time.monotonic() - self.started, 1), rss_bytes()))
            if self.stop_sampling.wait(1.0):
                return

    def listen(self, space: str, sub: Any) -> None:
        log = self.events[space]
        for event in sub:
            self.last_event = time.monotonic()
            if event.kind == "changed":
                name = getattr(event.resource, "name", "")
                log.append(("changed", sys.intern(event.uri), version_of(name)))
            elif event.kind == "gap":
                log.append(("gap", event.gap_start, event.gap_end))
            else:
                log.append((event.kind, event.uri, event.reason))

    def main(self, processes: int, threads: int, duration: float, max_ops: int) -> dict[str, Any]:
        sampler = threading.Thread(target=self.sample, name="soak-rss", daemon=True)
        sampler.start()
        self.session.connect()
        subscribed: dict[str, int] = {}
        listeners = []
        for proc in range(processes):
            space = space_of(proc)
            self.events[space] = []
            sub = self.session.subscribe_notifications(space, timeout=TIMEOUT)
            subscribed[space] = now_us()
            listener = threading.Thread(target=self.listen, args=(space, sub), daemon=True)
            listener.start()
            listeners.append(listener)
        rss_start = rss_bytes()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("worker: expected 'go'")
        until = time.monotonic() + duration
        workers = [Thread(self, i) for i in range(threads)]
        runs = [
            threading.Thread(target=w.run, args=(until, max_ops), name=f"soak-{i}", daemon=True)
            for i, w in enumerate(workers)
        ]
        for run in runs:
            run.start()
        stuck = []
        for run in runs:  # a thread ends within one more operation (a transaction: 3 calls)
            run.join(max(until - time.monotonic(), 0) + 4 * (TIMEOUT + MARGIN))
            if run.is_alive():
                frame = sys._current_frames().get(run.ident or 0)
                stack = "".join(traceback.format_stack(frame)) if frame else "?"
                stuck.append(f"{run.name} still running:\n{stack}")
        rss_ops_end = rss_bytes()
        print("stopped", flush=True)
        if sys.stdin.readline().strip() != "drain":
            raise SystemExit("worker: expected 'drain'")
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < DRAIN_MAX:
            if time.monotonic() - max(self.last_event, drain_start) > DRAIN_QUIET:
                break
            time.sleep(0.2)
        drained = now_us()
        rss_end = rss_bytes()
        reports = [w.report() for w in workers]
        bookkeeping = deep_size([[w.__dict__ for w in workers], self.events])
        close_start = time.monotonic()
        self.session.close()
        close_seconds = time.monotonic() - close_start
        for listener in listeners:
            listener.join(5.0)
        self.stop_sampling.set()
        sampler.join(5.0)
        return {
            "proc": self.proc,
            "threads": reports,
            "stuck": stuck,
            "events": self.events,
            "subscribed": subscribed,
            "drained": drained,
            "connects": self.session.connect_count,
            "close_seconds": close_seconds,
            "rss": {"start": rss_start, "ops_end": rss_ops_end, "end": rss_end, "series": self.rss},
            "bookkeeping": bookkeeping,
            "vm_hwm": status_bytes("VmHWM") or 0,
        }


def rss_bytes() -> int:
    return status_bytes("VmRSS") or 0


def run_worker(args: argparse.Namespace) -> int:
    pin_malloc_mmap_threshold()
    result = Worker(args).main(args.processes, args.threads, args.duration, args.max_ops)
    Path(args.out).write_text(json.dumps(result))
    return 0


# -- this process: server, proxy, drops, verification ------------------------------------------


class WorkerProcess:
    """A worker subprocess driven by lines on its stdin; its stdout lines arrive in a queue."""

    def __init__(self, proc: int, url: str, out: Path, log: Path, args: argparse.Namespace):
        self.proc = proc
        self.out = out
        self.log = log
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        command = [
            sys.executable, __file__, "--worker", str(proc), "--url", url, "--out", str(out),
            "--processes", str(args.processes), "--threads", str(args.threads),
            "--duration", str(args.duration), "--seed", str(args.seed),
            "--max-ops", str(args.max_ops),
        ]  # fmt: skip
        with open(log, "w") as err:
            self.popen = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
            )
        threading.Thread(target=self._read, name=f"soak-read-{proc}", daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def expect(self, word: str, timeout: float) -> None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise SystemExit(f"worker {self.proc}: no {word!r} within {timeout:.0f} s") from None
        if line != word:
            raise SystemExit(f"worker {self.proc}: expected {word!r}, got {line!r}")

    def tell(self, word: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(word + "\n")
        self.popen.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            tail = self.log.read_text()[-3000:]
            raise SystemExit(f"worker {self.proc} did not end: {tail}") from None
        if self.popen.returncode:
            raise SystemExit(f"worker {self.proc} failed: {self.log.read_text()[-3000:]}")
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data


def prepare(server: EmbeddedServer, processes: int) -> None:
    """The dataspaces and their EpcExternalPartReference (the arrays' owner)."""
    spaces = [space_of(p) for p in range(processes)] + [SHARED_SPACE]
    with ETPSession(server.url, timeout=TIMEOUT) as session:
        session.put_dataspaces(spaces)
        for space in spaces:
            session.put_data_object(epc_external_part_reference(EPC_UUID), dataspace=space)


def drop_loop(
    server: EmbeddedServer, proxy: FaultProxy, every: float, until: float, stop: threading.Event
) -> Counter[str]:
    """Drop every connection each ``every`` seconds until ``until``; every third drop is the
    server cutting its sockets, the others a reset by the proxy."""
    drops: Counter[str] = Counter()
    while not stop.wait(max(min(every, until - time.monotonic()), 0)):
        if time.monotonic() >= until:
            break
        if (drops["proxy"] + drops["server"]) % 3 == 2:
            drops["server"] += 1
            drops["server connections"] += server.drop_connections()
        else:
            drops["proxy"] += 1
            drops["proxy connections"] += proxy.drop_all()
    return drops


class Verdict:
    """What the final verification found: counts and violations."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.violations: list[str] = []

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.counts[what] += 1
        if not ok:
            self.violations.append(f"{what}: {detail}")


def stored_version(server: EmbeddedServer, uri: str) -> int | None:
    """The version of an object in the store, None when it is not there."""
    found, _errors = server.store.get_objects([uri])
    return version_of(found[uri].xml) if uri in found else None


def stored_fill(server: EmbeddedServer, space: str, path: str) -> float | str | None:
    try:
        fill: float | None = fill_of(server.store.get_array(str(epc_uri(space)), path))
        return fill
    except ETPError:
        return "missing"


def verify_store(server: EmbeddedServer, results: list[dict[str, Any]], verdict: Verdict) -> None:
    """Each object and array holds a version between its last acknowledged and last attempted
    write; transactions are all or nothing; shared arrays hold (and were read as) one version."""
    shared: dict[str, set[float]] = {}
    for result in results:
        for t in result["threads"]:
            for uri, (acked, attempted) in t["objects"].items():
                got = stored_version(server, uri)
                ok = in_range(got, acked, attempted) or (got is None and acked is None)
                verdict.check("stored object", ok, f"{uri}: v{got}, acked v{acked}")
            for key, (acked, attempted) in t["arrays"].items():
                space, path = key.split("|", 1)
                fill = stored_fill(server, space, path)
                ok = (fill == "missing" and acked is None) or (
                    not isinstance(fill, str) and in_range(fill, acked, attempted)
                )
                verdict.check("stored array", ok, f"{key}: {fill}, acked {acked}")
            for tx in t["transactions"]:
                versions = [stored_version(server, uri) for uri in tx["objects"]]
                whole = all(v == tx["version"] for v in versions)
                if tx["outcome"] == "committed":
                    verdict.check("committed transaction", whole, f"{tx}: stored {versions}")
                else:
                    none = all(v is None for v in versions)
                    verdict.check("failed transaction", whole or none, f"{tx}: {versions}")
            for path, code in t["shared_attempted"]:
                shared.setdefault(path, set()).add(code)
    reads = [(p, f) for r in results for t in r["threads"] for p, f in t["shared_reads"]]
    for path, fill in reads:
        verdict.check("shared read", fill in shared.get(path, ()), f"{path}: read {fill}")
    for path, codes in shared.items():
        fill = stored_fill(server, SHARED_SPACE, path)
        verdict.check("stored shared array", fill in codes, f"{path}: {fill}")


def verify_notifications(
    results: list[dict[str, Any]], verdict: Verdict
) -> dict[int, Counter[str]]:
    """Per subscriber process: acknowledged changes seen, covered by a gap, or missed; every
    "changed" event names a written version."""
    written = {(uri, v) for r in results for t in r["threads"] for uri, v in t["written"]}
    acked = {space_of(r["proc"]): [a for t in r["threads"] for a in t["acked"]] for r in results}
    per_proc: dict[int, Counter[str]] = {}
    for result in results:
        tally: Counter[str] = Counter()
        for space, events in result["events"].items():
            seen = {(e[1], e[2]) for e in events if e[0] == "changed"}
            gaps = [(e[1], e[2]) for e in events if e[0] == "gap"]
            tally["gap events"] += len(gaps)
            for e in events:
                if e[0] == "changed":
                    ok = (e[1], e[2]) in written or e[1] == str(epc_uri(space))
                    verdict.check("notification", ok, f"{e}: never written")
                elif e[0] != "gap":
                    verdict.violations.append(f"process {result['proc']}: event {e}")
            since = result["subscribed"][space]
            for uri, version, start, end in acked[space]:
                if start < since:
                    continue
                if (uri, version) in seen:
                    tally["seen"] += 1
                elif any(g0 <= end and start <= g1 for g0, g1 in gaps):
                    tally["in a gap"] += 1
                else:
                    tally["missed"] += 1
                    verdict.violations.append(
                        f"process {result['proc']}: change {uri} v{version} "
                        f"[{start}, {end}] neither notified nor in a gap {gaps}"
                    )
        per_proc[result["proc"]] = tally
    return per_proc


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.0f}"


def summary_of(counter: dict[str, int] | Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def merged(result: dict[str, Any], key: str) -> Counter[str]:
    total: Counter[str] = Counter()
    for t in result["threads"]:
        total.update(t[key])
    return total


def report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    drops: Counter[str],
    notes: dict[str, Any],
    verdict: Verdict,
    notified: dict[int, Counter[str]],
) -> str:
    """The RESULTS.md section."""
    rows = []
    for r in results:
        hangs = [h for t in r["threads"] for h in t["hangs"]] + r["stuck"]
        n = notified[r["proc"]]
        samples = [b for _, b in r["rss"]["series"]]
        rows.append(
            f"| {r['proc']} | {sum(merged(r, 'ops').values()):,} | {r['connects']} "
            f"| {summary_of(merged(r, 'errors')) or '-'} | {len(hangs)} "
            f"| {sum(merged(r, 'acks').values()):,} | {sum(merged(r, 'checks').values()):,} "
            f"| {n['seen']:,} / {n['in a gap']:,} / {n['missed']:,} | {n['gap events']} "
            f"| {mb(r['rss']['start'])} / {mb(max(samples, default=0))} / {mb(r['rss']['end'])} "
            f"| {mb(r['bookkeeping'])} |"
        )
    ops = Counter[str]()
    errors = Counter[str]()
    acks = Counter[str]()
    for r in results:
        ops.update(merged(r, "ops"))
        errors.update(merged(r, "errors"))
        acks.update(merged(r, "acks"))
    hangs = [h for r in results for t in r["threads"] for h in t["hangs"]]
    hangs += [s for r in results for s in r["stuck"]]
    seen = sum(n["seen"] for n in notified.values())
    gapped = sum(n["in a gap"] for n in notified.values())
    missed = sum(n["missed"] for n in notified.values())
    series = "; ".join(
        f"process {r['proc']}: "
        + " ".join(mb(b) for _, b in r["rss"]["series"][:: max(1, int(args.duration // 12))])
        for r in results
    )
    kinds = Counter(re.sub(r"^process \d+: ", "", v).split(":", 1)[0] for v in verdict.violations)
    verdict_line = (
        "**all checks passed**"
        if not verdict.violations
        else f"**{len(verdict.violations)} violation(s)** ({summary_of(kinds)}), e.g. "
        + "; ".join(v.replace("\n", " ")[:300] for v in verdict.violations[:4])
    )
    command = " ".join(["python", "bench/soak.py", *notes["argv"]])
    examples: dict[str, str] = {}
    for r in results:
        for t in r["threads"]:
            for kind, text in t["samples"].items():
                examples.setdefault(kind, text)
    messages = "; ".join(f"{k}: `{v}`" for k, v in sorted(examples.items())) or "none"
    title = f"{args.processes} processes x {args.threads} threads through drops"
    return f"""## Soak: {title} (bench/soak.py)

Command: `{command}` (from the repository root); {args.duration:.0f} s of operations, a drop every \
{args.drop_every:g} s; call timeout {TIMEOUT:g} s, hang = a call past timeout + \
DEADLINE_MARGIN ({MARGIN:g} s); max message size {MAX_MESSAGE // 1024} KiB (arrays of \
{BIG_SHAPE[0]}x{BIG_SHAPE[1]} float64 take several requests, and so do a thread's \
{OWN_OBJECTS} objects together).

Machine: {notes["machine"]}. Load average (1 min) {notes["load_start"]:.1f} at the start, \
{notes["load_end"]:.1f} at the end (other jobs shared the machine). Wall time {notes["wall"]:.0f} s.

Result: {verdict_line}. Drops: {drops["proxy"]} resets by the proxy \
({drops["proxy connections"]} connections) and {drops["server"]} cuts by the server \
({drops["server connections"]} connections). Hangs: {len(hangs)}\
{" (" + "; ".join(hangs[:5]) + ")" if hangs else ""}.

| process | ops | connects | errors by type | hangs | acknowledged writes | reads checked \
| acknowledged changes notified / in a gap / missed | gap events | RSS MB start / peak / end \
| of which the soak's records, MB |
|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|
{chr(10).join(rows)}

Totals: {sum(ops.values()):,} operations ({summary_of(ops)}); errors {summary_of(errors) or "none"};
acknowledged writes {sum(acks.values()):,} ({summary_of(acks)}); checks at the end \
{summary_of(verdict.counts)}; notifications: {seen:,} acknowledged changes seen by the \
subscribers, {gapped:,} covered by a gap event, {missed:,} missed.

Server + proxy process RSS MB start / peak / end: {mb(notes["server_rss"][0])} / \
{mb(notes["server_rss"][1])} / {mb(notes["server_rss"][2])} ({mb(notes["server_rss"][3])} after \
`gc.collect()`; the store holds {mb(notes["store_bytes"])} MB of objects and arrays).
RSS over time (MB, every {max(1, int(args.duration // 12))} s): {series}.

Notes:

- Each thread checks its reads: its own objects and arrays hold a version between the last \
acknowledged and the last attempted write, every array read (its own and the shared ones) is one \
whole version (one fill value). At the end, the server's store is checked the same way for every \
object and array, committed transactions are wholly stored and failed ones wholly or not at all. \
Every subscriber (each process subscribes to every process's dataspace) must have received each \
acknowledged change made after it subscribed, or a gap event whose span overlaps the write call.
- A shared-array read that is a mix or all zeros has one of two known causes: another thread \
of the same session holds a transaction (an explicit one, or the automatic one of a \
multi-request put), and the server answers the session's reads from that transaction's \
uncommitted state, since ETP transactions belong to the session; or another session commits a \
new version between the blocks of a multi-request `get_data_array`. Runs with `--threads 1` \
show only the second, runs with `--processes 1` only the first.
- Errors are expected where a drop hits a call that cannot be retried as a whole: an explicit \
transaction (`TransactionError`), a write inside one, or a reconnect that did not fit the \
deadline. First message of each error type: {messages}.
- RSS is measured with glibc's mmap threshold pinned (as in the fault matrix), so freed big \
blocks return to the system and RSS shows live memory. It includes the soak's own records (what \
each thread attempted and had acknowledged, every notification received), which grow with the \
operations; their size at the end is in the last column.
"""


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    wall = time.monotonic()
    notes: dict[str, Any] = {
        "argv": list(argv),
        "machine": machine_note(["websocket-client"]),
        "load_start": os.getloadavg()[0],
    }
    server_rss = [rss_bytes(), rss_bytes()]
    server = EmbeddedServer(port=0, log_level="CRITICAL").start()
    proxy = FaultProxy(server).start()
    stop = threading.Event()
    try:
        prepare(server, args.processes)
        with tempfile.TemporaryDirectory(prefix="etp_sync_soak_") as tmp:
            workers = [
                WorkerProcess(p, proxy.url, Path(tmp, f"w{p}.json"), Path(tmp, f"w{p}.log"), args)
                for p in range(args.processes)
            ]
            for w in workers:
                w.expect("ready", 120)
            for w in workers:
                w.tell("go")
            until = time.monotonic() + args.duration
            drops = drop_loop(server, proxy, args.drop_every, until, stop)
            server_rss[1] = max(server_rss[1], status_bytes("VmHWM") or 0)
            for w in workers:
                w.expect("stopped", 4 * (TIMEOUT + MARGIN) + 60)
            for w in workers:
                w.tell("drain")
            results = [w.result(DRAIN_MAX + 60) for w in workers]
        notes["load_end"] = os.getloadavg()[0]
        verdict = Verdict()
        for r in results:
            for t in r["threads"]:
                verdict.violations.extend(f"process {r['proc']}: {v}" for v in t["violations"])
        verify_store(server, results, verdict)
        notified = verify_notifications(results, verdict)
        server_rss.append(rss_bytes())
        gc.collect()
        server_rss.append(rss_bytes())
        notes["store_bytes"] = server.store.used_bytes
    finally:
        stop.set()
        proxy.stop()
        server.stop()
    notes["server_rss"] = server_rss
    notes["wall"] = time.monotonic() - wall
    section = report(args, results, drops, notes, verdict, notified)
    print(section)
    for violation in verdict.violations:
        print("violation:", violation)
    if not args.no_write:
        print(f"written to {write_section('soak', section)}")
    return 1 if verdict.violations else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of operations")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=6, help="threads per process")
    parser.add_argument("--drop-every", type=float, default=4.0, help="seconds between drops")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-ops", type=int, default=100_000, help="operations per thread")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return run_worker(args)
    return run(args, argv)


if __name__ == "__main__":
    sys.exit(main())
