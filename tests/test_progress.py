"""progress=True on the array calls (etp_sync._progress): a tqdm bar in a terminal, the callback
form unchanged, a clear error without tqdm. (Notebook mode: tests/test_notebook.py.)"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from argparse import Namespace
from collections.abc import Callable

import numpy as np
import pytest
from conftest import Harness

from etp_sync import ETPSession, samples
from etp_sync._progress import ProgressBar, resolve_progress
from etp_sync.cli._common import progress_bar
from etp_sync.errors import ETPInvalidArgument
from etp_sync.uri import DataObjectURI

DS = "progress/test"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "4f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6"
)


@pytest.fixture()
def session(harness: Harness) -> ETPSession:
    srv = harness.server(max_message_size=256 << 10, dataspaces=[DS])
    connected: ETPSession = harness.session(srv, timeout=30)
    return connected


def test_resolve_progress_forms() -> None:
    def callback(done: int, total: int) -> None:
        raise AssertionError("not called")

    assert resolve_progress(None) is None
    assert resolve_progress(False) is None
    assert resolve_progress(callback) is callback
    assert isinstance(resolve_progress(True, 10, "x"), ProgressBar)
    with pytest.raises(ETPInvalidArgument, match="progress must be True, False, None or a"):
        resolve_progress("yes")  # type: ignore[arg-type]


def test_bar_follows_done_and_closes_at_total(capsys: pytest.CaptureFixture[str]) -> None:
    bar = resolve_progress(True, desc="demo")
    assert isinstance(bar, ProgressBar)
    bar(0, 4096)
    bar(2048, 4096)
    assert not bar.closed
    bar(4096, 4096)
    assert bar.closed
    bar(4096, 4096)  # after closing: ignored
    err = capsys.readouterr().err
    assert "demo: 100%" in err and "0%" in err and "4.00k/4.00k " in err


def test_progress_true_draws_bars_for_put_and_get(
    session: ETPSession, capsys: pytest.CaptureFixture[str]
) -> None:
    z = np.arange(300 * 400, dtype=np.float64).reshape(300, 400)  # 938 KiB: several blocks
    session.put_data_array(EPC, "/z", z, progress=True)
    back = session.get_data_array(EPC, "/z", progress=True)
    assert np.array_equal(back, z)
    part = session.get_data_subarray(EPC, "/z", (10, 0), (5, 400), progress=True)
    assert np.array_equal(part, z[10:15])
    session.put_data_subarray(EPC, "/z", (0, 0), z[:2], progress=True)
    err = capsys.readouterr().err
    assert err.count("put /z: 100%") == 2 and err.count("get /z: 100%") == 2
    assert "938k/938k " in err and "0.00/938k " in err  # bytes, drawn from 0


def test_callback_form_unchanged(session: ETPSession) -> None:
    calls: list[tuple[int, int]] = []
    record: Callable[[int, int], None] = lambda done, total: calls.append((done, total))  # noqa: E731
    z = np.ones((300, 400))
    session.put_data_array(EPC, "/ones", z, progress=record)
    assert calls[-1] == (z.nbytes, z.nbytes) and len(calls) > 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_bulk_object_calls_report_progress(
    session: ETPSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """put_data_objects / get_data_objects count objects as their batches are answered (the
    puts take several requests here: the server allows 256 KiB messages), as a callback or as
    a bar."""
    docs = [samples.padded(samples.witsml_well(uuid.UUID(int=n + 1)), 20_000) for n in range(40)]
    calls: list[tuple[int, int]] = []
    stored = session.put_data_objects(
        docs, dataspace=DS, progress=lambda done, total: calls.append((done, total))
    )
    assert len(calls) > 1 and calls[-1] == (40, 40)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    got: list[tuple[int, int]] = []
    objects = session.get_data_objects(
        list(stored), progress=lambda done, total: got.append((done, total))
    )
    assert len(objects) == 40 and got[-1] == (40, 40)  # 40 URIs fit one GetDataObjects
    session.put_data_objects(docs, dataspace=DS, progress=True)
    session.get_data_objects(list(stored), progress=True)
    err = capsys.readouterr().err
    assert "put objects: 100%" in err and "get objects: 100%" in err and "40/40" in err


def test_progress_true_without_tqdm_fails_before_sending() -> None:
    code = (
        "import sys\n"
        "sys.modules['tqdm'] = None\n"
        "from etp_sync import ETPSession\n"
        "from etp_sync.errors import ETPMissingDependency\n"
        "from etp_sync.server import EmbeddedServer\n"
        "with EmbeddedServer(port=0) as srv, ETPSession(srv.url) as s:\n"
        "    s.put_dataspace('a/b')\n"
        "    uri = \"eml:///dataspace('a/b')/eml20.obj_EpcExternalPartReference("
        '4f1c3d5e-2b4a-4e6f-8a0b-c1d2e3f4a5b6)"\n'
        "    try:\n"
        "        s.put_data_array(uri, '/z', [1.0, 2.0], progress=True)\n"
        "    except ETPMissingDependency as exc:\n"
        "        print(exc.package, '|', exc.message)\n"
        "    try:\n"
        "        s.get_data_array_metadata(uri, '/z')\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__, exc.code_name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("tqdm | progress=True needs tqdm: pip install tqdm")
    assert second == "ETPRemoteError ENOT_FOUND"  # nothing was stored


def test_bar_shared_by_threads(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar("shared")
    done = iter(range(0, 8193, 1024))
    lock = threading.Lock()

    def step() -> None:
        with lock:
            value = next(done)
        bar(value, 8192)

    threads = [threading.Thread(target=step) for _ in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bar.closed
    assert "shared: 100%" in capsys.readouterr().err


def test_bar_closed_early_draws_no_more(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar("early")
    bar(10, 100)
    bar.close()
    bar(100, 100)
    err = capsys.readouterr().err
    assert "early:  10%" in err and "100%" not in err


def test_cli_bar_is_a_progress_bar_closed_on_leaving(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line draws with the same ProgressBar; leaving (here by an error) closes it."""
    with (
        pytest.raises(RuntimeError, match="cut"),
        progress_bar(Namespace(progress=True), "cli") as bar,
    ):
        assert isinstance(bar, ProgressBar)
        bar(10, 100)
        raise RuntimeError("cut")
    assert bar.closed
    with progress_bar(Namespace(progress=False), "quiet") as nothing:
        assert nothing is None
    err = capsys.readouterr().err
    assert "cli:  10%" in err and "quiet" not in err
