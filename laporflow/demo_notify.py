"""The demo's notices: who would have been told of the quarter's breaches, and how often.

After the engine run (and the feed's sync-back), :func:`run_notices` runs the notifier
over the demo's topics and database with :func:`laporflow.notify.run_until_idle`, which
captures every mail in-process (aiosmtpd) and every webhook with a local receiver, so
nobody is reached. The demo's policy is the loaded one when it names contacts;
otherwise :func:`demo_policy` adds contacts for the demo region's own SKPD directory
(every SKPD's liaison and head, the region's sekda and Diskominfo head, the province's
coordinator over a webhook) and the example's quiet hours with a daily digest, so a
quarter of notices is a few dozen mails instead of thousands.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.notices import NoticeStore
from engine.settings import Settings
from engine.store import Store
from workflows.policy import Policy

__all__ = ["DemoNotices", "demo_policy", "notices_table", "print_notices", "run_notices"]

#: The env var holding the demo webhook's HMAC secret (the capture receiver sets it).
DEMO_WEBHOOK_SECRET_ENV = "LAPORFLOW_DEMO_WEBHOOK_SECRET"
#: Rows of the who-was-told table before the rest are summed up in one line.
TABLE_ROWS = 12


def demo_policy(policy: Policy, region: str, skpds: dict[str, str | None]) -> Policy:
    """``policy``, with demo contacts for ``region``'s SKPDs if it names no contacts.

    A policy that names contacts is the operator's: it is returned as it is. Otherwise
    each SKPD gets a head (``kadis.<skpd>@<region>.go.id``) and a liaison
    (``penghubung.<skpd>@...``), the region a sekda and a Diskominfo head, ``*`` the
    provincial coordinator by email and by webhook; without a ``notify`` section, the
    example's quiet hours (17:00-07:30) and daily digest are added.
    """
    if policy.contacts:
        return policy
    domain = f"{region.lower()}.go.id"
    contacts: dict[str, dict[str, dict[str, object]]] = {
        f"{region}/{code}": {
            "kepala_skpd": {"email": f"kadis.{code.lower()}@{domain}"},
            "penghubung": {"email": f"penghubung.{code.lower()}@{domain}"},
        }
        for code in skpds
    }
    contacts[region] = {
        "sekda": {"email": f"sekda@{domain}"},
        "kepala_diskominfo": {"email": f"kominfo@{domain}"},
    }
    contacts["*"] = {
        "koordinator_provinsi": {"email": "lapor@kalselprov.go.id", "webhook": "wa-provinsi"}
    }
    data = policy.model_dump(by_alias=True)
    data["contacts"] = contacts
    data["webhooks"] = {
        **data["webhooks"],
        "wa-provinsi": {
            "url": "https://wa-gateway.example/send",
            "secret_env": DEMO_WEBHOOK_SECRET_ENV,
        },
    }
    if data.get("notify") is None:
        data["notify"] = {"quiet_hours": {"from": "17:00", "to": "07:30"}, "digest": "daily"}
    return Policy.model_validate(data)


@dataclass(frozen=True)
class DemoNotices:
    """The notices table after the run: counts per (role, channel, recipient, status)."""

    #: (role, channel, recipient, status) -> notices.
    rows: dict[tuple[str, str, str, str], int]
    #: Mails and webhook calls that reached the capture servers.
    mails: int = 0
    webhooks: int = 0
    seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls,
        rows: dict[tuple[str, str, str, str], int],
        *,
        mails: int = 0,
        webhooks: int = 0,
        seconds: float = 0.0,
    ) -> DemoNotices:
        """Counts, with totals per status computed from ``rows``."""
        totals: dict[str, int] = {}
        for (_, _, _, status), n in rows.items():
            totals[status] = totals.get(status, 0) + n
        return cls(rows, mails=mails, webhooks=webhooks, seconds=seconds, totals=totals)

    def sent(self) -> list[tuple[str, str, str, int]]:
        """(role, recipient, channel, notices) of the sent ones, most told first."""
        out = [
            (role, recipient, channel, n)
            for (role, channel, recipient, status), n in self.rows.items()
            if status == "sent"
        ]
        return sorted(out, key=lambda r: (-r[3], r[0], r[1], r[2]))


def run_notices(
    settings: Settings, policy: Policy, console: Console, *, timeout_s: float = 600.0
) -> DemoNotices | None:
    """Run the notifier until idle over the demo's topics and database; count who got what.

    Returns ``None`` (after saying why) when aiosmtpd, the capture mail server, is not
    installed: a plain ``pip install lapor-flow`` has no dev dependencies.
    """
    if importlib.util.find_spec("aiosmtpd") is None:
        console.print(
            "[yellow]Notices skipped:[/] the demo captures its mail with aiosmtpd, which is "
            "not installed (pip install -e '.\\[dev]', as `make demo` does). "
            "Run `laporflow notify` with LAPORFLOW_SMTP_URL to send them for real."
        )
        return None
    import time

    from laporflow.notify import run_until_idle

    started = time.monotonic()
    # Each missing contact is logged once; the totals line names them without breaking
    # the screen.
    quiet = logging.getLogger("consumers.notices")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with console.status("Telling people: laporflow notify over the demo's events"):
            summary = run_until_idle(settings, policy, timeout_s=timeout_s)
    finally:
        quiet.setLevel(level)
    store = Store(settings.database_url.get_secret_value())
    try:
        rows = NoticeStore(store).by_role()
    finally:
        store.close()
    result = DemoNotices.from_rows(
        rows,
        mails=summary.captured_mails,
        webhooks=summary.captured_webhooks,
        seconds=time.monotonic() - started,
    )
    return result


def print_notices(result: DemoNotices, console: Console) -> None:
    """The who-was-told table and the totals line."""
    console.print(notices_table(result))
    console.print(notices_totals_line(result))


def notices_table(result: DemoNotices, limit: int = TABLE_ROWS) -> Table:
    """Who was told how often: role, address, channel, notices (the rest summed up)."""
    table = Table(title="Notices sent (laporflow notify; mail captured, nobody reached)")
    for name in ("role", "recipient", "channel"):
        table.add_column(name)
    table.add_column("notices", justify="right")
    sent = result.sent()
    for role, recipient, channel, n in sent[:limit]:
        table.add_row(escape(role), escape(recipient), channel, str(n))
    rest = sent[limit:]
    if rest:
        table.add_row(
            f"... {len(rest)} more recipients", "", "", str(sum(r[3] for r in rest)), style="dim"
        )
    table.add_row("total", "", "", str(sum(r[3] for r in sent)), style="bold")
    return table


def notices_totals_line(result: DemoNotices) -> str:
    """One line: totals per outcome, and what the capture servers received."""
    t = result.totals
    missing = sorted(
        {role for (role, _, _, status) in result.rows if status == "no_contact"},
    )
    line = (
        f"Notices: sent {t.get('sent', 0)}, no_contact {t.get('no_contact', 0)}, "
        f"obsolete {t.get('obsolete', 0)}, failed {t.get('failed', 0)}, "
        f"held {t.get('pending', 0)}; {result.mails} mails and {result.webhooks} webhook "
        f"calls captured in {result.seconds:.1f} s"
    )
    if missing:
        line += f"; no contact for: {', '.join(missing)}"
    return line
