"""etp_sync.dask refuses bad arguments when the Dask array is built, with the errors of the rest
of etp_sync: chunk sizes that Dask would take or fail on in its own ways, and a dtype ETP cannot
carry. No cluster: an embedded server, and the synchronous scheduler where something computes.
Skipped without dask (an optional extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from etp_sync import ETPEncodeError, ETPInvalidArgument, ETPSession
from etp_sync.samples import surface_model

REASON = "dask is an optional extra: pip install 'etp_sync[dask]'"
dask = pytest.importorskip("dask", reason=REASON)
da = pytest.importorskip("dask.array", reason=REASON)
etp_dask = pytest.importorskip("etp_sync.dask", reason=REASON)

OFFLINE = "ws://127.0.0.1:1"  # nothing listens: a check that ran after connecting would not pass
URI = "eml:///dataspace('p/m')/eml20.obj_EpcExternalPartReference(c0ffee00-0000-4000-8000-000000000001)"


@pytest.fixture
def stored(server: Any) -> Iterator[tuple[str, str]]:
    """(URL, object URI) of a server holding ``/a`` = 0..9; the workers' sessions closed after."""
    model = surface_model("p/m", shape=(2, 2))
    with ETPSession(server.url) as session:
        session.put_dataspace("p/m")
        session.put_data_objects(model.objects)
        session.put_data_array(model.epc_uri, "/a", np.arange(10.0))
    try:
        yield server.url, str(model.epc_uri)
    finally:
        etp_dask.close_sessions()


@pytest.mark.parametrize(
    "chunks", [-3, 0, (-5, 15), (0, 10), (5, 6), (4, 3), 3.5, "lots", ((5, 5), (1,))], ids=repr
)
def test_bad_chunks_are_refused_when_the_array_is_built(
    stored: tuple[str, str], chunks: Any
) -> None:
    url, uri = stored
    with pytest.raises(ETPInvalidArgument, match=r"chunks=.* cannot cut an array of shape \(10,\)"):
        etp_dask.read_array(url, uri, "/a", chunks=chunks)


@pytest.mark.parametrize(
    ("chunks", "grid"),
    [(-1, ((10,),)), (None, ((10,),)), (3, ((3, 3, 3, 1),)), ((4, 3, 3), ((4, 3, 3),))],
    ids=repr,
)
def test_good_chunks_read_the_array(
    stored: tuple[str, str], chunks: Any, grid: tuple[tuple[int, ...], ...]
) -> None:
    """Dask's own conventions stay: -1 and None are the whole axis."""
    url, uri = stored
    array = etp_dask.read_array(url, uri, "/a", chunks=(chunks,) if chunks is None else chunks)
    assert array.chunks == grid
    with dask.config.set(scheduler="synchronous"):
        assert array.compute().tolist() == list(np.arange(10.0))


@pytest.mark.parametrize(
    "values",
    [
        lambda: np.array([{}, {}], dtype=object),
        lambda: [{}, {}],
        lambda: da.from_array(np.array([{}, {}], dtype=object), chunks=1),
    ],
    ids=["numpy", "list", "dask"],
)
def test_an_object_array_is_an_encode_error_before_anything_is_sent(values: Any) -> None:
    """As put_data_array says for that dtype (Dask could not even chunk the first two)."""
    with pytest.raises(ETPEncodeError, match="cannot carry numpy dtype object"):
        etp_dask.write_array(values(), OFFLINE, URI, "/o")
