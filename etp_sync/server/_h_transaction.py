"""Transaction (18) handlers: one open transaction per session, kept by the store.

Reads and writes of a session go through its open transaction (ETP messages do not name it).
Refusals (another session holds a write transaction on the dataspace: 15; missing dataspace: 11;
a second transaction: 15) come back as ProtocolException with the code, so clients can retry on 15.
Commit/rollback of a transaction that is not open gives EINVALID_STATE; a commit that cannot be
applied (a delete that would leave a reference dangling, a dataspace deleted meanwhile) answers
``successful=false`` with the reason; under the open-etp-server profile the session then answers
every request with EINVALID_STATE until the client reconnects. A transaction idle longer than
the store's ``transaction_timeout`` (advertised as TransactionTimeoutPeriod) is rolled back: calls
through it and its commit then give ETIMED_OUT (26), its rollback succeeds.
"""

from __future__ import annotations

from typing import Any

from etp_sync.errors import ErrorCode
from etp_sync.schema import messages

from ._common import Handler, Reply, SessionContext
from .store import StoreError


def start_transaction(session: SessionContext, header: Any, body: Any) -> Reply:
    """StartTransaction → StartTransactionResponse(transactionUuid).

    ``dataspaceUris`` defaults to ``[""]`` (the default dataspace); when the store has no default
    dataspace, empty entries are dropped and an empty list covers every dataspace.
    """
    uris = list(body.dataspace_uris)
    if not session.store.allow_default_dataspace:
        uris = [u for u in uris if u and u != "eml:///"]
    tx = session.store.start_transaction(session.session_id, uris, body.read_only, body.message)
    return [messages.Transaction.StartTransactionResponse(transaction_uuid=tx, successful=True)]


def commit_transaction(session: SessionContext, header: Any, body: Any) -> Reply:
    """CommitTransaction → CommitTransactionResponse."""
    try:
        session.store.commit_transaction(body.transaction_uuid, session.session_id)
    except StoreError as exc:
        if exc.code in (ErrorCode.EINVALID_STATE, ErrorCode.ETIMED_OUT):
            raise
        if session.profile.fail_session_after_failed_commit:
            session.failed_commit = f"transaction {body.transaction_uuid} failed to commit"
        return [
            messages.Transaction.CommitTransactionResponse(
                transaction_uuid=body.transaction_uuid, successful=False, failure_reason=exc.message
            )
        ]
    return [
        messages.Transaction.CommitTransactionResponse(
            transaction_uuid=body.transaction_uuid, successful=True
        )
    ]


def rollback_transaction(session: SessionContext, header: Any, body: Any) -> Reply:
    """RollbackTransaction → RollbackTransactionResponse."""
    session.store.rollback_transaction(body.transaction_uuid, session.session_id)
    return [
        messages.Transaction.RollbackTransactionResponse(
            transaction_uuid=body.transaction_uuid, successful=True
        )
    ]


HANDLERS: dict[tuple[int, int], Handler] = {
    (18, 1): start_transaction,
    (18, 3): commit_transaction,
    (18, 4): rollback_transaction,
}
