"""Wiring: the notifier process (``laporflow notify``) and a run-until-idle for the demo.

Two loops in one process: the event consumer stores notices (``consumers.notices``),
the sender sends the due ones (``notices.sender``). ``/metrics``, ``/healthz`` and
``/readyz`` are served on ``LAPORFLOW_NOTIFY_METRICS_PORT`` (default 9110).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.notices import EventConsumer, notify_group_id
from engine.metrics import REGISTRY
from engine.notices import NoticeStore
from engine.policy_file import load_policy
from engine.settings import Settings
from engine.store import Store
from notices.mail import MailChannel, SmtpSettings
from notices.render import Renderer
from notices.sender import NoticeSender, RetryPolicy
from notices.webhook import WebhookChannel
from producers.http_api import HttpApi
from producers.kafka_io import kafka_client_config
from workflows.policy import Policy, Webhook

__all__ = ["Notifier", "NotifyConfig", "NotifySummary", "run_until_idle"]

log = logging.getLogger(__name__)


class NotifyConfig(BaseSettings):
    """The notifier's own settings (``LAPORFLOW_*``), beside the engine's :class:`Settings`."""

    model_config = SettingsConfigDict(env_prefix="LAPORFLOW_", extra="ignore")

    #: ``smtp://user:pass@host:587`` (STARTTLS when offered), ``smtps://...``, or unset.
    smtp_url: SecretStr | None = None
    smtp_from: str = "lapor-flow <noreply@laporflow.local>"
    #: CA bundle for the SMTP server's certificate (a private CA); default: the system's.
    smtp_ca_file: str | None = None
    #: Base of the links in notices: ``<admin_url>/complaints/<ID>``.
    admin_url: str = "http://localhost:8080/admin"
    notify_metrics_port: int = Field(default=9110, ge=0, le=65535)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_retry_base_s: float = Field(default=30.0, gt=0)
    notify_retry_cap_s: float = Field(default=3600.0, gt=0)
    notify_lease_s: float = Field(default=300.0, gt=0)
    notify_interval_s: float = Field(default=1.0, gt=0)

    def retry(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.notify_max_attempts,
            base_s=self.notify_retry_base_s,
            cap_s=self.notify_retry_cap_s,
            lease_s=self.notify_lease_s,
        )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """The running notifier: event consumer + sender (+ HTTP when ``serve_http``)."""

    def __init__(
        self,
        settings: Settings,
        config: NotifyConfig | None = None,
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = _wall_clock,
        environ: Mapping[str, str] | None = None,
        consumer_config: dict[str, Any] | None = None,
        serve_http: bool = True,
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.config = config or NotifyConfig()
        self.policy = policy or load_policy(settings.policy)
        self.store = Store(settings.database_url.get_secret_value())
        self.store.migrate()
        self.notices = NoticeStore(self.store)
        self.consumer = EventConsumer(
            self.notices,
            self.policy,
            bootstrap=settings.kafka_bootstrap,
            group_id=group_id or notify_group_id(settings.topic_prefix),
            topic=settings.topics.events,
            clock=clock,
            consumer_config={**kafka_client_config(settings), **(consumer_config or {})},
        )
        smtp = self.config.smtp_url
        mail = (
            MailChannel(
                SmtpSettings.from_url(smtp.get_secret_value(), ca_file=self.config.smtp_ca_file),
                self.config.smtp_from,
            )
            if smtp is not None
            else None
        )
        if mail is None:
            log.warning("LAPORFLOW_SMTP_URL is not set: mail notices wait until it is")
        self.webhooks = WebhookChannel(self.policy.webhooks, environ=environ)
        self.sender = NoticeSender(
            self.notices,
            self.policy,
            Renderer(self.config.admin_url),
            mail=mail,
            webhooks=self.webhooks,
            retry=self.config.retry(),
            clock=clock,
        )
        self.http: HttpApi | None = None
        if serve_http:
            self.http = HttpApi(
                REGISTRY, {"database": self.store.ping}, port=self.config.notify_metrics_port
            )
        self.stop_event = threading.Event()

    def run(self) -> None:
        """Consume and send until :meth:`stop` (a signal handler calls it)."""
        if self.http is not None:
            self.http.start()
        sender = threading.Thread(
            target=self.sender.run,
            args=(self.stop_event,),
            kwargs={"interval_s": self.config.notify_interval_s},
            name="notice-sender",
            daemon=True,
        )
        sender.start()
        try:
            self.consumer.run(self.stop_event)
        finally:
            self.stop_event.set()
            sender.join(timeout=60)
            self.close()

    def stop(self) -> None:
        """Ask both loops to finish."""
        self.stop_event.set()

    def close(self) -> None:
        """Close connections and the HTTP server."""
        if self.http is not None:
            self.http.stop()
        self.consumer.close()
        self.webhooks.close()
        self.store.close()


@dataclass
class NotifySummary:
    """What a run until idle did: notices per (channel, recipient), and the rest."""

    sent: dict[tuple[str, str], int] = field(default_factory=dict)
    messages: int = 0
    failed: dict[tuple[str, str], int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    held: int = 0
    #: Not sent because their clock stopped before they could go out.
    obsolete: int = 0
    captured_mails: int = 0
    captured_webhooks: int = 0

    def lines(self) -> list[str]:
        """Human-readable lines: who got how many notices."""
        out = [
            f"{channel:<7} {recipient:<32} {n:>6} notice(s)"
            for (channel, recipient), n in sorted(self.sent.items())
        ]
        out += [
            f"{channel:<7} {recipient:<32} {n:>6} FAILED"
            for (channel, recipient), n in sorted(self.failed.items())
        ]
        out += [
            f"no contact for role {role}: {n} notice(s)" for role, n in sorted(self.missing.items())
        ]
        if self.held:
            out.append(f"{self.held} notice(s) held for quiet hours or the next digest")
        if self.obsolete:
            out.append(f"{self.obsolete} notice(s) not sent: their clock stopped first")
        return out


def run_until_idle(
    settings: Settings,
    policy: Policy,
    *,
    smtp_url: str | None = None,
    clock: Callable[[], datetime] = _wall_clock,
    timeout_s: float = 120.0,
    admin_url: str | None = None,
) -> NotifySummary:
    """Run the notifier on ``settings``' database and topic until it has caught up.

    Without ``smtp_url`` it sends to a capture SMTP server in this process (aiosmtpd),
    and every webhook of the policy goes to a local capture receiver that checks the
    signature, so the demo can show who was told what without reaching anyone.
    Returns how many notices went to whom; notices held by quiet hours or a digest
    slot later than ``clock()`` stay stored for a real ``laporflow notify``.
    """
    with _capture_services(policy, smtp_url) as (url, hooks, environ, captured):
        config = NotifyConfig(
            smtp_url=SecretStr(url),
            admin_url=admin_url or NotifyConfig().admin_url,
            notify_retry_base_s=0.2,
            notify_retry_cap_s=1.0,
            notify_max_attempts=3,
        )
        notifier = Notifier(
            settings,
            config,
            policy=policy.model_copy(update={"webhooks": hooks}),
            clock=clock,
            environ=environ,
            serve_http=False,
            # A group of its own reads the topic from the start whatever ran before; the
            # notices table, not the offsets, makes each notice happen once.
            group_id=f"{notify_group_id(settings.topic_prefix)}-run-{uuid.uuid4().hex[:8]}",
        )
        try:
            deadline = time.monotonic() + timeout_s
            # Store everything first, so a recipient's due digest notices go out as one mail.
            while time.monotonic() < deadline:
                if not notifier.consumer.poll_once() and notifier.consumer.caught_up():
                    break
            while time.monotonic() < deadline and notifier.sender.send_due():
                pass
            summary = NotifySummary(
                messages=notifier.sender.stats.messages,
                missing=dict(notifier.consumer.stats.missing),
            )
            for (channel, recipient, status), n in notifier.notices.by_recipient().items():
                if status == "sent":
                    summary.sent[(channel, recipient)] = n
                elif status == "failed":
                    summary.failed[(channel, recipient)] = n
                elif status == "pending":
                    summary.held += n
                elif status == "obsolete":
                    summary.obsolete += n
                elif status == "no_contact":
                    summary.missing[recipient] = max(summary.missing.get(recipient, 0), n)
            summary.captured_mails = captured["mail"]
            summary.captured_webhooks = captured["webhook"]
            return summary
        finally:
            notifier.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _capture_services(
    policy: Policy, smtp_url: str | None
) -> Iterator[tuple[str, dict[str, Webhook], dict[str, str], dict[str, int]]]:
    """A capture SMTP server and webhook receiver, unless a real ``smtp_url`` is given."""
    import hashlib
    import hmac
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    captured = {"mail": 0, "webhook": 0}
    secret = os.environ.get("LAPORFLOW_DEMO_WEBHOOK_SECRET", "demo-secret")
    environ = {hook.secret_env: secret for hook in policy.webhooks.values()}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(expected, self.headers.get("X-Laporflow-Signature", ""))
            if ok:
                captured["webhook"] += 1
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hooks = {
        name: Webhook(
            url=f"http://127.0.0.1:{server.server_address[1]}/{name}", secret_env=h.secret_env
        )
        for name, h in policy.webhooks.items()
    }
    controller: Any = None
    try:
        if smtp_url is None:
            from aiosmtpd.controller import Controller

            class Sink:
                async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
                    self, server: Any, session: Any, envelope: Any
                ) -> str:
                    captured["mail"] += 1
                    return "250 OK"

            port = _free_port()
            controller = Controller(Sink(), hostname="127.0.0.1", port=port)
            controller.start()
            smtp_url = f"smtp://127.0.0.1:{port}"
        yield smtp_url, hooks, environ, captured
    finally:
        if controller is not None:
            controller.stop()
        server.shutdown()
        server.server_close()
