"""Fault injection over real sockets on 127.0.0.1, for the fault matrix of issue 8.

Every service here binds a free port of 127.0.0.1, runs on named ``faults-*`` threads, and is a
context manager whose exit aborts its sockets and joins its threads. Commands sent from the test
thread are thread-safe and take effect at once; nothing here sleeps to synchronise.

- :class:`FaultProxy`: a TCP proxy in front of a server; drops connections (RST), drops after N
  bytes, stops reading from the client, stops forwarding the server's answers, forwards byte by
  byte, counts connections, and signals when N bytes have passed.
- :class:`SilentPeer` accepts TCP and never upgrades; :class:`HtmlPeer` answers HTTP 200 with an
  HTML page; :class:`EtpPeer` upgrades with a minimal hand-written handshake, negotiates ETP and
  hands every request to a test handler (wrong reply types, endless multipart replies, ...).
- Measuring: :class:`TimedCall` (a call on its own thread, its outcome and elapsed time),
  :func:`assert_within_deadline`, :class:`ThreadWatch`, :func:`rss_bytes`, :class:`PeakRss`,
  :func:`array_checksum`, :func:`stored_checksum`, :class:`SnapshotReader`.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import hashlib
import itertools
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Self

import numpy as np

from etp_sync.codec import MessageHeader, decode_message, encode_message
from etp_sync.protocol.negotiation import ServerOffer, negotiate
from etp_sync.schema import messages

LOOPBACK = "127.0.0.1"
JOIN_SECONDS = 10.0  # the most a fault service waits for one of its threads at stop()
DEADLINE_MARGIN = 1.0  # documented slack over a call's timeout (issue 8: "a small margin")
CHUNK = 1 << 18
FIN = 0x02
ETP_SUBPROTOCOL = "etp12.energistics.org"
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Direction = Literal["up", "down"]  # up: client -> server; down: server -> client


def abort_socket(sock: socket.socket) -> None:
    """Reset ``sock`` (SO_LINGER 0) and shut it down so that threads blocked on it wake up."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class TcpService:
    """A listener on a free port of 127.0.0.1 with an accept thread; subclasses handle sockets.

    Tracks every socket and thread it creates: :meth:`stop` aborts the sockets (RST) and joins
    the threads, raising if one does not end.
    """

    name = "tcp"

    def __init__(self) -> None:
        self._listener = socket.create_server((LOOPBACK, 0))
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.accepted = 0
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"faults-{self.name}-accept", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/``."""
        return f"ws://{LOOPBACK}:{self.port}/"

    def start(self) -> Self:
        self._accept_thread.start()
        return self

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_accepted(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` connections have been accepted in total."""
        with self._lock:
            return self._lock.wait_for(lambda: self.accepted >= count, timeout)

    def spawn(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        """Run ``target(*args)`` on a tracked thread (joined at stop)."""
        thread = threading.Thread(target=target, args=args, name=f"faults-{self.name}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()
        return thread

    def track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def release(self, sock: socket.socket) -> None:
        """Close ``sock`` (abruptly) and stop tracking it."""
        abort_socket(sock)
        sock.close()
        with self._lock:
            self._sockets.discard(sock)

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                events = selector.select()
                if self.stopping.is_set() or any(k.fileobj is self._wake_r for k, _ in events):
                    return
                try:
                    sock, _ = self._listener.accept()
                except OSError:
                    continue
                sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.track(sock)
                with self._lock:
                    self.accepted += 1
                    self._lock.notify_all()
                self.on_accept(sock)

    def on_accept(self, sock: socket.socket) -> None:
        """Handle a new connection (runs on the accept thread: hand long work to spawn())."""

    def stop(self) -> None:
        """Abort every socket, join every thread (idempotent)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._accept_thread.is_alive():
            self._accept_thread.join(JOIN_SECONDS)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            abort_socket(sock)
        with self._lock:
            threads = list(self._threads)
        stuck = []
        for thread in threads:
            thread.join(JOIN_SECONDS)
            if thread.is_alive():
                stuck.append(thread.name)
        for sock in sockets:
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        if stuck:
            raise RuntimeError(f"{self.name}: threads still running after stop: {stuck}")


# -- the proxy ---------------------------------------------------------------------------------


class _Link:
    """One proxied connection: the client's socket and ours to the upstream server."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.closed = False

    def ends(self, direction: Direction) -> tuple[socket.socket, socket.socket]:
        return (self.client, self.server) if direction == "up" else (self.server, self.client)


class _Trigger:
    """Fires once ``remaining`` more bytes have passed in one direction, then (``action``)
    drops every connection or pauses that direction."""

    def __init__(self, nbytes: int, action: Literal["drop", "pause"] | None) -> None:
        self.remaining = int(nbytes)
        self.action = action
        self.fired = threading.Event()


class FaultProxy(TcpService):
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` (an object with ``.port``, or a port).

    Two pump threads per connection forward bytes; every command takes effect on all current and
    future connections. A drop is a reset of both sides (no websocket close frame, no
    CloseSession), as when a cable or a load balancer dies.
    """

    name = "proxy"

    def __init__(self, upstream: Any) -> None:
        super().__init__()
        self.upstream_port = int(getattr(upstream, "port", upstream))
        self._links: list[_Link] = []
        self._flowing = {"up": threading.Event(), "down": threading.Event()}
        for gate in self._flowing.values():
            gate.set()
        self._byte_by_byte = {"up": False, "down": False}
        self._triggers: dict[str, list[_Trigger]] = {"up": [], "down": []}
        self.forwarded = {"up": 0, "down": 0}
        self.drops = 0

    # -- commands (any thread) -----------------------------------------------------------------

    @property
    def open_links(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.closed)

    def drop_all(self) -> int:
        """Reset every open connection now; returns how many were dropped."""
        with self._lock:
            links = [link for link in self._links if not link.closed]
            for link in links:
                link.closed = True
            self.drops += len(links)
            self._lock.notify_all()
        for link in links:
            abort_socket(link.client)
            abort_socket(link.server)
        return len(links)

    def drop_after(self, nbytes: int, direction: Direction = "up") -> threading.Event:
        """Forward ``nbytes`` more bytes in ``direction`` (possibly ending mid-frame), then drop
        every connection; the returned event is set once dropped."""
        return self._arm(_Trigger(nbytes, "drop"), direction)

    def pause_after(self, nbytes: int, direction: Direction = "up") -> threading.Event:
        """Forward ``nbytes`` more bytes in ``direction``, then :meth:`pause` it; the returned
        event is set once paused."""
        return self._arm(_Trigger(nbytes, "pause"), direction)

    def when_forwarded(self, nbytes: int, direction: Direction = "up") -> threading.Event:
        """An event set once ``nbytes`` more bytes have been forwarded in ``direction``."""
        return self._arm(_Trigger(nbytes, None), direction)

    def _arm(self, trigger: _Trigger, direction: Direction) -> threading.Event:
        with self._lock:
            self._triggers[direction].append(trigger)
        return trigger.fired

    def pause(self, direction: Direction) -> None:
        """Stop moving bytes in ``direction``: ``"up"`` stops reading from the client (its
        socket buffers fill, a peer that stops reading); ``"down"`` stops forwarding the
        server's answers (a hung server)."""
        self._flowing[direction].clear()

    def resume(self, direction: Direction) -> None:
        self._flowing[direction].set()

    def byte_by_byte(self, direction: Direction = "down", on: bool = True) -> None:
        """Forward one byte per send in ``direction`` (TCP_NODELAY: one segment each)."""
        self._byte_by_byte[direction] = on

    def wait_links(self, predicate: Callable[[int], bool], timeout: float) -> bool:
        """Wait until ``predicate(open connection count)`` holds."""
        with self._lock:
            return self._lock.wait_for(
                lambda: predicate(sum(1 for link in self._links if not link.closed)), timeout
            )

    def stop(self) -> None:
        for gate in self._flowing.values():
            gate.set()
        super().stop()

    # -- pumps ---------------------------------------------------------------------------------

    def on_accept(self, sock: socket.socket) -> None:
        try:
            upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=5)
        except OSError:  # the server is down: the client sees a reset, as without the proxy
            self.release(sock)
            return
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.track(upstream)
        link = _Link(sock, upstream)
        with self._lock:
            self._links.append(link)
            self._lock.notify_all()
        self.spawn(self._pump, link, "up")
        self.spawn(self._pump, link, "down")

    def _take(self, direction: Direction, data: bytes) -> tuple[bytes, list[_Trigger]]:
        """Count ``data`` against the armed triggers; cut it where a drop trigger fires."""
        fired: list[_Trigger] = []
        with self._lock:
            for trigger in self._triggers[direction]:
                if trigger.action and trigger.remaining < len(data):
                    data = data[: trigger.remaining]
            for trigger in self._triggers[direction]:
                trigger.remaining -= len(data)
                if trigger.remaining <= 0:
                    fired.append(trigger)
            for trigger in fired:
                self._triggers[direction].remove(trigger)
            self.forwarded[direction] += len(data)
        return data, fired

    def _pump(self, link: _Link, direction: Direction) -> None:
        src, dst = link.ends(direction)
        gate = self._flowing[direction]
        try:
            while not link.closed:
                gate.wait()
                data = src.recv(CHUNK)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                gate.wait()
                data, fired = self._take(direction, data)
                if self._byte_by_byte[direction]:
                    for i in range(len(data)):
                        dst.sendall(data[i : i + 1])
                else:
                    dst.sendall(data)
                for trigger in fired:
                    if trigger.action == "drop":
                        # Set first: the reset may end the client's call before drop_all returns.
                        trigger.fired.set()
                        self.drop_all()
                    elif trigger.action == "pause":
                        self.pause(direction)
                    trigger.fired.set()
        except OSError:
            pass  # this end was dropped or reset: the other pump ends too
        finally:
            with self._lock:
                link.closed = True
                self._lock.notify_all()
            abort_socket(src)
            abort_socket(dst)


# -- misbehaving peers -------------------------------------------------------------------------


class SilentPeer(TcpService):
    """Accepts TCP connections and never answers (no websocket upgrade, nothing at all)."""

    name = "silent"


class HtmlPeer(TcpService):
    """A plain HTTP server: every request gets ``200 OK`` with a small HTML page, then close."""

    name = "html"
    PAGE = b"<!doctype html><html><body><h1>Welcome</h1></body></html>"

    def on_accept(self, sock: socket.socket) -> None:
        self.spawn(self._answer, sock)

    def _answer(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            read_http_head(sock)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                + f"Content-Length: {len(self.PAGE)}\r\nConnection: close\r\n\r\n".encode()
                + self.PAGE
            )
            sock.shutdown(socket.SHUT_WR)
        self.release(sock)


def read_http_head(sock: socket.socket, limit: int = 1 << 16) -> dict[str, str]:
    """Read an HTTP request head; return its headers (lower-case names)."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data or len(head) > limit:
            raise ConnectionError("incomplete HTTP request")
        head += data
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


class EtpConnection:
    """The server end of one websocket connection of :class:`EtpPeer` (unmasked frames)."""

    def __init__(self, sock: socket.socket, peer: EtpPeer) -> None:
        self.sock = sock
        self.peer = peer
        self._ids = itertools.count(2, 2)
        self._send_lock = threading.Lock()

    def encode(self, body: Any, *, correlation_id: int = 0, fin: bool = True) -> bytes:
        """One ETP message with the next message id, ready for :meth:`send_frame`."""
        header = MessageHeader(
            protocol=body.etp_protocol,
            message_type=body.etp_message_type,
            correlation_id=correlation_id,
            message_id=next(self._ids),
            message_flags=FIN if fin else 0,
        )
        return encode_message(header, body)

    def send(self, body: Any, *, correlation_id: int = 0, fin: bool = True) -> None:
        """Send one ETP message (raises OSError once the connection is gone)."""
        self.send_frame(0x2, self.encode(body, correlation_id=correlation_id, fin=fin))

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """One unmasked websocket frame (0x2: binary message)."""
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self._send_lock:
            self.sock.sendall(head + payload)

    def recv_exact(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            got = self.sock.recv(n - len(data))
            if not got:
                raise ConnectionError("connection closed by the client")
            data += got
        return bytes(data)

    def recv_message(self) -> bytes | None:
        """The next binary message (client frames are masked); None on a close frame."""
        message = bytearray()
        while True:
            first, second = self.recv_exact(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self.recv_exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self.recv_exact(8))
            key = self.recv_exact(4) if second & 0x80 else b"\0\0\0\0"
            raw = np.frombuffer(self.recv_exact(length), dtype=np.uint8)
            mask = np.resize(np.frombuffer(key, dtype=np.uint8), length)
            payload = (raw ^ mask).tobytes()
            opcode = first & 0x0F
            if opcode == 0x8:
                return None
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            message += payload
            if first & 0x80:
                return bytes(message)

    def drop(self) -> None:
        """Reset the connection (no close frame, no CloseSession)."""
        abort_socket(self.sock)


Handler = Callable[[EtpConnection, Any, Any], None]


class EtpPeer(TcpService):
    """An ETP "server" that upgrades by a minimal hand-written handshake, negotiates a session,
    answers Ping, and hands every other request to ``handler(conn, header, body)``.

    ``requests`` counts the requests handed over (wait with :meth:`wait_requests`). A handler
    may loop (e.g. an endless multipart reply) as long as it stops when ``peer.stopping`` is set
    or sending fails.
    """

    name = "etp-peer"

    def __init__(self, handler: Handler, *, protocols: tuple[int, ...] = (3, 4, 5, 9, 18, 24)):
        super().__init__()
        self.handler = handler
        self.offer = ServerOffer("faults-peer", "0", {p: "store" for p in protocols})
        self.requests = 0
        self.connections: list[EtpConnection] = []

    def on_accept(self, sock: socket.socket) -> None:
        self.spawn(self._serve, sock)

    def wait_requests(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self.requests >= count, timeout)

    def drop_all(self) -> None:
        with self._lock:
            connections = list(self.connections)
        for conn in connections:
            conn.drop()

    def _serve(self, sock: socket.socket) -> None:
        conn = EtpConnection(sock, self)
        with self._lock:
            self.connections.append(conn)
        try:
            headers = read_http_head(sock)
            digest = hashlib.sha1(headers["sec-websocket-key"].encode() + _WS_GUID).digest()
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + base64.b64encode(digest)
                + f"\r\nSec-WebSocket-Protocol: {ETP_SUBPROTOCOL}\r\n\r\n".encode()
            )  # fmt: skip
            while not self.stopping.is_set():
                frame = conn.recv_message()
                if frame is None:
                    return
                header, body = decode_message(frame)
                key = (header.protocol, header.message_type)
                if key == (0, 1):
                    open_session, _ = negotiate(body, self.offer)
                    conn.send(open_session, correlation_id=header.message_id)
                elif key == (0, 5):
                    return
                elif key == (0, 8):
                    pong = messages.Core.Pong(current_date_time=time.time_ns() // 1000)
                    conn.send(pong, correlation_id=header.message_id)
                else:
                    with self._lock:
                        self.requests += 1
                        self._lock.notify_all()
                    self.handler(conn, header, body)
        except (OSError, ConnectionError):
            return  # dropped by the client, the handler or stop()
        finally:
            self.release(sock)


# -- measuring ---------------------------------------------------------------------------------


class TimedCall:
    """Run ``fn(*args, **kwargs)`` on its own thread; keep its result or exception and the
    elapsed seconds. The thread is a daemon: a call that hangs cannot hang the test run."""

    def __init__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.elapsed: float | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(fn, args, kwargs), name="faults-call", daemon=True
        )
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        start = time.monotonic()
        try:
            self.value = fn(*args, **kwargs)
        except BaseException as exc:
            self.error = exc
        finally:
            self.elapsed = time.monotonic() - start
            self.done.set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the call to end; True when it ended."""
        return self.done.wait(seconds)

    def join(self, seconds: float = JOIN_SECONDS) -> None:
        self._thread.join(seconds)

    def __repr__(self) -> str:
        if not self.done.is_set():
            return "TimedCall(still running)"
        outcome = f"raised {self.error!r}" if self.error is not None else f"returned {self.value!r}"
        return f"TimedCall({outcome} after {self.elapsed:.2f} s)"


def call_within(timeout: float, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TimedCall:
    """Run a call whose deadline is ``timeout``; fail the test if it is still running after
    ``timeout + DEADLINE_MARGIN`` (the caller's teardown then unblocks it)."""
    call = TimedCall(fn, *args, **kwargs)
    assert_within_deadline(call, timeout)
    return call


def assert_within_deadline(
    call: TimedCall, timeout: float, margin: float = DEADLINE_MARGIN
) -> None:
    """The call ended, and within ``timeout + margin`` seconds."""
    if not call.wait(timeout + margin):
        raise AssertionError(f"call still running {timeout + margin:.1f} s after it began")
    assert call.elapsed is not None
    assert call.elapsed <= timeout + margin, f"{call} exceeded its deadline of {timeout} s"


def etp_threads() -> list[threading.Thread]:
    """The live threads of etp_sync sessions (named ``etp_sync-*``)."""
    return [t for t in threading.enumerate() if t.name.startswith("etp_sync")]


class ThreadWatch:
    """Records the etp_sync threads alive at creation; :meth:`leftover` lists new ones."""

    def __init__(self) -> None:
        self.before = {t.ident for t in etp_threads()}

    def leftover(self) -> list[str]:
        return [t.name for t in etp_threads() if t.ident not in self.before and t.is_alive()]


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"{field} not in /proc/self/status")


def pin_malloc_mmap_threshold(threshold: int = 128 << 10) -> bool:
    """Make glibc's malloc serve every block of ``threshold`` bytes or more by its own mmap,
    returned to the system when freed; True when set (glibc only).

    By default glibc raises that threshold each time such a block is freed (up to 32 MiB), so
    later big blocks come from per-thread arenas, which keep them once freed: RSS then grows by
    up to one block per thread arena although no object holds the memory. RSS figures of the
    fault matrix measure live memory, so the harness pins the threshold at import.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    m_mmap_threshold = -3
    return bool(mallopt(m_mmap_threshold, threshold))


MALLOC_PINNED = pin_malloc_mmap_threshold()


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS); live memory, see
    :func:`pin_malloc_mmap_threshold`."""
    return _proc_status("VmRSS")


class PeakRss:
    """Peak RSS growth over a block: resets VmHWM on entry (Linux clear_refs)."""

    def __init__(self) -> None:
        self.start = 0
        self.growth = 0

    def __enter__(self) -> PeakRss:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        self.start = rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = _proc_status("VmHWM") - self.start


def array_checksum(array: np.ndarray) -> str:
    """sha256 of shape, dtype and C-order bytes."""
    arr = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{arr.shape}|{arr.dtype.str}|".encode())
    digest.update(arr.data.cast("B"))
    return digest.hexdigest()


def stored_checksum(server: Any, uri: Any, path_in_resource: str) -> str:
    """Checksum of the array as the embedded server stores it now (an atomic snapshot)."""
    return array_checksum(server.store.get_array(str(uri), path_in_resource))


def fill_of(array: np.ndarray) -> float | None:
    """The single value an array is filled with, None when it holds several (a mix)."""
    if array.size == 0:
        return None
    low, high = array.min(), array.max()
    return float(low) if low == high else None


class SnapshotReader:
    """A reader thread that snapshots a stored array each time it is poked and records every
    snapshot equal to none of the ``allowed`` arrays (a mixed, zeroed or foreign array).

    Use incompressible (random) arrays: compressed puts would not move their size in bytes.
    """

    def __init__(self, read: Callable[[], np.ndarray], allowed: Sequence[np.ndarray]) -> None:
        self._read = read
        self.allowed = list(allowed)
        self.snapshots = 0
        self.bad: list[str] = []
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="faults-reader", daemon=True)

    def __enter__(self) -> SnapshotReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._poked.set()
        self._thread.join(JOIN_SECONDS)

    def poke(self, *_: Any) -> None:
        """Ask for one more snapshot (usable as a ``progress`` callback)."""
        self._poked.set()

    def check_now(self) -> None:
        """Take one snapshot on the calling thread."""
        self._check()

    def _loop(self) -> None:
        while True:
            self._poked.wait()
            self._poked.clear()
            if self._stop.is_set():
                return
            self._check()

    def _check(self) -> None:
        snapshot = self._read()
        self.snapshots += 1
        if any(np.array_equal(snapshot, want) for want in self.allowed):
            return
        differ = [int(np.count_nonzero(snapshot != want)) for want in self.allowed]
        zeros = int(np.count_nonzero(snapshot == 0))
        self.bad.append(
            f"snapshot {self.snapshots} is mixed: {differ} of {snapshot.size} values differ "
            f"from each allowed array, {zeros} zeros"
        )


@contextlib.contextmanager
def no_new_threads() -> Iterator[ThreadWatch]:
    """Assert at exit that no etp_sync thread created inside the block is still alive."""
    watch = ThreadWatch()
    yield watch
    left = watch.leftover()
    assert not left, f"etp_sync threads left after close: {left}"
