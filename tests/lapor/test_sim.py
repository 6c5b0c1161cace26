"""The simulated national LAPOR!: paging, the cursor, realistic and private reports."""

from __future__ import annotations

from lapor.mapping import load_mapping
from lapor.regions import load_region
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim
from tests.lapor.conftest import all_pages, client


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
