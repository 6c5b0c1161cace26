"""Who may read: the API's bearer token, the admin page's session cookie and CSRF tokens.

- The API compares ``Authorization: Bearer <token>`` with ``LAPORFLOW_API_TOKEN`` in
  constant time (:func:`hmac.compare_digest` over the UTF-8 bytes).
- The admin page signs in with the same token once, then carries a session cookie:
  ``<expiry>.<nonce>.<HMAC-SHA256>``, HttpOnly, SameSite=Strict, Secure when served
  over HTTPS. The signing key is derived from the token, so every ``serve`` instance
  behind one address accepts the others' sessions, and rotating the token signs
  everyone out.
- Forms carry a CSRF token: before sign-in a random one doubled in a cookie, after it
  one bound to the session (an HMAC of its nonce).
- Guessing is slowed down: after ``max_failures`` wrong tokens from one client address
  within a window, that address gets 429 until the window has passed
  (:class:`FailureLimiter`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from pydantic import SecretStr

__all__ = ["FailureLimiter", "Session", "SessionSigner", "bearer_matches"]


def bearer_matches(header: str | None, token: SecretStr) -> bool:
    """Whether an ``Authorization`` header carries exactly ``token`` (constant time)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    expected = token.get_secret_value().encode()
    return hmac.compare_digest(given.strip().encode(), expected)


@dataclass(frozen=True)
class Session:
    """A signed-in admin's session: its random nonce and when it ends (epoch seconds)."""

    nonce: str
    expires: int


class SessionSigner:
    """Issues and checks session cookies and CSRF tokens with a key derived from the token."""

    def __init__(self, token: SecretStr, *, lifetime_s: int = 8 * 3600) -> None:
        self._token = token
        self._key = hmac.new(
            b"laporflow-admin-session", token.get_secret_value().encode(), hashlib.sha256
        ).digest()
        self.lifetime_s = lifetime_s

    def token_matches(self, given: str) -> bool:
        """Whether a signed-in form's token is the API token (constant time)."""
        return hmac.compare_digest(given.encode(), self._token.get_secret_value().encode())

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        expires = int((now if now is not None else time.time()) + self.lifetime_s)
        session = Session(secrets.token_urlsafe(18), expires)
        payload = f"{session.expires}.{session.nonce}"
        return session, f"{payload}.{self._sign('session:' + payload)}"

    def verify(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie carries, or ``None`` if unsigned, tampered or expired."""
        if not cookie:
            return None
        expires_text, _, rest = cookie.partition(".")
        nonce, _, signature = rest.rpartition(".")
        if not expires_text.isdigit() or not nonce:
            return None
        payload = f"{expires_text}.{nonce}"
        if not hmac.compare_digest(signature, self._sign("session:" + payload)):
            return None
        if int(expires_text) <= (now if now is not None else time.time()):
            return None
        return Session(nonce, int(expires_text))

    def csrf_for(self, session: Session) -> str:
        """The CSRF token of a session's forms."""
        return self._sign("csrf:" + session.nonce)

    def csrf_matches(self, session: Session, given: str) -> bool:
        """Whether a form's CSRF token is its session's (constant time)."""
        return hmac.compare_digest(given, self.csrf_for(session))


class FailureLimiter:
    """Counts wrong tokens per client address; too many in a window blocks the address.

    In memory, per process (each ``serve`` instance counts its own). Thread-safe: the
    sync handlers run in a thread pool.
    """

    def __init__(self, *, max_failures: int = 10, window_s: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                if not times:
                    self._failures.pop(client, None)
                return 0
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def failed(self, client: str, now: float | None = None) -> None:
        """Record a wrong token from ``client``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)
