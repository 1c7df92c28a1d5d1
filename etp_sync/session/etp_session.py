"""``ETPSession``: one persistent, thread-safe, blocking ETP 1.2 session that reconnects by itself.

The session owns one :class:`~etp_sync.session.engine.SessionEngine` at a time (websocket,
reader thread, dispatch thread) and composes the objects that hold the rest of its state: the
handlers of server-initiated messages, the transaction manager and the subscription registry.
Many threads may share a session: each request waits on its own queue. When the connection
drops, requests in flight fail with :class:`~etp_sync.errors.ETPConnectionLost` (idempotent
reads are retried transparently), and the next use reconnects, renegotiates and restores
notification subscriptions. Every call has one deadline (see :class:`ETPSession`); after
:meth:`ETPSession.close` every call raises :class:`~etp_sync.errors.ETPSessionClosed`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from .._timeouts import seconds
from .._version import __version__
from ..auth import DEFAULT_REFRESH_MARGIN
from ..calls import CallsMixin, SubscriptionRegistry, TransactionManager
from ..codec._varint_bits import INT32_MAX  # protocol numbers travel as Avro ints
from ..errors import (
    ETPInvalidArgument,
)
from ..protocol.negotiation import (
    MIN_MESSAGE_SIZE,
    STORE_PROTOCOLS,
    ServerInfo,
    build_request_session,
)
from ..retry import RetryPolicy
from ..transport._cancel import ConnectCancel
from ..transport._connect import _port_of, safe_url
from ..transport._spin import DEFAULT_SPIN_WAIT, checked_spin_wait
from ._connection import ConnectionKeeper
from ._credentials import Authorization, Credentials
from ._renewal import TokenRenewal
from ._requests import RequestSender
from ._trace import trace_enabled
from .engine import SessionEngine
from .handlers import Handler, HandlerRegistry

log = logging.getLogger("etp_sync.session")

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0


def _alias(name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """``value``, or the pyetp-style ``alias_value`` when only that one is given."""
    if alias_value is None:
        return value
    if value is not None and value != alias_value:
        raise ETPInvalidArgument(f"{name}= and {alias}= are the same parameter: give only one")
    return alias_value


def _protocol_numbers(requested: Sequence[Any]) -> tuple[int, ...]:
    """Protocol numbers from ints or pyetp-style ``SupportedProtocol`` objects (``.protocol``),
    each once, in order; at least one, each a positive Avro int (a session of no protocol, or
    of a number no protocol has, is the caller's mistake, not the server's refusal)."""
    numbers: dict[int, None] = {}
    for item in requested:
        number = getattr(item, "protocol", item)
        if isinstance(number, bool) or not isinstance(number, int):
            raise ETPInvalidArgument(
                f"protocols are ETP protocol numbers (or have a .protocol), got {item!r}"
            )
        if not 0 < number <= INT32_MAX:
            raise ETPInvalidArgument(f"{number} is no ETP protocol number (1 to {INT32_MAX})")
        numbers[int(number)] = None
    if not numbers:
        raise ETPInvalidArgument("protocols= names no protocol: leave it out for the defaults")
    return tuple(numbers)


def _checked_url(url: object) -> str:
    """The server's URL with its scheme in lower case (websocket-client takes only ``ws`` and
    ``wss``), checked once, at construction: a URL that cannot work (no ws:// or wss://, no
    host, a port that is no number from 0 to 65535, a text urlsplit refuses such as
    ``ws://[::1``) raises ETPInvalidArgument here rather than at the first call, after the
    retries. Messages show the URL without its credentials (:func:`safe_url`)."""
    if not isinstance(url, str):
        raise ETPInvalidArgument("the ETP server's URL is required (url= or uri=)")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("ws", "wss"):
        raise ETPInvalidArgument(
            f"an ETP URL starts with ws:// or wss://, got {safe_url(url)!r} (ETP runs over "
            "websockets: for http://host use ws://host, for https://host use wss://host)"
        )
    url = scheme.lower() + sep + rest
    try:
        parts = urlsplit(url)
    except ValueError:  # its text may quote the credentials: not shown
        raise ETPInvalidArgument(
            "the ETP URL is not well-formed: check its host (an IPv6 address goes in square "
            "brackets, as in ws://[::1]:9100/)"
        ) from None
    _port_of(parts, 0, "the URL")  # ETPInvalidArgument unless a number from 0 to 65535
    if not parts.hostname:
        raise ETPInvalidArgument(f"the ETP URL {safe_url(url)!r} names no host")
    return url


class ETPSession(RequestSender, CallsMixin):
    """A blocking ETP 1.2 session, usable from many threads; a context manager.

    Deadlines: every call has one deadline, ``timeout`` seconds (the call's own, else the
    session's) from the moment it is made. It covers everything the call does: waiting for
    another thread that is connecting, the connection attempts of the retry policy (each gets
    only the time left, and no attempt starts that could only begin after the deadline),
    waiting for the send lock, sending, and receiving every part of the reply; a read retried
    after a drop keeps the deadline of the first try, and calls made of several requests
    (arrays in blocks, batches) give each request only the time left, as do the requests of
    after-connect hooks (restoring subscriptions) run by a call that reconnects. Past the
    deadline the call raises :class:`~etp_sync.errors.ETPTimeout`:
    :class:`~etp_sync.errors.ETPConnectTimeout` while connecting,
    :class:`~etp_sync.errors.ETPWriteTimeout` while sending (a request cut off mid-message
    closes the connection), :class:`~etp_sync.errors.ETPReadTimeout` while waiting for the
    reply. Margin (:attr:`DEADLINE_MARGIN`): a call returns within ``timeout`` plus at most
    about 0.5 s (thread wake-ups, encoding or decoding one message, answering a queued ping for
    at most 0.25 s), whatever the peer does. Not covered: DNS resolution of the host name, TLS
    handshakes that trickle (each of their socket operations is bounded, not their sum), and
    user callbacks (``progress``, hooks) that block.

    Replies are checked against the request: a message type that does not answer it raises
    :class:`~etp_sync.errors.ETPProtocolError`, and so does a reply (all its parts together)
    larger than ``max_response_size``.

    After :meth:`close`, every call raises :class:`~etp_sync.errors.ETPSessionClosed` at once
    and nothing reconnects; only the iterator form (``for s in etp_connect(url):``) opens a new
    connection after a close.

    Tokens: ``authorization`` may be a callable (a token provider, e.g. from
    :mod:`etp_sync.auth`); the session then calls it again before the current token expires
    (a JWT's ``exp`` less ``token_refresh_margin``, at most halfway through its life; every
    ``token_refresh_interval`` seconds for other tokens) and when the server answers
    EAUTHORIZATION_EXPIRED (the refused request is then sent again), and hands the new token
    to the server in-session with Core ``Authorize``. A server that does not support
    ``Authorize`` gets the new token by a reconnection, made between requests only: never while
    a request (a multipart one included) is in flight or a transaction is open (writes of
    several requests run in one when the server offers transactions).
    Renewals happen within the deadline of the call that triggers them.

    Parameters (pyetp's names are accepted too: ``uri`` for ``url``, ``etp_timeout`` for
    ``timeout``, ``use_compression`` for ``compression``, ``requested_protocols`` for
    ``protocols``):
        url: ``ws://`` or ``wss://`` address of the ETP server.
        authorization: bearer token (``"Bearer "`` prefix optional), a secret object with
            ``get_secret_value()`` (pydantic ``SecretStr``), or a callable returning either
            (called on every connect and renewal, see "Tokens"). Sent as
            ``Authorization: Bearer <token>``; never logged.
        data_partition_id: OSDU partition, sent as the ``data-partition-id`` header.
        timeout: default deadline of a call, in seconds (see above; default 60). Every
            ``timeout`` (this one, a call's, ``connect_timeout``) is a positive number of any
            real type; ``math.inf`` means no deadline in practice (about 24.8 days, as for a
            transport's ``stall_timeout``); anything else raises ETPInvalidArgument.
        connect_timeout: seconds for one connection attempt (websocket upgrade and ETP
            handshake), within the call's deadline; also how long an ``Authorize`` may go
            unanswered before the server counts as not supporting it.
        max_message_size: our limit; the effective one is the smaller of ours and the server's.
        max_response_size: the most bytes one reply may amount to, all its parts together
            (each part counted at least 512 bytes); default 4 times the negotiated maximum
            message size, or room for the largest object the server takes (its
            ``MaxDataObjectSize``, up to 64 MiB) if larger, so that what the server accepts
            can be read back. A bigger reply raises ETPResponseTooLarge (an ETPProtocolError)
            as soon as it exceeds it; a get of objects asks again for fewer at a time
            instead, and reports an object too large by itself as failed.
        compression: offer gzip and compress bodies where it pays. None (default): offer it
            unless the server runs on this host (a loopback address, no proxy), where gzip
            only spends CPU; True: always (e.g. through a local tunnel such as ssh -L or
            kubectl port-forward to a remote server); False: never.
        retry: connection attempts policy (first connect and reconnects).
        verify, ca_file, ssl_context: TLS settings for ``wss://`` (verification is on by default).
        proxy: HTTP proxy (``http://[user:password@]host:port``) to tunnel through (HTTP
            ``CONNECT``); None (default) takes ``https_proxy`` (wss://) or ``http_proxy``
            (ws://) from the environment, honouring ``no_proxy``; False never uses one.
        application_name, application_version: announced in RequestSession.
        protocols: protocol numbers to request (role ``store``).
        auto_reconnect: reconnect on next use after a drop, and resend an idempotent read cut
            off by one. False: one call raises the drop's error (the request it cut off,
            or else the first call after it), so the caller learns of it; the next call
            connects again.
        token_refresh_interval: seconds between renewals of tokens that are not JWTs (None:
            only when the server says they expired).
        token_refresh_margin: renew a JWT this many seconds before its ``exp``.
        trace: log every message sent and received (protocol, type, ids, flags, size; never
            bodies or tokens) on the ``etp_sync.trace`` logger; None (default) reads the
            ``ETP_SYNC_TRACE`` environment variable (``1`` enables it).
        spin_wait: seconds (0 to 0.01; default 0.0002) a caller waiting alone for a small
            reply polls the socket before it sleeps, so that a quick reply (a server on this
            machine or nearby) needs no wake-up: about 40-50 µs less per request on a 2-core
            VM. Costs up to that much CPU per wait whose reply comes later; after 4 such waits
            in a row only one in 16 polls, until one catches its reply again. A caller polls
            only while no other thread of the process waits for a reply this way (the server
            is then busy with it). 0 sleeps at once. Not over TLS, nor without the optional
            compiled module or with one CPU (``etp_sync.transport._spin``).
    """

    DEADLINE_MARGIN = 0.5
    """Seconds a call may run past its ``timeout`` (see "Deadlines" above)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        authorization: Authorization = None,
        data_partition_id: str | None = None,
        timeout: float | None = None,
        connect_timeout: float = 15.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_response_size: int | None = None,
        compression: bool | None = None,
        retry: RetryPolicy | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        ssl_context: Any = None,
        proxy: str | Literal[False] | None = None,
        application_name: str = "etp_sync",
        application_version: str = __version__,
        protocols: Sequence[int] | None = None,
        auto_reconnect: bool = True,
        token_refresh_interval: float | None = None,
        token_refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        trace: bool | None = None,
        spin_wait: float = DEFAULT_SPIN_WAIT,
        uri: str | None = None,
        etp_timeout: float | None = None,
        use_compression: bool | None = None,
        requested_protocols: Sequence[Any] | None = None,
    ) -> None:
        url = _checked_url(_alias("url", url, "uri", uri))
        timeout = _alias("timeout", timeout, "etp_timeout", etp_timeout)
        compression = _alias("compression", compression, "use_compression", use_compression)
        protocols = _alias("protocols", protocols, "requested_protocols", requested_protocols)
        timeout = seconds(DEFAULT_TIMEOUT if timeout is None else timeout, "timeout")
        connect_timeout = seconds(connect_timeout, "connect_timeout")
        if not isinstance(max_message_size, int) or max_message_size < MIN_MESSAGE_SIZE:
            raise ETPInvalidArgument(f"max_message_size must be at least {MIN_MESSAGE_SIZE} bytes")
        if max_response_size is not None and (
            not isinstance(max_response_size, int) or max_response_size < 4096
        ):
            raise ETPInvalidArgument("max_response_size must be at least 4096 bytes")
        if proxy is not None and proxy is not False and not isinstance(proxy, str):
            raise ETPInvalidArgument("proxy must be a URL string, None or False")
        if compression is not None and not isinstance(compression, bool):
            # a str would count as True: compression="no" turned gzip on
            raise ETPInvalidArgument(
                f"compression must be True, False or None, got {type(compression).__name__}"
            )
        spin_wait = checked_spin_wait(spin_wait)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ETPInvalidArgument(
                f"retry must be a RetryPolicy or None, got {type(retry).__name__}"
            )
        self.url = url
        self._credentials = Credentials(
            authorization,
            refresh_interval=token_refresh_interval,
            refresh_margin=token_refresh_margin,
        )
        self._renewal = TokenRenewal(self._credentials, connect_timeout)
        self._renew_lock = threading.RLock()  # after-connect hooks may renew again
        self._commit_refused = False  # see send_and_recv and _note_refused_commit
        if data_partition_id is not None and not isinstance(data_partition_id, str):
            raise ETPInvalidArgument(
                f"data_partition_id must be a str, got {type(data_partition_id).__name__}"
            )
        self.data_partition_id = data_partition_id
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message_size = int(max_message_size)
        self.max_response_size = None if max_response_size is None else int(max_response_size)
        self.compression = compression
        self.retry = retry or RetryPolicy()
        self._tls = {"verify": verify, "ca_file": ca_file, "ssl_context": ssl_context}
        self.proxy = proxy
        self.trace = trace_enabled(trace)
        self.spin_wait = spin_wait
        self.application_name = application_name
        self.application_version = application_version
        self.protocols = STORE_PROTOCOLS if protocols is None else _protocol_numbers(protocols)
        self.auto_reconnect = auto_reconnect
        ConnectionKeeper.__init__(self)
        self._handlers = HandlerRegistry()
        self._handlers.add(self._on_protocol_exception, message_type=1000)
        self.transaction_manager = TransactionManager(self)
        self.subscription_registry = SubscriptionRegistry(self)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed" if self.closed else "not connected"
        return f"ETPSession({safe_url(self.url)!r}, {state})"

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ETPSession:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ETPSession]:
        """Yield this session, then a freshly connected one each time the loop comes back.

        For long-running jobs: ``for session in etp_connect(url): try: work(session) except
        ETPConnectionLost: continue``. Each new iteration closes the previous connection and
        opens a new one (with the retry policy), even after :meth:`close`: this is the one way
        to reopen a closed session. ``break`` ends the loop.
        The connection is dropped when the loop ends (``break``, or an exception out of its
        body), as pyetp's ``async for`` closes its own.
        """
        try:
            while True:
                if not self.is_open:
                    self._reopen()
                    self.connect()
                yield self
                self._drop_connection()
        finally:
            self._drop_connection()

    @property
    def server(self) -> ServerInfo:
        """What the server granted in OpenSession (connects first if needed, within the
        session's ``timeout``: calls read it, e.g. for the message size, before their
        requests, and a connection made for them must not take the whole retry policy)."""
        return self._granted(self._deadline(None))

    def _reply_limit(self, deadline: float) -> int:
        """The most bytes one reply may amount to (``max_response_size`` or its default),
        connecting (if needed) within ``deadline``."""
        return self._connection(deadline).response_limit

    def _granted(self, deadline: float) -> ServerInfo:
        """:attr:`server`, connecting (if needed) within ``deadline`` (a call's, a
        ``time.monotonic()`` value): for calls that need the grant before their requests."""
        server = self._connection(deadline).server
        assert server is not None  # an open engine has negotiated
        return server

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        authorization = self._credentials.fetch()
        if authorization:
            headers["Authorization"] = authorization
        if self.data_partition_id:
            headers["data-partition-id"] = self.data_partition_id
        return headers

    def _open_connection(
        self, deadline: float | None = None, cancel: ConnectCancel | None = None
    ) -> SessionEngine:
        def request(offer_gzip: bool) -> Any:
            return build_request_session(
                application_name=self.application_name,
                application_version=self.application_version,
                protocols=self.protocols,
                compression=offer_gzip,
                max_message_size=self.max_message_size,
            )

        return SessionEngine.open(
            self.url,
            request,
            headers=self._headers(),
            connect_timeout=self.connect_timeout,
            max_message_size=self.max_message_size,
            compression=self.compression,
            on_unsolicited=self._handlers.dispatch,
            tls=self._tls,
            max_response_size=self.max_response_size,
            deadline=deadline,
            on_close=self._engine_closed,
            trace=self.trace,
            proxy=self.proxy,
            cancel=cancel,
            spin_wait=self.spin_wait,
        )

    # -- server-initiated messages -------------------------------------------------------------

    def add_handler(
        self, callback: Handler, *, protocol: int | None = None, message_type: int | None = None
    ) -> Callable[[], None]:
        """Call ``callback(header, message)`` for server-initiated messages (notifications,
        unsolicited ProtocolExceptions) matching ``protocol``/``message_type`` (None = any).

        Callbacks run on the session's dispatch thread, never on the reader thread. Returns a
        function that removes the handler.
        """
        return self._handlers.add(callback, protocol=protocol, message_type=message_type)


__all__ = ["ETPSession"]
