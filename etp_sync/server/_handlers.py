"""The dispatch table: ``(protocol, messageType)`` of a request → its handler.

A handler takes ``(session, header, body)`` and returns the response bodies to send (FIN goes on
the last), or None when there is nothing to send yet (a non-final part of a multipart request).
Raising :class:`~etp_sync.errors.ETPError` answers with a ProtocolException carrying its code.
"""

from __future__ import annotations

from ._common import Handler
from ._h_dataarray import HANDLERS as DATAARRAY
from ._h_dataspace import HANDLERS as DATASPACE
from ._h_discovery import HANDLERS as DISCOVERY
from ._h_notification import HANDLERS as NOTIFICATION
from ._h_store import HANDLERS as STORE
from ._h_transaction import HANDLERS as TRANSACTION

__all__ = ["HANDLERS"]

HANDLERS: dict[tuple[int, int], Handler] = {
    **DATAARRAY,
    **DATASPACE,
    **DISCOVERY,
    **NOTIFICATION,
    **STORE,
    **TRANSACTION,
}
