"""Tokens for ETP servers: reading a JWT's expiry, and OAuth 2.0 token providers for OSDU.

OSDU deployments hand out short-lived bearer tokens (about an hour) from an OAuth 2.0 token
endpoint (Microsoft Entra ID, Keycloak, AWS Cognito, ...). :class:`OAuth2TokenProvider` gets them
with the standard library only (``urllib`` over HTTPS) and caches each until shortly before it
expires; pass it as ``authorization=`` and the session renews its token in place (Core
``Authorize``) whenever it is due::

    provider = client_credentials(
        "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token",
        client_id="<app id>",
        client_secret=os.environ["OSDU_CLIENT_SECRET"],
        scope="<resource app id>/.default",
    )
    with ETPSession(url, authorization=provider, data_partition_id="opendes") as session: ...

Secrets (client secret, refresh token, access tokens) never appear in logs, reprs or exception
messages: errors name the token endpoint (without query) and the endpoint's OAuth error code,
and what the endpoint's error description quotes of the request is shown as ``***``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

from ._timeouts import seconds
from .errors import ETPAuthorizationError, ETPInvalidArgument
from .transport._connect import _redacted, request_secrets

log = logging.getLogger("etp_sync.auth")

__all__ = [
    "DEFAULT_REFRESH_MARGIN",
    "OAuth2TokenProvider",
    "SecretLike",
    "client_credentials",
    "jwt_claims",
    "jwt_expiry",
    "refresh_token_flow",
    "renewal_time",
    "reveal",
]

DEFAULT_REFRESH_MARGIN = 60.0
"""Seconds before its expiry that a token is renewed (at most half its lifetime)."""
UNKNOWN_LIFETIME = 300.0
"""Seconds a token is cached when neither ``expires_in`` nor a JWT ``exp`` says how long."""
_MAX_ERROR_TEXT = 160


class SecretLike(Protocol):
    """A secret wrapper such as pydantic's ``SecretStr``: the value only on request."""

    def get_secret_value(self) -> str: ...


def reveal(value: str | SecretLike) -> str:
    """The text of ``value``: a string, or a secret object's ``get_secret_value()``."""
    if isinstance(value, str):
        return value
    getter = getattr(value, "get_secret_value", None)
    if callable(getter):
        secret = getter()
        if isinstance(secret, str):
            return secret
    raise ETPInvalidArgument(
        f"expected a string or a secret with get_secret_value(), got {type(value).__name__}"
    )


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, decoded WITHOUT verifying its signature; None if ``token`` (with or
    without a ``Bearer`` prefix) is not a JWT. For scheduling renewals, never for trust."""
    text = token.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    parts = text.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the Unix epoch), None when there is none."""
    claims = jwt_claims(token)
    exp = None if claims is None else claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)


def renewal_time(obtained: float, expires: float, margin: float = DEFAULT_REFRESH_MARGIN) -> float:
    """When a token obtained at ``obtained`` and expiring at ``expires`` is due for renewal:
    ``margin`` seconds before it expires, or halfway through its life when that is shorter."""
    return expires - min(margin, max(expires - obtained, 0.0) / 2)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR_TEXT else line[: _MAX_ERROR_TEXT - 3] + "..."


def _safe_endpoint(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class OAuth2TokenProvider:
    """A callable returning a valid access token, fetched from an OAuth 2.0 token endpoint.

    ``grant_type`` is ``"client_credentials"`` (needs ``client_secret``) or ``"refresh_token"``
    (needs ``refresh_token``; ``client_secret`` when the client is confidential). A token is
    cached until ``margin`` seconds before it expires (``expires_in`` of the answer, else the
    JWT's ``exp``; at most half its lifetime), so calling the provider often is cheap; a new
    refresh token in an answer replaces the old one. Thread-safe. Secrets may be strings or
    secret objects with ``get_secret_value()``. Failures raise
    :class:`~etp_sync.errors.ETPAuthorizationError` (``status``: the endpoint's HTTP status).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        *,
        grant_type: str,
        client_secret: str | SecretLike | None = None,
        refresh_token: str | SecretLike | None = None,
        scope: str | None = None,
        extra: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        margin: float = DEFAULT_REFRESH_MARGIN,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        scheme = urllib.parse.urlsplit(token_url).scheme.lower()
        if scheme not in ("https", "http"):
            raise ETPInvalidArgument(
                f"token_url must be an https:// URL, got {_safe_endpoint(token_url)!r}"
            )
        if grant_type == "client_credentials" and client_secret is None:
            raise ETPInvalidArgument("the client_credentials flow needs client_secret")
        if grant_type == "refresh_token" and refresh_token is None:
            raise ETPInvalidArgument("the refresh_token flow needs refresh_token")
        if grant_type not in ("client_credentials", "refresh_token"):
            raise ETPInvalidArgument(
                f"grant_type must be client_credentials or refresh_token, got {grant_type!r}"
            )
        self.token_url = token_url
        self.client_id = client_id
        self.grant_type = grant_type
        self.scope = scope
        self.timeout = seconds(timeout)
        self.margin = seconds(margin, "margin", zero=True)
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._extra = dict(extra or {})
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0  # time.time() at which the cached token is due for renewal
        self.fetch_count = 0
        """How many tokens were fetched from the endpoint (the rest came from the cache)."""

    def __repr__(self) -> str:
        return (
            f"OAuth2TokenProvider({_safe_endpoint(self.token_url)!r}, "
            f"client_id={self.client_id!r}, grant_type={self.grant_type!r})"
        )

    def __call__(self) -> str:
        """A valid access token: the cached one, or a new one when it is due for renewal."""
        with self._lock:
            if self._token is None or time.time() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token: the next call fetches a new one."""
        with self._lock:
            self._token = None

    def _form(self) -> dict[str, str]:
        form = {"grant_type": self.grant_type, "client_id": self.client_id, **self._extra}
        if self._client_secret is not None:
            form["client_secret"] = reveal(self._client_secret)
        if self.grant_type == "refresh_token" and self._refresh_token is not None:
            form["refresh_token"] = reveal(self._refresh_token)
        if self.scope:
            form["scope"] = self.scope
        return form

    def _fetch(self) -> None:
        """Ask the endpoint for a token (lock held); cache it with its renewal time."""
        where = _safe_endpoint(self.token_url)
        form = self._form()
        request = urllib.request.Request(
            self.token_url,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        started = time.time()
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._ssl_context
            ) as reply:
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise ETPAuthorizationError(
                f"the token endpoint {where} refused the {self.grant_type} request with HTTP "
                f"{exc.code}{_oauth_error(exc, _echo_secrets(self.token_url, form))}: check "
                "client_id, the secret and scope",
                status=exc.code,
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ETPAuthorizationError(
                f"cannot reach the token endpoint {where}: {_one_line(str(reason))}"
            ) from None
        except ValueError:
            raise ETPAuthorizationError(f"the token endpoint {where} did not answer JSON") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ETPAuthorizationError(f"the token endpoint {where} answered no access_token")
        expires_in = answer.get("expires_in")
        try:
            expires = started + float(expires_in)
        except (TypeError, ValueError):
            expires = jwt_expiry(token) or started + UNKNOWN_LIFETIME
        new_refresh = answer.get("refresh_token")
        if isinstance(new_refresh, str) and new_refresh and self.grant_type == "refresh_token":
            self._refresh_token = new_refresh
        self._token = token
        self._renew_at = renewal_time(started, expires, self.margin)
        self.fetch_count += 1
        log.info("token from %s (%s), valid for %.0f s", where, self.grant_type, expires - started)


def _echo_secrets(token_url: str, form: Mapping[str, str]) -> list[str]:
    """What the endpoint's error text must not quote: the token URL's password and query values,
    and every value of the form but ``grant_type`` (secrets, and ``extra`` values such as a
    password), as sent and decoded: :func:`request_secrets` reads the form as the query it is
    encoded like."""
    parts = urllib.parse.urlsplit(token_url)
    sent = urllib.parse.urlencode({k: v for k, v in form.items() if k != "grant_type"})
    query = "&".join(q for q in (parts.query, sent) if q)
    return request_secrets(urllib.parse.urlunsplit(parts._replace(query=query, fragment="")))


def _oauth_error(exc: urllib.error.HTTPError, secrets: list[str]) -> str:
    """`` (<error>: <error_description>)`` of an OAuth error answer, one line, with what it
    quotes of ``secrets`` shown as ``***`` (no body echo)."""
    try:
        answer = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    if not isinstance(answer, dict) or not isinstance(answer.get("error"), str):
        return ""
    text = answer["error"]
    description = answer.get("error_description")
    if isinstance(description, str) and description:
        text += f": {description}"
    return f" ({_one_line(_redacted(text, secrets))})"


def client_credentials(
    token_url: str,
    client_id: str,
    client_secret: str | SecretLike,
    *,
    scope: str | None = None,
    **options: Any,
) -> OAuth2TokenProvider:
    """A provider for the OAuth 2.0 client-credentials flow (a service principal's tokens).

    For Microsoft Entra ID: ``token_url`` is
    ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`` and ``scope``
    ``<OSDU app id>/.default``. ``options``: those of :class:`OAuth2TokenProvider`.
    """
    return OAuth2TokenProvider(
        token_url,
        client_id,
        grant_type="client_credentials",
        client_secret=client_secret,
        scope=scope,
        **options,
    )


def refresh_token_flow(
    token_url: str,
    client_id: str,
    refresh_token: str | SecretLike,
    *,
    client_secret: str | SecretLike | None = None,
    scope: str | None = None,
    **options: Any,
) -> OAuth2TokenProvider:
    """A provider for the OAuth 2.0 refresh-token flow (a user's tokens, e.g. from a first
    interactive login); a rotated refresh token in an answer replaces the old one."""
    return OAuth2TokenProvider(
        token_url,
        client_id,
        grant_type="refresh_token",
        refresh_token=refresh_token,
        client_secret=client_secret,
        scope=scope,
        **options,
    )
