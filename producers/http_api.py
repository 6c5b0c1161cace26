"""The engine's HTTP port: ``/metrics``, ``/healthz`` (alive), ``/readyz`` (dependencies up)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HttpApi", "ReadinessCheck", "cached"]

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], bool]


def cached(check: ReadinessCheck, *, ttl_s: float) -> ReadinessCheck:
    """``check``, run at most once per ``ttl_s`` seconds (scrapes and probes stay cheap)."""
    lock = threading.Lock()
    last: list[float | bool] = [float("-inf"), False]

    def run() -> bool:
        with lock:
            if time.monotonic() - float(last[0]) >= ttl_s:
                last[1] = _safe(check)
                last[0] = time.monotonic()
            return bool(last[1])

    return run


class HttpApi:
    """A small threaded HTTP server; ``checks`` name what ``/readyz`` must find reachable."""

    def __init__(
        self,
        registry: CollectorRegistry,
        checks: Mapping[str, ReadinessCheck],
        *,
        host: str = "0.0.0.0",
        port: int = 9108,
    ) -> None:
        self.registry = registry
        self.checks = dict(checks)
        handler = self._handler()
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(api.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._json(200, {"status": "ok"})
                elif path == "/readyz":
                    results = {name: _safe(check) for name, check in api.checks.items()}
                    ready = all(results.values())
                    self._json(200 if ready else 503, {"ready": ready, "checks": results})
                else:
                    self._json(404, {"error": f"no such path: {path}"})

            def _json(self, status: int, body: object) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http: " + format, *args)

        return Handler


def _safe(check: ReadinessCheck) -> bool:
    try:
        return bool(check())
    except Exception:
        return False
