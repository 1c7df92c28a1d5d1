"""bench/server_put.py runs end to end: a store in process, etp_sync's PutDataObjects messages,
a table of phases.

Only that it produced numbers is checked: how fast the server is belongs to the benchmark
(bench/RESULTS.md), never to a test.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_server_put_produces_a_row_per_phase() -> None:
    args = ["--objects", "40", "--rounds", "2", "--batch", "16", "--no-write"]
    out = subprocess.run(
        [sys.executable, "bench/server_put.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for phase in ("put", "decode", "parse", "expat"):
        row = re.search(rf"^\| {phase} \| ([\d.]+) / ([\d.]+) \| ([\d.]+) \|$", out.stdout, re.M)
        assert row is not None, out.stdout
        assert all(math.isfinite(float(v)) and float(v) > 0 for v in row.groups()), row[0]
    # the rest is a difference of medians: any sign, but a number
    assert re.search(r"^\| rest \| - / -?[\d.]+ \| -?[\d.]+ \|$", out.stdout, re.M), out.stdout
    assert "wrote the" not in out.stdout  # --no-write: RESULTS.md untouched
