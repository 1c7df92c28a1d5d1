"""``progress=True`` for long calls: a progress bar that suits where the user is.

The array calls take ``progress`` as a callback ``progress(done, total)`` (bytes). Passing
``True`` instead asks for a bar: :func:`resolve_progress` turns it into a callback that drives
``tqdm.auto`` (a text bar on stderr in a terminal, a widget in Jupyter), so that one argument
works in both. tqdm is an optional dependency (the ``notebook`` extra), imported only when a
bar is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .errors import ETPInvalidArgument, ETPMissingDependency

__all__ = ["Progress", "ProgressArg", "ProgressBar", "resolve_progress"]

Progress = Callable[[int, int], None]
"""A progress callback: ``progress(done, total)``."""
ProgressArg = Progress | bool | None
"""What a ``progress=`` parameter accepts: a callback, True for a bar, False/None for nothing."""


def _tqdm_class() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ETPMissingDependency(
            "progress=True needs tqdm: pip install tqdm (or etp_sync[notebook]), "
            "or pass a callback progress(done, total)",
            "tqdm",
        ) from None
    return tqdm


class ProgressBar:
    """A ``progress(done, total)`` callback drawing a tqdm bar, in bytes unless ``unit`` says
    otherwise (e.g. ``"obj"`` for calls that count data objects).

    The bar appears at the first call (so a call that fails before moving anything draws
    nothing), follows ``total`` if it changes, and closes itself once ``done`` reaches it.
    Safe to call from several threads (e.g. parallel transfers sharing one bar).
    """

    def __init__(self, desc: str = "", total: int | None = None, unit: str = "B") -> None:
        self._tqdm = _tqdm_class()
        self.desc = desc
        self.total = total
        self.unit = unit
        self._bar: Any = None
        self.closed = False
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            self._draw(done, total)

    def _draw(self, done: int, total: int) -> None:
        if self.closed:
            return
        if self._bar is None:
            self._bar = self._tqdm(
                total=total if total is not None else self.total,
                desc=self.desc or None,
                unit=self.unit,
                unit_scale=self.unit == "B",
                unit_divisor=1024,
            )
        bar = self._bar
        if total != bar.total:
            bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            self._close()

    def close(self) -> None:
        """Close the bar (it stays displayed as last drawn)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._bar is not None and not self.closed:
            self._bar.close()
        self.closed = True


def resolve_progress(
    progress: ProgressArg, total: int | None = None, desc: str = "", unit: str = "B"
) -> Progress | None:
    """The callback for a ``progress=`` argument: ``True`` gives a :class:`ProgressBar`
    (``desc`` labels it; ``total`` bytes until the call says otherwise), a callable is used as
    is, ``False``/``None`` give None. Raises :class:`~etp_sync.errors.ETPMissingDependency`
    for True without tqdm, :class:`~etp_sync.errors.ETPInvalidArgument` for anything else."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return ProgressBar(desc, total, unit)
    if callable(progress):
        return progress
    raise ETPInvalidArgument(
        f"progress must be True, False, None or a callable progress(done, total), "
        f"got {type(progress).__name__}"
    )
