"""Discovery: what a dataspace holds, by type and by reference, without downloading documents.

Run: ``python examples/discovery.py [URL]``.
"""

from __future__ import annotations

import sys

from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.samples import surface_model


def main() -> int:
    with server_url() as url, ETPSession(url) as session:
        space = session.put_dataspace("examples/discovery")
        model = surface_model(space, shape=(5, 5))
        session.put_data_objects(model.objects)

        print("dataspaces:", [str(d.uri) for d in session.get_dataspaces()])
        for t in session.get_supported_types(space):  # types present, with counts
            print(f"type {t.data_object_type}: {t.object_count}")
        resources = session.get_resources(space, include_edges=True)
        for r in resources:
            print(f"object {r.name!r}: {r.uri}")
        for e in resources.edges:  # who refers to whom
            print(f"edge {e.source.object_type} -> {e.target.object_type}")
        # What the grid links to: its CRS (the HDF proxy of its z values is no link, as on
        # open-etp-server).
        targets = session.get_resources(model.grid_uri, scope="targets")
        print("the grid refers to:", sorted(r.uri.object_type for r in targets))
        grids = session.get_resources(space, types=["resqml20.obj_Grid2dRepresentation"])
        print("grids only:", [r.name for r in grids])
        session.delete_dataspace(space)
    return 0 if len(targets) == 1 and len(grids) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
