"""Review of the deadline/trust round: errors that keep their attributes through pickling and
:func:`~etp_sync.errors.fresh_error`, and the reader's queued Pongs."""

from __future__ import annotations

import pickle

from etp_sync import errors


def test_a_missing_dependency_keeps_its_import_error_name_through_pickle_and_fresh_error() -> None:
    """ImportError keeps ``name`` outside ``__dict__``: a copy rebuilt from ``__dict__`` alone
    said ``name is None`` (code catching ImportError reads it to tell which package)."""
    error = errors.ETPMissingDependency("needs tqdm", "tqdm")
    for copy in (pickle.loads(pickle.dumps(error)), errors.fresh_error(error)):
        assert isinstance(copy, errors.ETPMissingDependency) and isinstance(copy, ImportError)
        assert copy.name == "tqdm" and copy.package == "tqdm"
        assert copy.msg == error.msg and copy.path == error.path
