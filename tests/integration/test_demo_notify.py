"""``laporflow demo`` tells people: after the engine and the feed, the notifier runs over
the demo's events (mail captured by a real in-process SMTP server) and the summary says
who got how many notices, consistently with the notices table; then the admin line."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from engine.schema import notices_table
from engine.settings import Settings
from engine.store import Store
from laporflow.demo import ADMIN_LINE, demo_database_url, run_demo


def test_the_demo_summary_says_who_was_told(kafka_bootstrap: str, tmp_path: Path) -> None:
    url = demo_database_url(tmp_path / "demo.db")
    console = Console(record=True, width=200)
    result = run_demo(
        Settings(kafka_bootstrap=kafka_bootstrap, database_url=url),
        complaints=200,
        seed=11,
        days=45,
        feed_reports=5,
        console=console,
    )
    text = console.export_text()
    store = Store(url)
    t = notices_table
    with store.connect("test") as conn:
        by_status = dict(conn.execute(select(t.c.status, func.count()).group_by(t.c.status)).all())
        sent_rows = conn.execute(
            select(t.c.role, t.c.recipient, t.c.channel, func.count())
            .where(t.c.status == "sent")
            .group_by(t.c.role, t.c.recipient, t.c.channel)
        ).all()
    store.close()
    notices = result.notices
    assert notices is not None
    # A quarter of a regency has breaches: people were told, by mail and by webhook.
    assert by_status.get("sent", 0) > 0
    assert {c for _, _, c, _ in sent_rows} == {"email", "webhook"}
    assert 0 < notices.mails <= by_status["sent"] and notices.webhooks > 0
    # The totals line is the table's truth.
    line = re.search(
        r"Notices: sent (\d+), no_contact (\d+), obsolete (\d+), failed (\d+), held (\d+); "
        r"(\d+) mails and (\d+) webhook calls",
        text,
    )
    assert line is not None, text
    printed = [int(g) for g in line.groups()]
    assert printed[:5] == [
        by_status.get(s, 0) for s in ("sent", "no_contact", "obsolete", "failed", "pending")
    ]
    assert printed[5:] == [notices.mails, notices.webhooks]
    # Every webhook call the capture receiver accepted is a sent webhook notice.
    assert notices.webhooks == sum(n for _, _, c, n in sent_rows if c == "webhook")
    # The table: the most told recipient first, and the total row.
    top = max(sent_rows, key=lambda r: r[3])
    assert re.search(rf"│ {top[0]} +│ {re.escape(top[1])} +│ {top[2]} +│ +{top[3]} │", text)
    assert re.search(rf"│ total +│ +│ +│ +{by_status['sent']} │", text)
    # Recipients are the demo contacts of the region's SKPDs, nobody else.
    assert all(
        r.endswith(("@hsu.go.id", "@kalselprov.go.id")) for _, r, c, _ in sent_rows if c == "email"
    )
    # Then the admin line, last.
    assert text.rstrip().splitlines()[-1] == ADMIN_LINE
