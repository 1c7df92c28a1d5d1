"""A scriptable ETP peer on a real socket, for failures a well-behaved store never shows.

It negotiates a session like a server, then hands every decoded request to a test-supplied
``handler(peer, header, body)`` that may reply, stall, send half a multipart response, or drop
the connection.
A handler that raises fails the test loudly: the peer closes that connection (code 1011) so the
client does not wait for a timeout, and the exception is re-raised in the test thread when the
``with FakePeer(...)`` block ends (or by :meth:`FakePeer.check`).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from etp_sync.codec import MessageHeader, decode_message, encode_message
from etp_sync.protocol.correlation import MessageIds
from etp_sync.protocol.negotiation import ServerOffer, negotiate
from etp_sync.schema import messages as m


class PeerConnection:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.ids = MessageIds(server=True)

    def send(self, body: Any, *, correlation_id: int = 0, fin: bool = True) -> int:
        mid = self.ids.next()
        header = MessageHeader(
            protocol=body.etp_protocol,
            message_type=body.etp_message_type,
            correlation_id=correlation_id,
            message_id=mid,
            message_flags=2 if fin else 0,
        )
        self.ws.send(encode_message(header, body))
        return mid

    def drop(self) -> None:
        """Abrupt close: no close frame, no CloseSession."""
        self.ws.socket.shutdown(2)
        self.ws.socket.close()


Handler = Callable[[PeerConnection, Any, Any], None]


class FakePeer:
    def __init__(
        self,
        handler: Handler,
        *,
        protocols: tuple[int, ...] = (3, 4, 9, 18, 24),
        auto_pong: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.auto_pong = auto_pong
        self.offer = ServerOffer("fakepeer", "0", {p: "store" for p in protocols})
        self.connections = 0
        self.headers: list[dict[str, str]] = []
        self.errors: list[BaseException] = []
        self._server = serve(self._serve, "127.0.0.1", 0, subprotocols=["etp12.energistics.org"],
                             max_size=None, compression=None, ssl=ssl_context)  # fmt: skip
        self.port = self._server.socket.getsockname()[1]
        scheme = "wss" if ssl_context is not None else "ws"
        self.url = f"{scheme}://localhost:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _serve(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.headers.append(dict(ws.request.headers) if ws.request else {})
        peer = PeerConnection(ws)
        try:
            for frame in ws:
                header, body = decode_message(frame)  # type: ignore[arg-type]
                if (header.protocol, header.message_type) == (0, 1):
                    open_session, _ = negotiate(body, self.offer)
                    peer.send(open_session, correlation_id=header.message_id)
                    continue
                if (header.protocol, header.message_type) == (0, 5):
                    return
                if self.auto_pong and (header.protocol, header.message_type) == (0, 8):
                    peer.send(m.Core.Pong(current_date_time=0), correlation_id=header.message_id)
                    continue
                self.handler(peer, header, body)
        except (ConnectionClosed, OSError):  # connection dropped by the handler or the client
            return
        except Exception as exc:  # a failing handler: re-raised in the test thread by check()
            self.errors.append(exc)
            ws.close(1011, "fake peer failed")

    def check(self) -> None:
        """Re-raise, in the calling (test) thread, the first exception a handler raised."""
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> FakePeer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._server.shutdown()
        self._thread.join(5)
        if exc is None:
            self.check()
        elif self.errors:  # keep the test's own exception, but say what the handler did
            exc.add_note(f"fake peer handler failed: {self.errors[0]!r}")
