"""``etp_sync.shell``: the interactive prompt starts with an open ``session`` bound, completes its
methods and prints results as tables, driven through a pseudo terminal like a user would."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from etp_sync.errors import ETPMissingDependency
from etp_sync.server import EmbeddedServer
from etp_sync.shell import main

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")
DS = "shell/demo"
TOKEN = "shell-s3cret"


class Terminal:
    """A child process on a pseudo terminal: ``send`` keystrokes, ``expect`` output text.

    ``expect`` waits for output events (select on the terminal), up to a generous limit that
    only bounds a failing test."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.fd = master
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.seen = ""

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, pattern: str, limit: float = 60.0) -> str:
        """Read until ``pattern`` (a regex) matches the output seen so far (escapes removed);
        return that output and forget it."""
        end = time.monotonic() + limit
        while True:
            found = re.search(pattern, self.seen)
            if found:
                text, self.seen = self.seen[: found.end()], self.seen[found.end() :]
                return text
            left = end - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self._readable(0)):
                raise AssertionError(f"{pattern!r} not seen; output was:\n{self.seen}")
            if self._readable(left):
                self._read()

    def _readable(self, timeout: float) -> bool:
        return bool(select.select([self.fd], [], [], timeout)[0])

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        text = ANSI.sub("", data.decode("utf-8", "replace")).replace("\r", "")
        self.seen += text

    def wait(self) -> int:
        while self.proc.poll() is None and self._readable(30):
            self._read()
        return self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


@pytest.fixture()
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(port=0, required_token=TOKEN) as srv:
        srv.store.put_dataspace(f"eml:///dataspace('{DS}')")
        yield srv


def _environment(home: Path) -> dict[str, str]:
    """A terminal's environment, IPython's settings and history kept in ``home``."""
    env = dict(os.environ, TERM="xterm", IPYTHONDIR=str(home / "ipython"), HOME=str(home))
    env.pop("PYTHONSTARTUP", None)
    return env


def _terminal(url: str, ipython: bool, home: Path) -> Terminal:
    env = _environment(home)
    code = (
        "from etp_sync.shell import main\n"
        f"raise SystemExit(main({url!r}, ipython={ipython!r}, timeout=30, "
        f"authorization={TOKEN!r}))\n"
    )
    return Terminal([sys.executable, "-c", code], env)


def test_plain_shell_binds_session_and_completes(server: EmbeddedServer, tmp_path: Path) -> None:
    term = _terminal(server.url, False, tmp_path)
    try:
        intro = term.expect(r">>> ")
        assert f"`session` is open on {server.url}" in intro
        assert "session.get_dataspaces()" in intro and "Ctrl-D" in intro
        assert len(intro.splitlines()) <= 24  # one screen
        term.send("session.get_datasp\t")
        term.expect(r"session\.get_dataspaces\(")  # completed by readline
        term.send(")\n")
        table = term.expect(r"\d+ dataspaces\n>>> ")
        assert DS in table and "last write" in table
        term.send("type(session).__name__, session.closed\n")
        term.expect(r"\('ETPSession', False\)\n>>> ")
        term.send("\x04")  # Ctrl-D leaves, closing the session
        assert term.wait() == 0
    finally:
        term.close()


def test_ipython_shell_binds_session(server: EmbeddedServer, tmp_path: Path) -> None:
    term = _terminal(server.url, True, tmp_path)
    try:
        intro = term.expect(r"In \[1\]: ")
        assert f"`session` is open on {server.url}" in intro
        term.send("session.get_dataspaces()\r")
        table = term.expect(r"\d+ dataspaces\s+In \[2\]: ")
        assert DS in table and "Out[1]:" in table
        term.send("exit()\r")
        assert term.wait() == 0
    finally:
        term.close()


@pytest.mark.parametrize("ipython", [False, True])
def test_cli_shell_command(server: EmbeddedServer, tmp_path: Path, ipython: bool) -> None:
    """``etp-sync shell URL`` (the console script): the connection options reach the session
    (the token from $ETP_TOKEN, --timeout), ``session`` is bound and works, exit is clean."""
    env = dict(_environment(tmp_path), ETP_TOKEN=TOKEN)
    flag = "--ipython" if ipython else "--no-ipython"
    script = str(Path(sys.executable).with_name("etp-sync"))
    prompt, enter = (r"In \[\d+\]: ", "\r") if ipython else (r">>> ", "\n")
    term = Terminal([script, "shell", server.url, "--timeout", "7", flag], env)
    try:
        intro = term.expect(prompt)
        assert f"`session` is open on {server.url}" in intro
        term.send(f"session.timeout, sorted(ds.path for ds in session.get_dataspaces()){enter}")
        term.expect(rf"\(7\.0, \['{DS}'\]\)\s+{prompt}")
        term.send(f"exit(){enter}")
        assert term.wait() == 0
    finally:
        term.close()


def test_ipython_required_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)
    with pytest.raises(ETPMissingDependency, match="pip install ipython"):
        main("ws://127.0.0.1:9/", ipython=True)
