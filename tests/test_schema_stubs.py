"""The typed stubs of ``messages`` and ``datatypes``: current, faithful to runtime, and checked.

The stubs are generated from the schema model (``python -m etp_sync.schema._stubgen``); these
tests fail when they are stale, when runtime classes and stub paths differ, and when mypy does
not actually check a message constructor call through them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import etp_sync
from etp_sync import schema
from etp_sync.errors import ETPInvalidArgument
from etp_sync.schema import _stubgen
from etp_sync.schema._parse import public_name

SCHEMA_DIR = Path(schema.__file__).parent
REPO = Path(etp_sync.__file__).parent.parent


def test_checked_in_stubs_are_what_the_generator_writes() -> None:
    for name, text in _stubgen.stub_sources().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m etp_sync.schema._stubgen"
        )
    assert _stubgen.main(["--check"]) == 0


def test_every_type_is_where_the_stub_declares_it() -> None:
    modules = {"messages": schema.messages, "datatypes": schema.datatypes}
    for full_name, cls in schema.registry.classes.items():
        where, path = public_name(full_name)
        if full_name.endswith(".Uuid"):
            continue  # the fixed Uuid is uuid.UUID, not a class of ours
        node = modules[where]
        for part in path.split("."):
            node = getattr(node, part)
        assert node is cls
        assert (cls.__module__, cls.__qualname__) == (f"etp_sync.schema.{where}", path)
        stub = (SCHEMA_DIR / f"{where}.pyi").read_text(encoding="utf-8")
        assert re.search(rf"^\s*class {path.rsplit('.', 1)[-1]}\(", stub, re.M)


def test_stub_generator_refuses_a_type_outside_the_namespaces() -> None:
    with pytest.raises(ETPInvalidArgument):
        public_name("Some.Other.Type")


_SNIPPET = """\
from etp_sync.codec import decode_message
from etp_sync.schema import datatypes, messages

ok = messages.Store.GetDataObjects(uris={"a": "eml:///demo"}, format="xml")
uris: dict[str, str] = ok.uris
status = datatypes.Object.ActiveStatusKind.Active
res = datatypes.Object.Resource(
    uri="eml:///", name="n", last_changed=0, store_last_write=0, store_created=0,
    active_status="Active", custom_data={"k": {"item": 1}},
)
header, body = decode_message(b"")
message_type: int = header.message_type
bad_keyword = messages.Store.GetDataObjects(urls={"a": "eml:///demo"})
bad_type = messages.Store.GetDataObjects(uris=["eml:///demo"])
bad_field = ok.urls
bad_header: str = header.correlation_id
"""


def test_mypy_checks_message_classes_through_the_stubs(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(_SNIPPET, encoding="utf-8")
    run = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes"),
            *("--cache-dir", str(tmp_path / "cache"), str(snippet)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    errors = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"snippet\.py:(\d+): error: .*\[([\w-]+)\]$", run.stdout, re.M)
    }
    lines = _SNIPPET.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if line.startswith(text))

    assert errors == {
        (line_of("bad_keyword"), "call-arg"),
        (line_of("bad_type"), "arg-type"),
        (line_of("bad_field"), "attr-defined"),
        (line_of("bad_header"), "assignment"),
    }, run.stdout + run.stderr
    assert "GetDataObjects" in run.stdout and "Mapping[str, str]" in run.stdout
