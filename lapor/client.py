"""The HTTP client of the national LAPOR! API (httpx, retries by tenacity).

* The token is a :class:`~pydantic.SecretStr`: it goes into the ``Authorization``
  header and nowhere else (not in a log line, an error message or a ``repr``).
* 5xx answers, timeouts and connection errors are retried with exponential backoff
  and full jitter; a 429 waits for its ``Retry-After`` (capped) before the next try.
* After the last try, or on any other 4xx, one :class:`~engine.errors.UpstreamError`
  names the method, the path and the status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from engine.errors import UpstreamAuthError, UpstreamError
from lapor.models import FollowUpPush, ReportPage

__all__ = ["LaporClient", "RetryableError"]

log = logging.getLogger(__name__)


class RetryableError(Exception):
    """One failed try that may succeed later (5xx, 429, timeout, connection error)."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(f"{kind}: {detail}")


class LaporClient:
    """Pages through reports, reads one report, pushes follow-ups."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout_s: float = 5.0,
        attempts: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_retry_after_s: float = 60.0,
        on_retry: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.attempts = attempts
        #: Tries the last call took (1 when it went through at once).
        self.last_attempts = 0
        self.max_retry_after_s = max_retry_after_s
        self._backoff = wait_random_exponential(multiplier=backoff_s, max=max_backoff_s)
        self._on_retry = on_retry
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"LaporClient({self.base_url!r}, token=SecretStr('**********'))"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # --- the API ----------------------------------------------------------------------

    def page(self, cursor: str | None, limit: int) -> ReportPage:
        """One page of ``GET /api/v1/reports``, from ``cursor`` (``None``: the beginning)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = self._call("GET", "/api/v1/reports", params=params)
        try:
            return ReportPage.model_validate(body)
        except ValidationError as exc:
            raise UpstreamError(
                "GET /api/v1/reports answered something that is not a page of reports",
                detail=str(exc.errors(include_url=False)[:1]),
            ) from exc

    def report(self, tracking_id: str) -> dict[str, Any]:
        """``GET /api/v1/reports/{tracking_id}``: the item and its ``followups``."""
        body = self._call("GET", f"/api/v1/reports/{tracking_id}")
        if not isinstance(body, dict):
            raise UpstreamError("the report is not a JSON object", tracking_id=tracking_id)
        return body

    def push(self, tracking_id: str, push: FollowUpPush) -> dict[str, Any]:
        """``POST /api/v1/reports/{tracking_id}/followups`` (idempotent upstream by event id)."""
        body = self._call(
            "POST",
            f"/api/v1/reports/{tracking_id}/followups",
            json=push.model_dump(mode="json"),
        )
        return body if isinstance(body, dict) else {}

    # --- one call, retried ------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.last_attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, RetryableError)),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._try, method, path, **kwargs)
        except RetryableError as exc:
            self.last_attempts = self.attempts
            raise UpstreamError(
                f"{method} {path} failed after {self.attempts} tries ({exc}); "
                "the national LAPOR! API is down or overloaded, the next poll tries again",
                url=self.base_url,
            ) from None

    def _try(self, method: str, path: str, **kwargs: Any) -> Any:
        self.last_attempts += 1
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableError("timeout", f"{method} {path}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise RetryableError("connection", f"{method} {path}: {type(exc).__name__}") from None
        status = response.status_code
        if status == 429:
            raise RetryableError(
                "status_429", f"{method} {path}: 429", _retry_after(response.headers)
            )
        if status >= 500:
            raise RetryableError(f"status_{status // 100}xx", f"{method} {path}: {status}")
        if status in (401, 403):
            raise UpstreamAuthError(
                f"{method} {path}: the national LAPOR! API refused the token ({status}); "
                "check LAPORFLOW_LAPOR_TOKEN",
                url=self.base_url,
            )
        if status >= 400:
            raise UpstreamError(
                f"{method} {path} was refused with {status}: {response.text[:200]}",
                url=self.base_url,
            )
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"{method} {path} did not answer JSON", url=self.base_url) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after_s)
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        kind = exc.kind if isinstance(exc, RetryableError) else "other"
        log.info(
            "LAPOR! API try %d failed (%s); retrying in %.2f s",
            state.attempt_number,
            exc,
            state.next_action.sleep if state.next_action else 0.0,
        )
        if self._on_retry is not None:
            self._on_retry(kind)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to the backoff
