"""Real local servers for notice tests: an SMTP server (aiosmtpd) and a webhook receiver.

No mock: mails go over TCP to aiosmtpd and are parsed back; webhooks are real HTTP
POSTs to a threaded ``http.server`` that verifies the HMAC signature itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mail:
    rcpt: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())

    @property
    def raw(self) -> str:
        return self.message.as_string()


class SmtpServer:
    """aiosmtpd on 127.0.0.1; ``stop()`` then ``start()`` again on the same port = down, back."""

    def __init__(self, port: int | None = None, hostname: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        self.hostname = hostname
        #: Seconds each mail takes to accept (a slow server, for crash tests).
        self.delay_s = 0.0
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.mails.append(Mail(list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> None:
        self.start_with()

    def start_with(self, **server_kwargs: Any) -> None:
        self._controller = Controller(self, hostname=self.hostname, port=self.port, **server_kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Mail]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.mails) >= n:
                    return list(self.mails)
            time.sleep(0.05)
        with self._lock:
            return list(self.mails)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP receiver that checks ``X-Laporflow-Signature`` with ``secret``."""

    secret: bytes
    status: Callable[[], int] = lambda: 204
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Laporflow-Signature", "")
                ok = hmac.compare_digest(expected, got)
                receiver.deliveries.append(
                    Delivery(self.path, dict(self.headers.items()), body, ok)
                )
                self.send_response(receiver.status() if ok else 401)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
