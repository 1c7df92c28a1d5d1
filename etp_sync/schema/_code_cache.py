"""Compiled generated code, kept on disk so that a later process loads it instead of compiling.

etp_sync writes Python source for its Avro codecs and record ``__init__`` methods on first use;
``compile()`` is most of that cost (about 1.5 ms of 1.7 ms for a decoder), paid again by every
process. :func:`compile_cached` keeps each code object (``marshal``) in one file named by a
blake2b hash of the interpreter's bytecode magic number, the compiler flags, the file name and
the source: any change to a generator or to Python changes the name, so an entry never goes
stale, and any file may be deleted at any time. Each file also carries its key and a checksum
of its payload, checked before ``marshal.loads``; a bad, truncated or foreign file is ignored,
compiled again and replaced. Files are written to a temporary name and renamed into place, so
concurrent processes never read half a file.

Where: ``$ETP_SYNC_CACHE_DIR`` when set (empty: no caching), else
``$XDG_CACHE_HOME/etp_sync/code`` or ``~/.cache/etp_sync/code`` (Windows:
``%LOCALAPPDATA%\\etp_sync\\cache\\code``), in a folder per ``sys.implementation.cache_tag``,
decided once per process on first use (no I/O at import). The cache never fails a caller: when
it cannot write (missing or read-only folder, full disk) or read (permissions) it logs once at
DEBUG and, for the rest of the process, compiles without storing (or without looking). Like
``__pycache__``, the folder must be writable only by its user: code found there runs.
"""

from __future__ import annotations
import __future__

import hashlib
import importlib.util
import logging
import marshal
import os
import sys
import tempfile
import threading
import types
from pathlib import Path

log = logging.getLogger("etp_sync.code_cache")

ENV_VAR = "ETP_SYNC_CACHE_DIR"
# Generated code is compiled as if written in a module with these future imports (the modules
# that generate it have them); fixed here so the code does not depend on who calls compile().
_FLAGS = __future__.annotations.compiler_flag
_FILE_MAGIC = b"etp_sync code 1\n"
_KEY_SIZE = 32
_SUM_SIZE = 16
_HEADER_SIZE = len(_FILE_MAGIC) + _KEY_SIZE + _SUM_SIZE


def cache_directory() -> Path | None:
    """The folder of this interpreter's entries, or None when ``$ETP_SYNC_CACHE_DIR`` is empty.

    Reads only the environment (no file I/O); the folder is made on the first write.
    """
    configured = os.environ.get(ENV_VAR)
    if configured is not None:
        if not configured:
            return None
        base = Path(configured).expanduser().absolute()
    elif sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        base = Path(local) / "etp_sync" / "cache" / "code"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
        base = root / "etp_sync" / "code"
    return base / (sys.implementation.cache_tag or "nocache")


def cache_key(source: str, filename: str) -> bytes:
    """What the code object of ``source`` compiled as ``filename`` depends on, hashed."""
    h = hashlib.blake2b(digest_size=_KEY_SIZE)
    h.update(importlib.util.MAGIC_NUMBER)
    h.update(f"{_FLAGS} {sys.flags.optimize}\n".encode())
    name = filename.encode("utf-8", "surrogatepass")
    h.update(len(name).to_bytes(8, "little"))
    h.update(name)
    h.update(source.encode("utf-8", "surrogatepass"))
    return h.digest()


def _checksum(key: bytes, payload: bytes) -> bytes:
    return hashlib.blake2b(key + payload, digest_size=_SUM_SIZE).digest()


class CodeCache:
    """Code objects stored in ``directory`` (None: compile every time, store nothing)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._writable = self._readable = directory is not None
        self._made = False
        self._lock = threading.Lock()

    def compile(self, source: str, filename: str) -> types.CodeType:
        """The code object of ``source`` (``exec`` mode) named ``filename`` in tracebacks:
        loaded when stored, else compiled (and stored)."""
        if self.directory is None:
            return _compile(source, filename)
        key = cache_key(source, filename)
        path = self.directory / key.hex()
        code = self._load(path, key) if self._readable else None
        if code is None:
            code = _compile(source, filename)
            if self._writable:
                self._store(path, key, code)
        return code

    def _load(self, path: Path, key: bytes) -> types.CodeType | None:
        """The code stored at ``path`` for ``key``, or None (missing, unreadable or not valid)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            with self._lock:
                if not self._readable:
                    return None
                self._readable = False
            log.debug("code cache: cannot read %s (%s); not reading from it again", path, exc)
            return None
        payload = data[_HEADER_SIZE:]
        header = _FILE_MAGIC + key + _checksum(key, payload)
        if data[:_HEADER_SIZE] != header:
            log.debug("code cache: ignoring %s (not a valid entry for its key)", path)
            return None
        try:
            code = marshal.loads(payload)
        except (ValueError, EOFError, TypeError) as exc:
            log.debug("code cache: ignoring %s (%s)", path, exc)
            return None
        if not isinstance(code, types.CodeType):
            log.debug("code cache: ignoring %s (not a code object)", path)
            return None
        return code

    def _store(self, path: Path, key: bytes, code: types.CodeType) -> None:
        """Write ``code`` to ``path`` atomically; on the first failure stop writing for good."""
        payload = marshal.dumps(code)
        data = _FILE_MAGIC + key + _checksum(key, payload) + payload
        tmp = None
        try:
            if not self._made:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._made = True
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as exc:
            if tmp is not None:
                _remove(tmp)
            self._give_up(exc)
            return
        try:
            os.replace(tmp, path)
        except OSError as exc:
            _remove(tmp)
            if not path.is_file():
                self._give_up(exc)
                return
            # Windows refuses to replace a file another process holds open (most likely storing
            # this same entry): the folder works, so keep storing; a bad file is replaced later.
            log.debug("code cache: %s not replaced (%s)", path, exc)

    def _give_up(self, exc: OSError) -> None:
        with self._lock:
            if not self._writable:
                return
            self._writable = False
        log.debug(
            "code cache: cannot write to %s (%s); compiling without storing from now on",
            self.directory,
            exc,
        )


def _compile(source: str, filename: str) -> types.CodeType:
    return compile(source, filename, "exec", flags=_FLAGS, dont_inherit=True)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        log.debug("code cache: cannot remove %s (%s)", path, exc)


_default: CodeCache | None = None
_default_lock = threading.Lock()


def default_cache() -> CodeCache:
    """This process's cache, in :func:`cache_directory` as it is on first use."""
    global _default
    cache = _default
    if cache is None:
        with _default_lock:
            if _default is None:
                _default = CodeCache(cache_directory())
            cache = _default
    return cache


def compile_cached(source: str, filename: str) -> types.CodeType:
    """The code object of generated ``source`` named ``filename``, from the process's cache."""
    return default_cache().compile(source, filename)
