"""What every request handler reads: the store, the policy and the credentials."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from engine.store import Store
from webapp.auth import FailureLimiter, SessionSigner
from workflows.policy import Policy

__all__ = ["AppContext"]


@dataclass(frozen=True)
class AppContext:
    """The app's dependencies, set once at start (``app.state.context``)."""

    store: Store
    policy: Policy
    token: SecretStr
    signer: SessionSigner
    #: Mark cookies Secure (set when the page is served over HTTPS, e.g. behind a proxy).
    secure_cookies: bool = False
    #: Slows down token guessing (API and sign-in), per client address.
    limiter: FailureLimiter = field(default_factory=FailureLimiter)
