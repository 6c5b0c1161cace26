"""The Prometheus configuration and alert rules of ops/prometheus, checked with promtool.

``promtool`` comes from Debian's ``prometheus`` package: ``scripts/ensure_prometheus.sh``
installs it. Without it these tests fail (they do not skip): an untested alert is worse
than none at 2 a.m.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "ops" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
SEVERITIES = {"critical", "warning"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: run scripts/ensure_prometheus.sh "
            "(as root it installs Debian's prometheus package, which carries promtool)",
            pytrace=False,
        )
    return path


def _promtool_run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [_promtool(), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(result.stdout, result.stderr)
    return result


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    result = _promtool_run("check", "rules", str(ALERTS.relative_to(REPO)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts() -> None:
    result = _promtool_run("test", "rules", str(ALERTS_TEST.relative_to(REPO)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "FAILED" not in result.stdout + result.stderr


def test_promtool_check_config() -> None:
    # The rule file is named relative to prometheus.yml, so it resolves both here and
    # in the container (/etc/prometheus/alerts.yml).
    result = _promtool_run("check", "config", str(CONFIG.relative_to(REPO)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    assert "is valid prometheus config file syntax" in result.stdout


def test_every_alert_is_actionable() -> None:
    rules = _rules()
    assert rules
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        name = rule["alert"]
        assert "for" in rule, f"{name}: say how long the condition must hold (for:)"
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), name
        # Runbook-style: what it means and what to do, not just the expression again.
        assert len(annotations["description"].split()) >= 30, f"{name}: description too thin"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    doc = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    assert doc["rule_files"] == ["alerts.yml"]
    firing: set[str] = set()
    silent: set[str] = set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in _rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"
    assert (firing | silent) - names == set(), "tests of alerts that do not exist"


def test_the_engine_scrape_job_matches_the_alerts() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    engine = jobs["laporflow-engine"]
    targets = [t for sc in engine["static_configs"] for t in sc["targets"]]
    assert targets == ["engine:9108"]
    assert engine.get("metrics_path", "/metrics") == "/metrics"
    assert config["rule_files"] == ["alerts.yml"]
    assert 'up{job="laporflow-engine"}' in ALERTS.read_text(encoding="utf-8")
