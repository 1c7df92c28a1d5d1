"""The on-disk cache of compiled generated code: a later process loads instead of compiling, the
loaded code behaves as compiled code, bad files are replaced, and the cache never fails a caller."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

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
    hello = m.Core.RequestSession(
        application_name="a",
        application_version="1",
        client_instance_id=uuid.UUID(int=1),
        requested_protocols=[],
        supported_data_objects=[],
        current_date_time=1,
        earliest_retained_change_time=2,
        endpoint_capabilities={str(i): d.DataValue(item=v) for i, v in enumerate(items)},
    )
    return [put, hello]


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


def test_an_unreadable_entry_is_compiled_and_reading_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    other = SOURCE.replace("2 *", "3 *")
    cc.CodeCache(tmp_path).compile(other, FILENAME)  # a valid entry
    (tmp_path / cc.cache_key(SOURCE, FILENAME).hex()).mkdir()  # open() fails, even for root
    cache = cc.CodeCache(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="etp_sync.code_cache"):
        assert _twice(cache.compile(SOURCE, FILENAME))(6) == 12
        _forbid_compile(monkeypatch)
        with pytest.raises(AssertionError, match="instead of loading"):  # not read any more
            cache.compile(other, FILENAME)
    assert caplog.text.count("cannot read") == 1
    assert _twice(cc.CodeCache(tmp_path).compile(other, FILENAME))(6) == 18  # still there


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
    errors: list[BaseException] = []

    def store() -> None:
        try:
            results.append(cc.CodeCache(tmp_path).compile(SOURCE, FILENAME))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=store) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
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
