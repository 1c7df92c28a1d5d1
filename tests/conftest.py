"""Shared fixtures: the official protocol file (skipped cleanly when absent) and servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
AVPR = SHARED / "reference" / "etp12.avpr"


@pytest.fixture(scope="session")
def avpr() -> dict[str, Any]:
    """The official ETP 1.2 Avro protocol file from ../shared (tests skip without it)."""
    if not AVPR.is_file():
        pytest.skip(f"official protocol file not found at {AVPR}")
    return json.loads(AVPR.read_text())


@pytest.fixture()
def server() -> Iterator[Any]:
    """A running embedded ETP server on a free port of 127.0.0.1, stopped afterwards."""
    from etp_sync.server import EmbeddedServer

    with EmbeddedServer(port=0) as srv:
        yield srv
