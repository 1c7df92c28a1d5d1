"""Many threads on one session: the session is thread-safe, each request waits for its own
answer, so a thread pool can read and write at once over one connection.

Run: ``python examples/threads.py [URL]``.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.samples import surface_model

THREADS = 8


def main() -> int:
    with server_url() as url, ETPSession(url) as session:
        session.put_dataspace("examples/threads")
        models = [surface_model("examples/threads", shape=(100, 100 + i)) for i in range(THREADS)]

        def write(i: int) -> None:  # runs in a worker thread, on the shared session
            session.put_data_objects(models[i].objects)
            session.put_data_array(models[i].epc_uri, models[i].array_path, models[i].z_values)

        def read(i: int) -> bool:
            z = session.get_data_array(models[i].epc_uri, models[i].array_path)
            xml = session.get_data_object(models[i].grid_uri).xml
            return (
                np.array_equal(z, models[i].z_values)
                and xml == models[i].objects[models[i].grid_uri]
            )

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(write, range(THREADS)))
            results = list(pool.map(read, range(THREADS)))
        print(f"{THREADS} threads wrote and read back their models on one session: {results}")
        print(f"objects in the dataspace: {len(session.get_resources('examples/threads'))}")
        session.delete_dataspace("examples/threads")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
