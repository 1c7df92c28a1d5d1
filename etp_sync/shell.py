"""``etp-sync shell URL``: an interactive Python prompt with an open session bound to ``session``.

IPython is used when it is installed (``etp_sync[repl]``); otherwise the standard library's
interactive console, with readline tab completion where readline exists. Either way the
session is opened before the prompt appears (so a wrong URL fails at once, not at the first
call) and closed when the prompt is left. Results print as tables (see
:mod:`etp_sync._display`), so ``session.get_dataspaces()`` is readable as typed.
"""

from __future__ import annotations

import code
import logging
from typing import Any

import numpy as np

from . import __version__, uri
from .errors import ETPMissingDependency
from .session import ETPSession
from .transport._connect import safe_url

__all__ = ["banner", "main", "namespace"]

log = logging.getLogger("etp_sync.shell")

_TRY = """\
Try:
  session.get_dataspaces()                      dataspaces, as a table
  session.get_resources("eml:///dataspace('NAME')")
  session.get_data_objects([uri, ...])          objects with their XML
  session.get_data_array(uri, path, progress=True)
  _.to_pandas()                                 the last table as a DataFrame (needs pandas)
session.<TAB> completes the calls; help(session.get_resources) explains one.
Leave with exit() or Ctrl-D: the session closes then."""


def namespace(session: ETPSession) -> dict[str, Any]:
    """What the prompt starts with: ``session`` plus the names examples use."""
    return {
        "session": session,
        "np": np,
        "DataObjectURI": uri.DataObjectURI,
        "DataspaceURI": uri.DataspaceURI,
        "parse_uri": uri.parse_uri,
    }


def banner(session: ETPSession) -> str:
    """One screen: what is connected, what ``session`` is, what to try."""
    info = session.server
    return (
        f"etp_sync {__version__} shell: `session` is open on {safe_url(session.url)}\n"
        f"server {info.application_name} {info.application_version}, "
        f"protocols {sorted(info.protocols)}\n{_TRY}"
    )


def _run_ipython(names: dict[str, Any], text: str) -> None:
    from IPython import start_ipython
    from traitlets.config import Config

    config = Config()
    config.TerminalInteractiveShell.banner1 = text + "\n"
    config.TerminalInteractiveShell.confirm_exit = False
    start_ipython(argv=[], user_ns=names, config=config)


def _run_plain(names: dict[str, Any], text: str) -> None:
    try:
        import readline
        import rlcompleter
    except ImportError:  # no readline on this platform: the console still works, uncompleted
        log.debug("readline unavailable: no tab completion")
    else:
        readline.set_completer(rlcompleter.Completer(names).complete)
        readline.parse_and_bind("tab: complete")
    code.interact(banner=text, local=names, exitmsg="")


def _has_ipython() -> bool:
    try:
        import IPython  # noqa: F401
    except ImportError:
        return False
    return True


def main(url: str, *, ipython: bool | None = None, **session_options: Any) -> int:
    """Open an :class:`~etp_sync.ETPSession` on ``url`` (``session_options`` as its keywords)
    and run a prompt with it bound to ``session``; returns the exit status (0).

    ``ipython``: None uses IPython when installed, True requires it
    (:class:`~etp_sync.errors.ETPMissingDependency` otherwise), False uses the plain console.
    """
    use_ipython = _has_ipython() if ipython is None else ipython
    if use_ipython and not _has_ipython():
        raise ETPMissingDependency(
            "the IPython shell needs IPython: pip install ipython (or etp_sync[repl])", "IPython"
        )
    with ETPSession(url, **session_options) as session:
        names = namespace(session)
        text = banner(session)
        if use_ipython:
            _run_ipython(names, text)
        else:
            _run_plain(names, text)
    return 0
