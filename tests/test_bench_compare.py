"""bench/compare.py and bench/objects_cost.py run end to end: a server, a fresh worker per
library, a table.

Only that it produced numbers is checked: how fast either library is belongs to the benchmark
(bench/RESULTS.md), never to a test.
"""

from __future__ import annotations

import math
import re

import pytest
from _helpers import run_bench

pytest.importorskip("pyetp", reason="pyetp is not installed (pip install -e '.[peers]')")

pytestmark = [pytest.mark.peers, pytest.mark.timeout(240)]

METRICS = ("median_us", "p99_us", "raw_median_us", "raw_p99_us")


def test_compare_quick_tiny_row_produces_numbers() -> None:
    out = run_bench("compare.py", "--quick", "--rows", "tiny", "--runs", "1", "--no-write")
    for side in ("etp_sync", "pyetp"):
        line = re.search(rf"^run 1/1 tiny {side}: (.*)$", out.stdout, re.M)
        assert line is not None, out.stdout
        values = dict(part.rsplit(" ", 1) for part in line.group(1).split(", "))
        assert set(values) == set(METRICS), line.group(0)
        for text in values.values():
            number = float(text.replace(",", ""))
            assert math.isfinite(number) and number > 0, line.group(0)
    row = re.search(r"^\| tiny request \(GetDataspaces\), median \| µs \| (.*)$", out.stdout, re.M)
    assert row is not None, out.stdout
    assert re.match(r"[\d.,]+ / [\d.,]+ / [\d.,]+ \| pyetp \| [\d.,]+ / ", row.group(1)), row[0]


def test_objects_cost_produces_a_row_per_library() -> None:
    """bench/objects_cost.py: each library's row holds seven positive numbers, and a server
    that did the work (its CPU is read from /proc) is never reported as idle."""
    out = run_bench("objects_cost.py", "--runs", "1", "--rounds", "1", "--no-write")
    for side in ("etp_sync", "pyetp"):
        row = re.search(rf"^\| {side} \| (.*) \|$", out.stdout, re.M)
        assert row is not None, out.stdout
        numbers = [float(cell) for cell in row.group(1).split(" | ")]
        assert len(numbers) == 7 and all(math.isfinite(n) and n > 0 for n in numbers), row[0]
