"""The /admin page over a real socket: sign-in, session cookie, CSRF, content.

The browser test (tests/integration/test_admin_browser.py) drives the same page in
Chromium; these check the HTTP details a browser hides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from engine.store import Store
from tests.engine.admin_history import POLICY, apply, history
from tests.webapp.server import running
from webapp.app import create_app
from webapp.auth import FailureLimiter, SessionSigner

TOKEN = "page-token-0123456789abcdef"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'pages.db'}")
    store.migrate()
    apply(store, history())
    with running(create_app(store, POLICY, SecretStr(TOKEN))) as url:
        yield url
    store.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: httpx.Client) -> httpx.Response:
    form = client.get("/admin/login")
    assert form.status_code == 200
    return client.post(
        "/admin/login", data={"token": TOKEN, "csrf": csrf_of(form.text), "next": "/admin"}
    )


def test_pages_need_a_session(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for path in ("/admin", "/admin/complaints/HSU-4", "/admin/complaints?id=HSU-4"):
            response = client.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/admin/login?next=")
        # A forged or expired cookie is no session.
        client.cookies.set("lf_session", "9999999999.abc.deadbeef", path="/admin")
        assert client.get("/admin").status_code == 303


def test_sign_in_sets_a_hardened_session_cookie(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        response = sign_in(client)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin"
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith("lf_session=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "path=/admin" in flags
        assert TOKEN not in cookie
        page = client.get("/admin", params={"since": "2026-03-01", "until": "2026-05-31"})
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        html = page.text
        # No asset from anywhere but this server.
        assert not re.search(r'(src|href)="(https?:)?//', html)
        assert 'id="skpd-table"' in html
        assert "Kinerja per SKPD" in html


def test_wrong_token_and_missing_csrf_are_refused(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        form = client.get("/admin/login")
        csrf = csrf_of(form.text)
        wrong = client.post("/admin/login", data={"token": "nope", "csrf": csrf})
        assert wrong.status_code == 401
        assert "lf_session" not in wrong.headers.get("set-cookie", "")
        forged = client.post("/admin/login", data={"token": TOKEN, "csrf": "x" * 32})
        assert forged.status_code == 403
        assert "lf_session" not in forged.headers.get("set-cookie", "")
    # Another site's form: the browser sends no login-CSRF cookie of ours.
    with httpx.Client(base_url=base_url, timeout=10) as stranger:
        response = stranger.post("/admin/login", data={"token": TOKEN, "csrf": csrf})
        assert response.status_code == 403


def test_sign_out_needs_the_session_csrf_token(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        sign_in(client)
        page = client.get("/admin")
        assert client.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
        assert client.get("/admin").status_code == 200  # still signed in
        out = client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        assert client.get("/admin").status_code == 303


def test_dashboard_content(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        sign_in(client)
        html = client.get(
            "/admin", params={"region": "HSU", "since": "2026-04-01", "until": "2026-04-30"}
        ).text
        # Liaison continuity: ani, budi, ani, ani is two changes.
        assert re.search(r"<td>DINKES</td>.*?ani, budi.*?>2</td>", html, re.S)
        # Intake chart for HSU against its target of 3; follow-up rate chart.
        assert "HSU: pengaduan masuk per bulan" in html
        assert re.search(r"<td>HSU</td><td>2026-04</td>.*?sms 1, web 2", html, re.S)
        assert "<svg" in html and "Tingkat tindak lanjut per SKPD" in html
        # The breached complaint is listed and linked.
        assert 'href="/admin/complaints/HSU-4"' in html
        bad = client.get("/admin", params={"since": "kemarin"})
        assert bad.status_code == 200 and "Tanggal mulai tidak valid" in bad.text


def test_complaint_page_and_look_up(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        sign_in(client)
        found = client.get("/admin/complaints", params={"id": " HSU-4 "})
        assert found.status_code == 303
        assert found.headers["location"] == "/admin/complaints/HSU-4"
        page = client.get("/admin/complaints/HSU-4")
        assert page.status_code == 200
        assert 'id="clocks"' in page.text and "verification" in page.text
        assert "complaint.escalated" in page.text and "melewati tenggat" in page.text
        missing = client.get("/admin/complaints/NOPE-1")
        assert missing.status_code == 404 and "tidak ditemukan" in missing.text
        # User text is escaped, never markup.
        evil = client.get("/admin/complaints/%3Cscript%3Ex")
        assert evil.status_code == 404
        assert "<script>x" not in evil.text and "&lt;script&gt;x" in evil.text


def test_next_never_leaves_the_admin_page(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        form = client.get("/admin/login")
        response = client.post(
            "/admin/login",
            data={"token": TOKEN, "csrf": csrf_of(form.text), "next": "https://evil.example/"},
        )
        assert response.headers["location"] == "/admin"


def test_session_signer() -> None:
    signer = SessionSigner(SecretStr(TOKEN), lifetime_s=60)
    session, cookie = signer.issue(now=1000)
    assert signer.verify(cookie, now=1059) == session
    assert signer.verify(cookie, now=1060) is None  # expired
    assert signer.verify(cookie.replace(session.nonce, "other"), now=1001) is None
    assert SessionSigner(SecretStr(TOKEN + "rotated")).verify(cookie, now=1001) is None
    assert signer.csrf_matches(session, signer.csrf_for(session))
    other, _ = signer.issue(now=1000)
    assert not signer.csrf_matches(other, signer.csrf_for(session))


def test_guessing_the_token_is_slowed_down(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'limit.db'}")
    store.migrate()
    app = create_app(store, POLICY, SecretStr(TOKEN))
    app.state.context.limiter.max_failures = 3
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        csrf = csrf_of(client.get("/admin/login").text)
        for _ in range(3):
            wrong = client.post("/admin/login", data={"token": "guess", "csrf": csrf})
            assert wrong.status_code == 401
        # Even the right token waits now; so does the API from this address.
        blocked = client.post("/admin/login", data={"token": TOKEN, "csrf": csrf})
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        api = client.get("/api/v1/complaints", headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.status_code == 429
    store.close()


def test_failure_limiter_window() -> None:
    limiter = FailureLimiter(max_failures=2, window_s=10)
    limiter.failed("a", now=100)
    assert limiter.retry_after("a", now=101) == 0
    limiter.failed("a", now=102)
    assert limiter.retry_after("a", now=103) == 7
    assert limiter.retry_after("b", now=103) == 0  # per address
    assert limiter.retry_after("a", now=110) == 0  # the first failure left the window
