"""Which transaction a session's write runs in: the :class:`TransactionManager`.

It holds the session's open :class:`~etp_sync.calls._transaction.Transaction` and its
:class:`~etp_sync.calls._write_gate.WriteGate`, and every write of the calls layer goes through
it: :meth:`TransactionManager.write` (one request) or :meth:`TransactionManager.write_many`
(several, run in one automatic transaction when the server offers protocol 18 and sent again
as a whole after a drop, within the call's timeout; without it, not atomic, and an interrupted
one says its data may be partly written).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from ..errors import (
    ErrorCode,
    ETPConnectionLost,
    ETPRemoteError,
    ETPSessionClosed,
    ETPTimeout,
    TransactionError,
)
from ..protocol.correlation import Response
from ..schema import Record
from ..uri import DataspaceURI
from ._core import Deadline, SessionAPI, one_or_many
from ._transaction import BusyWait, Transaction
from ._write_gate import WriteGate

log = logging.getLogger("etp_sync.transaction")

AUTO_MESSAGE = "etp_sync automatic transaction"
TRANSACTION_PROTOCOL = 18

T = TypeVar("T")
Dataspaces = str | DataspaceURI | Sequence[str | DataspaceURI]
Operation = Callable[[Deadline], T]


def _demands_transaction(error: ETPRemoteError) -> bool:
    text = error.message.lower()
    return error.code in (ErrorCode.EINVALID_STATE, ErrorCode.EREQUEST_DENIED) and (
        "transaction" in text
    )


class TransactionManager:
    """The transaction state of one session, and the write paths that depend on it.

    Holds the open transaction, the :class:`WriteGate` and whether the server demands a
    transaction around writes (learnt from a refusal of a write sent while no transaction was
    open on the session: the gate guarantees that). Writes of the calls layer go through
    :meth:`write` (one request) or :meth:`write_many` (several, made atomic).
    """

    def __init__(self, session: SessionAPI) -> None:
        self.session = session
        self.gate = WriteGate(closed=lambda: session.closed)
        self._open: Transaction | None = None
        self._lock = threading.Lock()
        self._demands_transactions = False

    def __repr__(self) -> str:
        return f"TransactionManager(open={self._open!r}, demands={self._demands_transactions})"

    @property
    def current(self) -> Transaction | None:
        """The transaction open in this session, if any (whichever thread owns it)."""
        return self._open

    def owned(self) -> Transaction | None:
        """The open transaction if the calling thread owns it."""
        tx = self._open
        return tx if tx is not None and tx.thread == threading.get_ident() else None

    def check_bound(self) -> None:
        """Raise :class:`TransactionError` when the calling thread's transaction died with its
        connection: the session calls this before every request (and reconnect), so nothing
        is sent outside the transaction."""
        tx = self.owned()
        if tx is not None:
            tx.check_alive()

    @contextmanager
    def bound(self) -> Iterator[Transaction | None]:
        """Run a call of this thread inside its transaction, if it has one: a dead transaction
        raises :class:`TransactionError` at once, and so does a drop during the call (nothing is
        retried outside the transaction). Yields the transaction (None outside one)."""
        tx = self.owned()
        if tx is None:
            yield None
            return
        tx.check_alive()
        try:
            yield tx
        except ETPConnectionLost as exc:
            raise tx.connection_lost(exc) from exc

    @property
    def demands_transactions(self) -> bool:
        """The server refused a write made outside a transaction."""
        return self._demands_transactions

    def offers_transactions(self) -> bool:
        """The server granted the Transaction protocol (18)."""
        return self.session.server.supports(TRANSACTION_PROTOCOL)

    def new(
        self, dataspace: Dataspaces, *, message: str = "", read_only: bool = False
    ) -> Transaction:
        """A transaction on one or more dataspaces, not started yet (``with`` starts it)."""
        spaces = one_or_many(
            dataspace,
            (str, DataspaceURI),
            "dataspace",
            "a dataspace (path or URI) or a list of them",
        )
        return Transaction(self, spaces, message=message, read_only=read_only)

    def opened(self, tx: Transaction) -> None:
        """``tx`` was started by the server: it is the open transaction now."""
        with self._lock:
            self._open = tx

    def ended(self, tx: Transaction) -> None:
        """``tx`` was committed, rolled back or lost: no transaction is open."""
        with self._lock:
            if self._open is tx:
                self._open = None
        self.gate.release()

    def session_closed(self) -> None:
        """The session was closed (``session.closed`` is True): writes waiting for another
        thread's transaction raise ETPSessionClosed now, not at their deadline."""
        self.gate.wake()

    def deadline(self, timeout: float | None) -> Deadline:
        """The deadline of a call given ``timeout`` (None: the session's)."""
        return Deadline(self.session.timeout if timeout is None else timeout)

    def write(
        self,
        body: Record | Sequence[Record],
        *,
        dataspace: Dataspaces | None,
        timeout: float | None = None,
        replaces: bool = False,
    ) -> Response:
        """Send a one-request write (ProtocolExceptions returned in the response).

        Inside this thread's transaction it belongs to it (a dead transaction raises
        :class:`TransactionError`). Otherwise it waits for another thread's transaction to
        end; when the server demands transactions it runs inside one of its own.
        ``replaces``: sending it again is harmless (a put), so it is sent again after a drop.
        """
        deadline = self.deadline(timeout)

        def send(d: Deadline) -> Response:
            return self.session.request(body, timeout=d.remaining(), idempotent=False)

        def send_checked(d: Deadline) -> Response:  # refused as a whole: roll back
            response = send(d)
            if response.errors:
                raise response_error(response)
            return response

        if self.owned() is not None:
            return self.write_many(send, dataspace=dataspace, deadline=deadline, retry=replaces)
        if self._demands_transactions and dataspace is not None:
            return self.write_many(
                send_checked, dataspace=dataspace, deadline=deadline, retry=replaces
            )
        response = self._outside(send, deadline, replaces)
        if not response.errors or dataspace is None:
            return response
        try:
            response.raise_for_errors()
        except ETPRemoteError as exc:
            if not _demands_transaction(exc):
                return response
        log.warning("the server demands a transaction around writes: wrapping them in one")
        self._demands_transactions = True
        return self.write_many(send_checked, dataspace=dataspace, deadline=deadline, retry=replaces)

    def _outside(self, send: Operation[Response], deadline: Deadline, replaces: bool) -> Response:
        """One write outside any transaction (after another thread's has ended). Refused whole
        because another session's transaction holds its dataspace, it is sent again with
        back-off within the deadline, as a write of several requests waits to start its own
        transaction."""
        busy = BusyWait("the write")
        with self.gate.shared(deadline):
            while True:
                try:
                    response = send(deadline)
                except ETPSessionClosed:
                    raise
                except ETPConnectionLost as exc:
                    if not replaces or deadline.expired:
                        raise
                    log.warning("sending the write again after a connection loss: %s", exc)
                    continue
                if not response.errors or not _dataspace_busy(response):
                    return response
                if not busy.again(deadline, response_error(response).message):
                    return response

    def write_many(
        self,
        operation: Operation[T],
        *,
        dataspace: Dataspaces | None,
        deadline: Deadline,
        retry: bool = True,
    ) -> T:
        """Run a write made of several requests as one: ``operation(deadline)`` sends them.

        Inside this thread's transaction it just runs (a drop raises TransactionError).
        Otherwise, when the server offers transactions, it runs inside one of its own, and when
        the connection drops before the commit is confirmed, the whole operation runs again in
        a new transaction (``retry``; puts replace, so this is safe) until ``deadline``. Without
        ``retry`` (a delete: run twice, it would fail on what its first run deleted) a drop is
        raised, as a TransactionError saying the outcome is unknown once the commit was sent.
        Without transactions it runs as is, and an interruption says the data may be partly
        written.
        """
        if self.owned() is not None:
            with self.bound():
                return operation(deadline)
        if dataspace is None or not self.offers_transactions():
            return self._not_atomic(operation, deadline)
        attempt = 1
        while True:
            tx = self.new(dataspace, message=AUTO_MESSAGE)
            try:
                return self._atomic(tx, operation, deadline)
            except (ETPConnectionLost, TransactionError) as exc:
                if isinstance(exc, ETPSessionClosed) or not tx.lost or tx.dropped:
                    raise  # a commit dropped unconfirmed: its outcome is unknown, not retried
                if tx.commit_sent and (deadline.expired or not retry):
                    why = (
                        f"the write's timeout of {deadline.seconds:g} s passed"
                        if retry
                        else "this write is not sent again (it does not replace what it wrote)"
                    )
                    raise TransactionError(
                        f"the connection dropped before the commit of transaction {tx.uuid} was "
                        f"confirmed, and {why}: the outcome is unknown (the server may have "
                        "committed all of it, or rolled it all back on the disconnect)"
                    ) from exc
                if not retry:
                    raise
                if deadline.expired:
                    raise TransactionError(
                        f"the connection dropped during the write and its timeout of "
                        f"{deadline.seconds:g} s passed before it could be sent again: nothing "
                        "of it was stored"
                    ) from exc
                attempt += 1
                log.warning(
                    "connection lost during an atomic write (%s): sending it again in a new "
                    "transaction (attempt %d)",
                    exc,
                    attempt,
                )

    def _atomic(self, tx: Transaction, operation: Operation[T], deadline: Deadline) -> T:
        """Run ``operation`` inside ``tx`` (started here) and commit it."""
        try:
            tx.start(deadline)
        except ETPConnectionLost:
            tx.lost = True  # nothing was written: the whole write may be sent again
            raise
        try:
            result = operation(deadline)
        except ETPConnectionLost:
            tx.lost = True
            tx.abandon("a connection loss", deadline)
            raise
        except BaseException as exc:
            tx.abandon(type(exc).__name__, deadline)
            raise
        tx.commit(deadline)
        return result

    def _not_atomic(self, operation: Operation[T], deadline: Deadline) -> T:
        with self.gate.shared(deadline):
            try:
                return operation(deadline)
            except (ETPConnectionLost, ETPTimeout) as exc:
                raise TransactionError(
                    "the write was interrupted and the server offers no Transaction protocol "
                    f"(18), so it was not atomic: its data may be partly written ({exc})"
                ) from exc


def response_error(response: Response) -> ETPRemoteError:
    """The error for a response that carries ProtocolExceptions."""
    try:
        response.raise_for_errors()
    except ETPRemoteError as exc:
        return exc
    raise AssertionError("response has no errors")


def _dataspace_busy(response: Response) -> bool:
    """The write was refused whole because another session's transaction holds its dataspace:
    no response message, and every error (of the request or of any item) is
    EMAX_TRANSACTIONS_EXCEEDED; nothing of it was applied."""
    if response.messages:
        return False
    codes = []
    for exception in response.errors:
        if exception.error is not None:
            codes.append(exception.error.code)
        codes.extend(info.code for info in exception.errors.values())
    return bool(codes) and all(c == ErrorCode.EMAX_TRANSACTIONS_EXCEEDED for c in codes)
