"""The sending half of a websocket: sends serialised by one lock, frames built (and, by a
client, masked) in a reused send buffer and written under a stall timeout and an optional
deadline, pongs queued by the reader and sent by whoever holds the lock.

Unmasked frames (server side) go out by ``sendmsg`` straight from the parts' own memory.
"""

from __future__ import annotations

import logging
import math
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

import numpy as np

from etp_sync.errors import ETPError, ETPTransportError, ETPWriteTimeout

from ._frames import (
    FIN,
    OP_CLOSE,
    OP_PONG,
    SMALL_MASK,
    header_len,
    small_frame,
    split_frames,
    write_header,
)
from ._quick_send import quick_send
from ._send_regions import PAYLOAD_ALIGN, REGION_BUFFER, SEND_PIECE, first_bytes, regions

_log = logging.getLogger("etp_sync.transport")

_PONG_WAIT: Final = 0.25
"""The longest a pong (or a close frame, beyond its own timeout) waits for a socket that takes
no bytes: a peer that does not read is not worth a blocked thread."""
_SSL_SEND_CHUNK: Final = 1 << 20
"""TLS ``send`` writes everything under one deadline; chunking makes the stall timeout per MiB."""
_SSL_DEADLINE_CHUNK: Final = 16 << 10
"""Under a send deadline, TLS writes one record at a time once the socket is writable, so a
peer that stops reading holds the sender at most until its deadline."""
_ALONE: Final = 2
"""Threads in a process that sends from one thread over one connection: the sender and the
connection's reader (see :meth:`FrameWriter._send_small`)."""
Parts: TypeAlias = "Sequence[bytes | bytearray | memoryview]"
"""A message's payload in parts, as the writer takes it: flat byte buffers (memoryviews of
unsigned bytes, see :func:`~._frames.byte_view`)."""


class _Writability:
    """Whether a socket can take more bytes, with one ``poll`` object kept for the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poller: select.poll | None = None
        if hasattr(select, "poll"):
            try:
                self._poller = select.poll()
                self._poller.register(sock.fileno(), select.POLLOUT)
            except (OSError, ValueError):
                self._poller = None

    def __call__(self, wait: float) -> bool:
        """True when the socket takes bytes within ``wait`` seconds (errors count as yes: the
        send that follows reports them)."""
        try:
            if self._poller is not None:
                return bool(self._poller.poll(math.ceil(wait * 1000)))
            _, ready, _ = select.select([], [self._sock], [], wait)
            return bool(ready)
        except (OSError, ValueError):
            return True


class FrameWriter:
    """Frames messages onto ``sock``: masked when ``masked`` (a client), each part read once.

    The connection's owner gives three callbacks: ``state()`` (``"open"``, ``"closing"`` or
    ``"closed"``), ``check(opcode)`` (raises unless a frame with ``opcode`` may be sent now) and
    ``lost(message)`` (records a failed connection and returns the error to raise: a send that
    stalls past ``stall_timeout``, fails, or is cut off by its deadline).
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        masked: bool,
        max_frame_size: int | None,
        stall_timeout: float,
        safe_url: str,
        state: Callable[[], str],
        check: Callable[[int], None],
        lost: Callable[[str], ETPTransportError],
    ) -> None:
        self._sock = sock
        self._masked = masked
        self.max_frame_size = max_frame_size
        self._stall_timeout = stall_timeout
        self._safe_url = safe_url
        self._state = state
        self._check = check
        self._lost = lost
        tls = isinstance(sock, ssl.SSLSocket)
        self._send_chunk = _SSL_SEND_CHUNK if tls else 1 << 62
        self._flags = 0 if tls else getattr(socket, "MSG_DONTWAIT", 0)
        """``send`` flags: a plain socket's sends never block (they take what fits; see
        :meth:`_send_some`), whatever its mode."""
        self._quick_send = None if tls else quick_send
        """How a small frame goes out on a plain socket while other threads run: keeping the
        GIL (see ._quick_send)."""
        # Unmasked frames (server side) go out by gathering writes, without copying payloads.
        self._gather = (
            not masked and hasattr(sock, "sendmsg") and not isinstance(sock, ssl.SSLSocket)
        )
        self._writable = _Writability(sock)
        self._lock = threading.Lock()
        self._pending_pong: bytes | None = None
        self._pending_close: Callable[[], None] | None = None
        """The socket's release, left by :meth:`close_when_idle` to the send holding the lock."""
        self.close_sent = False
        """Whether our close frame went (or is going) out: it is sent once."""
        self._sbuf: np.ndarray = np.empty(0, dtype=np.uint8)
        self._partial = False
        """Whether some bytes of the big message being sent went out (see :meth:`_send_locked`)."""
        self._key_pool = b""
        self._key_pos = 0

    def send(self, opcode: int, parts: Parts, total: int, deadline: float | None = None) -> None:
        """Frame ``parts`` (``total`` bytes) as one message and transmit it, holding the send
        lock.

        A free lock is taken without a timed wait, and a small message goes out as one
        ``bytes`` in one ``send`` when the socket takes it at once (see :meth:`_send_small`).
        """
        lock = self._lock
        if not lock.acquire(False):
            self._acquire(deadline)
        try:
            self._check(opcode)
            limit = self.max_frame_size
            if total < SMALL_MASK and (limit is None or total <= limit):
                self._send_small(opcode, parts, deadline)  # as _send_locked would, one call less
                if self._sbuf.nbytes and self._state() == "closed":
                    self._sbuf = np.empty(0, dtype=np.uint8)
            else:
                self._send_locked(opcode, parts, total, deadline)
        finally:
            lock.release()
            if self._pending_pong is not None:
                self._send_pongs()
            if self._pending_close is not None:
                self._close_if_idle()

    def send_batch(
        self, opcode: int, messages: Sequence[Parts], deadline: float | None = None
    ) -> None:
        """Frame each of ``messages`` (its parts, under 64 KiB in all) as one message and write
        the frames together, holding the send lock: one ``send`` when the socket takes them.

        A server answers a peer's pipelined requests so, instead of one ``send`` per reply.
        Under a :attr:`max_frame_size` that one of them exceeds, each goes out as :meth:`send`
        sends it (fragmented), still under the one lock and in order.
        """
        self._acquire(deadline)
        try:
            self._check(opcode)
            limit = self.max_frame_size
            if limit is not None:
                sizes = [sum(len(p) for p in parts) for parts in messages]
                if max(sizes, default=0) > limit:
                    for parts, size in zip(messages, sizes, strict=True):
                        self._send_locked(opcode, parts, size, deadline)
                    return
            masked = self._masked
            data = b"".join(
                [
                    small_frame(
                        FIN | opcode,
                        parts[0] if len(parts) == 1 else b"".join(parts),
                        self._mask_key() if masked else None,
                    )
                    for parts in messages
                ]
            )
            self._transmit(memoryview(data), deadline)
        finally:
            self._release()

    def _acquire(self, deadline: float | None) -> None:
        """Take the send lock (a free one without a timed wait); ETPWriteTimeout when another
        send holds it past ``deadline``."""
        lock = self._lock
        if not lock.acquire(False):
            if deadline is None:
                lock.acquire()
            elif not lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                raise ETPWriteTimeout(
                    f"could not send to {self._safe_url} within the deadline: another send "
                    "held the connection"
                )

    def _send_small(self, opcode: int, parts: Parts, deadline: float | None) -> None:
        """Send a message shorter than :data:`SMALL_MASK` as one frame built in one ``bytes``
        (lock held): one ``send`` when the socket is writable now, else the bounded writes of
        :meth:`_transmit`."""
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._masked:  # _mask_key, inline
            pos = self._key_pos
            if pos >= len(self._key_pool):
                self._key_pool = os.urandom(1024)
                pos = 0
            self._key_pos = pos + 4
            data = small_frame(FIN | opcode, payload, self._key_pool[pos : pos + 4])
        else:
            data = small_frame(FIN | opcode, payload, None)
        # Keeping the GIL pays only when another thread may want it: not when this one and the
        # connection's reader are all there is (one thread's requests), where the ctypes call
        # costs more than the socket's own send.
        quick = self._quick_send if threading.active_count() > _ALONE else None
        # A send that cannot wait: quick_send, or MSG_DONTWAIT on a socket without a Python
        # timeout (with one, socket.send first waits up to it for room, past any deadline).
        if deadline is not None and (
            deadline <= time.monotonic()
            or not (quick or (self._flags and not self._sock.gettimeout()) or self._writable(0.0))
        ):
            self._transmit(memoryview(data), deadline)  # waits, or raises ETPWriteTimeout
            return
        try:
            sent = quick(self._sock, data) if quick else self._sock.send(data, self._flags)
        except BlockingIOError:  # a plain socket without room: wait for it
            sent = 0
        except OSError as exc:
            raise self._send_error(exc) from None
        if sent < len(data):
            self._transmit(memoryview(data)[sent:], deadline, started=sent > 0)

    def queue_pong(self, payload: bytes) -> None:
        """Answer a ping without ever blocking the reader on the send lock (see _release)."""
        self._pending_pong = payload
        if self._lock.acquire(blocking=False):
            self._release()  # sends the queued pong

    def send_close(self, payload: bytes, lock_timeout: float) -> bool:
        """Send our close frame unless one went already; False if it could not be sent."""
        if not self._lock.acquire(timeout=max(lock_timeout, 0.0)):
            _log.debug("close frame to %s not sent: a send is stuck", self._safe_url)
            return False
        try:
            if self.close_sent:
                return False
            self.close_sent = True
            deadline = time.monotonic() + max(lock_timeout, _PONG_WAIT)
            self._send_locked(OP_CLOSE, [memoryview(payload)], len(payload), deadline)
            return True
        except ETPError as exc:
            _log.debug("close frame to %s not sent: %s", self._safe_url, exc)
            return False
        finally:
            self._release()

    def release_buffer_if_idle(self) -> None:
        """Drop the send buffer now unless a send is using it (that send then drops it, seeing
        the connection closed)."""
        if self._lock.acquire(blocking=False):
            self._sbuf = np.empty(0, dtype=np.uint8)
            self._release()

    def _release(self) -> None:
        """Release the send lock, then send any pong the reader queued meanwhile.

        The reader never blocks on the send lock for a pong (that could deadlock with a big send
        waiting for the peer to read): it queues the pong and tries the lock. Whoever releases
        the lock looks at the queue afterwards, so a queued pong always finds a sender.
        """
        self._lock.release()
        if self._pending_pong is not None:
            self._send_pongs()
        if self._pending_close is not None:
            self._close_if_idle()

    def close_when_idle(self, close: Callable[[], None]) -> None:
        """Run ``close`` (the release of the socket's descriptor) when no send is using the
        socket: now when the send lock is free, else by the send holding it, as it releases it.

        A send in ``socket.send`` (GIL released) reads the descriptor's number right before the
        system call: closed by another thread meanwhile, the number may already name a file or
        socket opened since, which the send would then write into. The caller has shut the
        socket down first, so a send in progress fails at once and releases the lock."""
        self._pending_close = close
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        """Run the pending close unless a send holds the lock (it runs it when it releases)."""
        if self._pending_close is None or not self._lock.acquire(blocking=False):
            return
        try:
            close, self._pending_close = self._pending_close, None
            if close is not None:
                close()
        finally:
            self._lock.release()

    def _send_pongs(self) -> None:
        """Send the queued pong unless another thread holds the send lock (it will), and any
        queued while this one was being sent (lock released)."""
        while True:
            if self._pending_pong is None or not self._lock.acquire(blocking=False):
                return
            try:
                pong, self._pending_pong = self._pending_pong, None
                if pong is not None and self._state() == "open":
                    try:  # a peer that does not read gets no pong: never block the releaser
                        deadline = time.monotonic() + _PONG_WAIT
                        self._send_locked(OP_PONG, [memoryview(pong)], len(pong), deadline)
                    except ETPError as exc:
                        _log.debug("pong to %s not sent: %s", self._safe_url, exc)
            finally:
                self._lock.release()

    def _send_locked(self, opcode: int, parts: Parts, total: int, deadline: float | None) -> None:
        """Send one message (lock held); the buffer of a connection that closed meanwhile is
        dropped after it."""
        limit = self.max_frame_size
        if total < SMALL_MASK and (limit is None or total <= limit):
            self._send_small(opcode, parts, deadline)  # the send buffer is not used
            if self._sbuf.nbytes and self._state() == "closed":
                self._sbuf = np.empty(0, dtype=np.uint8)
            return
        views = [p if p.__class__ is memoryview else memoryview(p) for p in parts]
        self._partial = False
        try:
            self._write(opcode, views, total, deadline)
        except BaseException:
            # Stopped after part of the message went out (an interrupt between two regions,
            # say): the peer would read the next message as the rest of this one. Errors of
            # the socket and deadlines have recorded the loss already (a second call is a
            # no-op then).
            if self._partial:
                self._lost(f"send to {self._safe_url} stopped in the middle of a message")
            raise
        finally:
            self._partial = False
            if self._state() == "closed":
                self._sbuf = np.empty(0, dtype=np.uint8)

    def _frame_sizes(self, opcode: int, total: int, limit: int | None) -> list[int]:
        """Payload sizes of the frames for one message (control frames never fragment)."""
        if opcode >= OP_CLOSE or limit is None or limit <= 0 or total <= limit:
            return [total]
        sizes = [limit] * (total // limit)
        if total % limit:
            sizes.append(total % limit)
        return sizes

    def _mask_key(self) -> bytes:
        """A fresh random 4-byte mask key, cut from a pooled ``os.urandom`` block (lock held).

        One getrandom syscall per 256 keys instead of one per frame; keys are never reused.
        """
        pos = self._key_pos
        if pos >= len(self._key_pool):
            self._key_pool = os.urandom(1024)
            pos = 0
        self._key_pos = pos + 4
        return self._key_pool[pos : pos + 4]

    def _write(
        self, opcode: int, views: list[memoryview], total: int, deadline: float | None
    ) -> None:
        """Frame and send a message of at least :data:`SMALL_MASK` bytes (or split into frames).

        Unmasked frames go out by ``sendmsg`` when the socket has it. Otherwise headers and
        (masked) payload are built in the send buffer one region at a time
        (:func:`~._send_regions.regions`), each region sent before the next is built: the
        bytes go out while still in cache, and the buffer stays small whatever the message.
        """
        sizes = self._frame_sizes(opcode, total, self.max_frame_size)
        if self._gather:
            self._send_gathered(opcode, views, sizes, deadline)
            return
        masked = self._masked
        fill = min(total + sum(header_len(s, masked) for s in sizes), SEND_PIECE)
        need = PAYLOAD_ALIGN + 8 + fill
        if self._sbuf.nbytes < need:
            # A quarter of room over this message, so that the next ones, slightly bigger as
            # often as not (blocks of varints), fit without a new buffer.
            grown = max(need + need // 4, 2 * self._sbuf.nbytes, 64 << 10)
            self._sbuf = np.empty(min(grown, REGION_BUFFER), np.uint8)
        address = self._sbuf.__array_interface__["data"][0]
        built = regions(
            self._sbuf.data, address, opcode, views, sizes, self._mask_key if masked else None
        )
        started = False
        try:
            for region in built:
                self._transmit(region, deadline, started=started)
                started = True
        finally:
            built.close()  # lets go of its view of the send buffer

    def _send_gathered(
        self,
        opcode: int,
        views: list[memoryview],
        sizes: list[int],
        deadline: float | None = None,
    ) -> None:
        """Send unmasked frames with ``sendmsg``: headers plus the parts' own memory, no copy,
        at most :data:`~._send_regions.SEND_PIECE` bytes offered per call."""
        buffers: list[memoryview] = []
        for first, size, chunks in split_frames(opcode, views, sizes):
            header = bytearray(header_len(size, False))
            write_header(memoryview(header), 0, first, size, None)
            buffers.append(memoryview(header))
            buffers.extend(chunks)
        sendmsg, flags = self._sock.sendmsg, self._flags
        index = 0
        started = False
        try:
            while index < len(buffers):
                batch = first_bytes(buffers, index, SEND_PIECE)
                sent = self._send_some(sendmsg, (batch, (), flags), deadline, started)
                started = started or sent > 0
                while sent and sent >= buffers[index].nbytes:
                    sent -= buffers[index].nbytes
                    index += 1
                if sent:
                    buffers[index] = buffers[index][sent:]
        except OSError as exc:
            raise self._send_error(exc) from None

    def _transmit(
        self, data: memoryview, deadline: float | None = None, *, started: bool = False
    ) -> None:
        """Write all of ``data``; every ``send`` call must progress within ``stall_timeout``,
        and the whole write end by ``deadline`` (None: no deadline). ``started``: part of the
        message went out already."""
        send, flags = self._sock.send, self._flags
        chunk = self._send_chunk
        if deadline is not None and isinstance(self._sock, ssl.SSLSocket):
            chunk = _SSL_DEADLINE_CHUNK
        sent, n = 0, data.nbytes
        try:
            while sent < n:
                piece = data[sent : sent + chunk]
                sent += self._send_some(send, (piece, flags), deadline, started or sent > 0)
        except OSError as exc:
            raise self._send_error(exc) from None

    def _send_some(
        self, send: Callable[..., int], args: tuple[Any, ...], deadline: float | None, started: bool
    ) -> int:
        """The bytes ``send(*args)`` wrote, once the socket takes some (within ``deadline``, see
        :meth:`_wait_writable`); 0 when a plain socket (``MSG_DONTWAIT``) had no room after
        all. Without a deadline, a socket that takes nothing for ``stall_timeout`` raises
        TimeoutError (a TLS socket's own timeout does the same)."""
        if deadline is not None:
            self._wait_writable(deadline, started=started)
        try:
            sent: int = send(*args)
        except BlockingIOError:
            if deadline is None and not self._writable(self._stall_timeout):
                raise TimeoutError from None
            return 0
        if sent:
            self._partial = True
        return sent

    def _wait_writable(self, deadline: float, *, started: bool) -> None:
        """Wait until the socket can take more bytes; past ``deadline`` raise ETPWriteTimeout
        (closing the connection when the message has ``started`` going out)."""
        while True:
            left = deadline - time.monotonic()
            if left > 0:
                wait = min(left, self._stall_timeout)
                if self._writable(wait):
                    return
                if wait < left:
                    raise TimeoutError  # no progress for stall_timeout: the connection is lost
                continue
            message = f"send to {self._safe_url} did not complete within its deadline"
            if started:
                self._lost(f"{message}: the message was cut off")
            raise ETPWriteTimeout(message)

    def _send_error(self, exc: OSError) -> ETPTransportError:
        """The lost connection a send that stalled past ``stall_timeout`` (TimeoutError) or
        failed means (recorded; the error to raise)."""
        if isinstance(exc, TimeoutError):
            return self._lost(
                f"send to {self._safe_url} made no progress for {self._stall_timeout:g} s"
            )
        return self._lost(f"socket error sending to {self._safe_url}: {exc}")
