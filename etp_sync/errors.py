"""The one exception family of etp_sync, and the ETP 1.2 error codes.

Every error raised by this package is an :class:`ETPError`. Errors reported by the peer carry the
ETP error code and its name; local failures (transport, timeout, protocol violation, bad frames)
have distinct subclasses so callers can tell them apart without parsing messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, TypeVar


class ErrorCode(IntEnum):
    """ETP 1.2 error codes (``ErrorInfo.code``)."""

    ENOROLE = 1
    ENOSUPPORTEDPROTOCOLS = 2
    EINVALID_MESSAGETYPE = 3
    EUNSUPPORTED_PROTOCOL = 4
    EINVALID_ARGUMENT = 5
    EREQUEST_DENIED = 6
    ENOTSUPPORTED = 7
    EINVALID_STATE = 8
    EINVALID_URI = 9
    EAUTHORIZATION_EXPIRED = 10
    ENOT_FOUND = 11
    ELIMIT_EXCEEDED = 12
    ECOMPRESSION_NOTSUPPORTED = 13
    EINVALID_OBJECT = 14
    EMAX_TRANSACTIONS_EXCEEDED = 15
    EDATAOBJECTTYPE_NOTSUPPORTED = 16
    EMAXSIZE_EXCEEDED = 17
    EMULTIPART_CANCELLED = 18
    EINVALID_MESSAGE = 19
    EINVALID_INDEXKIND = 20
    ENOSUPPORTEDFORMATS = 21
    EREQUESTUUID_REJECTED = 22
    EUPDATEGROWINGOBJECT_DENIED = 23
    EBACKPRESSURE_LIMIT_EXCEEDED = 24
    EBACKPRESSURE_WARNING = 25
    ETIMED_OUT = 26
    EAUTHORIZATION_REQUIRED = 27
    EAUTHORIZATION_EXPIRING = 28
    ENOSUPPORTEDDATAOBJECTTYPES = 29
    ERESPONSECOUNT_EXCEEDED = 30
    EINVALID_APPEND = 31
    EINVALID_OPERATION = 32
    EINVALID_CHANNELID = 1002
    ENOCASCADE_DELETE = 4003
    EPLURAL_OBJECT = 4004
    ERETENTION_PERIOD_EXCEEDED = 5001
    ENOTGROWINGOBJECT = 6001


def error_name(code: int) -> str:
    """Name of an ETP error code, or ``"UNKNOWN(<code>)"`` for codes ETP does not define."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"UNKNOWN({code})"


class ETPError(Exception):
    """Base of every error raised by etp_sync.

    ``code`` is the ETP error code when one applies (``None`` for purely local failures) and
    ``code_name`` its symbolic name.
    """

    code: int | None = None

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = int(code)

    @property
    def code_name(self) -> str | None:
        return None if self.code is None else error_name(self.code)

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.message} [{self.code_name} ({self.code})]"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as class, arguments and attributes, rebuilt without calling ``__init__``
        (as :func:`fresh_error` copies): the default calls ``cls(*args)``, which fails for
        classes whose ``__init__`` takes other arguments than ``args`` holds (WebSocketClosed,
        StoreError, ETPMissingDependency), so such an error raised in a worker process (Dask,
        multiprocessing) could not reach the parent, where a pool may then wait for ever."""
        return (_rebuild_error, (self.__class__, self.args, self.__dict__, _members(self)))


class ETPProtocolError(ETPError):
    """The peer broke the ETP protocol (unexpected message, bad correlation, bad negotiation)."""


class ETPResponseTooLarge(ETPProtocolError):
    """A reply grew past the session's ``max_response_size`` (all its parts together) before
    it ended: the parts received are dropped. A get of objects asks again for fewer at a
    time, and reports an object too large for the bound by itself as failed
    (EMAXSIZE_EXCEEDED) instead of raising this."""


class ETPDecodeError(ETPProtocolError):
    """A frame could not be decoded: truncated, garbled, unknown type, oversize."""

    code = ErrorCode.EINVALID_MESSAGE


class ETPEncodeError(ETPError):
    """A message could not be encoded (a field has the wrong type or value)."""


class ETPMessageTooLarge(ETPError):
    """A message (or one array element) would exceed the negotiated maximum message size;
    raised locally, before anything is sent. ``code`` is EMAXSIZE_EXCEEDED."""

    code = ErrorCode.EMAXSIZE_EXCEEDED


class ETPTransportError(ETPError):
    """The websocket transport failed (cannot connect, TLS, socket error).

    ``status`` is the HTTP status when the server refused the websocket upgrade (e.g. 401),
    otherwise None: retry decisions read it instead of the message text. ``permanent``: asking
    again cannot succeed (a certificate refused, TLS to a port that does not speak it), so the
    reconnection policy does not retry it.
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        *,
        status: int | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message, code)
        self.status = status
        self.permanent = permanent


class ETPConnectionLost(ETPTransportError):
    """The connection dropped while a request was in flight or the session was in use."""


class ETPSessionClosed(ETPConnectionLost):
    """The peer closed the session (CloseSession or websocket close); ``reason`` says why."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class ETPAuthorizationError(ETPTransportError):
    """The credentials were refused or could not be obtained: HTTP 401/403 on the websocket
    upgrade, a renewed token refused in-session (``AuthorizeResponse`` with ``success`` false),
    or a token endpoint's failure (:mod:`etp_sync.auth`). ``status`` is the HTTP status when one
    applies. The message says what to check; it never contains the token."""


class WebSocketClosed(ETPSessionClosed):
    """The websocket is closed (raised by the transport); ``close_code`` and ``reason`` come from
    the close frame.

    ``close_code`` is 1005 when the peer's close frame carried no status. ``by_peer`` is True when
    the peer started the closing handshake, False when we did (then code/reason are the peer's
    reply, or ours if it never replied).
    """

    def __init__(self, message: str, close_code: int, reason: str = "", by_peer: bool = True):
        super().__init__(message, reason)
        self.close_code = close_code
        self.by_peer = by_peer


class ETPArrayReplaced(ETPError):
    """Another session replaced an array between the requests of one read. Internal: the read
    starts again with ``metadata`` (the new version's); callers never see it."""

    code = ErrorCode.EINVALID_STATE

    def __init__(self, metadata: Any) -> None:
        super().__init__("the array was replaced during a read of several requests")
        self.metadata = metadata


class ETPTimeout(ETPError):
    """A call ran out of time: its deadline passed before it completed. ``code`` is ETIMED_OUT.

    Catch this for every timeout; the subclasses say in which phase the time ran out (as in
    httpx): :class:`ETPConnectTimeout` (opening the connection), :class:`ETPWriteTimeout`
    (sending), :class:`ETPReadTimeout` (waiting for the response).
    """

    code = ErrorCode.ETIMED_OUT


class ETPConnectTimeout(ETPTimeout, ETPTransportError):
    """Opening the connection (TCP, TLS, websocket upgrade, ETP handshake) did not finish within
    the time the call had left. Also an :class:`ETPTransportError`, as every connect failure."""


class ETPWriteTimeout(ETPTimeout):
    """A request could not be sent within the call's deadline: the peer stopped reading, or
    another thread's send held the connection. When part of the message had gone out, the
    connection is closed (a half-sent frame cannot be taken back) and other waiters get
    :class:`ETPConnectionLost`."""


class ETPReadTimeout(ETPTimeout):
    """No complete response arrived within the call's deadline."""


class ETPInvalidArgument(ETPError, ValueError):
    """A call was given a bad argument (wrong type, unknown scope, bad XML to derive a URI from...);
    raised locally, before anything is sent. ``code`` is EINVALID_ARGUMENT."""

    code = ErrorCode.EINVALID_ARGUMENT


class InvalidURIError(ETPInvalidArgument):
    """A URI, dataspace path or qualified type is malformed; ``uri`` holds the offending input.
    ``code`` is EINVALID_URI."""

    code = ErrorCode.EINVALID_URI

    def __init__(self, message: str, uri: object = None) -> None:
        super().__init__(message)
        self.uri = uri


class ETPMissingDependency(ETPInvalidArgument, ImportError):
    """An optional feature was asked for (``progress=True``, ``to_pandas()``...) but the package
    it needs is not installed; ``package`` names it. Also an :class:`ImportError`."""

    def __init__(self, message: str, package: str) -> None:
        super().__init__(message)
        self.package = package
        self.name = package


class ETPNotNegotiated(ETPError):
    """A message of a protocol (or role) that the session did not negotiate."""

    code = ErrorCode.EUNSUPPORTED_PROTOCOL


class ETPRemoteError(ETPError):
    """The peer answered with a ProtocolException.

    ``code`` is the ETP error code of the whole-request error when there is one, otherwise of the
    first per-item error. ``errors`` maps request keys to ``(code, message)`` for per-item failures;
    ``successes`` holds whatever the peer returned successfully for the other items, so nothing done
    is lost from view.
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        errors: Mapping[str, tuple[int, str]] | None = None,
        successes: Any = None,
    ) -> None:
        super().__init__(message, code)
        self.errors: dict[str, tuple[int, str]] = dict(errors or {})
        self.successes = successes


class ETPPartialFailure(ETPRemoteError):
    """Some items of a multi-item request failed and others succeeded.

    See ``errors`` (failed keys) and ``successes`` (what worked).
    """


class TransactionError(ETPError):
    """A transaction could not be started, committed or rolled back, or died with the connection."""


class StoreError(ETPError):
    """An operation of the embedded server's store failed with the ETP error ``code``.

    Raised by :class:`etp_sync.server.Store` (and its handlers) and sent back to the customer as a
    ProtocolException carrying ``code``; per-key failures of map-keyed calls are returned in their
    error maps instead. Takes the code first: ``StoreError(ErrorCode.ENOT_FOUND, "...")``.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message, int(code))


class EPCError(ETPError):
    """An EPC package or the HDF5 file beside it cannot be read or written, or they disagree
    (a missing part, a dataset a document points at that the file lacks, an I/O failure).
    ``code`` is EINVALID_OBJECT."""

    code = ErrorCode.EINVALID_OBJECT


E = TypeVar("E", bound=BaseException)


def _members(error: BaseException) -> dict[str, Any]:
    """Attributes a built-in base keeps outside ``__dict__``, which copies must carry over too:
    ImportError's ``name``, ``path`` and ``msg`` (ETPMissingDependency's ``name``)."""
    if isinstance(error, ImportError):
        return {"name": error.name, "path": error.path, "msg": error.msg}
    return {}


def _rebuild_error(
    cls: type[E], args: tuple[Any, ...], state: dict[str, Any], members: dict[str, Any]
) -> E:
    """An unpickled error (see :meth:`ETPError.__reduce__`): same class, args and attributes
    (notes included)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    for name, value in members.items():
        setattr(error, name, value)
    return error


def fresh_error(error: E) -> E:
    """A copy of ``error`` for one thread to raise: same class, arguments and attributes, no
    traceback, chained to ``error`` (its ``__cause__``).

    An error shared by several threads (the one that failed a connection, handed to every
    request waiting on it) must not be raised as is: each ``raise`` would add that thread's
    frames to the one shared traceback, keeping them (and their locals) alive as long as the
    error lives, and leaking them into the other threads' tracebacks. The copy is built without
    calling ``__init__``, so it works for every exception class.
    """
    cls = type(error)
    copy = cls.__new__(cls, *error.args)
    copy.__dict__.update(error.__dict__)
    for name, value in _members(error).items():
        setattr(copy, name, value)
    copy.__cause__ = error
    return copy
