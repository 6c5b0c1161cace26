"""The mail channel against a real SMTP server on localhost (aiosmtpd)."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError, DeliveryError
from notices.mail import MailChannel, SmtpSettings
from notices.render import Message
from tests.notices.servers import SmtpServer, free_port

MESSAGE = Message(
    subject="Eskalasi: HSU-1", text="Teks polos: tenggat terlewati", html="<p>HTML</p>"
)


def test_smtp_url_parsing() -> None:
    s = SmtpSettings.from_url("smtp://user%40x:p%3Ass@mail.example:587")
    assert (s.host, s.port, s.username, s.password, s.tls) == (
        "mail.example",
        587,
        "user@x",
        "p:ss",
        False,
    )
    assert SmtpSettings.from_url("smtps://mail.example").port == 465
    assert SmtpSettings.from_url("smtp://127.0.0.1").port == 25
    with pytest.raises(ConfigError) as info:
        SmtpSettings.from_url("http://u:secret@mail.example")
    assert "secret" not in str(info.value)


def test_a_multipart_mail_arrives(smtp: SmtpServer) -> None:
    channel = MailChannel(SmtpSettings.from_url(smtp.url), "LAPOR! HSU <noreply@hsu.go.id>")
    with channel.session() as session:
        session.send("kadis@hsu.go.id", MESSAGE, message_key="e1:kadis")
        session.send("sekda@hsu.go.id", MESSAGE, message_key="e1:sekda")
    first, second = smtp.wait_for(2)
    assert first.rcpt == ["kadis@hsu.go.id"] and second.rcpt == ["sekda@hsu.go.id"]
    assert first.message["Subject"] == "Eskalasi: HSU-1"
    assert first.message["From"] == "LAPOR! HSU <noreply@hsu.go.id>"
    assert first.message.get_content_type() == "multipart/alternative"
    assert "Teks polos" in first.text and "<p>HTML</p>" in first.html
    # The same notice always carries the same Message-ID (a repeat can be folded).
    again = channel.build("kadis@hsu.go.id", MESSAGE, message_key="e1:kadis")
    assert first.message["Message-ID"] == again["Message-ID"] != second.message["Message-ID"]


def test_server_down_is_a_transient_delivery_error() -> None:
    channel = MailChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{free_port()}"), "a@b.id")
    with channel.session() as session, pytest.raises(DeliveryError) as info:
        session.send("x@y.id", MESSAGE, message_key="k")
    assert info.value.permanent is False


def test_a_password_is_never_sent_in_the_clear_to_a_remote_host() -> None:
    # aiosmtpd offers no STARTTLS; reached as 127.0.0.2 it does not count as local.
    server = SmtpServer(hostname="0.0.0.0")
    server.start()
    try:
        settings = SmtpSettings(host="127.0.0.2", port=server.port, username="u", password="p")
        channel = MailChannel(settings, "a@b.id")
        with channel.session() as session, pytest.raises(DeliveryError) as info:
            session.send("x@y.id", MESSAGE, message_key="k")
        assert "STARTTLS" in str(info.value) and info.value.permanent
        assert server.mails == []
    finally:
        server.stop()
