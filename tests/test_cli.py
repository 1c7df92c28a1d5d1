"""The command line, end to end: the installed ``etp-sync`` console script in a subprocess
against an embedded server, checking output, ``--json``, exit codes and error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Harness
from test_epc import write_surface_epc

from etp_sync.cli import EXIT_AUTH, EXIT_CONNECTION, EXIT_FAILED, EXIT_FILE, EXIT_USAGE
from etp_sync.samples import surface_model

SCRIPT = str(Path(sys.executable).with_name("etp-sync"))
MISSING = "eml:///dataspace('cli/t')/resqml20.obj_X(00000000-0000-0000-0000-000000000000)"


def run(
    *args: str, env: dict[str, str] | None = None, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    """Run ``etp-sync args...``; assert its exit status is ``check`` (unless None)."""
    keep = ("ETP_SYNC_CACHE_DIR",)  # the test session's code cache (conftest), not ~/.cache
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ETP_") or k in keep}
    environment.update(env or {})
    done = subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=120, env=environment
    )
    if check is not None:
        assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
    return done


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(run(*args, "--json", env=env).stdout)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command prints (no traceback)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("etp-sync: ")
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["ping"],
        ["info"],
        ["dataspace"],
        ["dataspace", "list"],
        ["dataspace", "create"],
        ["dataspace", "delete"],
        ["objects", "list"],
        ["objects", "get"],
        ["objects", "put"],
        ["objects", "delete"],
        ["array", "info"],
        ["array", "get"],
        ["array", "put"],
        ["upload"],
        ["download"],
        ["serve"],
        ["shell"],
    ],
)
def test_help_everywhere(command: list[str]) -> None:
    out = run(*command, "--help").stdout
    assert out.startswith(" ".join(["usage: etp-sync", *command[:2]]))
    if command and command[-1] not in ("dataspace", "shell"):
        assert "--json" in out
    if command[-1:] == ["shell"]:  # connection options like every client command
        assert {"--token", "--token-command", "--timeout", "--partition"} <= set(out.split())


def test_serve_help_shows_every_server_option() -> None:
    ours = run("serve", "--help").stdout
    theirs = subprocess.run(
        [sys.executable, "-m", "etp_sync.server", "--help"], capture_output=True, text=True
    ).stdout
    assert ours.startswith("usage: etp-sync serve [-h] [--")
    assert theirs.startswith("usage: python -m etp_sync.server [-h] [--")
    options = {w.rstrip(",") for w in theirs.split() if w.startswith("--")}
    assert {"--max-message-size", "--token", "--require-transactions", "--max-store-bytes"} <= (
        options
    )
    assert options | {"--json"} == {w.rstrip(",") for w in ours.split() if w.startswith("--")}


def test_serve_on_a_taken_port_is_a_usage_error(harness: Harness) -> None:
    port = harness.server().url.rsplit(":", 1)[1].strip("/")
    done = run("serve", "--port", port, "--log-level", "ERROR", check=EXIT_USAGE)
    assert error_line(done).startswith(
        f"etp-sync: ETPInvalidArgument: cannot listen on 127.0.0.1:{port}"
    )


def test_shell_refused_credentials_fail_before_the_prompt(harness: Harness) -> None:
    url = harness.server(required_token="s3cret-token").url
    refused = run("shell", url, "--token", "wrong", "--no-ipython", check=EXIT_AUTH)
    assert ">>>" not in refused.stdout and "wrong" not in error_line(refused)


def test_dataspaces_objects_and_arrays(harness: Harness, tmp_path: Path) -> None:
    url = harness.server().url
    created = run_json(
        "dataspace", "create", url, "cli/t", "--legal-tag", "tag-1", "--owner", "o@x.test",
        "--viewer", "v@x.test", "--country", "NO",
    )  # fmt: skip
    assert created == ["eml:///dataspace('cli/t')"]
    (space,) = run_json("dataspace", "list", url)
    assert space["path"] == "cli/t" and space["legal_tags"] == ["tag-1"]
    assert (space["owners"], space["viewers"], space["countries"]) == (
        ["o@x.test"], ["v@x.test"], ["NO"],
    )  # fmt: skip
    assert run("dataspace", "list", url).stdout.startswith("cli/t\t")

    model = surface_model("cli/t", (30, 40))
    files = []
    for i, xml in enumerate(model.objects.values()):
        files.append(tmp_path / f"{i}.xml")
        files[-1].write_bytes(xml)
    put = run("objects", "put", url, "cli/t", *map(str, files)).stdout.split()
    assert sorted(put) == sorted(str(u) for u in model.objects)
    listed = run_json("objects", "list", url, "cli/t")
    assert {r["uri"] for r in listed} == {str(u) for u in model.objects}
    targets = run_json("objects", "list", url, str(model.grid_uri), "--scope", "targets")
    assert {r["uri"] for r in targets} == {str(model.crs_uri)}  # the HdfProxy is no link

    one = run("objects", "get", url, str(model.grid_uri)).stdout
    assert one.encode().strip() == model.objects[model.grid_uri].strip()
    several = run("objects", "get", url, *map(str, model.objects), check=EXIT_USAGE)
    assert "-o DIR" in error_line(several) and several.stdout == ""
    as_json = run_json("objects", "get", url, *map(str, model.objects))
    assert {o["uri"]: o["xml"].encode() for o in as_json} == {
        str(u): x for u, x in model.objects.items()
    }
    out = tmp_path / "objects"
    written = run_json("objects", "get", url, *map(str, model.objects), "-o", str(out))
    names = {Path(w["file"]).name for w in written}
    assert f"obj_Grid2dRepresentation_{model.grid_uri.uuid}.xml" in names
    for row in written:
        uri = next(u for u in model.objects if str(u) == row["uri"])
        assert Path(row["file"]).read_bytes() == model.objects[uri]

    npy = tmp_path / "z.npy"
    np.save(npy, model.z_values)
    stored = run_json("array", "put", url, str(model.epc_uri), model.array_path, str(npy))
    assert stored["shape"] == [30, 40] and stored["dtype"] == "float64"
    info = run_json("array", "info", url, str(model.epc_uri), model.array_path)
    assert (info["shape"], info["dtype"], info["nbytes"]) == ([30, 40], "float64", 9600)
    back = tmp_path / "back.npy"
    run("array", "get", url, str(model.epc_uri), model.array_path, "-o", str(back))
    np.testing.assert_array_equal(np.load(back), model.z_values)
    np.save(npy, np.array(3.5))  # a 0-d array keeps its shape (it became shape (1,))
    assert run_json("array", "put", url, str(model.epc_uri), "/zd", str(npy))["shape"] == []
    run("array", "get", url, str(model.epc_uri), "/zd", "-o", str(back))
    assert np.load(back).shape == () and np.load(back)[()] == 3.5
    np.save(npy, np.array(["a", "bcd"]))
    run("array", "put", url, str(model.epc_uri), "/text", str(npy))
    said = run("array", "get", url, str(model.epc_uri), "/text", "-o", str(back)).stdout
    assert f"{np.load(back).dtype} (2,)" in said  # the saved file's width, not the metadata's

    deleted = run_json("objects", "delete", url, str(model.grid_uri))
    assert list(deleted) == [str(model.grid_uri)]
    gone = run("objects", "get", url, str(model.grid_uri), check=EXIT_FAILED)
    assert "ENOT_FOUND" in error_line(gone)
    assert run("dataspace", "delete", url, "cli/t").stdout.split() == ["eml:///dataspace('cli/t')"]
    assert run_json("dataspace", "list", url) == []


def test_upload_and_download_epc(harness: Harness, tmp_path: Path) -> None:
    """upload (creating the dataspace), download of one object with its links, and of the
    whole dataspace; the HDF5 file beside each package holds the array."""
    url = harness.server(max_message_size=64 << 10).url
    model = write_surface_epc(tmp_path, (100, 120))
    epc = str(tmp_path / "surface.epc")
    missing = run("upload", url, epc, "cli/epc", check=EXIT_FAILED)
    assert "not found" in error_line(missing)
    up = run_json("upload", url, epc, "cli/epc", "--create-dataspace")
    assert len(up["objects"]) == 3 and up["array_bytes"] == 100 * 120 * 8
    grid = next(u for u in up["objects"] if "Grid2d" in u)
    down = run_json("download", url, grid, "--linked", "1", "-o", str(tmp_path / "one.epc"))
    assert len(down["objects"]) == 3 and down["hdf5"] == [str(tmp_path / "one.h5")]
    text = run("download", url, "--dataspace", "cli/epc", "-o", str(tmp_path / "all.epc")).stdout
    assert text.startswith("wrote 3 objects and 1 arrays (96,000 bytes)")
    import h5py

    for name in ("one.h5", "all.h5"):
        with h5py.File(tmp_path / name) as f:
            np.testing.assert_array_equal(f[model.array_path][...], model.z_values)
    both = run("download", url, grid, "--dataspace", "cli/epc", "-o", "x.epc", check=EXIT_USAGE)
    assert "one of the two" in error_line(both)


def test_error_lines_and_exit_codes(harness: Harness, tmp_path: Path) -> None:
    url = harness.server().url
    done = run("objects", "get", url, MISSING, check=EXIT_FAILED)
    assert error_line(done).startswith("etp-sync: ETPRemoteError: ") and "ENOT_FOUND" in done.stderr
    bad_uri = run("objects", "get", url, "eml:///nonsense(", check=EXIT_USAGE)
    assert "InvalidURIError" in error_line(bad_uri)
    no_file = run("objects", "put", url, "cli/t", str(tmp_path / "absent.xml"), check=EXIT_FILE)
    assert "No such file or directory" in error_line(no_file)
    not_xml = tmp_path / "notes.txt"
    not_xml.write_text("plain text")
    bad_doc = run("objects", "put", url, "cli/t", str(not_xml), check=EXIT_FILE)
    assert f"{not_xml} is not a data object" in error_line(bad_doc)  # was "object 0", exit 2
    not_epc = tmp_path / "x.epc"
    not_epc.write_text("plain text")
    assert "cannot open EPC" in error_line(run("upload", url, str(not_epc), "a/b", check=EXIT_FILE))
    not_npy = tmp_path / "bad.npy"
    not_npy.write_text("plain text")  # numpy's own message spoke of pickled data
    bad_npy = run("array", "put", url, MISSING, "/a", str(not_npy), check=EXIT_FILE)
    assert "has no .npy header" in error_line(bad_npy) and "pickle" not in bad_npy.stderr
    unclosed = run("ping", "ws://[::1", check=EXIT_USAGE)  # was exit 1, "unexpected ValueError"
    assert "ETPInvalidArgument" in error_line(unclosed)
    usage = run("ping", check=EXIT_USAGE)
    assert "URL" in usage.stderr
    as_json = run("objects", "get", url, MISSING, "--json", check=EXIT_FAILED)
    error = json.loads(as_json.stdout)["error"]
    assert error["type"] == "ETPRemoteError" and error["code"] == 11
    assert error["exit_code"] == EXIT_FAILED
    debug = run("objects", "get", url, MISSING, "--debug", check=EXIT_FAILED)
    assert "Traceback (most recent call last)" in debug.stderr


def test_unreachable_server_is_a_connection_error() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run("ping", f"ws://127.0.0.1:{port}", "--timeout", "2", check=EXIT_CONNECTION)
    assert "refused" in error_line(done).lower()


def test_tokens_from_option_environment_and_command(harness: Harness) -> None:
    url = harness.server(required_token="s3cret-token").url
    refused = run("ping", url, "--token", "wrong", check=EXIT_AUTH)
    assert "s3cret" not in refused.stderr and "wrong" not in error_line(refused)
    run("ping", url, "--token", "s3cret-token")
    run("ping", url, env={"ETP_TOKEN": "s3cret-token"})
    debug = run("ping", url, "--token-command", "echo s3cret-token", "--debug")
    assert "s3cret" not in debug.stdout + debug.stderr
    failing = run("ping", url, "--token-command", "exit 3", check=EXIT_USAGE)
    assert "exit status 3" in error_line(failing)


@pytest.mark.parametrize("command", [["ping"], ["shell"], ["array", "get"], ["upload"]])
def test_every_client_command_documents_proxy_and_trace(command: list[str]) -> None:
    out = run(*command, "--help").stdout
    assert {"--proxy", "--no-proxy", "--trace"} <= set(out.split())
    assert "HTTP CONNECT" in out and "never bodies or tokens" in " ".join(out.split())


def test_proxy_option_environment_and_no_proxy(harness: Harness) -> None:
    from test_proxy import ConnectProxy

    srv = harness.server()
    proxy = ConnectProxy(credentials="alice:pr0xy-pw", hosts=("etp-server.test",))
    try:
        url = f"ws://etp-server.test:{srv.port}"  # a name only the proxy can resolve
        with_user = proxy.url.replace("http://", "http://alice:pr0xy-pw@")
        done = run("ping", url, "--proxy", with_user, "--debug")
        assert "pr0xy-pw" not in done.stdout + done.stderr
        assert proxy.targets == [f"etp-server.test:{srv.port}"]
        env = {"http_proxy": with_user, "HTTP_PROXY": "", "all_proxy": "", "ALL_PROXY": ""}
        env |= {"no_proxy": "", "NO_PROXY": ""}
        run("ping", url, env=env)  # the environment names the proxy
        assert len(proxy.targets) == 2
        direct = run("ping", url, "--no-proxy", "--timeout", "5", env=env, check=EXIT_CONNECTION)
        assert "cannot resolve" in error_line(direct) and len(proxy.targets) == 2
        both = run("ping", url, "--proxy", with_user, "--no-proxy", check=EXIT_USAGE)
        assert "exclude each other" in error_line(both) and "pr0xy-pw" not in both.stderr
    finally:
        proxy.close()


def test_trace_writes_one_line_per_message_never_a_token(harness: Harness) -> None:
    url = harness.server(required_token="s3cret-token").url
    traced = run("ping", url, "--token", "s3cret-token", "--trace")
    lines = [line for line in traced.stderr.splitlines() if "etp_sync.trace" in line]
    names = [word for line in lines for word in line.split() if word[:1].isupper()]
    assert {"RequestSession", "OpenSession", "Ping", "Pong"} <= set(names), traced.stderr
    assert "s3cret" not in traced.stdout + traced.stderr
    assert "etp_sync.trace" not in run("ping", url, "--token", "s3cret-token").stderr
    from_env = run("ping", url, "--token", "s3cret-token", env={"ETP_SYNC_TRACE": "1"})
    assert "RequestSession" in from_env.stderr


def test_url_from_environment(harness: Harness) -> None:
    srv = harness.server()
    env = {"ETP_URL": srv.url}
    assert run_json("ping", env=env)["url"] == srv.url
    assert run_json("dataspace", "create", "env/ds", env=env) == ["eml:///dataspace('env/ds')"]
    assert [d["path"] for d in run_json("dataspace", "list", env=env)] == ["env/ds"]


def test_progress_bar_and_missing_tqdm(harness: Harness, tmp_path: Path) -> None:
    srv = harness.server(max_message_size=64 << 10)
    harness.session(srv).put_dataspace("cli/p")
    model = surface_model("cli/p", (300, 400))
    harness.session(srv).put_data_objects(model.objects)
    npy = tmp_path / "z.npy"
    np.save(npy, model.z_values)
    args = ("array", "put", srv.url, str(model.epc_uri), model.array_path, str(npy), "--progress")
    assert "100%" in run(*args).stderr
    assert run(*args[:-1]).stderr == ""  # not a terminal: no bar unless asked
    blocker = tmp_path / "no_tqdm" / "tqdm"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('tqdm is blocked for this test')\n")
    path = os.pathsep.join(filter(None, [str(blocker.parent), os.environ.get("PYTHONPATH")]))
    done = run(*args, env={"PYTHONPATH": path})
    assert "tqdm is not installed (pip install 'etp_sync[cli]')" in done.stderr


def test_serve_with_json_announces_its_url() -> None:
    server = subprocess.Popen(
        [SCRIPT, "serve", "--port", "0", "--json", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, ETP_URL="ws://127.0.0.1:9/"),  # serve takes no URL: not inserted
    )
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["listening"]
        assert url.startswith("ws://127.0.0.1:")
        assert run_json("ping", url)["round_trip_ms"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_authorization_error_exits_with_the_credentials_status() -> None:
    """A refused upgrade, a refused in-session renewal and a failing token endpoint all mean
    "check your credentials" (4), whether or not an HTTP status came with them."""
    from etp_sync.cli._common import exit_code
    from etp_sync.errors import ETPAuthorizationError, ETPTransportError

    assert exit_code(ETPAuthorizationError("upgrade refused", status=401)) == EXIT_AUTH
    assert exit_code(ETPAuthorizationError("the server refused the renewed token")) == EXIT_AUTH
    assert exit_code(ETPTransportError("connection refused")) == EXIT_CONNECTION
