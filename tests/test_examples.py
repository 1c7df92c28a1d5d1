"""Every script in examples/ runs against the embedded server and succeeds (each checks its
own results and exits non-zero otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPECTED = {
    "demo.py": "objects equal: True",
    "epc_round_trip.py": "z values equal after the round trip: True",
    "arrays_progress.py": "equal: True",
    "threads.py": "8 threads wrote and read back their models on one session",
    "transactions.py": "after the rollback: 3 objects",
    "notifications.py": "deleted",
    "discovery.py": "the grid refers to: ['obj_LocalDepth3dCrs']",
    "dask_statistic.py": "statistics equal the source's: True",
    "xarray_read.py": "equal to numpy: True",
}


def test_every_example_is_listed() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert EXPECTED[script] in done.stdout
