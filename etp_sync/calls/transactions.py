"""Transaction protocol (18): ``with session.transaction(dataspace):`` and automatic transactions.

ETP allows one open transaction per session, and ETP messages do not name it: every write the
session sends while it is open belongs to it. So the session's :class:`TransactionManager` holds
a write gate: the thread that opened the transaction owns the session's writes until it ends;
other threads' writes wait for it (bounded by their own timeout) while their reads go on, and a
second ``transaction()`` on the owning thread fails at once (transactions do not nest).

A transaction is bound to its connection and its thread: after a drop every call inside the
block raises :class:`TransactionError` at once (the server rolled it back), nothing is written
outside it, and the block's exit raises too.

Writes the library splits into several requests (arrays in blocks, objects in batches) run
inside one automatic transaction when the server offers protocol 18, so readers see the old
value or the new one, never a mix; when the connection drops before the commit is confirmed,
the whole write is sent again in a new transaction within the call's timeout (puts replace, so
this is safe). Without protocol 18 such writes are not atomic: an interrupted one raises
:class:`TransactionError` saying the data may be partly written. Another session holding the
dataspace (EMAX_TRANSACTIONS_EXCEEDED) is waited for with back-off, within the timeout.

An automatic transaction's commit or rollback is waited for until the call's deadline plus half
the session's DEADLINE_MARGIN (a caller's own, the session's timeout). A StartTransaction,
commit or rollback not answered in time drops the connection before the write gate is released:
the server rolls back a transaction still open on disconnect, so none stays open on it, and the
next call reconnects. A commit dropped that way raises :class:`TransactionError` saying its
outcome is unknown (it is not sent again).

This module holds the session API (:class:`TransactionCalls`) and re-exports the names the rest
of the package imports from it; the parts live in ``_write_gate`` (the gate),
``_transaction`` (one transaction's lifecycle) and ``_transaction_manager`` (which transaction
a write runs in).
"""

from __future__ import annotations

from ..errors import TransactionError
from ._core import SessionAPI
from ._transaction import Transaction
from ._transaction_manager import Dataspaces, TransactionManager
from ._transaction_manager import response_error as response_error

__all__ = ["Transaction", "TransactionCalls", "TransactionError", "TransactionManager"]


class TransactionCalls(SessionAPI):
    """Transaction calls of :class:`~etp_sync.ETPSession` (state: its ``transaction_manager``)."""

    def transaction(
        self, dataspace: Dataspaces, *, message: str = "", read_only: bool = False
    ) -> Transaction:
        """A transaction on one or more dataspaces: ``with session.transaction("p/s"):``.

        Commits when the block succeeds, rolls back on any exception. The transaction belongs
        to this thread and to the current connection: other threads' writes wait for it to end
        (their reads go on); opening another one on this thread raises
        :class:`TransactionError` at once; after a drop every call inside the block raises
        :class:`TransactionError` at once (nothing is written outside the transaction) and so
        does the block's exit. Starting waits for another thread's transaction, up to the
        session's ``timeout``.
        """
        return self.transaction_manager.new(dataspace, message=message, read_only=read_only)

    @property
    def active_transaction(self) -> Transaction | None:
        """The transaction open in this session, if any."""
        return self.transaction_manager.current
