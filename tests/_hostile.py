"""Hostile-client test tools: a server subprocess, its RSS and threads, a probe, raw attacks.

The server runs as users run it (``python -m etp_sync.server``) in a child process, so its memory
and threads can be observed from /proc without our own test threads in the numbers. Every attack
tool here speaks to 127.0.0.1 only, and every loop is bounded in count and in time.

- :class:`ServerProcess` / :func:`start_server`: the child, its log, /proc samples, stop.
- :class:`Probe`: a well-behaved :class:`etp_sync.ETPSession` that a background thread keeps
  calling (``get_dataspaces`` + ``ping``), recording the worst latency and any failure.
- :class:`RawWebSocket` and the HTTP helpers: hand-made upgrades and frames (masked, any announced
  length, trickled), ETP messages built with :mod:`etp_sync.codec` and :mod:`etp_sync.schema`.
- Payload builders: a gzip bomb, huge count claims, padded XML documents.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _helpers import data_object as data_object  # re-exported: shared with test_server.py

from etp_sync import ETPSession, samples
from etp_sync.codec import (
    MessageFlags,
    MessageHeader,
    decode_message,
    encode_message,
    encode_message_parts,
)
from etp_sync.codec._numeric import write_varint
from etp_sync.protocol.negotiation import build_request_session
from etp_sync.schema import Record, datatypes, messages

HOST = "127.0.0.1"
# The websocket subprotocol of ETP 1.2, as any client hard-codes it on the wire.
SUBPROTOCOL = "etp12.energistics.org"
FIN = int(MessageFlags.FIN)
COMPRESSED = int(MessageFlags.COMPRESSED)
START_TIMEOUT = 20.0  # seconds for the child to import, bind and accept a connection
STOP_TIMEOUT = 10.0  # seconds SIGTERM gets before SIGKILL
OP_TIMEOUT = 10.0  # default seconds for one raw read or request
MB = 1 << 20

OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 1, 2, 8, 9, 10


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` (an observation of another process) until true or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (the start retries on a clash)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- the server process ---------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """A ``python -m etp_sync.server`` child: its port, log file and /proc observations."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    token: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def status(self) -> dict[str, str]:
        """``/proc/PID/status`` as a dict (empty once the process is gone)."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return {}
        return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}

    def _kib(self, key: str) -> int:
        value = self.status().get(key, "0 kB").split()[0]
        return int(value) * 1024

    def rss(self) -> int:
        """Resident set size now, in bytes (VmRSS)."""
        return self._kib("VmRSS")

    def peak_rss(self) -> int:
        """Highest resident set size since start or :meth:`reset_peak`, in bytes (VmHWM)."""
        return self._kib("VmHWM")

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (``clear_refs`` 5): a test then measures its own peak."""
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def threads(self) -> int:
        """Threads of the server process now."""
        return int(self.status().get("Threads", "0"))

    def open_fds(self) -> int:
        """File descriptors the server holds now (sockets included)."""
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except FileNotFoundError:
            return 0

    def wait_threads(self, at_most: int, timeout: float) -> int:
        """Wait until the server runs at most ``at_most`` threads; returns the last count seen."""
        wait_until(lambda: self.threads() <= at_most, timeout)
        return self.threads()

    def log_text(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit code (idempotent)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode


def _started(server: ServerProcess) -> bool:
    """Wait (bounded) until ``server`` accepts a connection or exits; True if it accepts."""
    return wait_until(lambda: not server.alive() or _accepting(server.port), START_TIMEOUT)


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class MissingFlags(RuntimeError):
    """``python -m etp_sync.server`` does not (yet) accept flags a test needs."""


@functools.lru_cache(maxsize=1)
def server_flags() -> frozenset[str]:
    """The flags ``python -m etp_sync.server --help`` lists."""
    out = subprocess.run(
        [sys.executable, "-m", "etp_sync.server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return frozenset(re.findall(r"--[a-z][a-z-]*", out))


def checked_flags(flags: Sequence[str]) -> list[str]:
    """``flags``, after checking that the server knows them all (MissingFlags otherwise)."""
    known = server_flags()
    missing = [f for f in flags if f.startswith("--") and f not in known]
    if missing:
        raise MissingFlags(f"python -m etp_sync.server lacks {', '.join(missing)}")
    return list(flags)


def start_server(
    log_dir: Path,
    *flags: str,
    token: str | None = None,
    log_level: str = "INFO",
    attempts: int = 3,
) -> ServerProcess:
    """Start ``python -m etp_sync.server`` on a free port of 127.0.0.1 and wait until it accepts.

    ``flags`` are passed through (e.g. ``"--max-connections", "20"``). Output goes to a log file in
    ``log_dir``. The caller must :meth:`ServerProcess.stop` it (the fixture does, in a finalizer).
    A start that fails (the port was taken meanwhile) is retried on another port.
    """
    argv_flags = checked_flags(flags)
    last = ""
    for attempt in range(attempts):
        port = free_port()
        log_path = log_dir / f"server-{port}-{attempt}.log"
        argv = [sys.executable, "-m", "etp_sync.server", "--host", HOST, "--port", str(port)]
        argv += ["--log-level", log_level, *argv_flags]
        if token is not None:
            argv += ["--token", token]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        server = ServerProcess(proc, port, log_path, token)
        if _started(server) and server.alive():
            return server
        server.stop()
        last = server.log_text()[-2000:]
    raise RuntimeError(f"the server did not start: {last}")


# -- the probe ------------------------------------------------------------------------------------


@dataclass
class ProbeReport:
    """What the probe saw: rounds served, the worst round-trip, failures (as text)."""

    rounds: int
    worst: float
    errors: list[str]


class Probe:
    """A well-behaved client served in a loop by a background thread while attacks run.

    Each round is ``get_dataspaces()`` then ``ping()`` on one session opened beforehand (so it
    holds its connection slot before any attacker arrives); the worst round time is kept. A round
    that fails is recorded and the loop goes on (with a new session), so a report shows all of it.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.rounds = 0
        self.worst = 0.0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: ETPSession | None = None

    def _connect(self) -> ETPSession:
        session = ETPSession(
            self.url,
            authorization=self.token,
            timeout=self.timeout,
            connect_timeout=self.timeout,
            auto_reconnect=False,
            application_name="hostile-probe",
        )
        return session.connect()

    def start(self) -> Probe:
        """Connect and serve one round in this thread (so failures show at once), then loop."""
        self._session = self._connect()
        self._round()
        self._thread = threading.Thread(target=self._loop, name="hostile-probe", daemon=True)
        self._thread.start()
        return self

    def _round(self) -> None:
        session = self._session
        start = time.perf_counter()
        try:
            if session is None:
                session = self._session = self._connect()
            session.get_dataspaces()
            session.ping()
        except Exception as exc:  # recorded: the report shows every failure
            self.errors.append(f"{type(exc).__name__}: {exc}")
            if session is not None:
                with contextlib.suppress(Exception):
                    session.close()
            self._session = None
        else:
            self.rounds += 1
        self.worst = max(self.worst, time.perf_counter() - start)

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self._round()

    def stop(self) -> ProbeReport:
        """Stop the loop, close the session, and return what was seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout * 3)
        if self._session is not None:
            with contextlib.suppress(Exception):
                self._session.close()
        return ProbeReport(self.rounds, self.worst, list(self.errors))


# -- HTTP -----------------------------------------------------------------------------------------


@dataclass
class HttpReply:
    """An HTTP response head (and up to a little of its body)."""

    status: int
    headers: dict[str, str]
    raw: bytes


def tcp_connect(port: int, timeout: float = OP_TIMEOUT) -> socket.socket:
    """A TCP connection to the server on 127.0.0.1 with Nagle off (for byte-exact trickles)."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def upgrade_request(
    port: int,
    path: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    *,
    subprotocol: str | None = SUBPROTOCOL,
) -> bytes:
    """A minimal websocket upgrade request; ``headers`` are appended as given (duplicates too)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_http_reply(sock: socket.socket, timeout: float = OP_TIMEOUT) -> HttpReply | None:
    """Read an HTTP response head; None if the server closed (or reset) without one.

    Reads byte-exactly up to the blank line, so websocket frames after a 101 stay in the socket.
    """
    deadline = time.monotonic() + timeout
    head = bytearray()
    while not head.endswith(b"\r\n\r\n") and len(head) < 65536:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            byte = sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            byte = b""
        if not byte:
            break
        head += byte
    if not head.startswith(b"HTTP/"):
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return HttpReply(status, headers, bytes(head))


def http_exchange(port: int, request: bytes, timeout: float = OP_TIMEOUT) -> HttpReply | None:
    """Send one raw HTTP request on a new connection and read the reply head (None: no reply)."""
    with tcp_connect(port, timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may reply and close before taking everything
        return read_http_reply(sock, timeout)


# -- websocket frames -----------------------------------------------------------------------------


def mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 masking), fast for megabytes."""
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame_header(
    opcode: int, length: int, *, fin: bool = True, masked: bool = True, rsv: int = 0
) -> tuple[bytes, bytes]:
    """The header of one frame announcing ``length`` payload bytes, and its mask key."""
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode & 0xF
    bit = 0x80 if masked else 0
    if length < 126:
        head = struct.pack("!BB", first, bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, bit | 127, length)
    key = os.urandom(4) if masked else b""
    return head + key, key


class WsClosed(Exception):
    """The server closed the websocket: ``code`` of its close frame, None for EOF/reset."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"websocket closed by the server (code {code})")
        self.code = code


class HandshakeRefused(Exception):
    """The server did not answer the upgrade with 101: ``reply`` is its HTTP reply or None."""

    def __init__(self, reply: HttpReply | None) -> None:
        super().__init__(f"upgrade refused: {reply.status if reply else 'no reply'}")
        self.reply = reply


class RawWebSocket:
    """A websocket client made by hand: any frame, any announced length, ETP by the codec."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self.ids = itertools.count(2, 2)  # client message ids are even (ETP 1.2)
        self.pending: list[tuple[Any, Any]] = []

    @classmethod
    def open(
        cls,
        port: int,
        headers: Iterable[tuple[str, str]] = (),
        *,
        path: str = "/",
        timeout: float = OP_TIMEOUT,
    ) -> RawWebSocket:
        """Connect and upgrade; HandshakeRefused unless the server answers 101."""
        sock = tcp_connect(port, timeout)
        try:
            sock.sendall(upgrade_request(port, path, headers))
            reply = read_http_reply(sock, timeout)
        except OSError:
            reply = None
        if reply is None or reply.status != 101:
            sock.close()
            raise HandshakeRefused(reply)
        return cls(sock)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> RawWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending

    def send_raw(self, data: bytes, timeout: float = OP_TIMEOUT) -> None:
        """Send ``data`` as is; reads may have left a short timeout on the socket, so set ours."""
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def send_frame(
        self,
        opcode: int,
        payload: bytes,
        *,
        fin: bool = True,
        masked: bool = True,
        rsv: int = 0,
        announced: int | None = None,
    ) -> None:
        """One frame; ``announced`` overrides the length in the header (a lie, or a promise)."""
        length = len(payload) if announced is None else announced
        head, key = frame_header(opcode, length, fin=fin, masked=masked, rsv=rsv)
        self.send_raw(head + (mask(payload, key) if masked else payload))

    def start_frame(self, opcode: int, length: int) -> Callable[[bytes], None]:
        """Send a masked frame header announcing ``length``; returns a writer of payload bytes."""
        head, key = frame_header(opcode, length)
        self.send_raw(head)
        sent = 0

        def write(data: bytes) -> None:
            nonlocal sent
            phase = sent % 4
            self.send_raw(mask(data, key[phase:] + key[:phase]))
            sent += len(data)

        return write

    def send_etp(
        self,
        body: Record,
        *,
        correlation_id: int = 0,
        flags: int = FIN,
        compress: bool = False,
    ) -> int:
        """Encode ``body`` (header from its protocol and type), send it in one binary frame."""
        message_id = next(self.ids)
        header = header_for(body, message_id, correlation_id=correlation_id, flags=flags)
        self.send_frame(OPCODE_BINARY, encode_message(header, body, compress=compress))
        return message_id

    # -- receiving

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no frame from the server in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except TimeoutError:
            raise TimeoutError("no frame from the server in time") from None
        if not chunk:
            raise WsClosed(None)
        self._buf += chunk

    def _take(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._fill(deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def recv_frame(self, timeout: float = OP_TIMEOUT) -> tuple[int, bytes, bool]:
        """The next frame from the server as ``(opcode, payload, fin)``; WsClosed at EOF."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._take(2, deadline)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8, deadline))
        key = self._take(4, deadline) if b1 & 0x80 else b""
        payload = self._take(length, deadline)
        return b0 & 0x0F, mask(payload, key) if key else payload, bool(b0 & 0x80)

    def recv_message(self, timeout: float = OP_TIMEOUT) -> bytes:
        """The next data message (fragments joined); pings answered; WsClosed on a close frame."""
        deadline = time.monotonic() + timeout
        parts: list[bytes] = []
        while True:
            opcode, payload, fin = self.recv_frame(max(deadline - time.monotonic(), 0.0))
            if opcode == OPCODE_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise WsClosed(code)
            if opcode == OPCODE_PING:
                with contextlib.suppress(OSError):
                    self.send_frame(OPCODE_PONG, payload)
                continue
            if opcode == OPCODE_PONG:
                continue
            parts.append(payload)
            if fin:
                return b"".join(parts)

    def recv_etp(self, timeout: float = OP_TIMEOUT) -> tuple[Any, Any]:
        """The next ETP message ``(header, body)`` (set aside ones first)."""
        if self.pending:
            return self.pending.pop(0)
        return decode_message(self.recv_message(timeout))

    def collect(self, message_id: int, timeout: float = OP_TIMEOUT) -> list[Any]:
        """Bodies answering ``message_id`` up to its FIN; other messages stay in ``pending``."""
        deadline = time.monotonic() + timeout
        bodies: list[Any] = []
        while True:
            mine = [m for m in self.pending if m[0].correlation_id == message_id][:1]
            if mine:
                self.pending.remove(mine[0])
                header, body = mine[0]
            else:
                header, body = decode_message(self.recv_message(deadline - time.monotonic()))
                if header.correlation_id != message_id:
                    self.pending.append((header, body))
                    continue
            bodies.append(body)
            if header.message_flags & FIN and header.message_type != 1001:
                return bodies

    def request(self, body: Record, timeout: float = OP_TIMEOUT, **kwargs: Any) -> list[Any]:
        return self.collect(self.send_etp(body, **kwargs), timeout)

    def request_session(self, *, compression: bool = True, max_message_size: int = 16 * MB) -> Any:
        """Send RequestSession (every store protocol, gzip if asked) and return OpenSession."""
        request = build_request_session(
            application_name="hostile",
            application_version="0",
            compression=compression,
            max_message_size=max_message_size,
        )
        [reply] = self.request(request)
        if reply.etp_message_type != 2:
            raise AssertionError(f"no OpenSession: {reply!r}")
        return reply

    def wait_closed(self, timeout: float = OP_TIMEOUT) -> int | None:
        """Read (and drop) everything until the server closes; its close code, None for EOF.

        TimeoutError if the connection is still open after ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv_message(max(deadline - time.monotonic(), 0.0))
            except WsClosed as closed:
                return closed.code


def open_session(port: int, headers: Iterable[tuple[str, str]] = (), **kwargs: Any) -> RawWebSocket:
    """A raw websocket with an open ETP session."""
    ws = RawWebSocket.open(port, headers)
    try:
        ws.request_session(**kwargs)
    except BaseException:
        ws.close()
        raise
    return ws


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (EOF or reset); reads and drops pending bytes."""
    try:
        sock.setblocking(False)
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            sock.setblocking(True)


def trickle(
    socks: Sequence[socket.socket],
    data: Callable[[int], bytes],
    *,
    period: float,
    duration: float,
) -> dict[int, float]:
    """Send ``data(i)`` to every open socket each ``period`` s for at most ``duration`` s.

    Returns ``{index: seconds after the start when the server closed it}``; stops early when all
    are closed. ``data(i)`` is called once per socket and round (e.g. the next byte to send).
    """
    start = time.monotonic()
    closed: dict[int, float] = {}
    while len(closed) < len(socks) and time.monotonic() - start < duration:
        for i, sock in enumerate(socks):
            if i in closed:
                continue
            if is_closed(sock):
                closed[i] = time.monotonic() - start
                continue
            try:
                sock.send(data(i))
            except OSError:
                closed[i] = time.monotonic() - start
        time.sleep(period)
    return closed


# -- ETP payloads ---------------------------------------------------------------------------------


def header_for(body: Record, message_id: int, *, correlation_id: int = 0, flags: int = FIN) -> Any:
    """A MessageHeader naming ``body``'s protocol and message type."""
    return MessageHeader(
        protocol=int(body.etp_protocol or 0),
        message_type=int(body.etp_message_type or 0),
        correlation_id=correlation_id,
        message_id=message_id,
        message_flags=flags,
    )


def header_bytes(
    body: Record, message_id: int, *, flags: int = FIN, compressed: bool = False
) -> bytes:
    """The encoded MessageHeader for ``body``'s type (the COMPRESSED flag set if asked)."""
    header = header_for(body, message_id, flags=flags)
    return bytes(encode_message_parts(header, body, compress=compressed)[0])


@functools.lru_cache(maxsize=2)
def gzip_of_zeros(inflated: int) -> bytes:
    """A gzip stream of ``inflated`` zero bytes (about 1 KiB per MiB; built once per size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31, 9, zlib.Z_RLE)
    zeros = bytes(MB)
    out = [comp.compress(zeros) for _ in range(inflated // MB)]
    out.append(comp.compress(bytes(inflated % MB)))
    out.append(comp.flush())
    return b"".join(out)


def gzip_bomb(message_id: int, inflated: int) -> bytes:
    """A compressed PutDataObjects frame whose body inflates to ``inflated`` bytes of zeros."""
    body = messages.Store.PutDataObjects(data_objects={})
    return header_bytes(body, message_id, compressed=True) + gzip_of_zeros(inflated)


def count_claim(body: Record, message_id: int, claim: int = 1 << 31, tail: bytes = b"") -> bytes:
    """A frame for ``body``'s type whose body starts with an Avro count/length of ``claim``.

    Avro encodes array/map block counts and string/bytes lengths as zigzag longs, so this is a
    map or array claiming ``claim`` items (or a string of ``claim`` bytes) followed by ``tail``.
    """
    return header_bytes(body, message_id) + write_varint(claim) + tail


def dataspace_uri(path: str) -> str:
    return f"eml:///dataspace('{path}')"


def crs_uri(ds: str, ref: uuid.UUID) -> str:
    return f"{ds}/resqml20.obj_LocalDepth3dCrs({ref})"


_CRS_END = b"</resqml2:obj_LocalDepth3dCrs>"


def crs_xml(ref: uuid.UUID, *, comment: int = 0, attribute: int = 0, filler: int = 0) -> bytes:
    """A valid RESQML CRS document padded with a ``comment``/``attribute``/element of N bytes."""
    xml = samples.local_depth_crs(ref)
    if attribute:
        xml = xml.replace(
            b'schemaVersion="2.0"', b'schemaVersion="2.0" pad="' + b"a" * attribute + b'"', 1
        )
    if comment:
        xml = xml.replace(_CRS_END, b"<!--" + b"c" * comment + b"-->" + _CRS_END)
    if filler:
        xml = xml.replace(_CRS_END, b"<resqml2:Pad>" + b"f" * filler + b"</resqml2:Pad>" + _CRS_END)
    return xml


def put_dataspace(ws: RawWebSocket, path: str) -> str:
    """Create dataspace ``path`` through ``ws``; returns its URI."""
    uri = dataspace_uri(path)
    [reply] = ws.request(
        messages.Dataspace.PutDataspaces(
            dataspaces={
                "d": datatypes.Object.Dataspace(uri=uri, store_last_write=0, store_created=0)
            }
        )
    )
    assert reply.etp_name == "PutDataspacesResponse", reply
    return uri


def error_codes(bodies: Sequence[Any]) -> list[int]:
    """Every error code in the ProtocolExceptions among ``bodies`` (whole-request and per key)."""
    codes: list[int] = []
    for body in bodies:
        if body.etp_message_type == 1000:
            if body.error is not None:
                codes.append(int(body.error.code))
            codes += [int(e.code) for e in body.errors.values()]
    return codes


@dataclass
class Observed:
    """Server-side numbers around one attack (bytes and counts)."""

    baseline_rss: int
    baseline_threads: int
    peak_rss: int = 0
    max_threads: int = 0
    samples: list[tuple[int, int]] = field(default_factory=list)


class Sampler:
    """Samples the server's RSS and thread count every ``interval`` s in a background thread.

    VmHWM gives the true peak RSS; the sampled thread maximum shows how many threads an attack
    made the server run (the kernel keeps no thread high-water mark).
    """

    def __init__(self, server: ServerProcess, interval: float = 0.05) -> None:
        self.server = server
        self.interval = interval
        self.observed = Observed(server.rss(), server.threads())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hostile-sampler", daemon=True)

    def start(self) -> Sampler:
        self.server.reset_peak()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            rss, threads = self.server.rss(), self.server.threads()
            if len(self.observed.samples) < 100_000:
                self.observed.samples.append((rss, threads))
            self.observed.max_threads = max(self.observed.max_threads, threads)

    def stop(self) -> Observed:
        self._stop.set()
        self._thread.join(5)
        self.observed.peak_rss = max(self.server.peak_rss(), self.server.rss())
        return self.observed
