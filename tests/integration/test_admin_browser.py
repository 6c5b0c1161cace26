"""The admin page in a real browser: Debian's Chromium, headless, driven by Playwright.

Signs in with the token, reads the per-SKPD table (numbers and breach highlighting
against the report), sorts it, opens a breached complaint from the list, and checks
screenshots are not blank. Every request must go to the app itself: the page needs no
asset from the internet. ``playwright install`` is never used (scripts/ensure_chromium.sh
installs the Debian package).

With LAPORFLOW_SCREENSHOT_DIR set, the screenshots are also written there (the docs'
pictures come from ``LAPORFLOW_SCREENSHOT_DIR=docs/img pytest this file``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from engine.report import build_report
from engine.status import complaint_status
from engine.store import Store
from tests.webapp import png, sample
from tests.webapp.server import running
from webapp.app import create_app

CHROMIUM = os.environ.get("LAPORFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-token-0123456789abcdef"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'sample.db'}")
    s.migrate()
    sample.fill(s)
    yield s
    s.close()


def _not_blank(data: bytes, what: str) -> None:
    image = png.decode(data)
    assert image.width >= 800 and image.height >= 600, what
    # A blank or single-colour page has (almost) no variance and a handful of shades.
    assert image.variance() > 200, f"{what}: the screenshot looks blank"
    assert image.distinct() > 30, f"{what}: too few shades for a rendered page"


def _keep(path: Path) -> None:
    folder = os.environ.get("LAPORFLOW_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def test_sign_in_read_the_table_and_open_a_complaint(store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh", pytrace=False)
    policy = sample.SAMPLE_POLICY
    with (
        running(create_app(store, policy, SecretStr(TOKEN))) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            # Signed out: the page asks for the token first.
            page.goto(f"{base}/admin")
            assert "/admin/login" in page.url
            page.fill("#token", "wrong-token")
            page.click("#login button[type=submit]")
            assert "Token salah" in page.inner_text("main")
            page.fill("#token", TOKEN)
            page.click("#login button[type=submit]")
            page.wait_for_selector("#skpd-table")
            assert page.url == f"{base}/admin"

            # The table is the report for the period the selectors show.
            since = date.fromisoformat(page.input_value("input[name=since]"))
            until = date.fromisoformat(page.input_value("input[name=until]"))
            expected = {
                r.skpd: r.as_dict() for r in build_report(store, policy, since=since, until=until)
            }
            keys = page.eval_on_selector_all(
                "#skpd-table thead th", "ths => ths.map(th => th.dataset.key)"
            )
            rows = page.eval_on_selector_all(
                "#skpd-table tbody tr",
                "trs => trs.map(tr => ({breach: tr.classList.contains('breach'),"
                " cells: Array.from(tr.cells).map(td => td.textContent.trim())}))",
            )
            assert len(rows) == len(expected) >= 10
            breached_rows = 0
            for row in rows:
                shown = dict(zip(keys, row["cells"], strict=True))
                want = expected[shown["skpd"]]
                assert int(shown["received"]) == want["received"], shown
                assert int(shown["open_breaches"]) == want["open_breaches"], shown
                assert row["breach"] == (want["open_breaches"] > 0), shown
                breached_rows += row["breach"]
            assert breached_rows > 0, "the sample has open breaches to highlight"

            # Sorting by a header click (local JavaScript).
            column = keys.index("received")

            def received_column() -> list[int]:
                texts = page.eval_on_selector_all(
                    "#skpd-table tbody tr",
                    f"trs => trs.map(tr => tr.cells[{column}].textContent.trim())",
                )
                return [int(t) for t in texts]

            page.click("#skpd-table th[data-key=received]")
            assert received_column() == sorted(received_column())
            page.click("#skpd-table th[data-key=received]")
            values = received_column()
            assert values == sorted(values, reverse=True) and values[0] > values[-1]

            # Charts and liaison continuity are on the page.
            assert page.locator("svg.chart").count() >= 2
            assert "penghubung-pupr, penghubung-pupr-2" in page.inner_text("#liaison-table")
            dashboard = tmp_path / "serve-admin.png"
            # The top of the page: selectors, the table and the charts.
            dashboard.write_bytes(
                page.screenshot(
                    full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1700}
                )
            )
            _keep(dashboard)
            _not_blank(page.screenshot(), "dashboard")

            # Open the first breached complaint from the list.
            link = page.locator("#breached-table a").first
            complaint_id = link.inner_text()
            link.click()
            page.wait_for_selector("#timeline")
            status = complaint_status(store, complaint_id, policy)
            assert status is not None
            assert page.inner_text("h1") == complaint_id
            assert page.inner_text("#state") == status["state"]
            assert page.locator("#timeline li").count() == len(status["history"])
            assert page.locator("#clocks tbody tr").count() == len(status["clocks"])
            assert page.locator("#clocks tr.breach").count() >= 1
            shot = tmp_path / "serve-complaint.png"
            shot.write_bytes(page.screenshot())
            _keep(shot)
            _not_blank(shot.read_bytes(), "complaint page")

            # The look-up form finds a complaint by id.
            page.fill("#lookup input[name=id]", complaint_id)
            page.click("#lookup button")
            page.wait_for_selector("#timeline")
            assert page.url.endswith(f"/admin/complaints/{complaint_id}")

            assert not errors, errors
            outside = [url for url in requests if not url.startswith(base)]
            assert not outside, f"requests beyond the app: {outside}"
        finally:
            browser.close()
