"""``laporflow lapor-sim`` and ``laporflow feed`` as an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from lapor.settings import FeedSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(extra, PYTHONUNBUFFERED="1")
    return env


def test_lapor_sim_serves_reports_with_its_token() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "laporflow", "lapor-sim", "--port", "0", "--reports", "7",
         "--token", "tok-cli", "--fault-rate", "0", "--tick", "60"],
        env=_env(), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("lapor-sim listening on http://127.0.0.1:"), line
        url = line.split()[3]
        ok = httpx.get(f"{url}/api/v1/reports", headers={"Authorization": "Bearer tok-cli"})
        assert ok.status_code == 200 and len(ok.json()["items"]) == 7
        assert httpx.get(f"{url}/api/v1/reports").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_feed_without_a_token_says_what_to_set() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "laporflow", "feed"],
        env=_env(LAPORFLOW_DATABASE_URL="sqlite:///:memory:"),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "LAPORFLOW_LAPOR_TOKEN" in result.stderr


def test_feed_settings_never_show_secrets() -> None:
    settings = FeedSettings(
        lapor_token=SecretStr("sangat-rahasia"),
        lapor_webhook_secret=SecretStr("kunci-hmac"),
        topic_prefix="kalsel.",
    )
    shown = repr(settings) + str(settings.as_dict())
    assert "sangat-rahasia" not in shown and "kunci-hmac" not in shown
    assert settings.as_dict()["lapor_token"] == "**********"
    assert settings.sync_group == "kalsel.laporflow-lapor-sync"
