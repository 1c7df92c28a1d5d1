"""xarray over a stored ETP array: labelled, lazy, read chunk by chunk only where computed.

``xarray.DataArray(read_array(...), dims=..., coords=...)`` wraps the lazy Dask array without
reading anything; selections and reductions then read only the chunks they need (here with Dask's
default threaded scheduler in this process; with a ``distributed.Client`` the workers read them).
Needs ``pip install 'etp_sync[dask]' xarray``.
Run: ``python examples/xarray_read.py [URL]``.
"""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr
from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.dask import read_array
from etp_sync.samples import surface_model


def main() -> int:
    with server_url(max_message_size=1 << 20) as url:
        with ETPSession(url) as session:
            session.put_dataspace("examples/xarray")
            model = surface_model("examples/xarray", shape=(4, 4))
            session.put_data_objects(model.objects)
            # A small "seismic cube": 60 inlines x 50 crosslines x 200 samples of float32.
            rng = np.random.default_rng(15)
            cube = rng.normal(size=(60, 50, 200)).astype(np.float32)
            session.put_data_array(model.epc_uri, "/examples/cube", cube)

        amplitude = xr.DataArray(
            read_array(url, model.epc_uri, "/examples/cube"),
            dims=("inline", "crossline", "depth"),
            coords={
                "inline": np.arange(1000, 1060),
                "crossline": np.arange(2000, 2050),
                "depth": np.arange(200) * 4.0,
            },
            name="amplitude",
        )
        print(amplitude)  # lazy: nothing read yet
        rms = np.sqrt((amplitude**2).mean("depth"))  # still lazy
        section = amplitude.sel(inline=1030).compute()  # reads the chunks holding inline 1030
        rms_map = rms.compute()
        same = np.allclose(section.values, cube[30]) and np.allclose(
            rms_map.values, np.sqrt((cube.astype(np.float64) ** 2).mean(axis=2)), rtol=1e-5
        )
        print(f"inline 1030: {section.shape}; rms map: {rms_map.shape}; equal to numpy: {same}")
        with ETPSession(url) as session:
            session.delete_dataspace("examples/xarray")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
