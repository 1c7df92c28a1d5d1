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
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from ..errors import (
    ErrorCode,
    ETPConnectionLost,
    ETPReadTimeout,
    ETPRemoteError,
    ETPSessionClosed,
    ETPTimeout,
    TransactionError,
)
from ..protocol.correlation import Response
from ..schema import Record, messages
from ..uri import DataspaceURI, as_dataspace_uri
from ._core import Deadline, SessionAPI

log = logging.getLogger("etp_sync.transaction")

AUTO_MESSAGE = "etp_sync automatic transaction"
TRANSACTION_PROTOCOL = 18

T = TypeVar("T")
Dataspaces = str | DataspaceURI | Sequence[str | DataspaceURI]
Operation = Callable[[Deadline], T]

__all__ = ["Transaction", "TransactionCalls", "TransactionError", "TransactionManager"]


def dataspace_uri_text(value: str | DataspaceURI) -> str:
    """Canonical URI text of a dataspace given as a path, URI string or DataspaceURI."""
    return str(as_dataspace_uri(value))


class WriteGate:
    """Who may write on a session now: the one thread holding its transaction (exclusive), or
    any number of threads writing outside a transaction (shared). Waiting transactions go
    before new shared writers, so a stream of plain writes cannot starve them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.owner: int | None = None
        self._shared = 0
        self._waiting = 0

    def __repr__(self) -> str:
        return f"WriteGate(owner={self.owner}, shared={self._shared}, waiting={self._waiting})"

    def hold(self, deadline: Deadline) -> None:
        """Take the gate for a transaction of this thread (waits for the other writers)."""
        with self._cond:
            if self.owner == threading.get_ident():
                raise TransactionError(
                    "this thread already has the session's open transaction: transactions do "
                    "not nest (ETP allows one per session); write inside the open one"
                )
            self._waiting += 1
            try:
                self._wait(lambda: self.owner is None and self._shared == 0, deadline)
            except BaseException:
                self._waiting -= 1
                self._cond.notify_all()  # plain writers held back by this transaction may go
                raise
            self._waiting -= 1
            self.owner = threading.get_ident()

    def release(self) -> None:
        with self._cond:
            if self.owner == threading.get_ident():
                self.owner = None
                self._cond.notify_all()

    @contextmanager
    def shared(self, deadline: Deadline) -> Iterator[None]:
        """Write outside a transaction: wait while another thread's transaction is open (or
        waiting). The common case, no transaction at all, takes one test and no wake-ups."""
        with self._cond:
            if self.owner is not None or self._waiting:
                self._wait(lambda: self.owner is None and self._waiting == 0, deadline)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if self._waiting and not self._shared:  # a transaction waits for the last one
                    self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool], deadline: Deadline) -> None:
        while not ready():
            left = deadline.at - time.monotonic()
            if left <= 0:
                raise ETPTimeout(
                    "another thread's transaction kept the session's writes busy beyond the "
                    f"timeout of {deadline.seconds:g} s"
                )
            self._cond.wait(left)


class Transaction:
    """An open transaction; a context manager committing on success, rolling back on error.

    It belongs to the connection it was started on and to the thread that started it.
    """

    def __init__(
        self,
        manager: TransactionManager,
        dataspaces: Sequence[str | DataspaceURI],
        *,
        message: str = "",
        read_only: bool = False,
    ) -> None:
        self.manager = manager
        self.session = manager.session
        self.dataspace_uris = [dataspace_uri_text(d) for d in dataspaces]
        self.message = message
        self.read_only = read_only
        self.uuid: uuid.UUID | None = None
        self.thread: int | None = None
        self.lost = False
        """The connection died while the transaction was open: the server rolled it back."""
        self.dropped = False
        """The server did not confirm the commit or rollback in time, so the connection was
        dropped (the server rolls back a transaction still open on disconnect)."""
        self.commit_sent = False
        """CommitTransaction was sent: after a drop, whether it was applied is unknown."""
        self._connect_count = -1

    def __repr__(self) -> str:
        return f"Transaction({self.uuid}, dataspaces={self.dataspace_uris})"

    def start(self, deadline: Deadline | None = None) -> Transaction:
        """Send StartTransaction, once this thread holds the session's writes (another
        thread's transaction is waited for; one of this thread's fails at once). Another
        session holding the dataspace (EMAX_TRANSACTIONS_EXCEEDED) is retried with back-off."""
        if self.uuid is not None:
            raise TransactionError(f"transaction {self.uuid} was already started")
        deadline = deadline or Deadline(self.session.timeout)
        self.manager.gate.hold(deadline)
        try:
            self._start(deadline)
        except BaseException:
            self.manager.gate.release()
            raise
        self.thread = threading.get_ident()
        self.manager.opened(self)
        log.debug("transaction %s started on %s", self.uuid, self.dataspace_uris)
        return self

    def _start(self, deadline: Deadline) -> None:
        delay = 0.05
        while True:
            try:
                (reply,) = self.session.send_and_recv(
                    messages.Transaction.StartTransaction(
                        read_only=self.read_only,
                        message=self.message,
                        dataspace_uris=self.dataspace_uris,
                    ),
                    timeout=deadline.remaining("StartTransaction"),
                )
            except ETPReadTimeout as exc:
                # Sent but not answered: the server may open it later; drop the connection so
                # that no transaction of ours stays open there while the gate is released.
                log.warning(
                    "StartTransaction on %s not answered in time (%s): dropping the connection",
                    self.dataspace_uris,
                    exc,
                )
                self.session._abort_connection(
                    "connection dropped: StartTransaction not answered in time"
                )
                raise
            except ETPRemoteError as exc:
                busy = exc.code == ErrorCode.EMAX_TRANSACTIONS_EXCEEDED
                if busy and deadline.at - time.monotonic() > delay:
                    log.log(
                        logging.WARNING if delay == 0.05 else logging.DEBUG,
                        "dataspace busy (%s); retrying StartTransaction for up to %.1f s",
                        exc.message,
                        deadline.at - time.monotonic(),
                    )
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise TransactionError(f"cannot start a transaction: {exc}", exc.code) from exc
            break
        if not reply.successful:
            raise TransactionError(f"the server refused the transaction: {reply.failure_reason}")
        self.uuid = reply.transaction_uuid
        self._connect_count = self.session.connect_count

    def check_alive(self) -> None:
        """Raise :class:`TransactionError` if the connection the transaction lives on died."""
        if not self.lost and (
            self.session.connect_count != self._connect_count or not self.session.is_open
        ):
            self.lost = True
        if self.lost:
            raise TransactionError(
                f"the connection died during transaction {self.uuid}: the server rolled it "
                "back, so its writes were lost; nothing is sent outside it"
            )

    def connection_lost(self, exc: ETPConnectionLost) -> TransactionError:
        """The error for a call of this transaction interrupted by the connection's death."""
        self.lost = True
        return TransactionError(
            f"the connection died during transaction {self.uuid}: the server rolled it back, "
            f"so its writes were lost ({exc})"
        )

    def commit(self, deadline: Deadline | None = None) -> None:
        """Commit; raises :class:`TransactionError` if the server reports failure, or does not
        confirm in time (the session's timeout, or ``deadline`` plus a grace: see
        :meth:`_finish`; the outcome is then unknown)."""
        self._finish(messages.Transaction.CommitTransaction, "commit", deadline)

    def rollback(self, deadline: Deadline | None = None) -> None:
        """Roll back everything written inside the transaction (waits as :meth:`commit`)."""
        self._finish(messages.Transaction.RollbackTransaction, "roll back", deadline)

    def _finish(self, cls: Any, verb: str, deadline: Deadline | None) -> None:
        """Send Commit/RollbackTransaction and wait for the reply: the session's timeout, or
        with ``deadline`` (an automatic transaction's call) until it plus half the session's
        DEADLINE_MARGIN (the rest is for dropping the connection). Not confirmed in time, the
        connection is dropped before the write gate is released, so no transaction stays open
        on the server (it rolls back on disconnect) while this session writes on."""
        if self.uuid is None:
            raise TransactionError(f"cannot {verb}: the transaction was never started")
        timeout = None
        if deadline is not None:
            grace = self.session.DEADLINE_MARGIN / 2
            timeout = max(deadline.at - time.monotonic(), 0.0) + grace
        try:
            self.check_alive()
            self.commit_sent = verb == "commit"
            (reply,) = self.session.send_and_recv(cls(transaction_uuid=self.uuid), timeout=timeout)
        except ETPTimeout as exc:
            raise self._unconfirmed(verb, exc) from exc
        except ETPConnectionLost as exc:
            self.lost = True
            raise TransactionError(
                f"the connection died before transaction {self.uuid} could {verb}: {exc}"
            ) from exc
        except ETPRemoteError as exc:
            raise TransactionError(
                f"cannot {verb} transaction {self.uuid}: {exc}", exc.code
            ) from exc
        finally:
            self.manager.ended(self)
        if not reply.successful:
            raise TransactionError(f"could not {verb} transaction: {reply.failure_reason}")
        log.debug("transaction %s: %s done", self.uuid, verb)

    def _unconfirmed(self, verb: str, exc: ETPTimeout) -> TransactionError:
        """Drop the connection after a commit or rollback the server did not confirm in time;
        the error to raise (a commit's outcome is unknown: it may have been applied)."""
        self.lost = self.dropped = True
        log.warning(
            "transaction %s: the server did not confirm the %s in time (%s): dropping the "
            "connection, so the server rolls back a transaction still open",
            self.uuid,
            verb,
            exc,
        )
        self.session._abort_connection(
            f"connection dropped: transaction {self.uuid} {verb} not confirmed in time"
        )
        if verb == "commit":
            return TransactionError(
                f"the commit of transaction {self.uuid} was not confirmed in time ({exc}); the "
                "connection was dropped: the outcome is unknown (the server may have committed "
                "all of the transaction's writes, or rolled them all back on the disconnect)",
                ErrorCode.ETIMED_OUT,
            )
        return TransactionError(
            f"the rollback of transaction {self.uuid} was not confirmed in time ({exc}); the "
            "connection was dropped, so the server rolls the transaction back (nothing of it "
            "is stored)",
            ErrorCode.ETIMED_OUT,
        )

    def __enter__(self) -> Transaction:
        return self.start() if self.uuid is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
            return
        self.abandon(exc_type.__name__)

    def abandon(self, why: str, deadline: Deadline | None = None) -> None:
        """Roll back after a failure inside the transaction (a failed rollback is logged:
        the failure that caused it is the one to raise; one not confirmed in time dropped the
        connection, see :meth:`_finish`)."""
        try:
            self.rollback(deadline)
        except TransactionError as rollback_error:
            log.warning("rollback after %s failed: %s", why, rollback_error)


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
        self.gate = WriteGate()
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
        spaces = [dataspace] if isinstance(dataspace, str | DataspaceURI) else list(dataspace)
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
            return self.write_many(send, dataspace=dataspace, deadline=deadline)
        if self._demands_transactions and dataspace is not None:
            return self.write_many(send_checked, dataspace=dataspace, deadline=deadline)
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
        return self.write_many(send_checked, dataspace=dataspace, deadline=deadline)

    def _outside(self, send: Operation[Response], deadline: Deadline, replaces: bool) -> Response:
        """One write outside any transaction (after another thread's has ended)."""
        with self.gate.shared(deadline):
            while True:
                try:
                    return send(deadline)
                except ETPSessionClosed:
                    raise
                except ETPConnectionLost as exc:
                    if not replaces or deadline.expired:
                        raise
                    log.warning("sending the write again after a connection loss: %s", exc)

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
        a new transaction (``retry``; puts replace, so this is safe) until ``deadline``.
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
                if isinstance(exc, ETPSessionClosed) or not tx.lost or not retry or tx.dropped:
                    raise  # a commit dropped unconfirmed: its outcome is unknown, not retried
                if deadline.expired and tx.commit_sent:
                    raise TransactionError(
                        f"the connection dropped before the commit of transaction {tx.uuid} was "
                        f"confirmed, and the write's timeout of {deadline.seconds:g} s passed: "
                        "the outcome is unknown (the server may have committed all of it, or "
                        "rolled it all back on the disconnect)"
                    ) from exc
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


def response_error(response: Response) -> ETPRemoteError:
    """The error for a response that carries ProtocolExceptions."""
    try:
        response.raise_for_errors()
    except ETPRemoteError as exc:
        return exc
    raise AssertionError("response has no errors")
