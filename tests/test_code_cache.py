"""The on-disk cache of compiled generated code: a later process loads instead of compiling, the
loaded code behaves as compiled code, bad files are replaced, and the cache never fails a caller."""

from __future__ import annotations

import logging
import marshal
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from _helpers import request_session_with_values, run_in_threads

from etp_sync.codec._compiled import CompiledCodec
from etp_sync.codec.arrays import to_any_array
from etp_sync.schema import Int32
from etp_sync.schema import _code_cache as cc
from etp_sync.schema import datatypes as d
from etp_sync.schema import messages as m

SOURCE = "def twice(x):\n    return 2 * x\n"
FILENAME = "<generated test twice>"


def _forbid_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str, filename: str) -> Any:
        raise AssertionError(f"compiled {filename} instead of loading it")

    monkeypatch.setattr(cc, "_compile", refuse)


def _count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    compiled: list[str] = []
    real = cc._compile

    def counting(source: str, filename: str) -> Any:
        compiled.append(filename)
        return real(source, filename)

    monkeypatch.setattr(cc, "_compile", counting)
    return compiled


def _twice(code: Any) -> Any:
    local: dict[str, Any] = {}
    exec(code, {}, local)
    return local["twice"]


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_second_cache_loads_what_the_first_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _twice(cc.CodeCache(tmp_path).compile(SOURCE, FILENAME))(21) == 42
    [entry] = _entries(tmp_path)
    assert entry.name == cc.cache_key(SOURCE, FILENAME).hex()
    _forbid_compile(monkeypatch)
    code = cc.CodeCache(tmp_path).compile(SOURCE, FILENAME)  # a fresh cache: another process
    assert code.co_filename == FILENAME
    assert _twice(code)(4) == 8
    with pytest.raises(AssertionError, match="instead of loading"):  # other source: not cached
        cc.CodeCache(tmp_path).compile(SOURCE.replace("2 *", "3 *"), FILENAME)


def test_the_key_covers_source_filename_and_interpreter() -> None:
    key = cc.cache_key(SOURCE, FILENAME)
    assert key == cc.cache_key(SOURCE, FILENAME)
    assert key != cc.cache_key(SOURCE + "\n", FILENAME)
    assert key != cc.cache_key(SOURCE, FILENAME + " ")
    assert key != cc.cache_key(FILENAME + SOURCE, "")  # the parts cannot run into each other


def _messages() -> list[Any]:
    values = np.arange(-500, 500, dtype=np.int64).reshape(10, 100)
    any_array, _types = to_any_array(values)
    uri = "eml:///dataspace('a')/eml20.obj_EpcExternalPartReference(00000000-0000-0000-0000-0000000000aa)"
    uid = d.DataArrayTypes.DataArrayIdentifier(uri=uri, path_in_resource="/v")
    array = d.DataArrayTypes.DataArray(dimensions=[10, 100], data=any_array)
    put = m.DataArray.PutDataArrays(
        data_arrays={"0": d.DataArrayTypes.PutDataArraysType(uid=uid, array=array)}
    )
    items: list[Any] = [
        5,
        Int32(5),
        0.5,
        True,
        "s",
        b"b",
        None,
        d.ArrayOfDouble(values=np.arange(3.0)),
    ]
    return [put, request_session_with_values(items)]


def _round_trip(codec: CompiledCodec, body: Any) -> tuple[bytes, Any]:
    out = bytearray()
    codec.encoder(body.etp_full_name)(body, out)
    decoded, end = codec.decoder(body.etp_full_name)(bytes(out), 0)
    assert end == len(out)
    return bytes(out), decoded


def test_loaded_codec_functions_work_as_compiled_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh codec with the cache warm and compile() forbidden encodes the same bytes and
    decodes the same messages as one that compiled its functions."""
    monkeypatch.setattr(cc, "_default", cc.CodeCache(tmp_path))
    compiled = _count_compiles(monkeypatch)
    first = [_round_trip(CompiledCodec(), body) for body in _messages()]
    assert len(compiled) >= 6 and len(_entries(tmp_path)) == len(set(compiled))
    monkeypatch.setattr(cc, "_default", cc.CodeCache(tmp_path))
    _forbid_compile(monkeypatch)
    again = [_round_trip(CompiledCodec(), body) for body in _messages()]
    for (data, decoded), (data2, decoded2), body in zip(first, again, _messages(), strict=True):
        assert data2 == data
        assert decoded2 == decoded == body


_SCRIPT = """
import hashlib
from etp_sync.codec import MessageFlags, MessageHeader, decode_message, encode_message
from etp_sync.schema import _code_cache as cc
from etp_sync.schema import datatypes as d, messages as m
compiled = []
real = cc._compile
cc._compile = lambda source, filename: compiled.append(filename) or real(source, filename)
body = m.Store.PutDataObjects(data_objects={"0": d.Object.DataObject(
    resource=d.Object.Resource(uri="eml:///", name="n", last_changed=1, store_last_write=2,
                               store_created=3, active_status="Active"), data=b"<x/>")})
header = MessageHeader(protocol=4, message_type=2, correlation_id=0, message_id=2,
                       message_flags=MessageFlags.FIN)
data = encode_message(header, body)
assert decode_message(data)[1] == body
print(len(compiled), hashlib.sha256(data).hexdigest(), cc.default_cache().directory)
"""


def test_a_later_process_compiles_nothing(tmp_path: Path) -> None:
    """Processes pick the folder from ETP_SYNC_CACHE_DIR; the second compiles no function."""
    env = {**os.environ, "ETP_SYNC_CACHE_DIR": str(tmp_path)}

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    count, digest, folder = run()
    assert int(count) > 0
    assert Path(folder) == tmp_path / sys.implementation.cache_tag
    assert len(_entries(Path(folder))) == int(count)
    assert run() == ["0", digest, folder]


def test_corrupt_truncated_or_foreign_files_are_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cc.CodeCache(tmp_path).compile(SOURCE, FILENAME)
    [entry] = _entries(tmp_path)
    good = entry.read_bytes()
    other = cc.CodeCache(tmp_path).compile("def twice(x):\n    return x\n", FILENAME)
    assert other is not None
    [foreign] = [p for p in _entries(tmp_path) if p != entry]
    flipped = bytearray(good)
    flipped[-3] ^= 0x01
    bad_files = {
        "truncated": good[:-5],
        "header only": good[: cc._HEADER_SIZE],
        "flipped": bytes(flipped),
        "other key": foreign.read_bytes(),  # a valid entry under the wrong name
        "garbage": os.urandom(len(good)),
        "empty": b"",
    }
    compiled = _count_compiles(monkeypatch)
    for what, content in bad_files.items():
        entry.write_bytes(content)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
            code = cc.CodeCache(tmp_path).compile(SOURCE, FILENAME)
        assert _twice(code)(5) == 10, what
        assert len(compiled) == 1, what
        assert entry.read_bytes() == good, what
        assert "ignoring" in caplog.text, what
        compiled.clear()
    assert not [p for p in _entries(tmp_path) if p.name.startswith(".tmp")]


def test_an_unwritable_folder_compiles_logs_once_and_stops_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = cc.CodeCache(blocker / "code")  # cannot be made, whoever runs the test
    attempts: list[str] = []
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        attempts.append(str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        for n in range(3):
            source = SOURCE.replace("2 *", f"{n} *")
            assert _twice(cache.compile(source, FILENAME))(3) == 3 * n
    [record] = caplog.records
    assert record.levelno == logging.DEBUG and "cannot write" in record.getMessage()
    assert len(attempts) == 1


def test_an_unreadable_entry_is_a_miss_and_reading_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry that cannot be opened is compiled; the next valid entry is still loaded, and
    the failures are logged once."""
    sources = [SOURCE.replace("2 *", f"{n} *") for n in range(4)]
    cc.CodeCache(tmp_path).compile(sources[3], FILENAME)  # a valid entry
    for source in sources[:2]:  # open() fails, even for root
        (tmp_path / cc.cache_key(source, FILENAME).hex()).mkdir()
    cache = cc.CodeCache(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        assert _twice(cache.compile(sources[0], FILENAME))(6) == 0
        assert _twice(cache.compile(sources[1], FILENAME))(6) == 6
        _forbid_compile(monkeypatch)
        assert _twice(cache.compile(sources[3], FILENAME))(6) == 18  # loaded: reading goes on
    assert caplog.text.count("cannot read") == 1


def test_a_transient_read_error_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows: open() of an entry being replaced (delete pending) or held by a virus scanner
    fails with PermissionError once; the entries after it are loaded."""
    other = SOURCE.replace("2 *", "3 *")
    cc.CodeCache(tmp_path).compile(SOURCE, FILENAME)
    cc.CodeCache(tmp_path).compile(other, FILENAME)
    cache = cc.CodeCache(tmp_path)
    real_open = open
    failed: list[str] = []

    def flaky(path: Any, *args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(str(path))
            raise PermissionError(13, "Access is denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", flaky)
    compiled = _count_compiles(monkeypatch)
    assert _twice(cache.compile(SOURCE, FILENAME))(1) == 2
    assert compiled == [FILENAME] and failed
    assert _twice(cache.compile(other, FILENAME))(1) == 3
    assert compiled == [FILENAME]  # loaded


def test_a_full_disk_while_writing_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            self.f = open(fd, mode)  # noqa: SIM115 - closed by __exit__

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def write(self, data: bytes) -> int:
            self.f.write(data[:10])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(cc.os, "fdopen", Full)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        assert _twice(cc.CodeCache(tmp_path).compile(SOURCE, FILENAME))(1) == 2
    assert _entries(tmp_path) == []
    assert "No space left" in caplog.text


def test_an_empty_env_var_turns_caching_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ETP_SYNC_CACHE_DIR", "")
    assert cc.cache_directory() is None
    monkeypatch.setattr(cc, "_default", None)
    compiled = _count_compiles(monkeypatch)
    for _ in range(2):
        assert _twice(cc.compile_cached(SOURCE, FILENAME))(2) == 4
    assert len(compiled) == 2
    assert cc.default_cache().directory is None
    assert list(tmp_path.iterdir()) == []


def test_where_entries_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tag = sys.implementation.cache_tag
    monkeypatch.setenv("ETP_SYNC_CACHE_DIR", str(tmp_path / "mine"))
    assert cc.cache_directory() == tmp_path / "mine" / tag
    monkeypatch.delenv("ETP_SYNC_CACHE_DIR")
    if sys.platform == "win32":
        monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
        assert cc.cache_directory() == tmp_path / "etp_sync" / "cache" / "code" / tag
        return
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cc.cache_directory() == tmp_path / "xdg" / "etp_sync" / "code" / tag
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cc.cache_directory() == tmp_path / "home" / ".cache" / "etp_sync" / "code" / tag


def test_two_threads_storing_one_key_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both threads compile, then rename their files over the same name at the same moment."""
    both_written = threading.Barrier(2, timeout=30)
    real_replace = os.replace
    renamed: list[str] = []

    def replace(src: str, dst: Any) -> None:
        both_written.wait()
        real_replace(src, dst)
        renamed.append(src)

    monkeypatch.setattr(cc.os, "replace", replace)
    results: list[Any] = []

    def store() -> None:
        results.append(cc.CodeCache(tmp_path).compile(SOURCE, FILENAME))

    errors = run_in_threads(store, 2)
    assert errors == [] and len(renamed) == 2 and len(set(renamed)) == 2
    assert [_twice(code)(7) for code in results] == [14, 14]
    [entry] = _entries(tmp_path)
    monkeypatch.setattr(cc.os, "replace", real_replace)
    _forbid_compile(monkeypatch)
    assert _twice(cc.CodeCache(tmp_path).compile(SOURCE, FILENAME))(8) == 16
    assert entry.name == cc.cache_key(SOURCE, FILENAME).hex()


def test_define_functions_goes_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etp_sync.schema._model import define_functions

    monkeypatch.setattr(cc, "_default", cc.CodeCache(tmp_path))
    lines = ["def f(x):", "    return K + x"]
    assert define_functions(lines, {"K": 1}, "test f")["f"](1) == 2
    assert len(_entries(tmp_path)) == 1
    _forbid_compile(monkeypatch)
    monkeypatch.setattr(cc, "_default", cc.CodeCache(tmp_path))
    f = define_functions(lines, {"K": 10}, "test f")["f"]  # constants stay in the namespace
    assert f(1) == 11 and f.__code__.co_filename == "<generated test f>"


# -- a folder that cannot be decided, or that others could write to --------------------------------


def _no_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HOME unset and no passwd entry for the uid (a container run with an arbitrary uid)."""
    for name in ("ETP_SYNC_CACHE_DIR", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)

    def home(cls: Any) -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", classmethod(home))


def _unknown_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETP_SYNC_CACHE_DIR", "~no_such_user_etp_sync_test/code")


def _deleted_working_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    monkeypatch.setenv("ETP_SYNC_CACHE_DIR", "relative")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX home folders and working folders")
@pytest.mark.parametrize("where", [_no_home, _unknown_user, _deleted_working_folder])
def test_a_folder_that_cannot_be_decided_is_not_used(
    where: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from etp_sync.schema._model import define_functions

    where(monkeypatch, tmp_path)
    monkeypatch.setattr(cc, "_default", None)
    compiled = _count_compiles(monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        for n in range(2):
            assert (
                define_functions(["def f(x):", "    return x + 1"], {}, "test f")["f"](n) == n + 1
            )
    assert cc.default_cache().directory is None and len(compiled) == 2
    assert caplog.text.count("no folder") == 1


def test_no_home_folder_in_a_real_process(tmp_path: Path) -> None:
    """HOME unset and pwd.getpwuid refusing the uid: the first record is built all the same."""
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", cc.ENV_VAR)}
    script = """
        import pwd
        def no_entry(uid):
            raise KeyError(uid)
        pwd.getpwuid = no_entry
        from etp_sync.schema import _code_cache as cc, datatypes as d
        r = d.Object.Resource(uri="eml:///", name="n", last_changed=1, store_last_write=2,
                              store_created=3, active_status="Active")
        print(r.name, cc.default_cache().directory)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n", "None"]


def _plant(folder: Path) -> None:
    """An entry for SOURCE whose code returns 'planted' (what another user could write)."""
    key = cc.cache_key(SOURCE, FILENAME)
    code = compile("def twice(x):\n    return 'planted'\n", FILENAME, "exec")
    payload = marshal.dumps(code)
    (folder / key.hex()).write_bytes(cc._FILE_MAGIC + key + cc._checksum(key, payload) + payload)


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="owners and modes are POSIX")


@posix_only
@pytest.mark.parametrize("how", ["group-writable", "world-writable", "someone else's"])
def test_a_folder_others_could_write_to_is_not_used(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ETP_SYNC_CACHE_DIR=/tmp/x: another user may have made the folder first and planted an
    entry. Neither read (the planted code never runs) nor written."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    _plant(folder)
    if how == "someone else's":
        uid = os.getuid()
        monkeypatch.setattr(cc.os, "getuid", lambda: uid + 1)
    else:
        folder.chmod(0o770 if how == "group-writable" else 0o777)
    cache = cc.CodeCache(folder)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        for n in range(2):
            assert _twice(cache.compile(SOURCE, FILENAME))(n) == 2 * n
            assert _twice(cache.compile(SOURCE + "\n", FILENAME))(n) == 2 * n
    assert len(_entries(folder)) == 1  # the planted one, nothing written
    assert caplog.text.count("not using") == 1


@posix_only
def test_folders_and_entries_are_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every folder the cache makes is 0700 and every entry 0600, whatever the umask."""
    folder = tmp_path / "a" / "b" / "code"
    old_umask = os.umask(0o002)
    try:
        cache = cc.CodeCache(folder)
        for n in range(2):
            cache.compile(SOURCE.replace("2 *", f"{n} *"), FILENAME)
    finally:
        os.umask(old_umask)
    made = [tmp_path / "a", tmp_path / "a" / "b", folder]
    entries = _entries(folder)
    assert len(entries) == 2
    assert [oct(p.stat().st_mode & 0o077) for p in made + entries] == ["0o0"] * 5
    assert [p.stat().st_mode & 0o700 for p in entries] == [0o600] * 2
    _forbid_compile(monkeypatch)  # a private folder of ours is read
    assert _twice(cc.CodeCache(folder).compile(SOURCE.replace("2 *", "1 *"), FILENAME))(4) == 4


def test_the_key_covers_bytecode_magic_and_optimize_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another Python's bytecode or another -O level (asserts and docstrings compiled away)
    never loads this one's entries."""
    key = cc.cache_key(SOURCE, FILENAME)
    util = SimpleNamespace(MAGIC_NUMBER=b"\x00\x00\r\n")
    monkeypatch.setattr(cc, "importlib", SimpleNamespace(util=util))
    assert cc.cache_key(SOURCE, FILENAME) != key
    monkeypatch.undo()
    assert cc.cache_key(SOURCE, FILENAME) == key
    for level in (sys.flags.optimize + 1, sys.flags.optimize + 2):
        fake_sys = SimpleNamespace(flags=SimpleNamespace(optimize=level))
        monkeypatch.setattr(cc, "sys", fake_sys)
        assert cc.cache_key(SOURCE, FILENAME) != key


def test_an_entry_another_process_holds_open_is_left_and_storing_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Windows refuses to replace a file another process has open: when the entry exists, that
    is no reason to stop storing; the temporary file is removed."""
    cc.CodeCache(tmp_path).compile(SOURCE, FILENAME)
    [entry] = _entries(tmp_path)
    entry.write_bytes(b"bad")  # compiled again, then not replaced
    real_replace = os.replace

    def replace(src: str, dst: Any) -> None:
        if os.path.exists(dst):
            raise PermissionError(13, "Access is denied", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(cc.os, "replace", replace)
    cache = cc.CodeCache(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        assert _twice(cache.compile(SOURCE, FILENAME))(1) == 2
        for n in range(3, 5):
            assert _twice(cache.compile(SOURCE.replace("2 *", f"{n} *"), FILENAME))(1) == n
    assert entry.read_bytes() == b"bad"
    assert len(_entries(tmp_path)) == 3  # the later keys were stored
    assert not [p for p in _entries(tmp_path) if p.name.startswith(".tmp")]
    assert "not replaced" in caplog.text and "cannot write" not in caplog.text


def test_a_cli_run_writes_nothing_under_the_home_folder(harness: Any, tmp_path: Path) -> None:
    """tests/test_cli.py's run() keeps the session's ETP_SYNC_CACHE_DIR (conftest) when it drops
    the caller's ETP_* variables, so CLI processes never fill the user's ~/.cache."""
    from test_cli import run

    home = tmp_path / "home"
    home.mkdir()
    server = harness.server()
    run("ping", server.url, env={"HOME": str(home), "XDG_CACHE_HOME": ""})  # "": ~/.cache
    assert list(home.rglob("*")) == []
