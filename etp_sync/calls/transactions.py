"""Transaction protocol (18): ``with session.transaction(dataspace):`` and automatic transactions.

The session's transaction state lives in its :class:`TransactionManager` (the open transaction,
whether the server demands transactions for writes) along with the write paths that depend on
it; :class:`TransactionCalls` only adds the flat public methods. ETP allows one open transaction
per session. open-etp-server accepts writes only inside one and
lets one write transaction per dataspace exist at a time (another session's gives
EMAX_TRANSACTIONS_EXCEEDED, 15: retried here with back-off). A write call made outside a
transaction against a server that demands one opens and commits one by itself.
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

from ..errors import ErrorCode, ETPConnectionLost, ETPRemoteError, TransactionError
from ..protocol.correlation import Response
from ..schema import Record, messages
from ..uri import DataspaceURI, as_dataspace_uri
from ._core import SessionAPI

log = logging.getLogger("etp_sync.transaction")

BUSY_RETRY_SECONDS = 30.0
AUTO_MESSAGE = "etp_sync automatic transaction"

T = TypeVar("T")
Dataspaces = str | DataspaceURI | Sequence[str | DataspaceURI]

__all__ = ["Transaction", "TransactionCalls", "TransactionError", "TransactionManager"]


def dataspace_uri_text(value: str | DataspaceURI) -> str:
    """Canonical URI text of a dataspace given as a path, URI string or DataspaceURI."""
    return str(as_dataspace_uri(value))


class Transaction:
    """An open transaction; a context manager committing on success, rolling back on error."""

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
        self._connect_count = -1

    def __repr__(self) -> str:
        return f"Transaction({self.uuid}, dataspaces={self.dataspace_uris})"

    def start(self) -> Transaction:
        """Send StartTransaction (retrying while another session holds the dataspace)."""
        deadline = time.monotonic() + BUSY_RETRY_SECONDS
        delay = 0.05
        while True:
            try:
                (reply,) = self.session.send_and_recv(
                    messages.Transaction.StartTransaction(
                        read_only=self.read_only,
                        message=self.message,
                        dataspace_uris=self.dataspace_uris,
                    )
                )
            except ETPRemoteError as exc:
                if exc.code == ErrorCode.EMAX_TRANSACTIONS_EXCEEDED and time.monotonic() < deadline:
                    log.info("dataspace busy (%s); retrying StartTransaction", exc.message)
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise TransactionError(f"cannot start a transaction: {exc}", exc.code) from exc
            break
        if not reply.successful:
            raise TransactionError(f"the server refused the transaction: {reply.failure_reason}")
        self.uuid = reply.transaction_uuid
        self._connect_count = self.session.connect_count
        self.manager.opened(self)
        log.debug("transaction %s started on %s", self.uuid, self.dataspace_uris)
        return self

    def _check_alive(self) -> None:
        if self.session.connect_count != self._connect_count or not self.session.is_open:
            raise TransactionError(
                f"the connection died during transaction {self.uuid}: its writes were lost "
                "(the server rolls back on disconnect)"
            )

    def commit(self) -> None:
        """Commit; raises :class:`TransactionError` if the server reports failure."""
        self._finish(messages.Transaction.CommitTransaction, "commit")

    def rollback(self) -> None:
        """Roll back everything written inside the transaction."""
        self._finish(messages.Transaction.RollbackTransaction, "roll back")

    def _finish(self, cls: Any, verb: str) -> None:
        if self.uuid is None:
            raise TransactionError(f"cannot {verb}: the transaction was never started")
        try:
            self._check_alive()
            (reply,) = self.session.send_and_recv(cls(transaction_uuid=self.uuid))
        except ETPConnectionLost as exc:
            raise TransactionError(
                f"the connection died before the transaction could {verb}: {exc}"
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
        try:
            self.rollback()
        except TransactionError as rollback_error:
            log.warning("rollback after %s failed: %s", exc_type.__name__, rollback_error)


def _demands_transaction(error: ETPRemoteError) -> bool:
    text = error.message.lower()
    return error.code in (ErrorCode.EINVALID_STATE, ErrorCode.EREQUEST_DENIED) and (
        "transaction" in text
    )


class TransactionManager:
    """The transaction state of one session, and the write paths that depend on it.

    Holds the open transaction and whether the server demands a transaction around writes
    (learnt from its first refusal). Writes of the calls layer go through :meth:`write` (one
    request) or :meth:`write_many` (several), which open and commit a transaction by themselves
    when the server demands one and none is open.
    """

    def __init__(self, session: SessionAPI) -> None:
        self.session = session
        self._open: Transaction | None = None
        self._lock = threading.Lock()
        self._demands_transactions = False

    def __repr__(self) -> str:
        return f"TransactionManager(open={self._open!r}, demands={self._demands_transactions})"

    @property
    def current(self) -> Transaction | None:
        """The transaction open in this session, if any."""
        return self._open

    @property
    def demands_transactions(self) -> bool:
        """The server refused a write made outside a transaction."""
        return self._demands_transactions

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

    def write(
        self,
        body: Record | Sequence[Record],
        *,
        dataspace: str | DataspaceURI | None,
        timeout: float | None = None,
    ) -> Response:
        """Send a write request; when the server demands a transaction and none is open, run
        the write inside one that is committed at once."""
        response = self.session.request(body, timeout=timeout, idempotent=False)
        if not response.errors or self._open is not None or dataspace is None:
            return response
        try:
            response.raise_for_errors()
        except ETPRemoteError as exc:
            if not _demands_transaction(exc):
                return response
        log.info("the server demands a transaction: wrapping the write in one")
        self._demands_transactions = True
        with self.new(dataspace, message=AUTO_MESSAGE):
            response = self.session.request(body, timeout=timeout, idempotent=False)
            if response.errors:
                raise response_error(response)
        return response

    @contextmanager
    def _automatic(self, dataspace: str | DataspaceURI | None) -> Iterator[None]:
        """Open (and commit on success) a transaction around a multi-request write when the
        server is known to demand one and none is open; otherwise do nothing."""
        if self._open is None and dataspace is not None and self._demands_transactions:
            with self.new(dataspace, message=AUTO_MESSAGE):
                yield
        else:
            yield

    def write_many(self, operation: Callable[[], T], *, dataspace: str | DataspaceURI | None) -> T:
        """Run a write made of several requests (e.g. pipelined PutDataSubarrays).

        Inside an open transaction it just runs. Otherwise, when the server demands a
        transaction, it runs inside one: either known beforehand, or learnt from the refusal of
        the operation's first write, after which the operation is run again inside a
        transaction. ``operation`` must therefore wait for its first write's answer before
        sending more (that write is refused as a whole, so nothing is left half done).
        """
        with self._automatic(dataspace):
            if self._open is not None or dataspace is None:
                return operation()
            try:
                return operation()
            except ETPRemoteError as exc:
                if self._open is not None or not _demands_transaction(exc):
                    raise
        log.info("the server demands a transaction: running the write inside one")
        self._demands_transactions = True
        with self.new(dataspace, message=AUTO_MESSAGE):
            return operation()


class TransactionCalls(SessionAPI):
    """Transaction calls of :class:`~etp_sync.ETPSession` (state: its ``transaction_manager``)."""

    def transaction(
        self, dataspace: Dataspaces, *, message: str = "", read_only: bool = False
    ) -> Transaction:
        """A transaction on one or more dataspaces: ``with session.transaction("p/s"):``.

        Commits when the block succeeds, rolls back on any exception, and raises
        :class:`TransactionError` if the connection died in between.
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
