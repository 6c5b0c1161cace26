"""The LAPOR! client against the simulator over real HTTP (uvicorn on an ephemeral port)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from engine.errors import UpstreamAuthError, UpstreamError
from lapor.client import LaporClient
from lapor.mapping import load_mapping
from lapor.models import FollowUpPush
from lapor.regions import load_region
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim, create_app

TOKEN = "rahasia-token-123"


@pytest.fixture
def sim() -> LaporSim:
    return LaporSim(reports=23, seed=5, token=TOKEN, stall_s=0.6, retry_after_s=1)


@pytest.fixture
def server(sim: LaporSim) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(sim)) as srv:
        yield srv


_OPEN: list[LaporClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def client(server: ThreadedServer, token: str = TOKEN, **kw: object) -> LaporClient:
    retries: list[str] = []
    c = LaporClient(
        server.url,
        SecretStr(token),
        timeout_s=0.3,
        backoff_s=0.02,
        max_backoff_s=0.1,
        on_retry=retries.append,
        **kw,  # type: ignore[arg-type]
    )
    c.retries = retries  # type: ignore[attr-defined]
    _OPEN.append(c)
    return c


def all_pages(c: LaporClient, limit: int) -> tuple[list[dict[str, object]], str | None]:
    cursor, items = None, []
    while True:
        page = c.page(cursor, limit)
        items += page.items
        if page.next is None:
            return items, cursor
        cursor = page.next


def test_paging_returns_every_report_once_in_change_order(server: ThreadedServer) -> None:
    items, _ = all_pages(client(server), 5)
    assert len(items) == 23
    ids = [i["tracking_id"] for i in items]
    assert len(set(ids)) == 23
    stamps = [i["updated_at"] for i in items]
    assert stamps == sorted(stamps)


def test_an_upstream_status_change_comes_back_through_the_cursor(
    sim: LaporSim, server: ThreadedServer
) -> None:
    c = client(server)
    items, cursor = all_pages(c, 10)
    page = c.page(cursor, 10)
    last_cursor = page.next or cursor
    changed = sorted(sim.reports)[3]
    sim.set_status(changed, "Terverifikasi")
    again = c.page(last_cursor, 10)
    assert changed in [i["tracking_id"] for i in again.items]
    assert next(i for i in again.items if i["tracking_id"] == changed)["status"] == "Terverifikasi"
    assert len(items) == 23


def test_reports_look_like_lapor_and_keep_privacy(sim: LaporSim) -> None:
    big = LaporSim(reports=300, seed=9)
    reports = list(big.reports.values())
    regions = {r.region for r in reports}
    assert "HSU" in regions and len(regions) >= 3
    assert {r.channel for r in reports} >= {"web", "sms", "mobile", "whatsapp"}
    assert len({r.category for r in reports}) >= 8
    anonim = [r for r in reports if r.anonymous]
    assert anonim and all("complainant" not in r.item() for r in anonim)
    assert any(r.confidential for r in reports)
    hsu_places = {d for d, _ in load_region("hsu").villages}
    assert any(d in r.body or d in r.title for r in reports for d in hsu_places)
    mapping = load_mapping()
    for r in reports:
        mapping.parse(r.item())  # every simulated report passes the default mapping
    # Same seed, same reports (times aside).
    again = LaporSim(reports=300, seed=9)
    assert [(r.tracking_id, r.title) for r in again.reports.values()] == [
        (r.tracking_id, r.title) for r in reports
    ]


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
