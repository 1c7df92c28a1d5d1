"""Notifications: subscribe to a dataspace and receive an event for each object written or
deleted there (by this session or any other).

Run: ``python examples/notifications.py [URL]``.
"""

from __future__ import annotations

import sys

from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.samples import surface_model


def main() -> int:
    with server_url() as url, ETPSession(url) as watcher, ETPSession(url) as writer:
        space = watcher.put_dataspace("examples/notify")
        with watcher.subscribe_notifications(space) as subscription:
            model = surface_model(space, shape=(5, 5))
            writer.put_data_objects(model.objects)  # another session writes...
            writer.delete_data_objects([model.grid_uri])
            seen = []
            for _ in range(len(model.objects) + 1):  # ...and the watcher hears of each change
                event = subscription.get(timeout=10)
                if event is None:
                    break
                seen.append(event)
                print(f"{event.kind:8} {event.change_kind or '':7} {event.uri}")
        watcher.delete_dataspace(space)
    return 0 if len(seen) == len(model.objects) + 1 else 1


if __name__ == "__main__":
    sys.exit(main())
