"""Timing claims: how long things that the unit tests check by behaviour actually take.

The unit tests assert what happens (a receive timeout returns None, a stalled peer is reported
as a lost connection, a huge claimed count fails with ETPDecodeError without allocating); how
long it takes depends on the machine and its load, so those numbers live here instead:

* ``import etp_sync`` in a fresh interpreter: claim < 0.5 s (best of ``--reps`` subprocesses);
* ``WebSocketTransport.recv_message(timeout=0.1)`` with nothing to read returns None after
  0.09 s to 0.4 s;
* a client's close handshake with a responsive peer completes in < 1.5 s;
* a peer that stalls mid-frame is reported after ``stall_timeout`` (0.3 s here), < 3 s in all;
* ``decode_message`` of a frame claiming a huge map count, key length or array size fails in
  < 0.5 s; ``decode_numeric`` of a huge bogus array count fails in < 0.5 s;
* ``decode_message`` of a randomly mutated or random frame (the fuzz tests' inputs) finishes,
  with a message or an ETPDecodeError, in < 2 s (worst of ``--fuzz`` inputs);
* a Ping round trip to an ``EmbeddedServer(latency=0.1)`` takes 0.1 s to 1 s (the server
  sleeps ``latency`` before handling each incoming message);
* ``repr`` and ``_repr_html_`` of 10,000 resources (tables) take < 0.5 s.

The transport is measured over a local socket pair (no server, no TLS). The table is printed
and the "timing" section of ``bench/RESULTS.md`` is rewritten unless ``--no-write`` is given.

Run from the repository root::

    .venv/bin/python bench/timing.py [--reps 5] [--fuzz 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from _results import machine_note, write_section

REPO = Path(__file__).resolve().parents[1]

Claim = tuple[str, float, float, str]
"""(what, lowest seconds allowed, highest seconds allowed, where the behaviour is tested)."""


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def import_time() -> float:
    """``import etp_sync`` in a fresh interpreter, timed inside it."""
    code = "import time; t=time.perf_counter(); import etp_sync; print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def transport_pair(stall_timeout: float = 60.0) -> tuple[socket.socket, object]:
    """A raw server socket and a client WebSocketTransport connected to it."""
    from etp_sync.transport._websocket import WebSocketTransport

    server, client = socket.socketpair()
    return server, WebSocketTransport(client, stall_timeout=stall_timeout)


def recv_timeout_time() -> float:
    server, client = transport_pair()
    try:
        elapsed = timed(lambda: client.recv_message(timeout=0.1))  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]
        server.close()
    return elapsed


def close_handshake_time() -> float:
    """The client sends its close frame; a server transport answers it from its reader."""
    from etp_sync.errors import ETPSessionClosed
    from etp_sync.transport._websocket import WebSocketTransport

    a, b = socket.socketpair()
    server, client = WebSocketTransport(a, client=False), WebSocketTransport(b)

    def answer() -> None:
        try:
            server.recv_message(timeout=10)
        except ETPSessionClosed:
            pass  # the expected end: the client's close frame, answered

    reader = threading.Thread(target=answer)
    reader.start()
    try:
        return timed(lambda: client.close(4000, "done here"))
    finally:
        reader.join(10)
        server.close()


def stall_time() -> float:
    """Half a binary frame, then silence: recv must give up after the stall timeout."""
    from etp_sync.errors import ETPConnectionLost

    server, client = transport_pair(stall_timeout=0.3)
    server.sendall(struct.pack("!BB", 0x82, 100) + b"x" * 50)

    def receive() -> None:
        try:
            client.recv_message(timeout=None)  # type: ignore[attr-defined]
        except ETPConnectionLost:
            return
        raise AssertionError("a stalled frame was not reported")

    try:
        return timed(receive)
    finally:
        client.close()  # type: ignore[attr-defined]
        server.close()


def huge_count_frames() -> list[bytes]:
    """The codec robustness tests' frames that claim far more than they hold."""
    from etp_sync.codec._numeric import write_varint

    hdr = b"".join(write_varint(v) for v in (4, 1, 0, 2, 2))
    hdr9 = b"".join(write_varint(v) for v in (9, 1, 0, 2, 2))
    array = write_varint(1) + b"\x020" + write_varint(1) + write_varint(1) + write_varint(4)
    return [
        hdr + write_varint(2**62) + b"\x02a",
        hdr + write_varint(1) + write_varint(2**60) + b"a",
        hdr + write_varint(-(2**40)) + write_varint(-5),
        hdr9 + array + write_varint(2**60) + b"\x00" * 16,
    ]


def failing_decode_time(decode: Callable[[], object]) -> float:
    from etp_sync.errors import ETPDecodeError

    def run() -> None:
        try:
            decode()
        except ETPDecodeError:
            return
        raise AssertionError("a bogus input decoded")

    return timed(run)


def huge_count_time() -> float:
    """Slowest failing decode over the huge-count frames."""
    from etp_sync.codec import decode_message

    return max(failing_decode_time(partial(decode_message, f)) for f in huge_count_frames())


def numeric_bogus_count_time() -> float:
    """Slowest ``decode_avro_array_numeric`` over the numeric tests' bogus counts."""
    from etp_sync.codec._numeric import decode_avro_array_numeric, write_varint

    worst = 0.0
    for kind in ("int", "long", "float", "double", "boolean"):
        for count in (2**62, 2**63 - 1, 10**9, -(2**63), -(2**62)):
            size = write_varint(16) if count < 0 else b""
            data = write_varint(count) + size + b"\x02" * 16 + b"\x00"
            worst = max(
                worst,
                failing_decode_time(partial(decode_avro_array_numeric, data, 0, kind)),
            )
    return worst


def fuzz_time(count: int) -> float:
    """Slowest decode over ``count`` mutated sample frames and random byte strings."""
    from etp_sync.codec import decode_message
    from etp_sync.errors import ETPDecodeError

    sys.path.insert(0, str(REPO / "tests"))
    from test_codec_robust import SAMPLES

    rng = random.Random(20240612)
    worst = 0.0
    for i in range(count):
        if i % 2:
            frame = bytearray(rng.choice(SAMPLES))
            for _ in range(rng.randint(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
        else:
            frame = bytearray(rng.randbytes(rng.randrange(201)))
        started = time.perf_counter()
        try:
            decode_message(bytes(frame), max_size=1 << 20)
        except ETPDecodeError:
            pass  # a clean refusal is one of the two allowed outcomes
        worst = max(worst, time.perf_counter() - started)
    return worst


def server_latency_time() -> float:
    """``ETPSession.ping`` round trip to a local EmbeddedServer started with ``latency=0.1``."""
    from etp_sync import etp_connect
    from etp_sync.server import EmbeddedServer

    with EmbeddedServer(latency=0.1) as server, etp_connect(server.url) as session:
        return session.ping(timeout=10)


def table_render_time() -> float:
    """``repr`` and ``_repr_html_`` of a GetResources answer holding 10,000 resources."""
    import uuid

    from etp_sync import DataObjectURI, Resource, Resources

    kind = "resqml20.obj_Grid2dRepresentation"
    resources = Resources(
        tuple(
            Resource(DataObjectURI.from_type("bench/tables", kind, uuid.uuid4()), f"S {i}", 1, 1, 1)
            for i in range(10_000)
        )
    )
    return timed(lambda: (repr(resources), resources._repr_html_()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each measure (5)")
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed frames to decode (2000)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))

    def runs(measure: Callable[[], float]) -> list[float]:
        return [measure() for _ in range(args.reps)]

    # Every repetition must fall in the allowed range, except the import: its claim is on the
    # best run (the first may pay for a cold disk cache).
    rows: list[tuple[Claim, list[float]]] = [
        (("import etp_sync, fresh interpreter (best run)", 0, 0.5, "test_schema_exact.py"),
         [min(runs(import_time))]),
        (("recv_message(timeout=0.1) with nothing to read", 0.09, 0.4, "test_websocket.py"),
         runs(recv_timeout_time)),
        (("client close handshake, responsive peer", 0, 1.5, "test_websocket.py"),
         runs(close_handshake_time)),
        (("mid-frame stall reported (stall_timeout=0.3)", 0, 3.0, "test_websocket.py"),
         runs(stall_time)),
        (("decode_message: huge claimed count/length fails", 0, 0.5, "test_codec_robust.py"),
         runs(huge_count_time)),
        (("decode_avro_array_numeric: huge bogus count fails", 0, 0.5, "test_numeric.py"),
         runs(numeric_bogus_count_time)),
        ((f"decode_message of one of {args.fuzz} fuzzed frames", 0, 2.0, "test_codec_robust.py"),
         [fuzz_time(args.fuzz)]),
        (("Ping round trip, EmbeddedServer(latency=0.1)", 0.1, 1.0, "test_server.py"),
         runs(server_latency_time)),
        (("10,000 resources as text and HTML tables", 0, 0.5, "test_display.py"),
         runs(table_render_time)),
    ]  # fmt: skip

    command = f"{sys.executable} bench/timing.py"
    if given := sys.argv[1:] if argv is None else list(argv):
        command += " " + " ".join(given)
    lines = [
        "## Timing claims (bench/timing.py)",
        "",
        f"Command: `{command}` (from the repository root)",
        "",
        f"Machine: {machine_note(())}. {args.reps} repetitions of each measure (the fuzz row: the "
        "slowest single decode); the unit tests named check the same behaviour without a clock.",
        "",
        "| claim | allowed s | measured s (min to max) | met | behaviour tested in |",
        "|---|--:|--:|---|---|",
    ]
    met_all = True
    for (what, low, high, where), seconds in rows:
        met = low <= min(seconds) and max(seconds) < high
        met_all &= met
        allowed = f"{low:g} to {high:g}" if low else f"< {high:g}"
        measured = f"{min(seconds):.4f} to {max(seconds):.4f}"
        lines.append(
            f"| {what} | {allowed} | {measured} | {'yes' if met else 'NO'} | tests/{where} |"
        )
    lines += ["", f"All claims met: {'yes' if met_all else 'NO'}.", ""]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        path = write_section("timing", section)
        print(f"wrote the timing section of {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
