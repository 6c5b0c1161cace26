"""``laporflow status`` and ``laporflow report`` (CONTRACT §6) against a SQLite database.

The database is filled with the real processor (no broker) from the hand-computed
history of ``tests/engine/test_report.py``; the expected numbers are explained there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from engine.errors import PolicyError
from engine.store import Store
from laporflow import cli
from laporflow.cli import app
from tests.engine.test_replay import stopped_in_a_flood
from tests.engine.test_report import Cmd, apply, at, dispatched, follow_up, history

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOCK_FIELDS = {"started_at", "deadline", "paused", "breached", "stopped"}
BAD_POLICY = "defaults:\n  clokcs: {follow_up: 3}\n"  # a typo of "clocks"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    store = Store(url)
    store.migrate()
    apply(store, history())
    store.close()
    return url


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # Only the flags given in a test may configure the command.
    for name in ("LAPORFLOW_DATABASE_URL", "LAPORFLOW_POLICY"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def invoke(runner: CliRunner, db_url: str, *args: str) -> Result:
    return runner.invoke(app, [*args, "--database-url", db_url])


# --- status ----------------------------------------------------------------------------


def test_status_json(runner: CliRunner, db_url: str) -> None:
    result = invoke(runner, db_url, "status", "HSU-D4", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["complaint_id"] == "HSU-D4"
    assert found["state"] == "dispatched"
    assert found["skpd"] == "DINKES"
    # submitted, verified, dispatched, sla_warning, sla_breached, escalated x3
    assert found["seq"] == 8
    assert found["escalation_level"] == 3
    assert set(found["clocks"]) == {"verification", "follow_up", "resolution"}
    for name, clock in found["clocks"].items():
        assert set(clock) >= CLOCK_FIELDS, name
    follow = found["clocks"]["follow_up"]
    assert {k: follow[k] for k in CLOCK_FIELDS} == {
        "started_at": "2026-04-06T07:30:00+08:00",
        "deadline": "2026-04-13T23:59:59+08:00",  # 5 working days after Mon 04-06
        "paused": False,
        "breached": True,
        "stopped": False,
    }
    assert found["clocks"]["verification"]["stopped"] is True
    assert found["clocks"]["verification"]["breached"] is False
    resolution = found["clocks"]["resolution"]
    assert resolution["deadline"] == "2026-06-05T23:59:59+08:00"  # 60 calendar days
    # Follow-up escalation is exhausted (level 3); next is the resolution warning at
    # 0.8 x (60 d 16:59:59) = 48 d 13:35:59.2 after 04-06 07:00.
    assert found["next_due_at"] == "2026-05-24T20:35:59.200000+08:00"
    assert [e["seq"] for e in found["history"]] == list(range(1, 9))


def test_status_json_of_a_returned_complaint(runner: CliRunner, db_url: str) -> None:
    result = invoke(runner, db_url, "status", "HSU-P2", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["state"], found["skpd"]) == ("verified", None)
    verification = found["clocks"]["verification"]
    # Restarted by the return (Tue 04-07), due 3 working days later, breached, level 3.
    assert verification["started_at"] == "2026-04-07T09:00:00+08:00"
    assert verification["deadline"] == "2026-04-10T23:59:59+08:00"
    assert (verification["breached"], verification["stopped"]) == (True, False)
    assert found["clocks"]["follow_up"]["stopped"] is True
    assert found["escalation_level"] == 3


def test_status_timeline(runner: CliRunner, db_url: str) -> None:
    result = invoke(runner, db_url, "status", "HSU-D3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "HSU-D3" in out
    assert "followed_up" in out
    assert "DINKES" in out
    assert "Timeline" in out
    types = [
        "complaint.submitted",
        "complaint.verified",
        "complaint.dispatched",
        "complaint.sla_warning",
        "complaint.sla_breached",
        "complaint.escalated",
        "complaint.followed_up",
    ]
    positions = [out.find(t) for t in types]
    assert -1 not in positions, out
    assert positions == sorted(positions)  # in history order
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_status_of_an_unknown_complaint(runner: CliRunner, db_url: str) -> None:
    for extra in ((), ("--json",)):
        result = invoke(runner, db_url, "status", "HSU-NOPE", *extra)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "No complaint 'HSU-NOPE'" in result.stderr


# --- report ----------------------------------------------------------------------------

HSU_ROWS = [
    {
        "skpd": "DINKES",
        "received": 4,
        "followed_up": 3,
        "follow_up_rate": 0.75,
        "median_follow_up_working_days": 2,
        "p90_follow_up_working_days": 6.0,
        "open_breaches": 1,
        "escalations": 4,
        "returned": 0,
        "settled": 0,
        "auto_closed": 0,
    },
    {
        "skpd": "PUPR",
        "received": 2,
        "followed_up": 1,
        "follow_up_rate": 1.0,  # P2 was returned (bukan wewenang): 1 / (2 - 1)
        "median_follow_up_working_days": 3,
        "p90_follow_up_working_days": 3.0,
        "open_breaches": 0,
        "escalations": 0,
        "returned": 1,
        "settled": 1,
        "auto_closed": 0,
    },
]


def test_report_json(runner: CliRunner, db_url: str) -> None:
    result = invoke(runner, db_url, "report", "--json", "--region", "HSU")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == HSU_ROWS
    result = invoke(runner, db_url, "report", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    assert [r["skpd"] for r in rows] == ["DINKES", "DISDIK", "PUPR"]
    for row in rows:
        assert {
            "skpd",
            "received",
            "followed_up",
            "follow_up_rate",
            "median_follow_up_working_days",
            "open_breaches",
            "escalations",
            "returned",
            "settled",
            "auto_closed",
        } <= set(row)
    dinkes = rows[0]
    assert (dinkes["received"], dinkes["followed_up"], dinkes["follow_up_rate"]) == (5, 4, 0.8)
    assert dinkes["median_follow_up_working_days"] == 2.0  # 1, 2, 2, 6


def test_report_json_period(runner: CliRunner, db_url: str) -> None:
    result = invoke(
        runner, db_url, "report", "--json", "--since", "2026-04-14", "--until", "2026-04-15"
    )
    assert result.exit_code == 0, result.output
    # Only D4's level 2 escalation (04-15 23:59:59 WITA) is in the period.
    assert json.loads(result.stdout) == [
        {
            "skpd": "DINKES",
            "received": 0,
            "followed_up": 0,
            "follow_up_rate": None,
            "median_follow_up_working_days": None,
            "p90_follow_up_working_days": None,
            "open_breaches": 1,
            "escalations": 1,
            "returned": 0,
            "settled": 0,
            "auto_closed": 0,
        }
    ]


def test_report_table(runner: CliRunner, db_url: str) -> None:
    result = invoke(runner, db_url, "report", "--region", "HSU")
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    cells = {skpd: [c.strip() for c in line.split("│")[1:-1]] for skpd, line in lines.items()}
    header = next(line for line in result.stdout.splitlines() if "┃ SKPD" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "SKPD",
        "received",
        "followed up",
        "rate",
        "median HK",
        "p90 HK",
        "open breaches",
        "escalations",
        "returned",
        "settled",
        "auto-closed",
    ]
    assert cells["DINKES"] == ["DINKES", "4", "3", "75%", "2", "6", "1", "4", "0", "0", "0"]
    assert cells["PUPR"] == ["PUPR", "2", "1", "100%", "3", "3", "0", "0", "1", "1", "0"]


@pytest.mark.parametrize("flag", ["--since", "--until"])
@pytest.mark.parametrize("value", ["2026-13-01", "yesterday"])
def test_report_bad_date_is_a_usage_error(
    runner: CliRunner, db_url: str, flag: str, value: str
) -> None:
    result = invoke(runner, db_url, "report", flag, value)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert flag in result.stderr
    assert value in result.stderr


def test_report_with_a_policy_file(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    # A regional holiday on Tue 04-07: D1 took 0 working days, D2 1, D3 5.
    policy = tmp_path / "policy.yaml"
    policy.write_text('holidays: {add: ["2026-04-07"]}\n')
    result = invoke(runner, db_url, "report", "--json", "--region", "HSU", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    dinkes = json.loads(result.stdout)[0]
    assert dinkes["skpd"] == "DINKES"
    assert dinkes["median_follow_up_working_days"] == 1
    assert dinkes["p90_follow_up_working_days"] == 5.0


# --- a bad policy file, as the user sees it -------------------------------------------


def test_bad_policy_reaches_the_app_as_policy_error(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    # The typer app itself lets it through; laporflow.cli.main() turns it into exit 2.
    policy = tmp_path / "bad.yaml"
    policy.write_text(BAD_POLICY)
    result = invoke(runner, db_url, "report", "--policy", str(policy))
    assert isinstance(result.exception, PolicyError)
    assert "defaults.clokcs" in str(result.exception)


@pytest.mark.parametrize("command", [["report", "--json"], ["status", "HSU-D1"]])
def test_bad_policy_via_main_is_exit_2_naming_the_key(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(BAD_POLICY)
    monkeypatch.delenv("LAPORFLOW_POLICY", raising=False)
    monkeypatch.setattr(
        sys,
        "argv",
        ["laporflow", *command, "--database-url", db_url, "--policy", str(policy)],
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown key 'defaults.clokcs'" in captured.err
    assert "Traceback" not in captured.err


def test_bad_policy_from_the_command_line(db_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(BAD_POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "laporflow",
            "report",
            "--database-url",
            db_url,
            "--policy",
            str(policy),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "unknown key 'defaults.clokcs'" in done.stderr
    assert "Traceback" not in done.stderr


# --- bugs --------------------------------------------------------------------------------


@pytest.fixture
def notes_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'notes.db'}"
    store = Store(url)
    store.migrate()
    apply(
        store,
        [
            *dispatched("HSU-N1", "DINKES"),
            Cmd(at(7, 10), "follow_up", "HSU-N1", "skpd", {"note": "[lampiran] foto jalan"}),
            *dispatched("HSU-N2", "DINKES"),
            Cmd(at(7, 10), "follow_up", "HSU-N2", "skpd", {"note": "sudah [/b] selesai"}),
            # Answered the day it was dispatched: 0 working days.
            *dispatched("HSU-Z1", "PUPR"),
            follow_up("HSU-Z1", 6, hour=15),
        ],
        now=at(7, 12),
    )
    store.close()
    return url


@pytest.mark.parametrize(
    ("cid", "note"), [("HSU-N1", "[lampiran] foto jalan"), ("HSU-N2", "sudah [/b] selesai")]
)
def test_status_timeline_shows_notes_verbatim(
    runner: CliRunner, notes_db: str, cid: str, note: str
) -> None:
    result = invoke(runner, notes_db, "status", cid)
    assert result.exit_code == 0, repr(result.exception)
    assert note in result.stdout


def test_report_json_zero_working_days(runner: CliRunner, notes_db: str) -> None:
    result = invoke(runner, notes_db, "report", "--json")
    rows = {r["skpd"]: r for r in json.loads(result.stdout)}
    assert rows["PUPR"]["median_follow_up_working_days"] == 0
    assert rows["PUPR"]["p90_follow_up_working_days"] == 0.0


def test_report_table_shows_zero_working_days(runner: CliRunner, notes_db: str) -> None:
    result = invoke(runner, notes_db, "report")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if "│ PUPR" in line]
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[4:6] == ["0", "0"]  # median HK, p90 HK


def test_report_table_shows_skpd_names_from_the_directory(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("skpds:\n  HSU: {DINKES: Dinas Kesehatan, PUPR: null}\n")
    result = invoke(runner, db_url, "report", "--region", "HSU", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    first_cells = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line]
    assert first_cells == ["DINKES Dinas Kesehatan", "PUPR"]  # PUPR: listed without a name
    without = invoke(runner, db_url, "report", "--region", "HSU")
    assert "Kesehatan" not in without.stdout


# --- report --intake / --liaisons (CONTRACT §9) -----------------------------------------


@pytest.fixture(scope="module")
def admin_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The history of tests/engine/admin_history.py, with its policy as a file."""
    from tests.engine import admin_history

    folder = tmp_path_factory.mktemp("cli-admin")
    url = f"sqlite:///{folder / 'admin.db'}"
    store = Store(url)
    store.migrate()
    admin_history.apply(store, admin_history.history())
    store.close()
    policy = folder / "policy.yaml"
    policy.write_text(
        "regions: {ACEH: {timezone: Asia/Jakarta}}\n"
        "targets: {HSU: {complaints_per_month: 3}, BJM: {complaints_per_month: 2}}\n"
    )
    return url, policy


def test_report_intake_json_and_table(runner: CliRunner, admin_db: tuple[str, Path]) -> None:
    url, policy = admin_db
    args = ["report", "--intake", "--region", "HSU", "--since", "2026-03-01"]
    result = invoke(runner, url, *args, "--until", "2026-04-30", "--json", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "region": "HSU",
            "month": "2026-03",
            "received": 1,
            "target": 3,
            "partial": False,
            "by_channel": {"web": 1},
        },
        {
            "region": "HSU",
            "month": "2026-04",
            "received": 3,
            "target": 3,
            "partial": False,
            "by_channel": {"sms": 1, "web": 2},
        },
    ]
    result = invoke(runner, url, *args, "--until", "2026-04-15", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    assert ["HSU", "2026-04 (part)", "3", "3", "100%", "sms 1, web 2"] in cells
    assert ["HSU", "2026-03", "1", "3", "33%", "web 1"] in cells


def test_report_liaisons_json_and_table(runner: CliRunner, admin_db: tuple[str, Path]) -> None:
    url, policy = admin_db
    result = invoke(runner, url, "report", "--liaisons", "--region", "HSU", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["skpd"], r["officers"], r["changes"], r["current"]) for r in rows] == [
        ("DINKES", ["ani", "budi"], 2, "ani"),
        ("PUPR", ["citra"], 0, "citra"),
    ]
    assert rows[0]["current_since"] == "2026-04-09T02:00:00+00:00"
    result = invoke(runner, url, "report", "--liaisons", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    assert "ani, budi" in result.stdout
    result = invoke(runner, url, "report", "--liaisons", "--intake")
    assert result.exit_code == 2


# --- replay ----------------------------------------------------------------------------


def test_replay_counts_timers_not_fired_yet_and_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stopped.db'}"
    stopped_in_a_flood(url).close()
    result = invoke(runner, url, "replay")
    assert result.exit_code == 0, result.output
    assert "0 history conflicts, 0 differences." in result.stdout
    assert re.search(r"\d+ timer events of \d+ complaints are due", result.stdout), result.stdout
