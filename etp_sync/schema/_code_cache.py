"""Compiled generated code, kept on disk so that a later process loads it instead of compiling.

etp_sync writes Python source for its Avro codecs and record ``__init__`` methods on first use;
``compile()`` is most of that cost (about 1.5 ms of 1.7 ms for a decoder), paid again by every
process. :func:`compile_cached` keeps each code object (``marshal``) in one file named by a
blake2b hash of the interpreter's bytecode magic number, the compiler flags and ``-O`` level,
the file name and the source: any change to a generator or to Python changes the name, so an
entry never goes stale. Each file also carries its key and a checksum of its payload, checked
before ``marshal.loads``; a bad, truncated or foreign file is ignored, compiled again and
replaced. Files are written to a temporary name and renamed into place, so concurrent processes
never read half a file.

Where: ``$ETP_SYNC_CACHE_DIR`` when set (empty: no caching; a relative path is taken from the
working folder at first use), else ``$XDG_CACHE_HOME/etp_sync/code`` or
``~/.cache/etp_sync/code`` (macOS too), on Windows ``%LOCALAPPDATA%\\etp_sync\\cache\\code``, in
a folder per ``sys.implementation.cache_tag``, decided once per process on first use (no I/O at
import). This is a cache of its own, switched off only by ``ETP_SYNC_CACHE_DIR=``: it does not
follow ``PYTHONDONTWRITEBYTECODE`` or ``python -B``. Nothing prunes it: it holds one set of
entries per etp_sync version and Python, and the folder (or any file in it) may be deleted at
any time; a writer killed mid-write may leave a ``.tmp-*`` file there.

The cache never fails a caller. When the folder cannot be decided (no home folder, an unknown
``~user``, a deleted working folder) it is not used. Like ``__pycache__``, the folder must be
writable only by its user, since code found there runs: on POSIX it is used only when it is
owned by the current user and not writable by group or others (folders are made 0700, files
0600); on Windows that check is skipped. When it cannot be made or written (read-only, full
disk) the process compiles without storing from then on; an entry that cannot be read is a
miss. Each of these is logged once per process, at DEBUG.
"""

from __future__ import annotations
import __future__

import hashlib
import importlib.util
import logging
import marshal
import os
import stat
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
# What may go wrong deciding the folder: Path.home() without HOME or a passwd entry and
# expanduser of an unknown ~user (RuntimeError), absolute() in a deleted working folder (OSError).
_WHERE_ERRORS = (RuntimeError, OSError)


def cache_directory() -> Path | None:
    """The folder of this interpreter's entries, or None when ``$ETP_SYNC_CACHE_DIR`` is empty
    or the folder cannot be decided (logged at DEBUG).

    Reads only the environment and the working folder (no file I/O); never raises.
    """
    try:
        return _configured_directory()
    except _WHERE_ERRORS as exc:
        log.debug("code cache: no folder for it (%r); compiling without it", exc)
        return None


def _configured_directory() -> Path | None:
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
        self._ready = directory is None  # the folder was made and checked (on first use)
        self._writable = self._readable = directory is not None
        self._read_failed = False
        self._lock = threading.Lock()

    def compile(self, source: str, filename: str) -> types.CodeType:
        """The code object of ``source`` (``exec`` mode) named ``filename`` in tracebacks:
        loaded when stored, else compiled (and stored)."""
        if not self._ready:
            self._open()
        directory = self.directory
        if directory is None or not (self._readable or self._writable):
            return _compile(source, filename)
        key = cache_key(source, filename)
        path = directory / key.hex()
        code = self._load(path, key) if self._readable else None
        if code is None:
            code = _compile(source, filename)
            if self._writable:
                self._store(path, key, code)
        return code

    def _open(self) -> None:
        """Make the folder (0700, parents too) and decide whether it may be used at all."""
        with self._lock:
            if self._ready:
                return
            assert self.directory is not None
            try:
                _make_private_folder(self.directory)
                refused = _not_private(self.directory)
            except OSError as exc:
                # Not made (read-only, a file in the way): nothing there to read either.
                self._readable = self._writable = False
                log.debug(
                    "code cache: cannot write to %s (%s); compiling without storing",
                    self.directory,
                    exc,
                )
            else:
                if refused:
                    self._readable = self._writable = False
                    log.debug("code cache: not using %s: %s", self.directory, refused)
            self._ready = True

    def _load(self, path: Path, key: bytes) -> types.CodeType | None:
        """The code stored at ``path`` for ``key``, or None (missing, unreadable or not valid)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            # Often passing (Windows: a file being replaced, a virus scanner): a miss, this time.
            with self._lock:
                logged, self._read_failed = self._read_failed, True
            if not logged:
                log.debug("code cache: cannot read %s (%s); compiling it", path, exc)
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
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mode 0600
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


def _make_private_folder(path: Path) -> None:
    """``mkdir -p`` making every missing folder 0700 (``Path.mkdir`` makes parents 0777 & ~umask).
    An existing folder is left as it is."""
    try:
        path.mkdir(mode=0o700)
    except FileNotFoundError:
        if path.parent == path:
            raise
        _make_private_folder(path.parent)
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        if not path.is_dir():
            raise


def _not_private(path: Path) -> str:
    """Why others could plant code in the folder ``path`` ('' when they cannot). POSIX only:
    Windows has no owner id or mode bits here (its ACLs are not checked)."""
    if sys.platform == "win32":
        return ""
    st = os.stat(path)
    if st.st_uid != os.getuid():
        return f"owned by uid {st.st_uid}, not by this user ({os.getuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.filemode(st.st_mode)})"
    return ""


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
