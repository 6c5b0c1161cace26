"""Terminal tables shared by ``laporflow report`` and ``laporflow demo``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.markup import escape
from rich.table import Table

from engine.report import SkpdRow

__all__ = ["kpi_table"]

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
