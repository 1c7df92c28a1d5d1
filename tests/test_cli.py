"""The command line, end to end against the embedded server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Harness

from etp_sync.cli import main
from etp_sync.samples import surface_model


def test_cli_round_trip(harness: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    srv = harness.server()
    harness.session(srv).put_dataspace("cli/test")
    model = surface_model("cli/test", (3, 4))
    files = []
    for i, xml in enumerate(model.objects.values()):
        files.append(tmp_path / f"{i}.xml")
        files[-1].write_bytes(xml)
    assert main(["ping", srv.url]) == 0
    assert capsys.readouterr().out.endswith(" ms\n")
    assert main(["put", srv.url, "cli/test", *map(str, files)]) == 0
    assert sorted(capsys.readouterr().out.split()) == sorted(str(u) for u in model.objects)
    assert main(["resources", srv.url, "cli/test", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["uri"] for r in rows} == {str(u) for u in model.objects}
    assert main(["get", srv.url, str(model.grid_uri)]) == 0
    assert capsys.readouterr().out.strip().encode() == model.objects[model.grid_uri].strip()
    assert main(["info", srv.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compression"] == "gzip"


def test_cli_reports_etp_errors_with_exit_code_2(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = harness.server()
    missing = "eml:///dataspace('a/b')/resqml20.obj_X(00000000-0000-0000-0000-000000000000)"
    assert main(["get", srv.url, missing]) == 2
    assert "ENOT_FOUND" in capsys.readouterr().err
