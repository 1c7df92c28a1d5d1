"""Transactions: one open per session, one writer per dataspace, applied atomically at commit.

A transaction idle longer than the store's ``transaction_timeout`` is rolled back by the next
store call that looks (any call through a transaction, a transaction start, a write outside one);
its session then gets ETIMED_OUT for calls through it and for its commit, and a rollback of it
succeeds, until the session ends it or starts another.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Hashable, Sequence

from etp_sync.errors import ErrorCode, StoreError

from ._core import StoreCore
from ._records import Stage
from ._uris import dataspace_path, dataspace_uri

__all__ = ["TransactionStore"]


class TransactionStore(StoreCore):
    """The transaction calls of the store; ETP messages do not name the transaction, sessions do."""

    def start_transaction(
        self,
        session_id: Hashable,
        dataspace_uris: Sequence[str] = (),
        read_only: bool = False,
        message: str = "",
    ) -> uuid_mod.UUID:
        """Open a transaction for a session over some dataspaces (empty = all; ``""`` = default).

        One open transaction per session, and one write transaction per dataspace across
        sessions: both give EMAX_TRANSACTIONS_EXCEEDED. Missing dataspaces give ENOT_FOUND.
        """
        paths = [dataspace_path(u or "eml:///") for u in dataspace_uris]
        with self._lock:
            self._expire_idle()
            self._forget_expired(session_id)
            if session_id in self._session_tx:
                raise StoreError(
                    ErrorCode.EMAX_TRANSACTIONS_EXCEEDED,
                    f"session already has the open transaction {self._session_tx[session_id]}",
                )
            for path in paths:
                self._space(path)
            spaces = frozenset(paths) if paths else None
            if not read_only:
                for other in self._txs.values():
                    if other.read_only:
                        continue
                    if spaces is None or other.spaces is None or spaces & other.spaces:
                        shared = sorted(
                            (spaces or set(self._spaces)) & (other.spaces or set(self._spaces))
                        )
                        names = ", ".join(dataspace_uri(p) for p in shared) or "all dataspaces"
                        raise StoreError(
                            ErrorCode.EMAX_TRANSACTIONS_EXCEEDED,
                            f"{names} locked by another session's write transaction",
                        )
            t = Stage(uuid_mod.uuid4(), session_id, read_only, spaces, message, self._monotonic())
            self._txs[t.id] = t
            self._session_tx[session_id] = t.id
            return t.id

    def _close_tx(self, tx_id: uuid_mod.UUID, session_id: Hashable | None) -> Stage:
        t = self._txs.get(tx_id)
        if t is None or (session_id is not None and t.session_id != session_id):
            raise StoreError(ErrorCode.EINVALID_STATE, f"no open transaction {tx_id}")
        del self._txs[tx_id]
        del self._session_tx[t.session_id]
        return t

    def _timed_out(self, tx_id: uuid_mod.UUID, session_id: Hashable | None) -> str | None:
        """Why ``tx_id`` is gone if it was rolled back for idleness (then forgotten), else None."""
        self._expire_idle()
        entry = self._expired.get(tx_id)
        if entry is None or (session_id is not None and entry[0] != session_id):
            return None
        self._forget_expired(entry[0])
        return entry[1]

    def commit_transaction(self, tx_id: uuid_mod.UUID, session_id: Hashable | None = None) -> None:
        """Apply a transaction's staged writes atomically and close it.

        If they cannot be applied (a dataspace was deleted meanwhile) nothing is applied, the
        transaction is closed all the same, and StoreError is raised. A transaction rolled back
        for idleness gives ETIMED_OUT.
        """
        with self._lock:
            timed_out = self._timed_out(tx_id, session_id)
            if timed_out is not None:
                raise StoreError(ErrorCode.ETIMED_OUT, timed_out)
            t = self._close_tx(tx_id, session_id)
            events = self._apply(t)
        self._emit(events)

    def rollback_transaction(
        self, tx_id: uuid_mod.UUID, session_id: Hashable | None = None
    ) -> None:
        """Discard a transaction's staged writes and close it (done already if it timed out)."""
        with self._lock:
            if self._timed_out(tx_id, session_id) is None:
                self._close_tx(tx_id, session_id)

    def abort_session(self, session_id: Hashable) -> bool:
        """Roll back the session's open transaction (on disconnect); True if there was one."""
        with self._lock:
            self._forget_expired(session_id)
            tx_id = self._session_tx.get(session_id)
            if tx_id is None:
                return False
            self._close_tx(tx_id, session_id)
            return True

    def transaction_of(self, session_id: Hashable) -> uuid_mod.UUID | None:
        """The session's open transaction, if any (ETP messages do not name it).

        A transaction rolled back for idleness is still returned (calls through it then fail
        with ETIMED_OUT) until the session commits, rolls back or starts another: its writes
        must not silently go outside the transaction it believes open.
        """
        with self._lock:
            self._expire_idle()
            return self._session_tx.get(session_id) or self._session_expired.get(session_id)
