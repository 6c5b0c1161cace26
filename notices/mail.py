"""The mail channel: SMTP with STARTTLS when the server offers it (``LAPORFLOW_SMTP_URL``).

``smtp://user:pass@host:587`` upgrades to TLS when the server offers STARTTLS (and
refuses to send a password in the clear otherwise, unless the host is local);
``smtps://`` speaks TLS from the start; ``smtp://127.0.0.1:1025`` is plain SMTP, as a
local test server or mail catcher speaks it. smtplib errors become
:class:`~engine.errors.DeliveryError` here, once.
"""

from __future__ import annotations

import email.policy
import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from types import TracebackType
from urllib.parse import unquote, urlsplit

from engine.errors import ConfigError, DeliveryError
from notices.render import Message

__all__ = ["MailChannel", "SmtpSettings"]

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Long subjects (complaint ids, SKPD names) stay on one line: folding them right after
# "Subject:" makes some readers show a leading blank. 998 is RFC 5322's hard limit.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False  # smtps: TLS from the first byte
    timeout_s: float = 30.0
    #: A CA bundle to verify the server with (a private CA), else the system's.
    ca_file: str | None = None

    @classmethod
    def from_url(
        cls, url: str, *, timeout_s: float = 30.0, ca_file: str | None = None
    ) -> SmtpSettings:
        """Parse ``smtp://[user[:pass]@]host[:port]`` or ``smtps://...``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(
                "LAPORFLOW_SMTP_URL must look like smtp://user:pass@host:587 or smtps://...",
                url=_redact(url),
            )
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            timeout_s=timeout_s,
            ca_file=ca_file,
        )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class MailChannel:
    """Sends rendered messages; one SMTP connection per :meth:`session`."""

    def __init__(self, settings: SmtpSettings, sender: str) -> None:
        self.settings = settings
        self.sender = sender

    def session(self) -> MailSession:
        """A connection, opened on first send and closed on exit."""
        return MailSession(self)

    def build(self, to: str, message: Message, *, message_key: str) -> EmailMessage:
        """The multipart (plain text + HTML) mail; ``message_key`` fixes its Message-ID.

        A notice sent twice (a crash between sending and marking) carries the same
        Message-ID both times, so mail clients can fold the repeat.
        """
        mail = EmailMessage(policy=_POLICY)
        mail["From"] = self.sender
        mail["To"] = to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        digest = hashlib.sha256(message_key.encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@laporflow>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail


class MailSession:
    """One SMTP connection; errors close it so the next send reconnects."""

    def __init__(self, channel: MailChannel) -> None:
        self.channel = channel
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.channel.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        smtp: smtplib.SMTP
        if s.tls:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            smtp.ehlo()
            if not s.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif not s.tls and s.username and s.host not in _LOCAL_HOSTS:
                raise DeliveryError(
                    "the SMTP server offers no STARTTLS; refusing to send the password in the "
                    "clear (use smtps:// or a server with STARTTLS)",
                    host=s.host,
                    permanent=True,
                )
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, to: str, message: Message, *, message_key: str) -> None:
        """Send one mail; raise :class:`DeliveryError` (``permanent`` if the address is refused)."""
        mail = self.channel.build(to, message, message_key=message_key)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(mail, from_addr=_address(self.channel.sender), to_addrs=[to])
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            self.close()
            raise DeliveryError(f"the SMTP server refused the mail: {exc}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            s = self.channel.settings
            raise DeliveryError(f"cannot send mail: {exc!r}", host=s.host, port=s.port) from exc

    def close(self) -> None:
        """Quit the connection, quietly."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _address(sender: str) -> str:
    """The bare address of ``Name <addr>``."""
    if "<" in sender and sender.endswith(">"):
        return sender.rsplit("<", 1)[1][:-1]
    return sender
