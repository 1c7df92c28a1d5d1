"""One ETP transaction's lifecycle (protocol 18): start, commit, rollback, and its liveness.

A :class:`Transaction` is bound to its connection and its thread: once the connection died,
:meth:`Transaction.check_alive` raises :class:`TransactionError` (the server rolled it back).
A StartTransaction, commit or rollback not answered in time drops the connection before the
write gate is released: the server rolls back a transaction still open on disconnect, so none
stays open on it; a commit dropped that way raises :class:`TransactionError` saying its outcome
is unknown. Which transaction a write runs in is the
:class:`~etp_sync.calls.transactions.TransactionManager`'s job, not this one's.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import (
    ErrorCode,
    ETPConnectionLost,
    ETPReadTimeout,
    ETPRemoteError,
    ETPTimeout,
    TransactionError,
)
from ..schema import messages
from ..uri import DataspaceURI, as_dataspace_uri
from ._core import Deadline

if TYPE_CHECKING:
    from ._transaction_manager import TransactionManager

log = logging.getLogger("etp_sync.transaction")


class BusyWait:
    """Back-off while another session's write transaction holds a dataspace (the server says
    EMAX_TRANSACTIONS_EXCEEDED; open-etp-server allows one per dataspace): 50 ms, doubling up
    to 2 s, within the call's deadline. A StartTransaction and a write refused whole for that
    reason are sent again this way (nothing of them was applied)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.delay = 0.05

    def again(self, deadline: Deadline, reason: str) -> bool:
        """Sleep before the next attempt and return True; False when the deadline leaves no
        room for it (the caller reports the refusal)."""
        left = deadline.at - time.monotonic()
        if left <= self.delay:
            return False
        log.log(
            logging.WARNING if self.delay == 0.05 else logging.DEBUG,
            "dataspace busy (%s); retrying %s for up to %.1f s",
            reason,
            self.what,
            left,
        )
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 2.0)
        return True


def dataspace_uri_text(value: str | DataspaceURI) -> str:
    """Canonical URI text of a dataspace given as a path, URI string or DataspaceURI."""
    return str(as_dataspace_uri(value))


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
        busy = BusyWait("StartTransaction")
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
                if exc.code == ErrorCode.EMAX_TRANSACTIONS_EXCEEDED and busy.again(
                    deadline, exc.message
                ):
                    continue
                raise TransactionError(
                    f"cannot start a transaction: {exc.message}", exc.code
                ) from exc
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
            if verb == "commit":
                self.session._note_refused_commit()
            raise TransactionError(
                f"cannot {verb} transaction {self.uuid}: {exc.message}", exc.code
            ) from exc
        finally:
            self.manager.ended(self)
        if not reply.successful:
            if verb == "commit":
                self.session._note_refused_commit()
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
