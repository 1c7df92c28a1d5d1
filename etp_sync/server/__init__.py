"""An embedded, in-memory ETP 1.2 store server for tests and offline work.

::

    from etp_sync.server import EmbeddedServer

    with EmbeddedServer(max_message_size=1 << 20) as server:
        print(server.url)          # ws://127.0.0.1:<port>/
        server.store               # the Store behind it (dataspaces, objects, arrays)

Run standalone with ``python -m etp_sync.server --port 9100``; ``EmbeddedServer(profile=
"open-etp-server")`` (``--profile open-etp-server``) also reproduces open-etp-server's quirks.
"""

from __future__ import annotations

from ._profile import PROFILES, ServerProfile
from ._server import ETP_SUBPROTOCOL, EmbeddedServer
from ._tokens import TokenValidator, jwt_expiry_validator
from .store import Store, StoreError

__all__ = [
    "ETP_SUBPROTOCOL",
    "PROFILES",
    "EmbeddedServer",
    "ServerProfile",
    "Store",
    "StoreError",
    "TokenValidator",
    "jwt_expiry_validator",
]
