"""``laporflow serve`` as its own process: settings, start-up checks, Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.store import Store
from tests.engine.admin_history import apply, history

TOKEN = "serve-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'serve.db'}"
    store = Store(url)
    store.migrate()
    apply(store, history())
    store.close()
    return url


def test_serves_until_interrupted(db_url: str) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "laporflow", "serve", "--database-url", db_url],
        env=_env(LAPORFLOW_API_TOKEN=TOKEN, LAPORFLOW_API_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "serve exited early"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        page = httpx.get(f"{base}/api/v1/complaints", headers=headers, params={"limit": 2})
        assert page.status_code == 200 and len(page.json()["items"]) == 2
        assert httpx.get(f"{base}/api/v1/complaints").status_code == 401
        time.sleep(1)
        assert process.poll() is None  # still serving
        process.send_signal(signal.SIGINT)  # Ctrl-C
        output = process.communicate(timeout=20)[0].decode()
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/admin" in output
    assert TOKEN not in output


@pytest.mark.parametrize("token", [None, "short"])
def test_refuses_to_start_without_a_strong_token(db_url: str, token: str | None) -> None:
    env = _env() if token is None else _env(LAPORFLOW_API_TOKEN=token)
    result = subprocess.run(
        [sys.executable, "-m", "laporflow", "serve", "--database-url", db_url, "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LAPORFLOW_API_TOKEN" in result.stderr


def test_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "laporflow",
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path}/x.db",
        ],
        env=_env(LAPORFLOW_API_TOKEN=TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no lapor-flow schema" in result.stderr
