"""The LAPOR! client against the simulator over real HTTP: retries, tokens, errors."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import httpx
import pytest

from engine.errors import UpstreamAuthError, UpstreamError
from lapor.models import FollowUpPush
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim
from tests.lapor.conftest import TOKEN, client


@pytest.mark.parametrize("fault", ["500", "429", "stall"])
def test_every_fault_kind_is_retried(sim: LaporSim, server: ThreadedServer, fault: str) -> None:
    c = client(server)
    sim.script_faults(fault, fault)
    started = time.monotonic()
    page = c.page(None, 5)
    elapsed = time.monotonic() - started
    assert len(page.items) == 5
    kinds = {"500": "status_5xx", "429": "status_429", "stall": "timeout"}
    assert c.retries == [kinds[fault]] * 2  # type: ignore[attr-defined]
    assert sim.faults[fault] == 2
    if fault == "429":
        assert elapsed >= 2 * sim.retry_after_s  # Retry-After was honoured, twice


def test_a_push_is_retried_and_idempotent_by_event_id(
    sim: LaporSim, server: ThreadedServer
) -> None:
    c = client(server)
    tid = sorted(sim.reports)[0]
    push = FollowUpPush(
        event_id="e-1",
        type="follow_up",
        occurred_at=datetime(2026, 3, 3, tzinfo=UTC),
        state="followed_up",
        skpd="PUPR",
        note="Sudah ditambal.",
    )
    sim.script_faults("stall")  # the first try lands upstream after the client gave up
    c.push(tid, push)
    c.push(tid, push)
    time.sleep(0.8)  # let the stalled first request finish on the server
    followups = c.report(tid)["followups"]
    assert [f["event_id"] for f in followups] == ["e-1"]
    assert c.report(tid)["status"] == "Ditindaklanjuti"
    assert sim.push_duplicates >= 1


def test_giving_up_is_one_upstream_error(sim: LaporSim, server: ThreadedServer) -> None:
    c = client(server, attempts=3)
    sim.script_faults("500", "500", "500")
    with pytest.raises(UpstreamError, match="failed after 3 tries"):
        c.page(None, 5)


def test_a_bad_token_is_refused_and_never_shown(
    server: ThreadedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "salah-token-XYZ"
    c = client(server, token=secret)
    with pytest.raises(UpstreamAuthError) as info:
        c.page(None, 5)
    assert secret not in str(info.value)
    assert secret not in repr(c)
    assert secret not in caplog.text
    # Without any token at all: 401 too.
    assert httpx.get(f"{server.url}/api/v1/reports").status_code == 401
    assert (
        httpx.get(
            f"{server.url}/api/v1/reports", headers={"Authorization": f"Bearer {TOKEN}x"}
        ).status_code
        == 401
    )


def test_a_bad_cursor_is_a_client_error_not_retried(server: ThreadedServer) -> None:
    c = client(server)
    with pytest.raises(UpstreamError, match="400"):
        c.page("bukan-kursor", 5)
    assert c.retries == []  # type: ignore[attr-defined]
