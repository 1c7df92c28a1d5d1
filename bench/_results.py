"""Shared by the benchmarks: the machine note, /proc memory readings, and writing one section
of bench/RESULTS.md."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from etp_sync.codec import compiled_varints
from etp_sync.transport._spin import DEFAULT_SPIN_WAIT, spinning_available

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_HEADER = (
    "# etp_sync benchmark results\n\n"
    "Each section below is written by the script under `bench/` that it names; rerun the script "
    "to refresh its section (the others are kept).\n"
)


def machine_note(packages: Sequence[str]) -> str:
    """Cores, CPU model, OS, the versions of Python, numpy and ``packages`` installed, and
    which varint kernels etp_sync uses (compiled loops or numpy), and whether its callers poll
    before they sleep (``spin_wait``'s default, where the compiled poll is built)."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for dist in packages:
        with contextlib.suppress(PackageNotFoundError):
            versions.append(f"{dist} {version(dist)}")
    versions.append(f"etp_sync varint kernels: {'compiled' if compiled_varints() else 'numpy'}")
    spin = f"{DEFAULT_SPIN_WAIT * 1e3:g} ms" if spinning_available() else "off"
    versions.append(f"callers poll before sleeping: {spin}")
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()}; " + ", ".join(versions)


def load_average() -> str:
    """The machine's load average now, ``"1-min / 5-min / 15-min"``."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def publish(name: str, section: str, write: bool) -> None:
    """Print ``section``, then (``write``) make it the ``name`` section of RESULTS.md."""
    print()
    print(section)
    if write:
        print(f"wrote the {name} section of {write_section(name, section)}")


def write_section(name: str, section: str) -> Path:
    """Replace the ``name`` section of RESULTS.md (between its markers); keep the others."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text)
    return RESULTS


def status_bytes(key: str) -> int | None:
    """A ``/proc/self/status`` field in bytes (VmRSS, VmHWM), None when unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs``); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that ran ``script`` (a path from the repository root) with ``argv``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([sys.executable, script, *args])
