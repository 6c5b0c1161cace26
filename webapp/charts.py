"""Small SVG charts drawn on the server: no JavaScript library, no asset from the internet.

Each function returns inline SVG markup (every text escaped) that the page embeds; the
colours come from CSS classes in ``static/admin.css``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Bar", "IntakeBar", "follow_up_rate_chart", "intake_chart"]


@dataclass(frozen=True)
class Bar:
    """One SKPD's follow-up rate (0..1, ``None`` without received complaints)."""

    label: str
    rate: float | None


@dataclass(frozen=True)
class IntakeBar:
    """One month's intake and its target."""

    label: str
    received: int
    target: int | None


def follow_up_rate_chart(bars: Sequence[Bar], *, good: float = 0.8) -> Markup:
    """Horizontal bars, one per SKPD, 0-100 %, with a dashed line at ``good``."""
    row_h, left, width, right = 22, 110, 300, 50
    height = row_h * max(len(bars), 1) + 24
    total = left + width + right
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {total} {height}" '
        f'width="{total}" height="{height}" aria-label="Tingkat tindak lanjut per SKPD">'
    ]
    for i, bar in enumerate(bars):
        y = i * row_h + 4
        label = escape(bar.label)
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" class="lbl">{label}</text>'
        )
        if bar.rate is None:
            parts.append(f'<text x="{left + 4}" y="{y + 14}" class="muted">-</text>')
            continue
        w = round(width * max(0.0, min(1.0, bar.rate)), 1)
        tone = "ok" if bar.rate >= good else ("warn" if bar.rate >= 0.5 else "bad")
        parts.append(
            f'<rect x="{left}" y="{y}" width="{w}" height="{row_h - 6}" class="bar {tone}">'
            f"<title>{label}: {bar.rate:.0%}</title></rect>"
        )
        parts.append(f'<text x="{left + w + 4}" y="{y + 14}" class="val">{bar.rate:.0%}</text>')
    x_good = left + width * good
    parts.append(
        f'<line x1="{x_good}" y1="0" x2="{x_good}" y2="{height - 20}" class="target"/>'
        f'<text x="{x_good}" y="{height - 6}" text-anchor="middle" class="muted">'
        f"{good:.0%}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def intake_chart(title: str, bars: Sequence[IntakeBar]) -> Markup:
    """Vertical bars of complaints received per month, with each month's target marked."""
    col_w, top, bottom, left = 64, 34, 36, 34
    plot_h = 140
    peak = max([b.received for b in bars] + [b.target or 0 for b in bars] + [1])
    width = left + col_w * max(len(bars), 1) + 10
    height = top + plot_h + bottom
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="{escape(title)}">',
        f'<text x="{left}" y="14" class="lbl">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 6}" y2="{top + plot_h}" '
        'class="axis"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="muted">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="muted">0</text>',
    ]
    for i, bar in enumerate(bars):
        x = left + i * col_w + 6
        h = round(plot_h * bar.received / peak, 1)
        y = top + plot_h - h
        below = bar.target is not None and bar.received < bar.target
        tone = "bad" if below else "ok"
        label = escape(bar.label)
        target_text = "-" if bar.target is None else str(bar.target)
        parts.append(
            f'<rect x="{x}" y="{y}" width="{col_w - 12}" height="{h}" class="bar {tone}">'
            f"<title>{label}: {bar.received} diterima, target {target_text}</title></rect>"
            f'<text x="{x + (col_w - 12) / 2}" y="{y - 3}" text-anchor="middle" class="val">'
            f"{bar.received}</text>"
            f'<text x="{x + (col_w - 12) / 2}" y="{top + plot_h + 14}" text-anchor="middle" '
            f'class="muted">{label}</text>'
        )
        if bar.target is not None:
            ty = round(top + plot_h - plot_h * bar.target / peak, 1)
            parts.append(
                f'<line x1="{x - 3}" y1="{ty}" x2="{x + col_w - 9}" y2="{ty}" class="target"/>'
            )
    parts.append(
        f'<text x="{left}" y="{height - 4}" class="muted">'
        "batang: diterima · garis putus: target</text></svg>"
    )
    return Markup("".join(parts))
