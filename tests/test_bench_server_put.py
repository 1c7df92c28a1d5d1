"""bench/server_put.py runs end to end: a store in process, etp_sync's PutDataObjects messages,
a table of phases.

Only that it produced numbers is checked: how fast the server is belongs to the benchmark
(bench/RESULTS.md), never to a test.
"""

from __future__ import annotations

import math
import re

from _helpers import run_bench


def test_server_put_produces_a_row_per_phase() -> None:
    out = run_bench(
        "server_put.py", "--objects", "40", "--rounds", "2", "--batch", "16", "--no-write"
    )
    for phase in ("put", "decode", "parse", "expat"):
        row = re.search(rf"^\| {phase} \| ([\d.]+) / ([\d.]+) \| ([\d.]+) \|$", out.stdout, re.M)
        assert row is not None, out.stdout
        assert all(math.isfinite(float(v)) and float(v) > 0 for v in row.groups()), row[0]
    # the rest is a difference of medians: any sign, but a number
    assert re.search(r"^\| rest \| - / -?[\d.]+ \| -?[\d.]+ \|$", out.stdout, re.M), out.stdout
    assert "wrote the" not in out.stdout  # --no-write: RESULTS.md untouched
