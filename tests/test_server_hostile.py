"""Hostile clients against ``python -m etp_sync.server`` (issue 9's proof).

Each test starts the server in a subprocess, connects a well-behaved probe client, runs one
attack, and then checks four things:

1. what the attacker sees (close 1009, EMAXSIZE, HTTP 400/401/431, an ETP error, ...);
2. the server's peak RSS during the attack stays within :data:`RSS_BOUND` of its baseline;
3. its thread count returns to the baseline (the probe's session included);
4. the probe was served every round, each within :data:`PROBE_LATENCY` seconds.

All findings of one test are collected and reported together, so a failing test says every way
in which the server fell short, not only the first. Time limits the issue asks for are set short
through flags so the whole file runs in a few minutes. A flag the server does not know makes the
start fail with MissingFlags.
"""

from __future__ import annotations

import random
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _hostile import (
    MB,
    OP_TIMEOUT,
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_TEXT,
    HandshakeRefused,
    HttpReply,
    Probe,
    RawWebSocket,
    Sampler,
    ServerProcess,
    WsClosed,
    count_claim,
    crs_uri,
    crs_xml,
    data_object,
    error_codes,
    gzip_bomb,
    header_bytes,
    http_exchange,
    open_session,
    put_dataspace,
    start_server,
    tcp_connect,
    trickle,
    upgrade_request,
    wait_until,
)

from etp_sync.codec import compiled_varints
from etp_sync.codec._numeric import write_varint
from etp_sync.errors import ErrorCode
from etp_sync.schema import datatypes, messages

# The server may hold a few copies of one maximal message at once (frame buffer, decoded body,
# inflated body up to max_message_size, the store's copy): 4 x 16 MiB (the default limit) is
# 64 MiB, plus thread stacks actually touched and allocator slack. 150 MB leaves that headroom
# while every failure measured in issue 9 is at least 500 MB above the baseline.
RSS_BOUND = 150 * MB
# "A well-behaved second client is served within a second throughout" (issue 9).
PROBE_LATENCY = 1.0
# Seconds the server gets to end threads of connections it closed or that we closed.
SETTLE = 10.0
# Slack on top of a configured timeout before we call the server late (scheduling, the
# server's polling interval of 0.5 s, a close handshake of up to a second).
SLACK = 3.0
# Short time limits (seconds) the tests configure, so deadlines pass within the test.
HANDSHAKE_TIMEOUT = 2
REQUEST_SESSION_TIMEOUT = 2
IDLE_TIMEOUT = 2
TRANSACTION_TIMEOUT = 2
PENDING_TIMEOUT = 2
CHANGE_RETENTION = 2
MAX_PENDING_BYTES = 32 * MB
MAX_STORE_BYTES = 256 * MB
TOKEN = "hostile-s3cret-token"


# -- fixtures and the siege -----------------------------------------------------------------------


@pytest.fixture()
def launch(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers (``launch(*flags, token=..., log_level=...)``); all stopped afterwards."""
    started: list[ServerProcess] = []

    def launch(*flags: str, **kwargs: Any) -> ServerProcess:
        server = start_server(tmp_path, *flags, **kwargs)
        started.append(server)
        return server

    yield launch
    for server in started:
        server.stop()
    assert all(not s.alive() for s in started)


class Siege:
    """A probe and a sampler around one attack, and the findings that make the test fail.

    ``expect(condition, finding)`` records a finding instead of failing at once; ``verify()``
    adds the server-side checks (alive, RSS, threads, probe) and fails with every finding.
    """

    def __init__(self, server: ServerProcess, *, token: str | None = None) -> None:
        self.server = server
        self.probe = Probe(server.url, token=token)
        self.findings: list[str] = []
        self.baseline_threads = 0
        self.sampler: Sampler | None = None
        self._attackers: list[RawWebSocket] = []

    def track(self, ws: RawWebSocket) -> RawWebSocket:
        """Close ``ws`` in verify() (before counting threads) or on exit."""
        self._attackers.append(ws)
        return ws

    def session(self, **kwargs: Any) -> RawWebSocket:
        """An attacker's raw websocket with an open ETP session (tracked)."""
        return self.track(open_session(self.server.port, **kwargs))

    def dataspace_session(self, path: str) -> tuple[RawWebSocket, str]:
        """:meth:`session` plus a new dataspace ``path``; returns both."""
        ws = self.session()
        return ws, put_dataspace(ws, path)

    def close_attackers(self) -> None:
        for ws in self._attackers:
            ws.close()
        self._attackers.clear()

    def __enter__(self) -> Siege:
        self.probe.start()
        # Threads with the probe's session open: the number the server must come back to.
        self.baseline_threads = self.server.threads()
        self.sampler = Sampler(self.server).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_attackers()
        self.probe.stop()
        if self.sampler is not None:
            self.sampler.stop()

    def expect(self, condition: bool, finding: str) -> bool:
        if not condition:
            self.findings.append(finding)
        return condition

    def verify(self, rss_bound: int = RSS_BOUND) -> None:
        server = self.server
        self.close_attackers()
        threads = server.wait_threads(self.baseline_threads, SETTLE) if server.alive() else 0
        report = self.probe.stop()
        assert self.sampler is not None
        observed = self.sampler.stop()
        if not server.alive():
            self.findings.append(f"the server died (exit {server.proc.returncode})")
        grew = observed.peak_rss - observed.baseline_rss
        self.expect(
            grew < rss_bound,
            f"peak RSS grew by {grew / MB:.0f} MB (bound {rss_bound / MB:.0f} MB; "
            f"baseline {observed.baseline_rss / MB:.0f} MB)",
        )
        self.expect(
            threads <= self.baseline_threads,
            f"{threads} threads {SETTLE:g} s after the attack, baseline {self.baseline_threads} "
            f"(max seen {observed.max_threads})",
        )
        self.expect(report.rounds > 0, "the probe was never served")
        self.expect(not report.errors, f"probe failures: {report.errors[:3]}")
        self.expect(
            report.worst < PROBE_LATENCY,
            f"probe waited {report.worst:.2f} s (limit {PROBE_LATENCY:g} s)",
        )
        log = server.log_text()
        self.expect("Traceback" not in log, "traceback in the server log: " + _traceback(log))
        assert not self.findings, "\n".join(self.findings)


def _traceback(log: str) -> str:
    start = log.find("Traceback")
    return log[max(start - 200, 0) : start + 800]


def _reply_or_none(ws: RawWebSocket, message_id: int, timeout: float) -> list[Any] | None:
    """The bodies answering ``message_id``, or None if the connection closed or timed out."""
    try:
        return ws.collect(message_id, timeout)
    except (WsClosed, TimeoutError, OSError):
        return None


def _close_code(ws: RawWebSocket, timeout: float) -> int | str | None:
    """The server's close code (None for EOF), or "open" if still open after ``timeout``."""
    try:
        return ws.wait_closed(timeout)
    except (TimeoutError, OSError):
        return "open"


# -- frames and messages --------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_announced_frames_trickled_take_no_memory_and_hit_the_request_session_deadline(
    launch: Callable[..., ServerProcess],
) -> None:
    """50 websockets announce a frame as large as allowed, then trickle 1 byte / 0.5 s."""
    server = launch("--request-session-timeout", str(REQUEST_SESSION_TIMEOUT))
    count, announced = 50, 16 * MB  # the default MaxWebSocketMessagePayloadSize
    with Siege(server) as siege:
        sockets = []
        for _ in range(count):
            ws = siege.track(RawWebSocket.open(server.port))
            write = ws.start_frame(OPCODE_BINARY, announced)
            write(b"\0" * 1024)
            sockets.append((ws, write))

        def one_byte(i: int) -> bytes:
            sockets[i][1](b"\0")
            return b""  # already sent, masked, by the frame writer

        limit = REQUEST_SESSION_TIMEOUT + SLACK
        closed = trickle([ws.sock for ws, _ in sockets], one_byte, period=0.5, duration=limit + 2)
        late = [i for i in range(count) if closed.get(i, limit + 1) > limit]
        siege.expect(
            not late,
            f"{len(late)} of {count} trickling connections open after {limit:g} s "
            f"(--request-session-timeout {REQUEST_SESSION_TIMEOUT}: a trickle must not extend it)",
        )
        siege.verify()


@pytest.mark.timeout(30)
def test_frame_header_beyond_the_limit_closes_1009_at_once(
    launch: Callable[..., ServerProcess],
) -> None:
    server = launch("--max-message-size", str(1 * MB))
    with Siege(server) as siege:
        codes = []
        for announced in (1 << 30, 1 << 62):
            with open_session(server.port, max_message_size=1 * MB) as ws:
                ws.start_frame(OPCODE_BINARY, announced)  # no payload follows
                codes.append(_close_code(ws, SLACK))
        siege.expect(codes == [1009, 1009], f"close codes {codes}, expected 1009 without payload")
        siege.verify()


@pytest.mark.timeout(90)
def test_gzip_bomb_stops_at_the_message_size(launch: Callable[..., ServerProcess]) -> None:
    """4 connections at once send a ~1 MB compressed PutDataObjects inflating to 1 GiB."""
    server = launch()
    bomb = gzip_bomb(2, 1 << 30)
    assert len(bomb) < 2 * MB
    with Siege(server) as siege:
        sessions = [siege.session() for _ in range(4)]

        def attack(ws: RawWebSocket) -> list[Any] | None:
            ws.send_frame(OPCODE_BINARY, bomb)
            return _reply_or_none(ws, 2, 30)

        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(attack, sessions))
        for reply in replies:
            codes = error_codes(reply or [])
            siege.expect(
                codes == [ErrorCode.EMAXSIZE_EXCEEDED], f"bomb answered {codes or reply}, want 17"
            )
        siege.verify()


@pytest.mark.timeout(60)
def test_multipart_put_without_fin_is_bounded_in_bytes(
    launch: Callable[..., ServerProcess],
) -> None:
    server = launch("--max-pending-bytes", str(MAX_PENDING_BYTES))
    part_size, parts = 4 * MB, 60  # 240 MiB offered, 7.5x the bound
    with Siege(server) as siege:
        ws, ds = siege.dataspace_session("hostile/multipart")
        first = 0
        refused: list[int] = []
        for i in range(parts):
            ref = uuid.uuid4()
            body = messages.Store.PutDataObjects(
                data_objects={str(i): data_object(crs_xml(ref, filler=part_size), crs_uri(ds, ref))}
            )
            message_id = ws.send_etp(body, correlation_id=first, flags=0)
            first = first or message_id
            reply = _reply_or_none(ws, first, 0.01)
            if reply is not None:
                refused = error_codes(reply)
                break
        if not refused:
            refused = error_codes(_reply_or_none(ws, first, OP_TIMEOUT) or [])
        siege.expect(
            bool(refused)
            and refused[0] in (ErrorCode.ELIMIT_EXCEEDED, ErrorCode.EMAXSIZE_EXCEEDED),
            f"{parts} x {part_size // MB} MiB without FIN: got {refused or 'no error'}, "
            f"want ELIMIT_EXCEEDED/EMAXSIZE_EXCEEDED past --max-pending-bytes",
        )
        siege.verify()


@pytest.mark.timeout(40)
def test_multipart_put_without_fin_times_out(launch: Callable[..., ServerProcess]) -> None:
    server = launch("--pending-timeout", str(PENDING_TIMEOUT))
    with Siege(server) as siege:
        ws, ds = siege.dataspace_session("hostile/stalled")
        ref = uuid.uuid4()
        body = messages.Store.PutDataObjects(
            data_objects={"a": data_object(crs_xml(ref, filler=MB), crs_uri(ds, ref))}
        )
        first = ws.send_etp(body, flags=0)
        codes = error_codes(_reply_or_none(ws, first, PENDING_TIMEOUT + SLACK) or [])
        siege.expect(
            bool(codes) and codes[0] in (ErrorCode.EMULTIPART_CANCELLED, ErrorCode.ETIMED_OUT),
            f"a multipart put idle past --pending-timeout got {codes or 'no error'}, want 18/26",
        )
        siege.verify()


def _uninitialized(ds: str, path: str, count: int) -> Any:
    meta = datatypes.DataArrayTypes.DataArrayMetadata(
        dimensions=[count],
        transport_array_type="arrayOfDouble",
        logical_array_type="arrayOfDouble64LE",
        store_last_write=0,
        store_created=0,
    )
    return datatypes.DataArrayTypes.PutUninitializedDataArrayType(
        uid=_array_id(ds, path), metadata=meta
    )


def _array_id(ds: str, path: str) -> Any:
    epc = f"{ds}/eml20.obj_EpcExternalPartReference({uuid.UUID(int=7)})"
    return datatypes.DataArrayTypes.DataArrayIdentifier(uri=epc, path_in_resource=path)


@pytest.mark.timeout(90)
def test_uninitialized_arrays_take_no_memory_and_block_writes_cost_their_bytes(
    launch: Callable[..., ServerProcess],
) -> None:
    """3 arrays of 2^28 doubles (2 GiB each) declared, then one value written in a transaction."""
    server = launch("--max-store-bytes", str(MAX_STORE_BYTES))
    with Siege(server) as siege:
        ws, ds = siege.dataspace_session("hostile/arrays")
        declare = messages.DataArray.PutUninitializedDataArrays(
            data_arrays={k: _uninitialized(ds, f"/{k}", 1 << 28) for k in "abc"}
        )
        reply = _reply_or_none(ws, ws.send_etp(declare), 30) or []
        codes = error_codes(reply)
        accepted = [b for b in reply if b.etp_name == "PutUninitializedDataArraysResponse"]
        if accepted:  # declared lazily: a one-value write must cost one value
            siege.expect(not codes, f"declaration partly refused: {codes}")
            [start] = ws.request(
                messages.Transaction.StartTransaction(read_only=False, dataspace_uris=[ds])
            )
            write = messages.DataArray.PutDataSubarrays(
                data_subarrays={
                    "w": datatypes.DataArrayTypes.PutDataSubarraysType(
                        uid=_array_id(ds, "/a"),
                        data=datatypes.AnyArray(item=datatypes.ArrayOfDouble(values=[1.5])),
                        starts=[12345],
                        counts=[1],
                    )
                }
            )
            written = _reply_or_none(ws, ws.send_etp(write), 30) or []
            siege.expect(
                [b.etp_name for b in written] == ["PutDataSubarraysResponse"],
                f"one-value write answered {written}",
            )
            ws.request(
                messages.Transaction.RollbackTransaction(transaction_uuid=start.transaction_uuid)
            )
        else:  # refused against --max-store-bytes: with a clear ETP error for every array
            siege.expect(
                sorted(codes) == [ErrorCode.ELIMIT_EXCEEDED] * 3,
                f"6 GiB of declared arrays answered {codes or reply}, want success or ELIMIT 3x",
            )
        siege.verify()


@pytest.mark.timeout(60)
def test_store_refuses_writes_past_max_store_bytes(launch: Callable[..., ServerProcess]) -> None:
    """Objects of 4 MiB each, 24 of them (96 MiB), against a 32 MiB store."""
    server = launch("--max-store-bytes", str(32 * MB))
    with Siege(server) as siege:
        ws, ds = siege.dataspace_session("hostile/full")
        codes: list[int] = []
        for i in range(24):
            ref = uuid.uuid4()
            body = messages.Store.PutDataObjects(
                data_objects={str(i): data_object(crs_xml(ref, filler=4 * MB), crs_uri(ds, ref))}
            )
            codes = error_codes(ws.request(body, timeout=30))
            if codes:
                break
        siege.expect(
            codes == [ErrorCode.ELIMIT_EXCEEDED],
            f"96 MiB into a 32 MiB store: last answer {codes or 'success'}, want ELIMIT_EXCEEDED",
        )
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        siege.expect(pong.etp_name == "Pong", "the session did not survive the refusal")
        siege.verify()


@pytest.mark.timeout(60)
def test_counts_claiming_2_31_are_refused_cheaply(launch: Callable[..., ServerProcess]) -> None:
    server = launch()
    claim = 1 << 31

    def claim_frame(body: Any, message_id: int, first: int, tail: bytes = b"") -> tuple[int, bytes]:
        return message_id, count_claim(body, message_id, first, tail)

    get, put = (
        messages.Store.GetDataObjects(uris={}),
        messages.Store.PutDataObjects(data_objects={}),
    )
    arrays = messages.DataArray.PutDataArrays(data_arrays={})
    # One PutDataArraysType under key "k": its DataArrayIdentifier, then DataArray.dimensions.
    item = (
        _avro_string("k")
        + _avro_string("eml:///dataspace('x')/eml20.obj_EpcExternalPartReference(1)")
        + _avro_string("/p")
    )
    dims_4 = write_varint(1) + write_varint(4) + write_varint(0)  # dimensions [4]
    frames = {
        "map count": claim_frame(get, 100, claim),
        "map count, negative block": claim_frame(put, 102, -claim, write_varint(claim)),
        "string length": claim_frame(get, 104, 1, write_varint(claim) + b"k"),
        "array dimensions": claim_frame(arrays, 106, 1, item + write_varint(claim)),
        # AnyArray branch 4 (arrayOfDouble) claiming 2^31 values, branch 6 (bytes) 2^31 bytes.
        "array values": claim_frame(
            arrays, 108, 1, item + dims_4 + write_varint(4) + write_varint(claim)
        ),
        "bytes length": claim_frame(
            arrays, 110, 1, item + dims_4 + write_varint(6) + write_varint(claim)
        ),
    }
    with Siege(server) as siege:
        with open_session(server.port) as ws:
            for what, (message_id, frame) in frames.items():
                ws.send_frame(OPCODE_BINARY, frame)
                codes = error_codes(_reply_or_none(ws, message_id, OP_TIMEOUT) or [])
                siege.expect(
                    codes in ([ErrorCode.EINVALID_MESSAGE], [ErrorCode.EMAXSIZE_EXCEEDED]),
                    f"{what} of 2^31: answered {codes or 'nothing'}, want 19 (or 17)",
                )
            [pong] = ws.request(messages.Core.Ping(current_date_time=1))
            siege.expect(pong.etp_name == "Pong", "the session did not survive the claims")
        siege.verify()


@pytest.mark.timeout(90)
def test_random_and_truncated_frames(launch: Callable[..., ServerProcess]) -> None:
    """200 connections, each doing one seeded kind of nonsense, 4 at a time."""
    server = launch("--max-message-size", str(1 * MB))
    rng = random.Random(9)
    kinds = [
        "random bytes",
        "truncated frame",
        "reserved bits",
        "unmasked frame",
        "long control frame",
        "fragmented ping",
        "orphan continuation",
        "bad close payload",
        "random ETP body",
        "text frame",
    ]
    plans = [(rng.choice(kinds), rng.randbytes(rng.randrange(1, 4096))) for _ in range(200)]

    def run(plan: tuple[str, bytes]) -> str | None:
        kind, noise = plan
        try:
            with RawWebSocket.open(server.port) as ws:
                if kind == "random ETP body":
                    ws.request_session()
                    message_id = next(ws.ids)
                    body = messages.Store.GetDataObjects(uris={})
                    ws.send_frame(OPCODE_BINARY, header_bytes(body, message_id) + noise)
                    ws.collect(message_id, OP_TIMEOUT)  # an answer; the session goes on
                    ws.request(messages.Core.Ping(current_date_time=1))
                    return None
                if kind == "random bytes":
                    ws.send_raw(noise)
                elif kind == "truncated frame":
                    ws.send_frame(OPCODE_BINARY, noise, announced=len(noise) + 100)
                elif kind == "reserved bits":
                    ws.send_frame(OPCODE_BINARY, noise, rsv=rng.randrange(1, 8))
                elif kind == "unmasked frame":
                    ws.send_frame(OPCODE_BINARY, noise, masked=False)
                elif kind == "long control frame":
                    ws.send_frame(OPCODE_PING, noise + b"x" * 126)
                elif kind == "fragmented ping":
                    ws.send_frame(OPCODE_PING, noise[:10], fin=False)
                elif kind == "orphan continuation":
                    ws.send_frame(0, noise)
                elif kind == "bad close payload":
                    ws.send_frame(OPCODE_CLOSE, b"\x03")
                elif kind == "text frame":
                    ws.send_frame(OPCODE_TEXT, noise.hex().encode())
        except (OSError, WsClosed, HandshakeRefused, TimeoutError) as exc:
            return f"{kind}: {type(exc).__name__}: {exc}"
        return None

    with Siege(server) as siege:
        with ThreadPoolExecutor(4) as pool:
            failures = [f for f in pool.map(run, plans) if f]
        # Refusals and closes are fine for nonsense, except where the session must go on.
        siege.expect(
            not [f for f in failures if f.startswith("random ETP") or "HandshakeRefused" in f],
            f"well-framed garbage broke a session: {failures[:3]}",
        )
        siege.verify()


@pytest.mark.timeout(60)
def test_ping_flood(launch: Callable[..., ServerProcess]) -> None:
    """20,000 ETP Pings and 5,000 websocket pings, sent without reading, then read back."""
    server = launch()
    with Siege(server) as siege:
        with open_session(server.port) as ws:
            ping = messages.Core.Ping(current_date_time=1)
            deadline = time.monotonic() + 20
            sent = 0
            try:
                for i in range(20_000):
                    ws.send_etp(ping)
                    sent += 1
                    if i % 4 == 0:
                        ws.send_frame(OPCODE_PING, b"p")
                    if time.monotonic() > deadline:
                        break
            except OSError:
                pass  # the server stopped reading us: that is allowed (backpressure)
            pongs = 0
            closed: int | str | None = "open"
            end = time.monotonic() + 20
            try:
                while pongs < sent and time.monotonic() < end:
                    _header, body = ws.recv_etp(max(end - time.monotonic(), 0.01))
                    pongs += body.etp_name == "Pong"
            except WsClosed as exc:
                closed = exc.code
            except TimeoutError:
                pass
            siege.expect(
                pongs == sent or closed != "open",
                f"{sent} pings: {pongs} pongs and the connection still open (want all or a close)",
            )
        siege.verify()


@pytest.mark.timeout(120)
def test_connection_churn(launch: Callable[..., ServerProcess]) -> None:
    """300 short connections from 6 threads: full sessions, bare TCP, upgrades cut by a reset."""
    server = launch()
    fds_before = server.open_fds()

    def churn(i: int) -> str | None:
        try:
            if i % 3 == 0:
                with open_session(server.port) as ws:
                    ws.send_etp(messages.Core.CloseSession(reason="churn"))
                    ws.wait_closed(OP_TIMEOUT)
            elif i % 3 == 1:
                tcp_connect(server.port).close()
            else:
                sock = tcp_connect(server.port)
                sock.sendall(upgrade_request(server.port))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # RST
        except (OSError, WsClosed, HandshakeRefused, TimeoutError) as exc:
            return f"{i}: {type(exc).__name__}: {exc}"
        return None

    with Siege(server) as siege:
        deadline = time.monotonic() + 60
        failures: list[str] = []
        with ThreadPoolExecutor(6) as pool:
            for start in range(0, 300, 30):
                if time.monotonic() > deadline:
                    break
                failures += [f for f in pool.map(churn, range(start, start + 30)) if f]
        siege.expect(not failures, f"churn failures: {failures[:3]}")
        wait_until(lambda: server.open_fds() <= fds_before + 2, SETTLE)
        fds = server.open_fds()
        siege.expect(fds <= fds_before + 2, f"{fds} fds open after churn, {fds_before} before")
        siege.verify()


# -- HTTP upgrade and connections -----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_half_http_upgrades_are_capped_and_time_out(launch: Callable[..., ServerProcess]) -> None:
    """200 connections send half an upgrade request and trickle 1 byte every 0.5 s."""
    max_connections = 32
    server = launch(
        "--handshake-timeout",
        str(HANDSHAKE_TIMEOUT),
        "--max-connections",
        str(max_connections),
    )
    with Siege(server) as siege:
        socks = []
        for _ in range(200):
            sock = tcp_connect(server.port)
            with_head = upgrade_request(server.port)
            sock.sendall(with_head[: len(with_head) // 2])
            socks.append(sock)
        limit = HANDSHAKE_TIMEOUT + SLACK
        closed = trickle(socks, lambda i: b"a", period=0.5, duration=limit + 2)
        late = [i for i in range(len(socks)) if closed.get(i, limit + 1) > limit]
        siege.expect(
            not late,
            f"{len(late)} of 200 half upgrades open after {limit:g} s "
            f"(--handshake-timeout {HANDSHAKE_TIMEOUT}: a trickle must not extend it)",
        )
        assert siege.sampler is not None
        most = siege.sampler.observed.max_threads
        siege.expect(
            most <= siege.baseline_threads + max_connections,
            f"{most} threads during the attack, over baseline {siege.baseline_threads} "
            f"+ --max-connections {max_connections}",
        )
        for sock in socks:
            sock.close()
        siege.verify()


@pytest.mark.timeout(60)
def test_max_connections_refuses_the_rest(launch: Callable[..., ServerProcess]) -> None:
    max_connections = 8
    server = launch("--max-connections", str(max_connections))
    with Siege(server) as siege:
        opened: list[RawWebSocket] = []
        refused: list[HttpReply | None] = []
        for _ in range(max_connections + 10):
            try:
                opened.append(open_session(server.port))
            except HandshakeRefused as exc:
                refused.append(exc.reply)
            except (WsClosed, OSError, TimeoutError):
                refused.append(None)
        # The probe holds one connection.
        siege.expect(
            len(opened) == max_connections - 1,
            f"{len(opened)} sessions opened beside the probe with --max-connections "
            f"{max_connections}",
        )
        statuses = {r.status if r else None for r in refused}
        siege.expect(
            statuses <= {503, None}, f"refused connections saw {statuses}, want 503 or a close"
        )
        for ws in opened:
            ws.close()
        # Slots come back once those connections are gone.
        again = wait_until(lambda: _can_open(server), SETTLE, 0.2)
        siege.expect(again, "no new session after the others closed")
        siege.verify()


def _can_open(server: ServerProcess) -> bool:
    try:
        open_session(server.port).close()
    except (HandshakeRefused, WsClosed, OSError, TimeoutError):
        return False
    return True


@pytest.mark.timeout(40)
def test_idle_session_is_closed(launch: Callable[..., ServerProcess]) -> None:
    server = launch("--idle-timeout", str(IDLE_TIMEOUT))
    with Siege(server) as siege:
        with open_session(server.port) as ws:
            code = _close_code(ws, IDLE_TIMEOUT + SLACK)
        siege.expect(code != "open", f"an idle session was still open after {IDLE_TIMEOUT} s")
        siege.verify()


@pytest.mark.timeout(40)
def test_idle_transaction_times_out(launch: Callable[..., ServerProcess]) -> None:
    server = launch("--transaction-timeout", str(TRANSACTION_TIMEOUT), "--idle-timeout", "60")
    with Siege(server) as siege:
        idle, ds = siege.dataspace_session("hostile/tx")
        other = siege.session()
        start_tx = messages.Transaction.StartTransaction(read_only=False, dataspace_uris=[ds])
        [started] = idle.request(start_tx)
        siege.expect(started.etp_name == "StartTransactionResponse", f"no transaction: {started}")
        [busy] = other.request(start_tx)
        siege.expect(
            error_codes([busy]) == [ErrorCode.EMAX_TRANSACTIONS_EXCEEDED],
            f"a second writer while the first is active got {busy}, want 15",
        )
        outcome: list[Any] = []

        def started_elsewhere() -> bool:
            [reply] = other.request(start_tx)
            outcome[:] = [reply]
            return bool(reply.etp_name == "StartTransactionResponse")

        freed = wait_until(started_elsewhere, TRANSACTION_TIMEOUT + SLACK, 0.2)
        siege.expect(freed, f"still refused {TRANSACTION_TIMEOUT + SLACK:g} s later: {outcome[:1]}")
        [late] = idle.request(
            messages.Transaction.CommitTransaction(transaction_uuid=started.transaction_uuid)
        )
        siege.expect(
            bool(error_codes([late])), f"the timed-out transaction still committed: {late}"
        )
        siege.verify()


@pytest.mark.timeout(30)
def test_open_session_advertises_the_time_limits(launch: Callable[..., ServerProcess]) -> None:
    server = launch(
        "--transaction-timeout",
        str(TRANSACTION_TIMEOUT),
        "--change-retention-period",
        str(CHANGE_RETENTION),
    )
    with RawWebSocket.open(server.port) as ws:
        opened = ws.request_session()
    transaction = {p.protocol: p for p in opened.supported_protocols}[18]
    advertised = transaction.protocol_capabilities.get("TransactionTimeoutPeriod")
    assert advertised is not None and advertised.item == TRANSACTION_TIMEOUT
    retention = opened.endpoint_capabilities.get("ChangeRetentionPeriod")
    assert retention is not None and retention.item == CHANGE_RETENTION


@pytest.mark.timeout(30)
def test_malformed_http_gets_an_http_error(launch: Callable[..., ServerProcess]) -> None:
    server = launch(token=TOKEN)
    port = server.port
    auth = ("Authorization", f"Bearer {TOKEN}")
    cases: dict[str, tuple[bytes, set[int]]] = {
        "two Authorization headers": (upgrade_request(port, headers=[auth, auth]), {400}),
        "two different Authorization headers": (
            upgrade_request(port, headers=[auth, ("Authorization", "Bearer other")]),
            {400, 401},
        ),
        "no token": (upgrade_request(port), {401}),
        "wrong token": (upgrade_request(port, headers=[("Authorization", "Bearer x")]), {401}),
        "garbage request line": (b"\x16\x03\x01 hello\r\n\r\n", {400}),
        "no Sec-WebSocket-Key": (
            upgrade_request(port, headers=[auth]).replace(b"Sec-WebSocket-Key", b"X-Key"),
            {400},
        ),
        "80 KiB of headers": (
            upgrade_request(port, headers=[auth, *[(f"X-Pad-{i}", "p" * 1000) for i in range(80)]]),
            {431},
        ),
        "a 70 KiB header line": (upgrade_request(port, headers=[("X-Big", "b" * 70_000)]), {431}),
    }
    with Siege(server, token=TOKEN) as siege:
        for what, (request, want) in cases.items():
            reply = http_exchange(port, request)
            siege.expect(
                reply is not None and reply.status in want,
                f"{what}: {reply.status if reply else 'no HTTP reply'}, want {sorted(want)}",
            )
        siege.verify()


@pytest.mark.timeout(30)
def test_no_credential_reaches_the_log(launch: Callable[..., ServerProcess]) -> None:
    server = launch(token=TOKEN, log_level="DEBUG")
    secrets = {name: f"leak-{name}-{uuid.uuid4().hex}" for name in ("query", "xauth", "wrong")}
    port = server.port
    attempts = [
        upgrade_request(port, f"/?access_token={secrets['query']}&token={secrets['query']}"),
        upgrade_request(port, headers=[("X-Authorization", f"Bearer {secrets['xauth']}")]),
        upgrade_request(port, headers=[("Authorization", f"Bearer {secrets['wrong']}")]),
        upgrade_request(port, headers=[("Authorization", f"Bearer {TOKEN}")] * 2),
    ]
    with Siege(server, token=TOKEN) as siege:
        for request in attempts:
            http_exchange(port, request)
        # An accepted session, with a token in its query string and an Authorize message too.
        path = f"/?access_token={TOKEN}"
        with RawWebSocket.open(port, [("Authorization", f"Bearer {TOKEN}")], path=path) as ws:
            ws.request_session()
            ws.request(
                messages.Core.Authorize(
                    authorization=f"Bearer {TOKEN}", supplemental_authorization={"k": TOKEN}
                )
            )
        siege.verify()
    log = server.log_text()
    assert "DEBUG" in log  # the log was verbose enough to leak
    leaked = [name for name, secret in {**secrets, "token": TOKEN}.items() if secret in log]
    assert not leaked, f"credentials in the server log: {leaked}"


# -- the store ------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_huge_comment_or_attribute_does_not_stall_other_sessions(
    launch: Callable[..., ServerProcess],
) -> None:
    """12 MiB in one XML comment and in one attribute value, put from two sessions at once."""
    server = launch()
    with Siege(server) as siege:
        sessions = [siege.dataspace_session(f"hostile/xml{i}") for i in range(2)]
        docs = [{"comment": 12 * MB}, {"attribute": 12 * MB}]

        def put(i: int) -> list[Any] | None:
            ws, ds = sessions[i]
            ref = uuid.uuid4()
            body = messages.Store.PutDataObjects(
                data_objects={"x": data_object(crs_xml(ref, **docs[i]), crs_uri(ds, ref))}
            )
            return _reply_or_none(ws, ws.send_etp(body), 60)

        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(put, range(2)))
        for doc, reply in zip(docs, replies, strict=True):
            names = [b.etp_name for b in reply or []]
            codes = error_codes(reply or [])
            siege.expect(
                names == ["PutDataObjectsResponse"]
                or codes in ([ErrorCode.EINVALID_OBJECT], [ErrorCode.ELIMIT_EXCEEDED]),
                f"{doc}: answered {names} {codes}, want success or a clear refusal",
            )
        siege.verify()


@pytest.mark.timeout(40)
def test_deleted_object_records_are_pruned(launch: Callable[..., ServerProcess]) -> None:
    server = launch("--change-retention-period", str(CHANGE_RETENTION))
    with Siege(server) as siege:
        ws, ds = siege.dataspace_session("hostile/deletes")
        refs = [uuid.uuid4() for _ in range(20)]
        uris = {str(i): crs_uri(ds, ref) for i, ref in enumerate(refs)}
        ws.request(
            messages.Store.PutDataObjects(
                data_objects={
                    k: data_object(crs_xml(r), uris[k]) for k, r in zip(uris, refs, strict=True)
                }
            )
        )
        ws.request(messages.Store.DeleteDataObjects(uris=uris))

        def deleted() -> int:
            bodies = ws.request(messages.Discovery.GetDeletedResources(dataspace_uri=ds))
            return sum(len(b.deleted_resources) for b in bodies if b.etp_message_type == 6)

        siege.expect(deleted() == len(refs), "deletes were not recorded")
        pruned = wait_until(lambda: deleted() == 0, CHANGE_RETENTION + SLACK, 0.25)
        siege.expect(pruned, f"{deleted()} deleted records kept past ChangeRetentionPeriod")
        siege.verify()


# -- malformed integer array values: the same refusal from both varint kernels ------------------
# The server decodes integer arrays with the compiled varint loops when they are built and with
# the numpy kernels otherwise; an over-long varint, one beyond 64 bits and a truncated run are
# refused alike (same code, same message) and the session goes on.


def _avro_string(text: str) -> bytes:
    data = text.encode()
    return write_varint(len(data)) + data


_VARINT_EPC = (
    "eml:///dataspace('x')/eml20.obj_EpcExternalPartReference(00000000-0000-0000-0000-000000000001)"
)


def _put_longs(message_id: int, values: bytes, count: int = 4) -> bytes:
    """A PutDataArrays frame of one array of ``count`` longs whose varint bytes are
    ``values`` (AnyArray branch 2, ArrayOfLong: one block of ``count`` items, then 0)."""
    body = messages.DataArray.PutDataArrays(data_arrays={})
    item = _avro_string("k") + _avro_string(_VARINT_EPC) + _avro_string("/p")
    dims = write_varint(1) + write_varint(count) + write_varint(0)
    data = write_varint(2) + write_varint(count) + values + write_varint(0)
    return header_bytes(body, message_id) + write_varint(1) + item + dims + data + write_varint(0)


_BAD_LONGS = {
    "over-long": b"\x02" + b"\xff" * 11 + b"\x00" + b"\x04\x06",
    "beyond 64 bits": b"\x02" + b"\xff" * 9 + b"\x7f" + b"\x04\x06",
    "truncated": b"\x02\x04",
}


def _long_put_answers(server: ServerProcess) -> dict[str, list[tuple[int, str]]]:
    """(code, message) of every error answering each bad put; a Ping after them all."""
    answers: dict[str, list[tuple[int, str]]] = {}
    with open_session(server.port) as ws:
        for n, (what, values) in enumerate(_BAD_LONGS.items()):
            message_id = 100 + 2 * n
            ws.send_frame(OPCODE_BINARY, _put_longs(message_id, values))
            errors: list[tuple[int, str]] = []
            for body in ws.collect(message_id, OP_TIMEOUT):
                found: list[Any] = []
                if body.etp_message_type == 1000:
                    found = [body.error] if body.error is not None else []
                    found += list((body.errors or {}).values())
                errors += [(int(e.code), e.message) for e in found]
            answers[what] = errors
        [pong] = ws.request(messages.Core.Ping(current_date_time=1))
        assert pong.etp_name == "Pong"
    return answers


@pytest.mark.timeout(120)
def test_bad_varints_are_refused_alike_by_both_kernels(
    launch: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not compiled_varints():
        pytest.skip("the compiled loops are not built here: one kernel only")
    compiled = _long_put_answers(launch())
    monkeypatch.setenv("ETP_SYNC_NO_COMPILED", "1")
    numpy_only = _long_put_answers(launch())
    for what, errors in compiled.items():
        assert errors, f"{what}: the put was not refused"
        assert all("varint" in message or "truncat" in message for _, message in errors), errors
    assert compiled == numpy_only
