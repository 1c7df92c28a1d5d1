"""etp_sync demo: start the embedded ETP 1.2 server and drive it with the client over a socket.

Creates a dataspace with access-control fields, uploads a RESQML surface model (three objects
and a 2000 x 4000 float64 array, 64 MB, moved as subarray blocks) inside a transaction, lists and
downloads it, checks that what came back equals what went out, then cleans up. Run::

    python examples/demo.py
"""

from __future__ import annotations

import logging
import sys
import time

import numpy as np

from etp_sync import ETPSession
from etp_sync.samples import surface_model
from etp_sync.server import EmbeddedServer


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with EmbeddedServer(port=0, max_message_size=8 << 20) as server:
        print(f"embedded ETP server listening on {server.url}")
        with ETPSession(server.url) as session:
            info = session.server
            print(
                f"session open: {info.application_name} {info.application_version}, "
                f"protocols {sorted(info.protocols)}, compression {info.compression!r}, "
                f"max message {info.max_message_size >> 20} MiB, ping {session.ping() * 1e3:.2f} ms"
            )
            dataspace = session.put_dataspace(
                "demo/surface", legal_tags=["demo-legal-tag"], owners=["owners@example.com"]
            )
            print(f"created {dataspace}")

            model = surface_model(dataspace, shape=(2000, 4000))
            start = time.perf_counter()
            with session.transaction(dataspace, message="upload surface"):
                session.put_data_objects(model.objects)
                session.put_data_array(model.epc_uri, model.array_path, model.z_values)
            took = time.perf_counter() - start
            mb = model.z_values.nbytes / 1e6
            print(f"uploaded 3 objects and {mb:.0f} MB of z values in {took:.2f} s")

            resources = session.get_resources(dataspace, scope="self")
            for r in getattr(resources, "resources", resources):
                print(f"  {r.uri}  {r.name!r}")

            start = time.perf_counter()
            objects = session.get_data_objects(list(model.objects))
            z = session.get_data_array(model.epc_uri, model.array_path)
            took = time.perf_counter() - start
            same_xml = all(objects[u].xml == x for u, x in model.objects.items())
            same_array = z.shape == model.z_values.shape and np.array_equal(z, model.z_values)
            print(f"downloaded the model in {took:.2f} s: objects equal: {same_xml}, "
                  f"array equal: {same_array} ({z.dtype}, shape {z.shape})")  # fmt: skip

            session.delete_data_objects(list(model.objects))
            session.delete_dataspace(dataspace)
            left = [str(d.uri) for d in session.get_dataspaces()]
            print(f"cleaned up; dataspaces left: {left}")
            return 0 if same_xml and same_array else 1


if __name__ == "__main__":
    sys.exit(main())
