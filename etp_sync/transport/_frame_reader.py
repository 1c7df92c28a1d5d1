"""The receiving half of a websocket: a read-ahead buffer over the socket, frame headers
parsed from it, and payloads received straight into their destination.

Incoming payloads go into a bytearray that grows with the bytes that arrive (never to the size a
header announces); large remainders skip the read-ahead buffer. Only the thread holding the
transport's receive lock calls into this.
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import Final, Literal, TypeAlias

from etp_sync._timeouts import MAX_WAIT as MAX_WAIT  # re-exported: the one limit of every wait
from etp_sync.codec._placement import PLACE_PEEK
from etp_sync.errors import ETPProtocolError, ETPTransportError

from ._frames import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    FIN,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_TEXT,
    address_of,
    mask_into,
    unmask,
)
from ._spin import SERVING, WAITING, Spinner

_PLACE_MIN: Final = 64 << 10
"""Messages at least this big are offered to :attr:`~._websocket.WebSocketTransport.placer`."""
Placer: TypeAlias = "Callable[[memoryview, int], tuple[int, memoryview] | None]"
"""``placer(first bytes, message length)``: ``(offset, memory)`` to receive the payload bytes
``offset .. offset + memory.nbytes`` straight into ``memory`` (the rest goes to the message
buffer, which then lacks them), or None to receive the message the ordinary way."""
_RECV_BUFFER: Final = 64 << 10
"""Read-ahead buffer for frame headers and small payloads (amortises syscalls)."""
_DIRECT_RECV: Final = 16 << 10
"""Payload remainders at least this big are received straight into the message buffer."""
_FIRST_GROWTH: Final = 64 << 10
"""A message buffer starts at most this big; it then at most doubles as bytes arrive, so memory
follows what the peer actually sent, not the length its frame header announced."""
_RECV_PIECE: Final = 256 << 10
"""The most bytes one ``recv_into`` mid-frame asks for. 256 MiB one way over loopback, asked
for per 256 KiB against per 16 MiB: 2,500-2,900 against 1,400-1,900 MiB/s (measured, 2-core
VM, 1 MiB sends)."""
_UNMASK_PIECE: Final = 1 << 20
"""Payload received straight into place is unmasked every this many bytes, while in cache."""


def kernel_timeval(seconds: float) -> bytes:
    """``SO_RCVTIMEO``/``SO_SNDTIMEO`` value for ``seconds`` (0 < seconds <= MAX_WAIT): at
    least a microsecond, since a zero timeval means no timeout."""
    whole = int(seconds)
    micros = max(int((seconds - whole) * 1_000_000), 0 if whole else 1)
    return struct.pack("@ll", whole, micros)


class FrameReader:
    """Reads frames from ``sock`` and assembles the data messages they carry.

    ``fail(close_code, message)`` closes the connection after a protocol violation and
    ``lost(message)`` records a failed one; each returns the error to raise. A frame that has
    started may stall at most ``stall_timeout`` seconds.

    ``kernel_timeouts``: the socket is blocking, its receives bounded by the kernel's
    ``SO_RCVTIMEO`` (armed to ``stall_timeout`` by the transport). A wait for a new frame with a
    timeout then re-arms it to that timeout, once for a run of equal waits (the server's
    session loop), so that the ``recv`` itself waits: no ``poll`` before it. A frame that has
    started then counts a stall over several such receives. Otherwise the socket's Python
    timeout is ``stall_timeout`` and timed waits poll first.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        stall_timeout: float,
        safe_url: str,
        fail: Callable[[int, str], ETPProtocolError],
        lost: Callable[[str], ETPTransportError],
        kernel_timeouts: bool = False,
        masked_peer: bool = False,
    ) -> None:
        self._sock = sock
        self._masked_peer = masked_peer
        """The peer is a client, whose frames must all be masked; a server's must all be
        unmasked (RFC 6455 5.1). Either way a frame of the other kind closes with 1002."""
        self._stall_timeout = stall_timeout
        self._kernel_timeouts = kernel_timeouts
        self._recv_wait = stall_timeout
        """The longest one ``recv`` blocks: the kernel's receive timeout, or the socket's own."""
        self._safe_url = safe_url
        self._fail = fail
        self._lost = lost
        self.message_deadline: float | None = None
        """Set by the transport for one ``recv_data`` call: a started message must end by it."""
        self._rbuf = bytearray(_RECV_BUFFER)
        self._rview = memoryview(self._rbuf)
        self._rpos = 0
        self._rend = 0
        self.spinner: Spinner | None = None
        """Set by the transport: how a client's :meth:`read_bounded`, or a server's wait for a
        frame, polls before it sleeps (None: it sleeps at once)."""
        self._poller: select.poll | None = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock.fileno(), select.POLLIN)

    @property
    def buffered(self) -> bool:
        """Whether read-ahead bytes are waiting to be parsed."""
        return self._rend > self._rpos

    def read_message(
        self,
        timeout: float | None,
        max_message_size: int,
        placer: Placer | None,
        on_control: Callable[[int, bytes], None],
    ) -> tuple[bytearray, bool] | None:
        """The next data message as ``(payload, is_text)``, or None if no byte of a new frame
        arrives within ``timeout`` seconds (None: wait for ever); control frames met on the
        way go to ``on_control(opcode, payload)`` (unmasked), which may raise.

        The socket's own wait is the only one where it can be (no poll before a recv: see the
        class's ``kernel_timeouts``). The short path: a whole small binary frame in the
        read-ahead buffer (already there, or come in the first receive) is taken from it at
        once; any other frame goes to :meth:`_read_frames`."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        wait = timeout  # the whole wait: the first receive may leave it to the kernel
        while True:
            if self._rend == self._rpos and not self._frame_start(deadline, wait):
                return None
            wait = None  # any later wait is for what is left of the timeout (also after a
            # control frame that was in the buffer already: not the whole timeout again)
            span = self._small_frame()
            if span is not None:
                start, end, key = span
                if end - start <= max_message_size:  # else _read_frames refuses it
                    self._rpos = end
                    if key is None:
                        return self._rbuf[start:end], False
                    return unmask(self._rview[start:end], key), False
            received = self._read_frames(max_message_size, placer, on_control)
            if received is not None:
                return received

    def read_bounded(
        self,
        deadline: float | None,
        max_message_size: int,
        on_control: Callable[[int, bytes], None],
    ) -> bytearray | Literal[False] | None:
        """The next data message, read by a caller bound by its own ``deadline`` (a
        ``time.monotonic()`` value; None: no limit), which nothing here outlives, not even a
        frame that has started: what came stays in the read-ahead buffer for the next read.

        Returns the payload when the next message is a small binary one (one frame that fits
        the read-ahead buffer); None when it is not whole by ``deadline``; False when the next
        frame needs :meth:`read_message` (a larger, fragmented or text message, a wrong frame),
        which then finds its first bytes buffered. Control frames met on the way go to
        ``on_control`` once whole, as in :meth:`read_message`."""
        if self._rend == self._rpos and not self._recv_more(2, deadline):
            return None  # (the usual start: nothing buffered, the reply not in yet)
        while True:
            span = self._small_frame()
            if span is not None:
                start, end, key = span
                if end - start > max_message_size:
                    return False  # read_message refuses it
                self._rpos = end
                if key is None:
                    return self._rbuf[start:end]
                return unmask(self._rview[start:end], key)
            lacking = self._lacking()
            if lacking is None:
                return False
            if lacking:
                if not self._recv_more(lacking, deadline):
                    return None
            else:  # a whole control frame
                self._read_frames(max_message_size, None, on_control)

    def _lacking(self) -> int | None:
        """How many bytes the next frame still lacks in the read-ahead buffer when it is a
        small binary message or a control frame that fits there (0: a whole control frame);
        None for any other frame, which :meth:`read_bounded` leaves to :meth:`read_message`."""
        rbuf, pos = self._rbuf, self._rpos
        avail = self._rend - pos
        if avail < 2:
            return 2 - avail
        b0, b1 = rbuf[pos], rbuf[pos + 1]
        if bool(b1 & 0x80) != self._masked_peer:
            return None  # read_message refuses it
        length = b1 & 0x7F
        head = 6 if b1 & 0x80 else 2
        if b0 & 0x0F >= OP_CLOSE:
            if length > 125:
                return None
        elif b0 != FIN | OP_BINARY or length == 127:
            return None
        elif length == 126:
            if avail < 4:
                return 4 - avail
            length = (rbuf[pos + 2] << 8) | rbuf[pos + 3]
            head += 2
        total = head + length
        if total > len(rbuf):
            return None
        return max(total - avail, 0)

    def _recv_more(self, lacking: int, deadline: float | None) -> bool:
        """Receive what arrives by ``deadline`` after the buffered bytes (moved to the front
        first when fewer than ``lacking`` bytes of room follow them); False when nothing came
        in time. Errors and EOF lose the connection."""
        if self._rpos == self._rend:
            self._rpos = self._rend = 0
        elif len(self._rbuf) - self._rend < lacking:
            avail = self._rend - self._rpos
            self._rview[:avail] = self._rview[self._rpos : self._rend]
            self._rpos, self._rend = 0, avail
        poller = self._poller
        if poller is not None:  # _poll, inline (no TLS here: see the transport's reads_bounded)
            spinner = self.spinner
            waiting = WAITING
            waiting.append(None)
            try:
                if (
                    spinner is not None
                    and len(waiting) == 1  # alone: see _spin.WAITING
                    and spinner.ready(self._sock.fileno(), deadline)
                ):
                    ready = True  # came while polled briefly: no sleep, no wake-up
                else:
                    wait = None if deadline is None else deadline - time.monotonic()
                    millis = (
                        None if wait is None else math.ceil(min(max(wait, 0.0), MAX_WAIT) * 1000)
                    )
                    ready = bool(poller.poll(millis))
            except (OSError, ValueError):
                ready = True  # let the receive report what is wrong
            finally:
                waiting.pop()
        else:
            ready = self._poll(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        if not ready:
            return False
        try:
            got = self._sock.recv_into(self._rview[self._rend :])
        except (TimeoutError, BlockingIOError):
            return False
        except OSError as exc:
            raise self._lost(f"socket error receiving from {self._safe_url}: {exc}") from None
        if got == 0:
            raise self._lost(f"{self._safe_url} closed the connection without a close frame")
        self._rend += got
        return True

    def _read_frames(
        self,
        max_message_size: int,
        placer: Placer | None,
        on_control: Callable[[int, bytes], None],
    ) -> tuple[bytearray, bool] | None:
        """The general path of :meth:`read_message`: read frames (at least the next one's first
        bytes are buffered) until a data message is whole; None after a control frame met
        before any data frame (the caller looks for a new frame again)."""
        message: bytearray | None = None
        text = False
        while True:
            fin, opcode, length, key = self.read_frame_header()

            if opcode >= OP_CLOSE:
                if not fin or length > 125:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "fragmented or oversized control frame")
                payload = bytearray(length)
                self.read_into(memoryview(payload), key)
                on_control(opcode, bytes(payload))
                if message is None:
                    return None
                continue

            if opcode in (OP_BINARY, OP_TEXT):
                if message is not None:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                self._check_size(length, max_message_size)
                message = bytearray()
                text = opcode == OP_TEXT
                whole = fin and length >= _PLACE_MIN  # a big message in one frame
                if whole and placer is not None and self._recv_placed(placer, message, length, key):
                    return message, text
            elif opcode == OP_CONT:
                if message is None:
                    raise self._fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
                self._check_size(len(message) + length, max_message_size)
            else:
                raise self._fail(CLOSE_PROTOCOL_ERROR, f"unknown data opcode {opcode:#x}")
            start = len(message)
            self.append_payload(message, length)
            if key is not None:
                with memoryview(message) as view, view[start:] as target:
                    mask_into(target, 0, target, key)
            if fin:
                return message, text

    def _frame_start(self, deadline: float | None, wait: float | None) -> bool:
        """Receive the first bytes of a frame into the empty read-ahead buffer; False when
        none came by ``deadline`` (None: keep waiting).

        ``wait`` (the call's whole timeout, on its first receive) lets a kernel receive
        timeout bound the ``recv`` itself: armed to it unless it already is, no poll. The
        kernel may end that wait a clock tick early; a poll then waits for the rest.

        A server's reader with a :attr:`spinner` first polls for the next request while no
        other connection of the process waits (see ``_spin.SERVING``).
        """
        self._rpos = self._rend = 0
        spinner = self.spinner
        if spinner is None or not self._masked_peer:
            return self._await_frame(deadline, wait)
        serving = SERVING
        serving.append(None)
        try:
            if len(serving) == 1:
                try:
                    if not spinner.ready(self._sock.fileno(), deadline):
                        wait = None  # the poll took part of the wait: poll for what is left
                except (OSError, ValueError):
                    pass  # the receive reports what is wrong
            return self._await_frame(deadline, wait)
        finally:
            serving.pop()

    def _await_frame(self, deadline: float | None, wait: float | None) -> bool:
        """The wait of :meth:`_frame_start`."""
        if deadline is None:
            if self._kernel_timeouts and self._recv_wait != self._stall_timeout:
                self._arm_wait(self._stall_timeout)
            while not self._recv_first():
                pass  # nothing for stall_timeout: go on waiting
            return True
        if self._kernel_timeouts and wait is not None and wait > 0:
            if self._recv_wait != wait:
                self._arm_wait(min(wait, self._stall_timeout))
            if self._recv_first():
                return True
            if time.monotonic() >= deadline:
                return False
        while self.wait_readable(deadline):
            if self._recv_first():
                return True
            if time.monotonic() >= deadline:
                return False
        return False

    def _recv_first(self) -> bool:
        """One receive into the empty read-ahead buffer: whether bytes came (False on a
        timeout, which before a frame's first byte is no stall); errors and EOF lose the
        connection."""
        try:
            got = self._sock.recv_into(self._rview)
        except (TimeoutError, BlockingIOError):  # BlockingIOError: the kernel's own timeout
            return False
        except OSError as exc:
            raise self._lost(f"socket error receiving from {self._safe_url}: {exc}") from None
        if got == 0:
            raise self._lost(f"{self._safe_url} closed the connection without a close frame")
        self._rend = got
        return True

    def _arm_wait(self, seconds: float) -> None:
        """Make the kernel's receive timeout ``seconds`` (one ``setsockopt``, only when it is
        not already); should that fail, the old one stays and timed waits poll first again."""
        if seconds == self._recv_wait:
            return
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, kernel_timeval(seconds))
        except OSError:
            self._kernel_timeouts = False  # the old timeout stays: timed waits poll first
            return
        self._recv_wait = seconds

    @property
    def message_ready(self) -> bool:
        """Whether the next frame is a whole binary message under 64 KiB already in the
        read-ahead buffer: the next :meth:`read_message` returns it without a ``recv`` (a
        peer's pipelined requests)."""
        return self._rend - self._rpos > 1 and self._small_frame() is not None

    def _small_frame(self) -> tuple[int, int, bytes | None] | None:
        """``(start, end, mask key)`` of the next frame's payload in the read-ahead buffer when
        that frame is a whole binary message under 64 KiB; None otherwise."""
        rbuf, pos = self._rbuf, self._rpos
        avail = self._rend - pos
        if avail < 2 or rbuf[pos] != FIN | OP_BINARY:
            return None
        b1 = rbuf[pos + 1]
        length = b1 & 0x7F
        start = pos + 2
        if length == 126:
            if avail < 4:
                return None
            length = (rbuf[start] << 8) | rbuf[start + 1]
            start += 2
        elif length == 127:
            return None
        if bool(b1 & 0x80) != self._masked_peer:
            return None  # the general path refuses it
        key = None
        if b1 & 0x80:
            key = bytes(rbuf[start : start + 4])
            start += 4
        end = start + length
        return None if end > self._rend else (start, end, key)

    def _check_size(self, size: int, max_message_size: int) -> None:
        """Refuse (and close with 1009) a message announcing more than ``max_message_size``."""
        if size > max_message_size:
            raise self._fail(
                CLOSE_TOO_BIG,
                f"incoming message of {size} bytes exceeds max_message_size {max_message_size}",
            )

    def _recv_placed(
        self, placer: Placer, message: bytearray, length: int, key: bytes | None
    ) -> bool:
        """Offer a one-frame message to ``placer`` (its start unmasked); when it names memory
        for part of the payload, receive that part straight into it and the rest into
        ``message``, each unmasked in place with the key phase of its position."""
        peek = min(length, PLACE_PEEK)
        self.ensure(peek)
        with self._rview[self._rpos : self._rpos + peek] as prefix:
            if key is None:
                spot = placer(prefix, length)
            else:
                clear = bytearray(prefix)
                mask_into(clear, 0, clear, key)
                spot = placer(memoryview(clear), length)
        if spot is None:
            return False
        offset, dest = spot
        self.append_payload(message, offset)
        self.read_into(dest, key, offset)
        self.append_payload(message, length - offset - dest.nbytes)
        if key is not None:
            with memoryview(message) as view, view[:offset] as head, view[offset:] as tail:
                mask_into(head, 0, head, key)
                mask_into(tail, 0, tail, key, offset + dest.nbytes)
        return True

    def wait_readable(self, deadline: float | None) -> bool:
        """Wait until the socket has bytes (or EOF/error) or ``deadline`` passes."""
        if self._rend > self._rpos:
            return True
        return self._poll(None if deadline is None else max(deadline - time.monotonic(), 0.0))

    def _poll(self, wait: float | None) -> bool:
        """Wait up to ``wait`` s (None: forever) until the socket has bytes (or EOF/error)."""
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            if self._poller is not None:
                millis = None if wait is None else math.ceil(min(wait, MAX_WAIT) * 1000)
                return bool(self._poller.poll(millis))
            ready, _, _ = select.select(
                [sock], [], [], None if wait is None else min(wait, MAX_WAIT)
            )
            return bool(ready)
        except (OSError, ValueError):
            return True  # let the read report what is wrong

    def recv_some(self) -> None:
        """Read whatever is available into the read-ahead buffer (mid-frame: see
        :meth:`_recv_into` for stalls)."""
        if self._rpos == self._rend:
            self._rpos = self._rend = 0
        elif self._rend > len(self._rbuf) - 1024:
            avail = self._rend - self._rpos
            self._rview[:avail] = self._rview[self._rpos : self._rend]
            self._rpos, self._rend = 0, avail
        self._rend += self._recv_into(self._rview[self._rend :])

    def _recv_into(self, target: memoryview) -> int:
        """One ``recv_into`` mid-frame that got bytes, errors mapped to ETP exceptions.

        No byte for ``stall_timeout`` loses the connection; under a message deadline
        (``recv_data``) the wait ends at the deadline too, and a message not complete by then
        closes the connection (1008). A receive bounded by less than ``stall_timeout`` (the
        kernel's timeout armed for a shorter wait) is repeated until the stall is that long.
        """
        deadline = self.message_deadline
        stalled_since: float | None = None
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or (left < self._recv_wait and not self._poll(left)):
                    raise self._fail(CLOSE_POLICY_VIOLATION, "message not complete by its deadline")
            try:
                got = self._sock.recv_into(target[:_RECV_PIECE])
            except (TimeoutError, BlockingIOError):  # BlockingIOError: the kernel's own timeout
                now = time.monotonic()
                if stalled_since is None:
                    stalled_since = now - self._recv_wait
                left = stalled_since + self._stall_timeout - now
                if left > 0:
                    if left >= self._recv_wait:
                        continue
                    # The rest of the stall, but no longer than the message deadline: when that
                    # comes first, the check above ends the message (1008), not a stall.
                    wait = left if deadline is None else min(left, max(deadline - now, 0.0))
                    if self._poll(wait) or wait < left:
                        continue
                raise self._lost(
                    f"{self._safe_url} stalled mid-frame for more than {self._stall_timeout:g} s"
                ) from None
            except OSError as exc:
                raise self._lost(f"socket error receiving from {self._safe_url}: {exc}") from None
            if got == 0:
                raise self._lost(f"{self._safe_url} closed the connection without a close frame")
            return got

    def ensure(self, count: int) -> None:
        """Make the read-ahead buffer hold at least ``count`` unread bytes."""
        while self._rend - self._rpos < count:
            self.recv_some()

    def read_frame_header(self) -> tuple[bool, int, int, bytes | None]:
        """Parse the next frame header: (fin, opcode, payload length, mask key or None)."""
        self.ensure(2)
        rbuf, pos = self._rbuf, self._rpos
        b0, b1 = rbuf[pos], rbuf[pos + 1]
        if b0 & 0x70:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
        if bool(b1 & 0x80) != self._masked_peer:
            wrong = (
                "unmasked frame from a client"
                if self._masked_peer
                else "masked frame from a server"
            )
            raise self._fail(CLOSE_PROTOCOL_ERROR, wrong)
        length = b1 & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if b1 & 0x80 else 0)
        self.ensure(size)
        rbuf, pos = self._rbuf, self._rpos  # ensure may have compacted the buffer
        cursor = pos + 2
        if length == 126:
            (length,) = struct.unpack_from("!H", rbuf, cursor)
            cursor += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", rbuf, cursor)
            cursor += 8
            if length >> 63:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "frame length has the top bit set")
        key = bytes(rbuf[cursor : cursor + 4]) if b1 & 0x80 else None
        self._rpos = pos + size
        return bool(b0 & FIN), b0 & 0x0F, length, key

    def append_payload(self, message: bytearray, length: int) -> None:
        """Append the next ``length`` payload bytes to ``message`` (still masked).

        The buffer grows only as bytes arrive, by at most :data:`_FIRST_GROWTH` or its own size
        at a time, so a peer announcing a huge frame and sending little costs little. Large
        remainders are received straight into the grown tail (no copy through the read-ahead).
        """
        filled = len(message)
        end = filled + length
        while filled < end:
            buffered = self._rend - self._rpos
            if buffered or end - filled < _DIRECT_RECV:
                if not buffered:
                    self.recv_some()
                    buffered = self._rend - self._rpos
                take = min(buffered, end - filled)
                message[filled : filled + take] = self._rview[self._rpos : self._rpos + take]
                self._rpos += take
                filled += take
                continue
            if len(message) - filled < _DIRECT_RECV:
                size = len(message)
                message.extend(bytes(min(end, size + max(size, _FIRST_GROWTH)) - size))
            with memoryview(message) as view:
                filled += self._recv_into(view[filled : min(len(message), end)])
        del message[end:]

    def read_into(self, dest: memoryview, key: bytes | None = None, phase: int = 0) -> None:
        """Fill ``dest`` with the next payload bytes: buffered ones first, then from the socket.

        Large remainders go straight from the socket into ``dest``; small ones through the
        read-ahead buffer so that following frame headers come in the same syscall. With a
        mask ``key`` (``phase``: its phase at ``dest[0]``) the bytes are unmasked every
        :data:`_UNMASK_PIECE` bytes as they arrive, while still in cache.
        """
        total = dest.nbytes
        got = min(self._rend - self._rpos, total)
        if got:
            dest[:got] = self._rview[self._rpos : self._rpos + got]
            self._rpos += got
        clear = 0  # dest[:clear] is unmasked
        skew = address_of(dest) & 7 if key is not None and total >= _UNMASK_PIECE else 0
        while got < total:
            if total - got >= _DIRECT_RECV:
                got += self._recv_into(dest[got:])
            else:
                self.recv_some()
                take = min(self._rend - self._rpos, total - got)
                dest[got : got + take] = self._rview[self._rpos : self._rpos + take]
                self._rpos += take
                got += take
            if key is not None and got - clear >= _UNMASK_PIECE:
                # Pieces end at 8-aligned addresses: numpy XORs aligned memory in place in
                # 8-byte words, unaligned memory through copies.
                upto = ((got + skew) & ~7) - skew
                with dest[clear:upto] as piece:
                    mask_into(piece, 0, piece, key, phase + clear)
                clear = upto
        if key is not None and clear < total:
            with dest[clear:] as piece:
                mask_into(piece, 0, piece, key, phase + clear)

    def drop_input(self, deadline: float) -> None:
        """Drop what is buffered and every byte that arrives until EOF or ``deadline`` (the
        rest of a dropped message, while our close frame travels); OSError (a timeout too)
        propagates."""
        self._rpos = self._rend = 0
        while (left := deadline - time.monotonic()) > 0 and self.wait_readable(deadline):
            self._sock.settimeout(left)
            if not self._sock.recv_into(self._rview):
                return

    def unregister(self) -> None:
        """Stop polling the socket (before its file descriptor is released)."""
        if self._poller is not None:
            try:
                self._poller.unregister(self._sock.fileno())
            except (KeyError, ValueError, OSError):
                pass
            self._poller = None
