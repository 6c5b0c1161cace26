"""Messages from the Jinja2 templates in ``notices/templates`` (Indonesian).

A message names the complaint (its title only when it is not confidential), the SKPD,
the clock, the deadline in local time, how many working days late it is, and the link
``LAPORFLOW_ADMIN_URL/complaints/ID``. The templates only ever see the facts of
:func:`workflows.notices.notice_facts`, which hold no complainant identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["DigestItem", "Message", "Renderer"]

_KIND_SUBJECT = {
    "escalation": "Eskalasi tingkat {level}: pengaduan {cid} melewati tenggat ({skpd})",
    "warning": "Peringatan: tenggat pengaduan {cid} sudah dekat ({skpd})",
    "dispatch": "Disposisi baru: pengaduan {cid} untuk {skpd}",
}


@dataclass(frozen=True)
class Message:
    """A rendered mail: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class DigestItem:
    """One line of a digest: the facts of one notice."""

    facts: dict[str, Any]


class Renderer:
    """Renders notices and digests; ``admin_url`` is the base of the complaint links."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url.rstrip("/")
        self._env = Environment(
            loader=PackageLoader("notices", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def link(self, complaint_id: str) -> str:
        """The admin page of a complaint."""
        return f"{self.admin_url}/complaints/{quote(complaint_id, safe='')}"

    def notice(self, facts: dict[str, Any], role: str) -> Message:
        """One notice (escalation, warning or dispatch) as a mail."""
        facts = _named(facts)
        kind = facts["kind"]
        context = {"f": facts, "role": role, "link": self.link(facts["complaint_id"])}
        subject = _KIND_SUBJECT[kind].format(
            level=facts.get("level"), cid=facts["complaint_id"], skpd=facts.get("skpd") or "-"
        )
        return Message(
            subject=f"[LAPOR! {facts.get('region') or '-'}] {subject}",
            text=self._env.get_template(f"{kind}.txt").render(context),
            html=self._env.get_template(f"{kind}.html").render(context),
        )

    def digest(self, items: list[DigestItem], role: str) -> Message:
        """Several notices of one recipient in one daily mail."""
        rows = [{"f": _named(i.facts), "link": self.link(i.facts["complaint_id"])} for i in items]
        regions = sorted({str(i.facts.get("region") or "-") for i in items})
        escalations = sum(1 for i in items if i.facts["kind"] == "escalation")
        context = {"items": rows, "role": role}
        return Message(
            subject=f"[LAPOR! {', '.join(regions)}] Ringkasan harian: {len(items)} pemberitahuan"
            f", {escalations} eskalasi",
            text=self._env.get_template("digest.txt").render(context),
            html=self._env.get_template("digest.html").render(context),
        )

    def webhook_body(self, facts: dict[str, Any], role: str, recipient: str) -> dict[str, Any]:
        """The JSON a webhook receives: the facts, the link and a ready-made chat text."""
        link = self.link(facts["complaint_id"])
        facts = _named(facts)
        text = self._env.get_template("webhook.txt").render({"f": facts, "link": link}).strip()
        keys = (
            "event_id",
            "event_type",
            "kind",
            "complaint_id",
            "region",
            "skpd",
            "title",
            "clock",
            "level",
            "deadline",
            "deadline_local",
            "late_working_days",
        )
        return {
            **{k: facts.get(k) for k in keys},
            "role": role,
            "recipient": recipient,
            "link": link,
            "text": text,
        }


def _named(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts plus ``name``: the id, and the title only if the complaint is public."""
    name = facts["complaint_id"]
    if facts.get("title") and not facts.get("confidential"):
        name = f'{name} "{facts["title"]}"'
    elif facts.get("confidential"):
        name = f"{name} (rahasia)"
    return {**facts, "name": name}
