"""bench/instructions.py runs end to end where valgrind is installed: a server and a client
under callgrind, a row of instruction counts per phase.

Only that it produced counts is checked: what they are belongs to the benchmark
(bench/RESULTS.md), never to a test.
"""

from __future__ import annotations

import re
import shutil

import pytest
from _helpers import run_bench


@pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed",
)
def test_instructions_produces_a_row_per_phase() -> None:
    out = run_bench(
        "instructions.py",
        *("--objects", "20", "--calls", "20", "--rounds", "1", "--no-write"),
        timeout=280,
    )
    for phase, what in (("put", "objects"), ("get", "objects"), ("tiny", "calls")):
        number = r"([\d.]+)"
        row = re.search(
            rf"^\| {phase} \| 20 {what} \| {number} \| {number} \| {number} \| {number} \|$",
            out.stdout,
            re.M,
        )
        assert row is not None, out.stdout
        assert all(float(v) > 0 for v in row.groups()), row[0]
    assert "wrote the" not in out.stdout  # --no-write: RESULTS.md untouched
