"""Terminal tables shared by ``laporflow report`` and ``laporflow demo``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.markup import escape
from rich.table import Table

from engine.intake import IntakeRow
from engine.liaisons import LiaisonRow
from engine.report import SkpdRow

__all__ = ["intake_table", "kpi_table", "liaison_table"]

_COLUMNS = (
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
)


def _days(value: float | None) -> str:
    # 0 working days (answered the same day) is a result, not "no data".
    return "-" if value is None else f"{value:g}"


def _skpd_cell(code: str, names: Callable[[str], str | None] | None) -> str:
    name = names(code) if names is not None else None
    return escape(code) if name is None else f"{escape(code)} [dim]{escape(name)}[/]"


def kpi_table(
    rows: Iterable[SkpdRow], title: str, names: Callable[[str], str | None] | None = None
) -> Table:
    """The per-SKPD KPI table (HK = hari kerja, working days); ``names`` gives SKPD names.

    The rate is followed up / (received - returned): returns (bukan wewenang) are not
    the SKPD's to answer. Settled counts complaints, once each; auto-closed is how many
    of those the system closed after the complainant's silence.
    """
    table = Table(title=title)
    for col in _COLUMNS:
        table.add_column(col, justify="left" if col == "SKPD" else "right")
    for row in rows:
        table.add_row(
            _skpd_cell(row.skpd, names),
            str(row.received),
            str(row.followed_up),
            "-" if row.follow_up_rate is None else f"{row.follow_up_rate:.0%}",
            _days(row.median_follow_up_working_days),
            _days(row.p90_follow_up_working_days),
            str(row.open_breaches),
            str(row.escalations),
            str(row.returned),
            str(row.settled),
            str(row.auto_closed),
        )
    return table


def intake_table(rows: Iterable[IntakeRow]) -> Table:
    """Complaints received per region and local month, against the policy's target."""
    table = Table(title="Intake per region and month (local time) vs target")
    for col in ("region", "month", "received", "target", "of target", "channels"):
        table.add_column(
            col, justify="right" if col in ("received", "target", "of target") else "left"
        )
    for row in rows:
        share = "-" if not row.target else f"{row.received / row.target:.0%}"
        month = f"{row.month} (part)" if row.partial else row.month
        target = "-" if row.target is None else str(row.target)
        channels = ", ".join(f"{name} {n}" for name, n in sorted(row.by_channel.items()))
        table.add_row(escape(row.region), month, str(row.received), target, share, escape(channels))
    return table


def liaison_table(rows: Iterable[LiaisonRow]) -> Table:
    """Per SKPD: the officers who answered, changes of officer, the current one."""
    table = Table(title="Liaison continuity (answers by role skpd)")
    for col in ("region", "SKPD", "answers", "officers", "changes", "current", "since"):
        table.add_column(col, justify="right" if col in ("answers", "changes") else "left")
    for row in rows:
        # Actor ids and codes come from producers: escape them, never parse as markup.
        table.add_row(
            escape(row.region),
            escape(row.skpd),
            str(row.answers),
            escape(", ".join(row.officers)),
            str(row.changes),
            escape(row.current),
            row.current_since.isoformat(),
        )
    return table
