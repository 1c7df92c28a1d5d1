"""Record builders shared by several test modules: messages the package's own session would
build, written out by hand (test_server.py, _hostile.py), and a message holding many union
values (test_codec_compiled.py, test_code_cache.py); the process's page-fault count
(test_placement.py, test_populate.py); running a benchmark script (test_bench_*.py); running
one function in several threads at once (test_caller_reads.py, test_code_cache.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from etp_sync.schema import datatypes, messages


def data_object(xml: bytes, uri: str, blob_id: uuid.UUID | None = None) -> Any:
    """A DataObject record carrying ``xml`` at ``uri`` (times left to the store); with
    ``blob_id`` its bytes follow in Chunk messages of that blob."""
    resource = datatypes.Object.Resource(
        uri=uri,
        name="",
        last_changed=0,
        store_last_write=0,
        store_created=0,
        active_status="Active",
    )
    return datatypes.Object.DataObject(resource=resource, format="xml", blob_id=blob_id, data=xml)


def request_session_with_values(items: Sequence[Any]) -> Any:
    """A RequestSession whose ``endpoint_capabilities`` hold one DataValue per item, under the
    keys "0", "1", ...: one message carrying every union branch a test names."""
    return messages.Core.RequestSession(
        application_name="a",
        application_version="1",
        client_instance_id=uuid.UUID(int=1),
        requested_protocols=[],
        supported_data_objects=[],
        current_date_time=1,
        earliest_retained_change_time=2,
        endpoint_capabilities={str(i): datatypes.DataValue(item=v) for i, v in enumerate(items)},
    )


def minor_faults() -> int:
    """This process's minor page faults so far (0 where the count is not available)."""
    if sys.platform == "win32":
        return 0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


REPO = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str, timeout: float = 200) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script> args...`` from the repository root; it must exit 0."""
    out = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def can_build_extension(*headers: str) -> bool:
    """Whether this Python can build a C extension: a compiler, Python's headers and each of
    ``headers`` (in Python's include directory or /usr/include)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    include = Path(sysconfig.get_paths()["include"])
    found = all(any(Path(d, h).is_file() for d in (include, "/usr/include")) for h in headers)
    return shutil.which(cc) is not None and (include / "Python.h").is_file() and found


def printed_without_compiled(code: str) -> str:
    """What ``python -c code`` prints with ETP_SYNC_NO_COMPILED set (stripped); it must exit 0."""
    env = {**os.environ, "ETP_SYNC_NO_COMPILED": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def run_in_threads(
    work: Callable[[], object], count: int, timeout: float = 60
) -> list[BaseException]:
    """Run ``work`` in ``count`` threads at once and join them (each within ``timeout`` s);
    what they raised, in no particular order. A thread still running fails the caller."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test, which asserts on it
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not end in time"
    return errors
