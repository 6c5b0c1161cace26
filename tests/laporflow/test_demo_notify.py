"""The demo's contacts and its notices summary (no services needed)."""

from __future__ import annotations

import importlib.util

import pytest
from rich.console import Console

from engine.settings import Settings
from laporflow import demo_notify
from laporflow.demo_notify import DemoNotices, demo_policy, notices_table, print_notices
from workflows.policy import Policy

SKPDS: dict[str, str | None] = {"PUPR": "Dinas PUPR", "DINKES": None}


def test_a_policy_without_contacts_gets_the_regions_skpds() -> None:
    policy = demo_policy(Policy(), "HSU", SKPDS)
    pupr = policy.contacts["HSU/PUPR"]
    assert pupr["penghubung"].emails == ("penghubung.pupr@hsu.go.id",)
    assert pupr["kepala_skpd"].emails == ("kadis.pupr@hsu.go.id",)
    assert set(policy.contacts) == {"HSU/PUPR", "HSU/DINKES", "HSU", "*"}
    assert set(policy.contacts["HSU"]) == {"sekda", "kepala_diskominfo"}
    assert policy.contacts["*"]["koordinator_provinsi"].webhook == "wa-provinsi"
    assert "wa-provinsi" in policy.webhooks
    assert policy.notify is not None and policy.notify.digest == "daily"


def test_a_policy_with_contacts_is_the_operators() -> None:
    own = Policy.model_validate({"contacts": {"*": {"sekda": {"email": "s@x.id"}}}})
    assert demo_policy(own, "HSU", SKPDS) is own


def test_an_own_notify_section_is_kept() -> None:
    policy = Policy.model_validate({"notify": {"digest": "none"}})
    result = demo_policy(policy, "HSU", SKPDS).notify
    assert result is not None and result.digest == "none"


def test_the_table_sums_up_the_rest_and_totals() -> None:
    rows = {("penghubung", "email", f"p{i}@x.id", "sent"): i + 1 for i in range(15)}
    rows[("kepala_skpd", "none", "kepala_skpd", "no_contact")] = 4
    rows[("sekda", "email", "s@x.id", "obsolete")] = 2
    result = DemoNotices.from_rows(rows, mails=7, webhooks=0, seconds=1.0)
    console = Console(record=True, width=200)
    console.print(notices_table(result, limit=3))
    text = console.export_text()
    assert "│ p14@x.id " in text and "│ p11@x.id " not in text
    assert "... 12 more recipients" in text and " 78 │" in text  # 1 + ... + 12
    assert "total" in text and " 120 │" in text  # 1 + ... + 15
    print_notices(result, console)
    text = console.export_text()
    assert "│ p3@x.id " in text and "│ p2@x.id " not in text  # 12 rows by default
    assert "Notices: sent 120, no_contact 4, obsolete 2, failed 0, held 0; 7 mails" in text
    assert "no contact for: kepala_skpd" in text


def test_without_aiosmtpd_the_demo_says_so_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "aiosmtpd" else real(name, package)

    monkeypatch.setattr(demo_notify.importlib.util, "find_spec", find_spec)
    console = Console(record=True, width=200)
    assert demo_notify.run_notices(Settings(), Policy(), console) is None
    text = console.export_text()
    assert "Notices skipped" in text and "aiosmtpd" in text and "'.[dev]'" in text
