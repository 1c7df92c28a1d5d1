"""Short sends that cannot block, made without releasing the GIL (Linux).

CPython releases the GIL around every socket call. For a send of a few hundred bytes with
``MSG_DONTWAIT`` (it takes what fits, never waits) the release costs more than the syscall
whenever other threads want the GIL: releasing hands it over (a futex wake and a context
switch) and the sender must then wait to get it back. With 16 threads sharing one session this
was about half of the client's futex calls and context switches per request. ctypes' ``PyDLL``
calls libc's ``send`` with the GIL held, so no Python thread can close (and reuse) the socket's
file descriptor between :meth:`socket.socket.fileno` and the call.

Elsewhere (no libc through ctypes, other platforms, a free-threaded Python without a GIL to
hold) :data:`quick_send` is None and the writer sends through the socket object.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

_FLAGS = getattr(socket, "MSG_DONTWAIT", 0) | getattr(socket, "MSG_NOSIGNAL", 0)


def _libc_send() -> Any:
    """libc's ``send`` called with the GIL held, or None where it is not available."""
    if not sys.platform.startswith("linux") or not _FLAGS:
        return None
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return None  # free-threaded: nothing would keep a close from reusing the fd meanwhile
    try:
        send = ctypes.PyDLL(None, use_errno=True).send
    except (OSError, AttributeError):
        return None
    send.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int)
    send.restype = ctypes.c_ssize_t
    return send


_SEND = _libc_send()


def _quick_send(sock: socket.socket, data: bytes) -> int:
    """Send what of ``data`` the socket takes now (no wait, GIL held); the byte count.

    Raises BlockingIOError when it takes nothing, OSError when the socket failed (EBADF once
    it is closed); never SIGPIPE.
    """
    while True:
        sent: int = _SEND(sock.fileno(), data, len(data), _FLAGS)
        if sent >= 0:
            return sent
        code = ctypes.get_errno()
        if code != errno.EINTR:
            raise OSError(code, os.strerror(code))  # EAGAIN makes a BlockingIOError


quick_send: Callable[[socket.socket, bytes], int] | None = _quick_send if _SEND else None
""":func:`_quick_send` where libc's ``send`` can be called with the GIL held, else None."""
