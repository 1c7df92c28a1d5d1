"""EPC upload and download: a RESQML model file pair (.epc + .h5) into a dataspace and back.

Needs h5py (``pip install 'etp_sync[epc]'``). Run: ``python examples/epc_round_trip.py [URL]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.epc import EpcReader, EpcWriter, download_epc, upload_epc
from etp_sync.samples import SurfaceModel, surface_model


def write_model(folder: Path) -> tuple[Path, SurfaceModel]:
    """A small RESQML 2.0.1 model as files: CRS, HDF proxy and a depth surface whose z values
    live in model.h5 (any RESQML tool's files would do: resqpy, fesapi, Petrel exports...)."""
    model = surface_model("unused", shape=(200, 300))
    epc = folder / "model.epc"
    with EpcWriter(epc) as writer:
        for xml in model.objects.values():
            writer.add(xml)
        writer.set_external_file(str(model.epc_uri.uuid), "model.h5")  # the proxy's HDF5 file
    with h5py.File(folder / "model.h5", "w") as f:
        f[model.array_path] = model.z_values
    return epc, model


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="etp_sync_epc_") as tmp:
        return round_trip(Path(tmp))


def round_trip(folder: Path) -> int:
    epc, model = write_model(folder)
    with server_url() as url, ETPSession(url) as session:
        session.put_dataspace("examples/epc")
        # Every object and every array the documents point at, in one transaction.
        up = upload_epc(session, epc, "examples/epc")
        print(f"uploaded {len(up.objects)} objects and {up.array_bytes:,} array bytes")

        # The grid plus what it refers to (CRS, HDF proxy), arrays streamed into copy.h5.
        grid = next(u for u in up.objects if u.object_type == "obj_Grid2dRepresentation")
        down = download_epc(session, [grid], folder / "copy.epc", linked=1)
        print(f"downloaded into {down.epc.name} + {[p.name for p in down.hdf5_files]}")

        with EpcReader(down.epc) as package:
            print("parts:", sorted(p.name for p in package.parts()))
        with h5py.File(folder / "copy.h5") as f:
            same = np.array_equal(f[model.array_path][...], model.z_values)
        print(f"z values equal after the round trip: {same}")
        session.delete_dataspace("examples/epc")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
