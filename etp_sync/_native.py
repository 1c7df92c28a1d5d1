"""The optional compiled modules: loaded when built and not turned off.

etp_sync builds two small C modules where a C compiler (and the headers they need) is found
(see setup.py): ``codec._varint_c`` and ``_xmlscan_c``. Each has a Python implementation that
gives the same results, used when the module is missing or when the environment variable
``ETP_SYNC_NO_COMPILED`` is set (to anything but empty) before import.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

__all__ = ["load_native"]

_log = logging.getLogger("etp_sync.native")


def load_native(name: str, what: str) -> ModuleType | None:
    """The compiled module ``name`` (absolute, e.g. ``etp_sync._xmlscan_c``), or None when it
    is not built or compiled modules are turned off; ``what`` names its Python stand-in in the
    debug log."""
    if os.environ.get("ETP_SYNC_NO_COMPILED"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        _log.debug("%s not available (%s): %s in use", name, exc, what)
        return None
