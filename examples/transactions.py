"""Transactions: ``with session.transaction(dataspace):`` commits when the block succeeds and
rolls back when it raises, so readers see all of a change or none of it.

Run: ``python examples/transactions.py [URL]``.
"""

from __future__ import annotations

import sys

from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.samples import surface_model


def main() -> int:
    # require_transactions: the embedded server refuses writes outside one, as open-etp-server.
    with server_url(require_transactions=True) as url, ETPSession(url) as session:
        space = session.put_dataspace("examples/tx")
        kept = surface_model(space, shape=(10, 10))
        with session.transaction(space, message="add a surface"):
            session.put_data_objects(kept.objects)
            session.put_data_array(kept.epc_uri, kept.array_path, kept.z_values)
        print(f"committed: {len(session.get_resources(space))} objects")

        dropped = surface_model(space, shape=(10, 10))
        try:
            with session.transaction(space, message="this one fails"):
                session.put_data_objects(dropped.objects)
                raise RuntimeError("something went wrong half way")
        except RuntimeError as exc:
            print(f"rolled back after: {exc}")
        left = len(session.get_resources(space))
        print(f"after the rollback: {left} objects (the failed change left nothing)")
        session.delete_dataspace(space)
    return 0 if left == len(kept.objects) else 1


if __name__ == "__main__":
    sys.exit(main())
