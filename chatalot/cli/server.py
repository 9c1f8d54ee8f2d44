"""How `chatalot serve` runs uvicorn: which proxies it believes, how large a request head
may be, and its own error replies in the protocol's shape.

uvicorn answers some requests before the application sees them. What it lets us change:
the HTTP protocol class (so the 400 it sends for a malformed request, for a request head
still arriving past `limits.max_header_bytes`, or for an upgrade it cannot serve, is our
`{error, code}` body with the security headers) and the proxies it believes. What it does
not, and stays plain text without our headers: its 500 when an application raises before
starting a response (ours answers every exception itself), the WebSocket libraries' own
handshake refusals (a WebSocket upgrade to an unknown path), and the 503 of `limit_concurrency`
(not set here).
"""

from __future__ import annotations

from typing import Any

import h11
import msgspec
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from chatalot.api.errors import ErrorBody
from chatalot.api.perimeter import header_values, uses_hsts
from chatalot.config import Settings


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with its 400 replies in the protocol's shape."""

    hsts = False
    max_header_bytes = 16 * 1024

    def send_400_response(self, msg: str) -> None:
        if msg.startswith("Invalid HTTP request"):
            msg = ("malformed HTTP request, or its request line and headers exceed"
                   f" {self.max_header_bytes} bytes")
        body = msgspec.json.encode(ErrorBody(msg, "bad_request"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((name.lower().encode(), value.encode())
              for name, value in header_values("/api/", hsts=self.hsts)),
        ]
        self.transport.write(self.conn.send(
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


def server_config(settings: Settings, app: Any, *, log_level: str = "info") -> uvicorn.Config:
    """X-Forwarded-For and -Proto are believed only from CHATALOT_TRUSTED_PROXIES (none by
    default: uvicorn's own default believes 127.0.0.1, so a local proxy that passes the
    client's header on would let every request pick its own rate bucket). Of the header's
    addresses, uvicorn takes the right-most one that is not a trusted proxy. The HTTP
    implementation is h11 always (httptools, if installed, would bypass both our error
    replies and the header cap)."""
    trusted = settings.security.trusted_proxy_list
    protocol = type("ChatalotH11Protocol", (JsonErrorH11Protocol,), {
        "hsts": uses_hsts(settings), "max_header_bytes": settings.limits.max_header_bytes})
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        # The WebSocket protocol's own limits, enforced by the `websockets` implementation
        # under uvicorn: a frame over the limit is closed 1009; a ping every interval, and
        # a socket whose pong has not come by the next one (two missed) is dropped.
        ws="websockets-sansio",
        # our handlers (chatalot/logs.py: text or JSON, scrubbed) and our own request line
        # (api/correlation.py, with the correlation id); uvicorn's would log query strings
        log_config=None,
        access_log=False,
        ws_max_size=settings.limits.max_ws_frame_bytes,
        ws_ping_interval=float(settings.limits.ws_ping_interval_secs),
        ws_ping_timeout=float(settings.limits.ws_ping_interval_secs),
        # No permessage-deflate: it compresses every frame once per socket, which undoes
        # the gateway's encode-once fan-out (CPU per socket per event); chat frames are
        # small and E2E ciphertext does not compress anyway.
        ws_per_message_deflate=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        server_header=False,
        http=protocol,
        h11_max_incomplete_event_size=settings.limits.max_header_bytes,
    )
