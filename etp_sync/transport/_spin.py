"""A caller's short poll of its socket before it sleeps: a quick reply with no wake-up.

A thread that sleeps in ``poll()`` until its reply comes is woken by the kernel when the reply
arrives. On this project's 2-core test VM that wake-up (the idle CPU halted, then an
inter-processor interrupt through the hypervisor) was ~25-50 µs of a ~120 µs small request to a
server on the same machine, once on each side. A caller that reads for itself (see
:mod:`etp_sync.session._engine_receiving`) therefore first polls its socket with a zero timeout,
in a loop, for at most :attr:`Spinner.budget` seconds (``ETPSession(spin_wait=...)``), and only
then sleeps: GetDataspaces against the embedded server in another process went from ~115-140 to
~63-95 µs.

The loop is C (``etp_sync.transport._spin_c``, optional like the other compiled modules) and
runs with the GIL released, so other Python threads (an embedded server in the same process,
say) run meanwhile; a loop in Python would hold the GIL between its polls and starve them (the
same requests to an in-process server went from ~155 to ~170-225 µs with one). Without the
module, or with a single CPU to run on (the server could not answer while the caller polls),
callers sleep at once, as before.

The cost is CPU: up to the budget per wait whose reply takes longer. After :data:`MISSES` waits
in a row whose reply did not come within the budget (a remote or busy server), only one wait in
:data:`PROBE` polls first, until one catches its reply again. A thread polls only while no
other thread of the process waits in a bounded read (:data:`WAITING`).

The embedded server polls the same way for a connection's next request, while it has no other
connection (:data:`SERVING`): ``EmbeddedServer(spin_wait=...)``. A new connection starts as if
its client had been slow (``Spinner(at_once=False)``): it polls once a probe, 12 waits in,
catches a request, so that its handshake does not take a CPU from a client starting its
threads (connect against pyetp, 3 alternating runs: 0.89, 0.84, 0.98 with that start; 1.00,
0.89, 1.13 polling at once).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final

from etp_sync._native import load_native
from etp_sync.errors import ETPInvalidArgument

__all__ = [
    "DEFAULT_SPIN_WAIT",
    "MAX_SPIN_WAIT",
    "MISSES",
    "PROBE",
    "SERVING",
    "WAITING",
    "Spinner",
    "checked_spin_wait",
    "spinning_available",
]

DEFAULT_SPIN_WAIT: Final = 0.0002
"""Seconds a caller polls by default: a small request to a server on the same machine or
network segment is answered within it."""
MAX_SPIN_WAIT: Final = 0.01
"""The longest budget accepted: spinning is for microseconds, never for a real wait."""
MISSES: Final = 4
"""Waits in a row whose reply came after the budget, after which most waits sleep at once."""
PROBE: Final = 16
"""While replies come late, one wait in this many still polls first (to see when they no
longer do)."""


def _usable_cpus() -> int:
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return len(getaffinity(0))
        except OSError:
            pass
    return os.cpu_count() or 1


def _poll_briefly() -> Callable[[int, float], bool] | None:
    module = load_native("etp_sync.transport._spin_c", "no spinning (callers sleep at once)")
    if module is None or _usable_cpus() < 2:
        return None
    poll: Callable[[int, float], bool] = module.poll_briefly
    return poll


WAITING: list[None] = []
"""One entry per thread of this process waiting for bytes in a bounded read (appended and
popped by :meth:`~._frame_reader.FrameReader._recv_more`; ``list.append`` and ``pop`` are
atomic under the GIL). A thread polls only while it is the only one: when others wait too,
the server is likely busy with them, and on a small machine the poll would take the CPU from
it. 4 sessions in 4 threads against a server on this 2-core VM: 8,500 req/s with every thread
polling, against 13,500-17,400 with none; with only a lone waiter polling, 10,850 against 11,600
(medians of 6 alternating runs; one session alone: 11,300 against 7,400)."""
SERVING: list[None] = []
"""The same for the embedded server: one entry per connection of this process waiting for its
next request (all of them, idle ones too). A connection polls for its next request only while it
is the only one: a single client's requests then reach the server with no wake-up either, and a
server with several connections never spends a CPU its other connections may need."""
if hasattr(os, "register_at_fork"):  # a child has none of its parent's other threads
    os.register_at_fork(after_in_child=WAITING.clear)
    os.register_at_fork(after_in_child=SERVING.clear)

POLL_BRIEFLY: Callable[[int, float], bool] | None = _poll_briefly()
"""``poll_briefly(fd, seconds)``: whether ``fd`` became readable within ``seconds``, polled
without sleeping and without the GIL; None where callers do not spin (see the module's text)."""


def checked_spin_wait(value: object) -> float:
    """``value`` as a budget in seconds (0 to :data:`MAX_SPIN_WAIT`); ETPInvalidArgument for
    anything else (a bool, a string, NaN, infinity, a negative number or a larger one)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_SPIN_WAIT
    ):
        raise ETPInvalidArgument(
            f"spin_wait must be from 0 to {MAX_SPIN_WAIT} seconds, got {value!r}"
        )
    return float(value)


def spinning_available() -> bool:
    """Whether callers poll before they sleep here (the compiled module is built and loaded,
    and the process may run on more than one CPU)."""
    return POLL_BRIEFLY is not None


class Spinner:
    """The spinning of one connection's callers: the budget, and how many waits in a row
    missed it (only the thread holding the transport's receive lock uses it)."""

    __slots__ = ("budget", "misses")

    def __init__(self, budget: float, *, at_once: bool = True) -> None:
        self.budget = budget
        self.misses = 0 if at_once else MISSES
        """Waits in a row that missed; starting at :data:`MISSES` (``at_once=False``), the
        first waits sleep at once until a probe catches its message."""

    def ready(self, fd: int, deadline: float | None) -> bool:
        """Whether ``fd`` became readable while polled for at most the budget (and never past
        ``deadline``, a ``time.monotonic()`` value); False at once when not spinning now."""
        poll, budget, misses = POLL_BRIEFLY, self.budget, self.misses
        if poll is None or budget <= 0:
            return False
        if misses >= MISSES and misses % PROBE:
            self.misses = misses + 1
            return False
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
            if budget <= 0:
                return False
        if poll(fd, budget):
            self.misses = 0
            return True
        self.misses = misses + 1
        return False
