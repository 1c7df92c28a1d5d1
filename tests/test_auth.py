"""etp_sync.auth: OAuth 2.0 token providers against a local token endpoint (HTTPS and HTTP) in
a thread; caching, refresh-token rotation, errors that keep secrets out, and a session using one."""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from etp_sync import ETPSession
from etp_sync.auth import client_credentials, refresh_token_flow, reveal
from etp_sync.errors import ETPAuthorizationError, ETPInvalidArgument
from etp_sync.server import EmbeddedServer

SECRET = "cl13nt-s3cr3t-value"
REFRESH = "r3fr3sh-t0k3n-value"


class Endpoint:
    """A token endpoint: records each form it receives, answers from ``reply``."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.forms: list[dict[str, str]] = []
        self.expires_in: int | None = 3600
        self.status = 200
        self.echo = False  # error descriptions quote the request (form-encoded and decoded)
        self.issued = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.forms.append(form)
                self._answer(*endpoint.reply(form))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}/tenant/oauth2/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def reply(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.status != 200:
            description = "AADSTS7000215: Invalid client secret provided."
            if self.echo:
                description = f"got {urlencode(form)} ({', '.join(form.values())})"
            return self.status, {"error": "invalid_client", "error_description": description}
        valid = form.get("client_secret") == SECRET or form.get("refresh_token", "").startswith(
            "r3fr3sh"
        )
        if not valid:
            return 400, {"error": "invalid_grant"}
        self.issued += 1
        body: dict[str, Any] = {"access_token": f"access-{self.issued}", "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if form["grant_type"] == "refresh_token":
            body["refresh_token"] = f"{REFRESH}-{self.issued}"
        return 200, body


@pytest.fixture
def endpoint(self_signed_cert: tuple[str, str]) -> Iterator[tuple[Endpoint, ssl.SSLContext]]:
    """An HTTPS token endpoint with a self-signed certificate, and a client context trusting it."""
    cert, key = self_signed_cert
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    ep = Endpoint(server_tls)
    ep.thread.start()
    try:
        yield ep, ssl.create_default_context(cafile=cert)
    finally:
        ep.httpd.shutdown()
        ep.httpd.server_close()
        ep.thread.join(5)


@pytest.fixture
def plain_endpoint() -> Iterator[Endpoint]:
    ep = Endpoint(None)
    ep.thread.start()
    try:
        yield ep
    finally:
        ep.httpd.shutdown()
        ep.httpd.server_close()
        ep.thread.join(5)


def test_client_credentials_over_https_are_cached_until_expiry(
    endpoint: tuple[Endpoint, ssl.SSLContext],
) -> None:
    ep, tls = endpoint
    provider = client_credentials(ep.url, "app-id", SECRET, scope="osdu/.default", ssl_context=tls)
    assert provider() == provider() == provider() == "access-1"
    assert provider.fetch_count == 1
    assert ep.forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "app-id",
        "client_secret": SECRET,
        "scope": "osdu/.default",
    }
    ep.expires_in = 0  # tokens due at once: every call fetches
    provider.invalidate()
    assert provider() == "access-2" and provider() == "access-3"


def test_refresh_token_flow_uses_the_rotated_refresh_token(plain_endpoint: Endpoint) -> None:
    plain_endpoint.expires_in = 0
    provider = refresh_token_flow(plain_endpoint.url, "app-id", REFRESH)
    assert provider() == "access-1" and provider() == "access-2"
    sent = [form["refresh_token"] for form in plain_endpoint.forms]
    assert sent == [REFRESH, f"{REFRESH}-1"]
    assert "client_secret" not in plain_endpoint.forms[0]


def test_secrets_stay_out_of_reprs_errors_and_logs(
    plain_endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    class Secret:
        def get_secret_value(self) -> str:
            return SECRET

    provider = client_credentials(plain_endpoint.url + "?tenant=x", "app-id", Secret())
    assert SECRET not in repr(provider) and "tenant=x" not in repr(provider)
    plain_endpoint.status = 401
    with pytest.raises(ETPAuthorizationError) as info:
        provider()
    message = str(info.value)
    assert info.value.status == 401 and "invalid_client" in message and "AADSTS7000215" in message
    assert SECRET not in message and "\n" not in message
    plain_endpoint.status = 200
    assert provider() == "access-1"
    assert SECRET not in caplog.text and "access-1" not in caplog.text


@pytest.mark.parametrize("flow", ["client_credentials", "refresh_token"])
def test_an_error_description_echoing_the_request_shows_no_secret(
    plain_endpoint: Endpoint, flow: str
) -> None:
    secret, password = "s3cr3t+/&=value", "p@ss w0rd/+"
    url = plain_endpoint.url + "?api-key=k3y-in-url"
    extra = {"username": "alice", "password": password}
    if flow == "client_credentials":
        provider = client_credentials(url, "app-id", secret, extra=extra)
    else:
        provider = refresh_token_flow(url, "app-id", secret, client_secret=SECRET, extra=extra)
    plain_endpoint.status, plain_endpoint.echo = 401, True
    with pytest.raises(ETPAuthorizationError) as info:
        provider()
    message = str(info.value)
    assert "invalid_client: got grant_type=" in message and "***" in message
    encoded = [urlencode({"v": v})[2:] for v in (secret, password)]
    for value in [secret, password, SECRET, "k3y-in-url", *encoded]:
        assert value not in message, (value, message)


@pytest.mark.parametrize(
    "options",
    [{"timeout": -1}, {"timeout": 0}, {"timeout": "x"}, {"timeout": math.nan}, {"margin": -5}],
    ids=repr,
)
def test_bad_timeouts_are_invalid_arguments(options: dict[str, Any]) -> None:
    name = next(iter(options))
    with pytest.raises(ETPInvalidArgument, match=f"{name} must be a"):
        client_credentials("https://login.example/token", "app-id", SECRET, **options)


def test_an_unreachable_endpoint_is_an_authorization_error(plain_endpoint: Endpoint) -> None:
    url = plain_endpoint.url
    plain_endpoint.httpd.shutdown()
    plain_endpoint.httpd.server_close()
    with pytest.raises(ETPAuthorizationError, match="cannot reach the token endpoint") as info:
        client_credentials(url, "app-id", SECRET, timeout=2)()
    assert SECRET not in str(info.value)


def test_bad_provider_arguments_are_invalid_arguments() -> None:
    with pytest.raises(ETPInvalidArgument, match="https"):
        client_credentials("ftp://x/token", "app", SECRET)
    with pytest.raises(ETPInvalidArgument):
        reveal(42)  # type: ignore[arg-type]


def test_a_session_gets_its_tokens_from_the_provider(
    endpoint: tuple[Endpoint, ssl.SSLContext],
) -> None:
    ep, tls = endpoint
    provider = client_credentials(ep.url, "app-id", SECRET, ssl_context=tls)
    accepted = {"access-1", "access-2"}

    def validate(token: str) -> float | None:
        return float("inf") if token in accepted else None

    with (
        EmbeddedServer(port=0, token_validator=validate) as server,
        ETPSession(server.url, authorization=provider) as session,
    ):
        assert session.ping() > 0
        ep.expires_in = 3600
        provider.invalidate()
        server.expire_tokens()
        assert session.get_dataspaces() == []
        assert session.token_renewals == 1 and provider.fetch_count == 2
