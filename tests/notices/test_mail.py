"""The mail channel against a real SMTP server on localhost (aiosmtpd)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult

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


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_then_login_when_the_server_offers_it(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        ok = (auth_data.login, auth_data.password) == (b"kominfo", b"rahasia:123")
        return AuthResult(success=ok)

    server = SmtpServer()
    server.start_with(
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    try:
        url = f"smtp://kominfo:rahasia%3A123@127.0.0.1:{server.port}"
        channel = MailChannel(SmtpSettings.from_url(url, ca_file=str(cert)), "a@hsu.go.id")
        with channel.session() as session:
            session.send("sekda@hsu.go.id", MESSAGE, message_key="k")
        # The server refuses MAIL before STARTTLS and AUTH: the mail proves both happened.
        (mail,) = server.wait_for(1)
        assert mail.rcpt == ["sekda@hsu.go.id"]
        assert logins == [("kominfo", "rahasia:123")]
        # Without the CA the certificate is not trusted: no mail, a transient error.
        untrusting = MailChannel(SmtpSettings.from_url(url), "a@hsu.go.id")
        with untrusting.session() as session, pytest.raises(DeliveryError) as info:
            session.send("sekda@hsu.go.id", MESSAGE, message_key="k2")
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    finally:
        server.stop()
