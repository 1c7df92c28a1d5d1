"""ETP arrays as Dask arrays: compute on stored arrays bigger than one machine's memory.

``pip install etp_sync[dask]``. :func:`read_array` gives a lazy :class:`dask.array.Array` over a
stored array, whose chunks the workers read with GetDataSubarrays when (and only where) it is
computed; :func:`write_array` stores a Dask array, each chunk written by the worker holding it::

    from distributed import Client
    from etp_sync.dask import read_array, write_array

    client = Client()  # or a LocalCluster, or any dask.distributed cluster
    z = read_array(url, epc_uri, "/RESQML/grid/points", authorization=get_token)
    print(z.mean().compute())
    write_array(z * 2, url, epc_uri, "/RESQML/grid/points2", authorization=get_token)

xarray: ``xarray.DataArray(read_array(...), dims=("i", "j"))`` is as lazy (examples/xarray_read.py).

Workers keep one session per process per URL and options (:mod:`._sessions`); tasks carry only
the URL, the options and the array's ids. Credentials: give ``authorization`` as a callable that
pickles (it runs on the workers, at every connect); a string is wrapped so that it never shows.
See :func:`write_array` for what a write guarantees when a worker fails.
"""

from __future__ import annotations

from ..errors import ETPMissingDependency

try:
    import dask.array  # noqa: F401  (checked here: the submodules need it)
except ImportError:
    raise ETPMissingDependency(
        "etp_sync.dask needs dask: pip install 'etp_sync[dask]' (dask[array], distributed)", "dask"
    ) from None

from ._arrays import StoredArray, read_array, write_array
from ._chunks import aligned_chunks
from ._sessions import HiddenToken, SessionSpec, cached_sessions, close_sessions

__all__ = [
    "HiddenToken",
    "SessionSpec",
    "StoredArray",
    "aligned_chunks",
    "cached_sessions",
    "close_sessions",
    "read_array",
    "write_array",
]
