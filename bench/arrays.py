"""Array benchmark: put + get of a 256 MiB float64 array through the embedded ETP server.

What is measured, side by side in one run (``--reps`` rounds; in each round every row runs
``--warmup`` untimed put+get then one timed put+get; the best timed round of each row is kept):

1. ``etp_sync``: ``session.put_data_array(uri, path, a)`` then ``session.get_data_array(uri,
   path)`` of a random float64 array of ``--size-mb`` MiB (shape ``(n / 8192, 8192)``), over a
   real 127.0.0.1 socket to ``python -m etp_sync.server`` running in its own process, once per
   ``--max-message-size`` (default 16 MiB, the server's default, and 1 MiB). Client and server
   CPU seconds of each phase are recorded too (client: ``time.process_time``, all threads;
   server: utime + stime from ``/proc/<pid>/stat``). The array read back is compared with the
   input after the timing.
2. the same against an ``EmbeddedServer`` thread inside the client process (shared GIL);
3. ``reference``: the transport floor. The same number of bytes, in messages of the same sizes
   as the ETP blocks, sent up with ``etp_sync.transport._websocket.WebSocketTransport`` (numpy
   masking into its send buffer) to a minimal raw-socket websocket peer in its own process that
   discards them (no unmasking), then sent down by that peer as unmasked frames and received
   with ``recv_message`` -- one connection, no ETP encoding, no store. A second row does the
   same against a sink/source written with the ``websockets`` sync server (what the embedded
   server ran on before it framed messages itself): that library's own floor, still without
   ETP;
4. ``pyetp``: for scale, ``rddms_io.client.RDDMSClient(etp_client).upload_array`` /
   ``download_array`` of PyPI ``pyetp==0.0.58`` (asyncio, pydantic models, compression off)
   against the separate-process server with the first message size, one round. Skipped with a
   message when ``--skip-pyetp`` is given or pyetp is not importable.

Peak memory: for each message size a fresh client process (which never holds the source array)
connects, records its VmRSS, resets its peak (``/proc/self/clear_refs``), calls
``get_data_array`` and reads VmHWM; "peak" is VmHWM minus that baseline. The put is measured
the same way (the array is created before the baseline). Linux only.

Targets: put + get throughput (16 MiB messages, server in its own process) at least 50% of the
reference's up + down throughput; peak RSS growth of a get at most 1.5x the array size.

The table and the verdicts are printed and the "arrays" section of ``bench/RESULTS.md`` is
rewritten (other sections are kept) unless ``--no-write`` is given. Every process the benchmark
starts listens on 127.0.0.1 only and is stopped before it exits (also on errors).

Run from the repository root::

    /work/venv-bench/bin/python bench/arrays.py [--size-mb 256] [--reps 3] [--warmup 1]
        [--max-message-size 16777216 --max-message-size 1048576] [--skip-inprocess]
        [--skip-pyetp] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _results import machine_note, reset_peak, status_bytes, write_section

REPO = Path(__file__).resolve().parents[1]

MIB = 1 << 20
PACKAGES = ("websockets", "websocket-client", "pyetp")
COLUMNS = 8192
SEED = 20240612
DATASPACE = "bench/arrays"
EPC = (
    f"eml:///dataspace('{DATASPACE}')/"
    "eml20.obj_EpcExternalPartReference(9f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6)"
)
PATH_IN_RESOURCE = "/RESQML/bench/values"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL = "etp12.energistics.org"
TIMEOUT = 600.0

THROUGHPUT_MIN = 0.5  # put+get / reference
PEAK_MAX = 1.5  # get peak RSS growth / array size

NOTES = (
    "Notes:",
    "",
    "- Throughput counts the array bytes (MiB = 2^20 bytes): put and get move the array once "
    "each, so put+get = 2 x size / (put time + get time); the references move the same bytes "
    "up, then down.",
    "- Where the time goes (16 MiB messages; the CPU columns). The server takes the HTTP "
    "upgrade with its own parser (`server/_http.py`), then frames messages with the client's "
    "`WebSocketTransport`, all in the session thread. **put**: the values of each message "
    "are received straight into the memory that becomes the store block "
    "(`codec/_placement.py`), unmasked there by numpy; that memory comes from the store's "
    "`BlockMemory`, which keeps the memory of dead blocks (bounded) so a put that replaces "
    "an array of the same block sizes faults no fresh pages (perf: page faults were ~60% of "
    "the server's put before it). What is left is the kernel's receive copy (~40%) and the "
    "unmasking. The client masks and sends (~0.1 s). **get**: the server sends read-only "
    "views of its store blocks (no copy; ~40% is the kernel's send copy, the compression "
    "sample a few ms); the client receives each block straight into its place in the "
    "result, whose pages are populated ahead by a helper thread (`madvise`). The no-ETP "
    "websockets row varies between runs (1,100-2,300 MiB/s up seen).",
    "- Fixed on the way: the server used to run on `websockets.sync`: its receive thread (64 "
    "KiB `socket.recv` calls, frame parsing, slicing each frame out of its buffer, an "
    "unmasking copy; ~0.11-0.15 s per 256 MiB) took turns with the session thread on one GIL, "
    "and big responses needed a write around its framing copy. Framing with "
    "`WebSocketTransport` instead: before it (same machine, 16 MiB, own process) put 1,424, "
    "get 1,767, put+get 1,577 MiB/s = 41% of the reference; now the rows above.",
    "- 1 MiB messages: per-message costs dominate, above all the compression decision "
    "(`codec.worth_compressing`): a 64 KiB sample cost ~1.2 ms of zlib level 1 per message on "
    "random doubles, on both sides; the 16 KiB sample now used costs ~0.1 ms and gives the same "
    "verdicts (random 0.95, smooth 0.73-0.75, small ints 0.27): 1 MiB put+get 1.00 s -> 0.51 s "
    "(median) when it was introduced, no change at 16 MiB.",
    "- pyetp: its time goes to its per-value Avro/pydantic codec (see the codec section), "
    "not to the transport.",
    "- This machine is a Firecracker VM with free page reporting: memory the guest frees goes "
    "back to the host within about a second and the next first touch of it costs a host page "
    "fault (the 'first touch' rate above; it varies from run to run). The references reuse "
    "their buffers; a get fills a freshly allocated result and a put a freshly allocated store "
    "array. The untimed warm-up put+get before each timed one lets those allocations reuse "
    "recently freed memory; the fresh-process peak runs show the cold case.",
)


# ---------------------------------------------------------------------------------------------
# small helpers


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def digest(array: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).data.cast("B")).hexdigest()


def make_array(size_mb: int) -> np.ndarray:
    rows = max(1, size_mb * MIB // (8 * COLUMNS))
    return np.random.default_rng(SEED).random((rows, COLUMNS))


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def block_sizes(shape: tuple[int, ...], max_message_size: int) -> list[int]:
    """Bytes of values in each PutDataSubarrays block etp_sync sends for this array."""
    from etp_sync.calls._blocks import block_budget, plan_blocks

    budget = block_budget(max_message_size, EPC, PATH_IN_RESOURCE, len(shape))
    return [int(np.prod(counts)) * 8 for _, counts in plan_blocks(shape, 8, budget)]


def fmt_mib(n: float) -> str:
    return f"{n / MIB:,.0f}" if n >= 10 * MIB else f"{n / MIB:,.1f}"


# ---------------------------------------------------------------------------------------------
# processes


@dataclass
class Child:
    """A server process started by the benchmark; stopped by :meth:`stop`."""

    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_child(args: list[str], stack: contextlib.ExitStack) -> Child:
    """Start ``python <args>``, whose first stdout line ends with its ws:// URL."""
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, env=child_env(), cwd=REPO
    )
    child = Child(proc, "")
    stack.callback(child.stop)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if "ws://127.0.0.1:" not in line:
        raise SystemExit(f"{' '.join(args)} did not start: {line!r}")
    child.url = line[line.index("ws://") :]
    return child


def start_etp_server(
    max_message_size: int, stack: contextlib.ExitStack, extra: Sequence[str] = ()
) -> Child:
    """``python -m etp_sync.server`` on a free 127.0.0.1 port, with ``extra`` flags."""
    return start_child(
        [
            "-m",
            "etp_sync.server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--max-message-size",
            str(max_message_size),
            "--log-level",
            "WARNING",
            *extra,
        ],
        stack,
    )


def run_role(role: str, url: str, max_message_size: int, size_mb: int) -> dict[str, Any]:
    """Run this script as a fresh client process (``--role``); return its JSON report."""
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            role,
            "--url",
            url,
            "--max-message-size",
            str(max_message_size),
            "--size-mb",
            str(size_mb),
        ],
        capture_output=True,
        env=child_env(),
        cwd=REPO,
        timeout=TIMEOUT,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"--role {role} failed:\n{out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# the reference peer: a raw-socket websocket sink (up) and source (down)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("peer closed")
        got += k
    return bytes(buf)


def _frame_header(opcode: int, length: int) -> bytes:
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


def _handshake(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("peer closed during the upgrade")
        data += chunk
    headers = {}
    for line in data.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    accept = base64.b64encode(
        hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()
    ).decode()
    sock.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
        ).encode()
    )


def _serve_reference_connection(sock: socket.socket, source: memoryview) -> None:
    """Frames in: a JSON plan, then ``up`` bytes to discard; out: an ack, then ``down``."""
    sink = bytearray(1 << 20)
    sink_view = memoryview(sink)
    expect_up = 0
    got_up = 0
    down: list[int] = []
    while True:
        b0, b1 = _recv_exact(sock, 2)
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(_recv_exact(sock, 2), "big")
        elif length == 127:
            length = int.from_bytes(_recv_exact(sock, 8), "big")
        key = _recv_exact(sock, 4) if b1 & 0x80 else b""
        opcode = b0 & 0x0F
        if opcode in (0x8, 0x9) or expect_up == 0:  # control frame or the plan: read it all
            payload = bytearray(_recv_exact(sock, length))
            if key:
                for i in range(len(payload)):
                    payload[i] ^= key[i & 3]
            if opcode == 0x8:
                sock.sendall(_frame_header(0x8, min(length, 2)) + bytes(payload[:2]))
                return
            if opcode == 0x9:
                sock.sendall(_frame_header(0xA, length) + bytes(payload))
                continue
            plan = json.loads(payload)
            expect_up, got_up, down = int(plan["up"]), 0, [int(n) for n in plan["down"]]
            continue
        remaining = length  # upload data: discard without unmasking
        while remaining:
            k = sock.recv_into(sink_view[: min(remaining, len(sink))])
            if k == 0:
                raise ConnectionError("peer closed")
            remaining -= k
        got_up += length
        if got_up >= expect_up:
            sock.sendall(_frame_header(0x2, 3) + b"ack")
            for size in down:
                sock.sendall(_frame_header(0x2, size))
                sock.sendall(source[:size])
            expect_up = 0


def reference_server() -> None:
    """``--role reference-server``: serve connections one at a time until terminated."""
    source = memoryview(np.random.default_rng(SEED).bytes(64 * MIB))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(f"reference peer listening on ws://127.0.0.1:{listener.getsockname()[1]}/")
        sys.stdout.flush()
        while True:
            sock, _ = listener.accept()
            with sock:
                try:
                    _handshake(sock)
                    _serve_reference_connection(sock, source)
                except (ConnectionError, OSError):
                    pass


def websockets_server() -> None:
    """``--role websockets-server``: the same sink/source written with the websockets library's
    sync server (what the embedded ETP server ran on), with the embedded server's old settings."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import ServerConnection, serve
    from websockets.typing import Subprotocol

    source = memoryview(np.random.default_rng(SEED).bytes(64 * MIB))

    def handler(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                plan = json.loads(connection.recv())
                got = 0
                while got < int(plan["up"]):
                    got += len(connection.recv())
                connection.send(b"ack")
                for size in plan["down"]:
                    connection.send(source[: int(size)])

    with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        compression=None,
        max_size=None,
        max_queue=64,
        ping_interval=None,
    ) as server:
        print(f"websockets peer listening on ws://127.0.0.1:{server.socket.getsockname()[1]}/")
        sys.stdout.flush()
        server.serve_forever()


class ReferenceClient:
    """Upload then download through a :class:`WebSocketTransport` to a sink/source peer."""

    def __init__(self, transport: Any, sizes: list[int], data: np.ndarray) -> None:
        if max(sizes) > 64 * MIB:
            raise SystemExit("reference messages are limited to 64 MiB")
        self.transport = transport
        self.sizes = sizes
        self.raw = data.data.cast("B")

    def upload(self) -> None:
        """Send the plan and the data; return when the peer has it all."""
        self.transport.send_message(
            json.dumps({"up": sum(self.sizes), "down": self.sizes}).encode()
        )
        pos = 0
        for size in self.sizes:
            self.transport.send_message(self.raw[pos : pos + size])
            pos += size
        ack = self.transport.recv_message(timeout=TIMEOUT)
        if ack != b"ack":
            raise SystemExit(f"reference peer answered {ack!r}")

    def download(self) -> list[int]:
        """Receive the peer's messages; return their sizes (checked outside the timing)."""
        got = []
        for _ in self.sizes:
            message = self.transport.recv_message(timeout=TIMEOUT)
            got.append(-1 if message is None else len(message))
            del message
        return got

    def check(self, got: list[int]) -> None:
        if got != self.sizes:
            raise SystemExit("reference download: wrong message sizes")


# ---------------------------------------------------------------------------------------------
# client roles run in fresh processes (peak memory)


def role_get_peak(url: str, max_message_size: int) -> dict[str, Any]:
    from etp_sync import ETPSession

    with ETPSession(url, timeout=TIMEOUT, max_message_size=max_message_size) as session:
        session.get_data_array_metadata(EPC, PATH_IN_RESOURCE)  # warm the imports
        gc.collect()
        base = status_bytes("VmRSS")
        ok = reset_peak()
        t0 = time.perf_counter()
        result = session.get_data_array(EPC, PATH_IN_RESOURCE)
        seconds = time.perf_counter() - t0
        peak = status_bytes("VmHWM")
    return {
        "seconds": seconds,
        "base": base,
        "peak": peak if ok else None,
        "nbytes": int(result.nbytes),
        "digest": digest(result),
    }


def role_put_peak(url: str, max_message_size: int, size_mb: int) -> dict[str, Any]:
    from etp_sync import ETPSession

    array = make_array(size_mb)
    with ETPSession(url, timeout=TIMEOUT, max_message_size=max_message_size) as session:
        session.get_data_array_metadata(EPC, PATH_IN_RESOURCE)  # exists: put by the main run
        gc.collect()
        base = status_bytes("VmRSS")
        ok = reset_peak()
        t0 = time.perf_counter()
        session.put_data_array(EPC, PATH_IN_RESOURCE, array)
        seconds = time.perf_counter() - t0
        peak = status_bytes("VmHWM")
    return {"seconds": seconds, "base": base, "peak": peak if ok else None}


# ---------------------------------------------------------------------------------------------
# measurements


@dataclass
class Round:
    """One put + get (or up + down): wall seconds and CPU seconds per phase."""

    put: float
    get: float
    client_cpu: tuple[float, float] | None = None
    server_cpu: tuple[float, float] | None = None

    @property
    def total(self) -> float:
        return self.put + self.get


@dataclass
class Config:
    """One row of the throughput table: how to put and get, and every timed round."""

    label: str
    server: str
    max_message_size: int
    messages: str
    put: Callable[[], Any] | None = None
    get: Callable[[], Any] | None = None
    check: Callable[[Any], None] | None = None
    server_pid: int | None = None
    rounds: list[Round] = field(default_factory=list)

    @property
    def best(self) -> Round:
        return min(self.rounds, key=lambda r: r.total)

    @property
    def name(self) -> str:
        return f"{self.label} -> {self.server}, {fmt_mib(self.max_message_size)} MiB"


def measure(config: Config) -> Round:
    """One timed put and get of ``config``; the result is checked after the timing."""
    assert config.put is not None and config.get is not None and config.check is not None
    pid = config.server_pid
    gc.collect()
    s0 = cpu_seconds(pid) if pid else 0.0
    c0, t0 = time.process_time(), time.perf_counter()
    config.put()
    c1, t1 = time.process_time(), time.perf_counter()
    s1 = cpu_seconds(pid) if pid else 0.0
    result = config.get()
    c2, t2 = time.process_time(), time.perf_counter()
    s2 = cpu_seconds(pid) if pid else 0.0
    config.check(result)
    del result
    r = Round(t1 - t0, t2 - t1, client_cpu=(c1 - c0, c2 - c1))
    if pid:
        r.server_cpu = (s1 - s0, s2 - s1)
    return r


def check_equal(result: np.ndarray, array: np.ndarray, what: str) -> None:
    if result.dtype != array.dtype or result.shape != array.shape:
        raise SystemExit(f"{what}: got {result.dtype} {result.shape}, expected {array.shape}")
    if not np.array_equal(result, array):
        raise SystemExit(f"{what}: the array read back differs from the one written")


def pyetp_available() -> str | None:
    try:
        import pyetp.client  # noqa: F401
        import rddms_io.client  # noqa: F401
    except Exception as exc:  # any import failure means: skip
        return f"{type(exc).__name__}: {exc}"
    return None


def pyetp_round(url: str, array: np.ndarray, max_message_size: int) -> tuple[Round, np.ndarray]:
    import asyncio

    from pyetp.client import etp_connect
    from rddms_io.client import RDDMSClient

    async def run() -> tuple[Round, np.ndarray]:
        async with etp_connect(
            url, max_message_size=max_message_size, use_compression=False, etp_timeout=TIMEOUT
        ) as client:
            rddms = RDDMSClient(client)
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            await rddms.upload_array(EPC, "/pyetp", array)
            c1, t1 = time.process_time(), time.perf_counter()
            result = await rddms.download_array(EPC, "/pyetp")
            c2, t2 = time.process_time(), time.perf_counter()
            return Round(t1 - t0, t2 - t1, client_cpu=(c1 - c0, c2 - c1)), result

    return asyncio.run(run())


def fresh_memory_probe(nbytes: int) -> tuple[float, float]:
    """MiB/s of filling freshly allocated memory, and of filling it again."""
    n = nbytes // 8
    t0 = time.perf_counter()
    block = np.empty(n)
    block.fill(1.0)
    t1 = time.perf_counter()
    block.fill(2.0)
    t2 = time.perf_counter()
    del block
    return nbytes / MIB / (t1 - t0), nbytes / MIB / (t2 - t1)


# ---------------------------------------------------------------------------------------------
# report


def throughput_table(configs: list[Config], nbytes: int, reference: Config) -> str:
    ref = 2 * nbytes / MIB / reference.best.total
    head = (
        "| client | server | max message | messages | put (up) MiB/s | get (down) MiB/s "
        "| put+get MiB/s | vs reference | client CPU s put / get | server CPU s put / get |\n"
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|\n"
    )
    lines = []
    for c in configs:
        b = c.best
        both = 2 * nbytes / MIB / b.total
        cc = f"{b.client_cpu[0]:.2f} / {b.client_cpu[1]:.2f}" if b.client_cpu else ""
        sc = f"{b.server_cpu[0]:.2f} / {b.server_cpu[1]:.2f}" if b.server_cpu else ""
        lines.append(
            f"| {c.label} | {c.server} | {fmt_mib(c.max_message_size)} MiB | {c.messages} "
            f"| {nbytes / MIB / b.put:,.0f} | {nbytes / MIB / b.get:,.0f} | {both:,.0f} "
            f"| {both / ref:.0%} | {cc} | {sc} |"
        )
    return head + "\n".join(lines) + "\n"


def peak_table(peaks: list[tuple[str, int, dict[str, Any]]], nbytes: int) -> str:
    head = (
        "| operation | max message | time s | MiB/s | RSS before MiB | peak growth MiB "
        "| x array |\n|---|--:|--:|--:|--:|--:|--:|\n"
    )
    lines = []
    for op, mms, rep in peaks:
        growth = None if rep["peak"] is None else rep["peak"] - rep["base"]
        lines.append(
            f"| {op} | {fmt_mib(mms)} MiB | {rep['seconds']:.3f} "
            f"| {nbytes / MIB / rep['seconds']:,.0f} | {rep['base'] / MIB:,.0f} "
            f"| {'' if growth is None else f'{growth / MIB:,.0f}'} "
            f"| {'' if growth is None else f'{growth / nbytes:.2f}'} |"
        )
    return head + "\n".join(lines) + "\n"


def verdict(text: str, value: float, ok: bool) -> str:
    return f"- {text}: **{value:.2f}x** -> {'MET' if ok else 'NOT MET'}"


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=256, help="array size in MiB (256)")
    parser.add_argument(
        "--max-message-size",
        type=int,
        action="append",
        help="server max message size in bytes; repeat for several (16 MiB and 1 MiB)",
    )
    parser.add_argument("--reps", type=int, default=3, help="timed rounds, best kept (3)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed put+get before each timed one (1)"
    )
    parser.add_argument("--skip-inprocess", action="store_true", help="no in-process server run")
    parser.add_argument("--skip-pyetp", action="store_true", help="do not run pyetp's client")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_child_role(args: argparse.Namespace, sizes: list[int]) -> int:
    if args.role == "reference-server":
        reference_server()
    elif args.role == "websockets-server":
        websockets_server()
    elif args.role == "get-peak":
        print(json.dumps(role_get_peak(args.url, sizes[0])))
    elif args.role == "put-peak":
        print(json.dumps(role_put_peak(args.url, sizes[0], args.size_mb)))
    else:
        raise SystemExit(f"unknown role {args.role!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes_arg: list[int] = args.max_message_size or [16 * MIB, MIB]
    if args.role:
        return run_child_role(args, sizes_arg)

    sys.path.insert(0, str(REPO))
    from etp_sync import ETPSession
    from etp_sync.server import EmbeddedServer
    from etp_sync.transport._websocket import WebSocketTransport

    fresh_rate, rewrite_rate = fresh_memory_probe(args.size_mb * MIB)
    array = make_array(args.size_mb)
    nbytes = int(array.nbytes)
    want = digest(array)
    print(f"array {array.shape} float64, {nbytes / MIB:g} MiB", flush=True)

    pyetp_note = "skipped: --skip-pyetp" if args.skip_pyetp else None
    if pyetp_note is None and (why := pyetp_available()) is not None:
        pyetp_note = f"skipped: pyetp not importable ({why})"

    def describe(sizes: list[int]) -> str:
        return f"{len(sizes)} x {fmt_mib(max(sizes))} MiB"

    def check_array(what: str) -> Callable[[Any], None]:
        return lambda result: check_equal(result, array, what)

    configs: list[Config] = []
    peaks: list[tuple[str, int, dict[str, Any]]] = []
    script = str(Path(__file__).resolve())
    with contextlib.ExitStack() as stack:
        # The transport floor: same bytes, same message sizes, no ETP, two kinds of peer.
        ref_sizes = block_sizes(array.shape, sizes_arg[0])
        for role, server_name in (
            ("reference-server", "raw sink/source (reference)"),
            ("websockets-server", "websockets.sync sink/source"),
        ):
            child = start_child([script, "--role", role], stack)
            transport = WebSocketTransport.connect(child.url, max_message_size=max(ref_sizes) + MIB)
            stack.callback(transport.close)
            ref = ReferenceClient(transport, ref_sizes, array)
            configs.append(
                Config(
                    "WebSocketTransport, no ETP",
                    server_name,
                    sizes_arg[0],
                    describe(ref_sizes),
                    ref.upload,
                    ref.download,
                    ref.check,
                    child.proc.pid,
                )
            )
        reference = configs[0]

        # ETP: python -m etp_sync.server in its own process, one per message size.
        servers: dict[int, Child] = {}
        for mms in sizes_arg:
            servers[mms] = child = start_etp_server(mms, stack)
            session = ETPSession(child.url, timeout=TIMEOUT, max_message_size=mms)
            stack.callback(session.close)
            session.connect()
            session.put_dataspace(DATASPACE)
            configs.append(
                Config(
                    "etp_sync ETPSession",
                    "etp_sync.server, own process",
                    mms,
                    describe(block_sizes(array.shape, mms)),
                    partial(session.put_data_array, EPC, PATH_IN_RESOURCE, array),
                    partial(session.get_data_array, EPC, PATH_IN_RESOURCE),
                    check_array(f"etp_sync, {fmt_mib(mms)} MiB"),
                    child.proc.pid,
                )
            )
        if not args.skip_inprocess:
            srv = stack.enter_context(EmbeddedServer("127.0.0.1", 0, max_message_size=sizes_arg[0]))
            srv.store.put_dataspace(f"eml:///dataspace('{DATASPACE}')")
            session = ETPSession(srv.url, timeout=TIMEOUT, max_message_size=sizes_arg[0])
            stack.callback(session.close)
            session.connect()
            configs.append(
                Config(
                    "etp_sync ETPSession",
                    "EmbeddedServer thread, same process",
                    sizes_arg[0],
                    configs[2].messages,
                    partial(session.put_data_array, EPC, PATH_IN_RESOURCE, array),
                    partial(session.get_data_array, EPC, PATH_IN_RESOURCE),
                    check_array("etp_sync in-process"),
                )
            )

        for round_index in range(args.reps):
            print(f"round {round_index + 1}/{args.reps}", flush=True)
            for config in configs:
                for warm in range(args.warmup + 1):
                    r = measure(config)
                    sc = r.server_cpu
                    print(
                        f"  {config.name}: put {r.put:.3f} s, get {r.get:.3f} s"
                        + (f", server CPU {sc[0]:.2f} / {sc[1]:.2f} s" if sc else "")
                        + (" (warm-up)" if warm < args.warmup else ""),
                        flush=True,
                    )
                config.rounds.append(r)

        # Peak memory of a get (and a put) in fresh client processes.
        for op, role in (("get_data_array", "get-peak"), ("put_data_array", "put-peak")):
            for mms, child in servers.items():
                rep = run_role(role, child.url, mms, args.size_mb)
                if "digest" in rep and rep.pop("digest") != want:
                    raise SystemExit(f"{role}: the array read back differs from the one written")
                peaks.append((op, mms, rep))
                print(f"  {op} in a fresh process, {fmt_mib(mms)} MiB: {rep}", flush=True)

        if pyetp_note is None:
            mms = sizes_arg[0]
            print("pyetp (one round, no warm-up)", flush=True)
            r, result = pyetp_round(servers[mms].url, array, mms)
            check_equal(result, array, "pyetp")
            del result
            configs.append(
                Config(
                    "pyetp 0.0.58 RDDMSClient",
                    "etp_sync.server, own process",
                    mms,
                    describe(block_sizes(array.shape, mms)),
                    rounds=[r],
                )
            )
            print(f"  pyetp: put {r.put:.3f} s, get {r.get:.3f} s", flush=True)

    section = report(args, argv, configs, reference, peaks, nbytes, array.shape, pyetp_note)
    section = section.replace(
        "{FRESH}", f"first touch {fresh_rate:,.0f} MiB/s, rewrite {rewrite_rate:,.0f} MiB/s"
    )
    print()
    print(section)
    if not args.no_write:
        path = write_section("arrays", section)
        print(f"wrote the arrays section of {path}")
    return 0


def report(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    configs: list[Config],
    reference: Config,
    peaks: list[tuple[str, int, dict[str, Any]]],
    nbytes: int,
    shape: tuple[int, ...],
    pyetp_note: str | None,
) -> str:
    """The RESULTS.md section: tables, verdicts and notes."""
    mms = configs[2].max_message_size
    ref_both = 2 * nbytes / MIB / reference.best.total
    ratio = (2 * nbytes / MIB / configs[2].best.total) / ref_both
    get_peak = next(rep for op, m, rep in peaks if op == "get_data_array" and m == mms)
    peak_ratio = (
        None if get_peak["peak"] is None else (get_peak["peak"] - get_peak["base"]) / nbytes
    )
    command = f"{sys.executable} bench/arrays.py"
    if argv_list := sys.argv[1:] if argv is None else list(argv):
        command += " " + " ".join(argv_list)
    lines = [
        f"## Arrays: put + get of a {args.size_mb} MiB float64 array (bench/arrays.py)",
        "",
        f"Command: `{command}` (from the repository root)",
        "",
        f"Machine: {machine_note(PACKAGES)}. Array {shape[0]} x {shape[1]} float64 "
        f"({nbytes / MIB:g} MiB). Each row: best of {args.reps} rounds, interleaved with the "
        f"other rows, each timed put+get preceded by {args.warmup} untimed one(s) (pyetp: one "
        "round, no warm-up). Every peer listens on 127.0.0.1 in a separate process (except the "
        "'same process' row), so client CPU and memory are the client's alone; CPU = user + "
        "system seconds of all threads. Fresh memory on this machine: {FRESH}.",
        "",
        throughput_table(configs, nbytes, reference),
        "Peak memory, each in a fresh client process (a get's source array is never in that "
        "process; a put's array is created before the baseline; time includes first-touch "
        "page faults of the result):",
        "",
        peak_table(peaks, nbytes),
        "Targets:",
        "",
        verdict(
            f"put+get throughput / reference up+down ({fmt_mib(mms)} MiB messages, server in "
            f"its own process), target >= {THROUGHPUT_MIN:g}",
            ratio,
            ratio >= THROUGHPUT_MIN,
        ),
    ]
    if peak_ratio is not None:
        lines.append(
            verdict(
                f"peak RSS growth of get_data_array / array size ({fmt_mib(mms)} MiB messages), "
                f"target <= {PEAK_MAX:g}",
                peak_ratio,
                peak_ratio <= PEAK_MAX,
            )
        )
    else:
        lines.append("- peak RSS of get_data_array: not measured (no /proc/self/clear_refs)")
    lines += ["", *NOTES, ""]
    if pyetp_note:
        lines += [f"pyetp: {pyetp_note}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
