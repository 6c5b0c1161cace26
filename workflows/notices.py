"""Who is told of what, and when (CONTRACT §8; DOMAIN "Who must be told, and when").

Pure rules, no I/O:

- :func:`plan_notices` turns one event into the notices it calls for: one per
  (recipient, channel), or a :class:`MissingContact` when the policy names nobody for the
  role. ``complaint.escalated`` goes to its level's target; ``complaint.sla_warning`` and
  ``complaint.dispatched`` go to the SKPD's liaison officer (``penghubung``).
- :func:`release_instant` applies quiet hours in the region's time zone: a notice that
  falls due in quiet hours, on a weekend or on a holiday waits for the start of the
  next working day's office hours (a breach at 23:59:59 goes out at 07:30).
- :func:`digest_slot` schedules the daily mail digest: every mail of a recipient that
  falls due between two office-hour starts goes out together at the later one.
- :func:`notice_facts` computes what a message says: the deadline in local time and how
  many working days late it is. It never reads a complainant's identity, and the title
  it is given is dropped for a confidential complaint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from workflows.calendar import WorkingCalendar
from workflows.model import Event
from workflows.policy import Policy, QuietHours
from workflows.sla import working_days_elapsed

__all__ = [
    "DEFAULT_OFFICE_START",
    "KIND_BY_EVENT",
    "LIAISON_ROLE",
    "Channel",
    "MissingContact",
    "NoticeKind",
    "NoticePlan",
    "PlannedNotice",
    "digest_slot",
    "notice_facts",
    "notice_role",
    "plan_notices",
    "release_instant",
]

NoticeKind = Literal["escalation", "warning", "dispatch"]
Channel = Literal["email", "webhook"]

#: The liaison officer (pejabat penghubung) of an SKPD.
LIAISON_ROLE: Final = "penghubung"

#: Event types that call for a notice, and the kind of notice each one is.
KIND_BY_EVENT: Final[dict[str, NoticeKind]] = {
    "complaint.escalated": "escalation",
    "complaint.sla_warning": "warning",
    "complaint.dispatched": "dispatch",
}

#: When office hours begin if the policy has no quiet hours (the digest's send time).
DEFAULT_OFFICE_START: Final = time(7, 30)

# Quiet hours never last more than a few days (a long weekend plus cuti bersama); the
# search for the next open instant gives up after this many days rather than loop.
_MAX_SEARCH_DAYS: Final = 60


@dataclass(frozen=True)
class PlannedNotice:
    """One notice to store: an event, told to one recipient over one channel."""

    event_id: str
    complaint_id: str
    kind: NoticeKind
    role: str
    channel: Channel
    #: An email address, or the name of a ``webhooks`` entry.
    recipient: str
    #: The earliest instant it may go out (after quiet hours and the digest slot).
    due_at: datetime
    #: True when it goes out inside the recipient's daily digest mail.
    digest: bool


@dataclass(frozen=True)
class MissingContact:
    """An event whose role has no contact in any scope: counted and reported, not sent."""

    event_id: str
    complaint_id: str
    kind: NoticeKind
    role: str
    region: str | None
    skpd: str | None


@dataclass(frozen=True)
class NoticePlan:
    """What one event calls for."""

    notices: tuple[PlannedNotice, ...] = ()
    missing: tuple[MissingContact, ...] = ()
    kind: NoticeKind | None = None
    role: str | None = None


def notice_role(event: Event) -> str | None:
    """The role an event is told to, or ``None`` if the event calls for no notice."""
    kind = KIND_BY_EVENT.get(event.type)
    if kind is None:
        return None
    if kind == "escalation":
        target = event.payload.get("target")
        return str(target) if target else None
    return LIAISON_ROLE


def plan_notices(event: Event, policy: Policy) -> NoticePlan:
    """The notices ``event`` calls for under ``policy``: one per recipient and channel.

    A warning without an SKPD (the verification clock, before dispatch) goes to a
    ``penghubung`` contact of the region or ``*`` if there is one, else to nobody.

    A ``complaint.dispatched`` is told at once (quiet hours aside); warnings and
    escalations likewise, but their email goes into the daily digest when the policy
    asks for one. Webhooks (chat and WhatsApp gateways) are never digested.
    """
    kind = KIND_BY_EVENT.get(event.type)
    role = notice_role(event)
    if kind is None or role is None:
        return NoticePlan()
    contact = policy.contact(role, region=event.region, skpd=event.skpd)
    reachable = contact is not None and (bool(contact.emails) or contact.webhook is not None)
    if not reachable and role == LIAISON_ROLE and event.skpd is None:
        # Before dispatch no SKPD holds the complaint, so it has no liaison officer: a
        # verification warning reaches a region-wide "penghubung" contact if the policy
        # names one, and is otherwise nobody's to act on (not a missing contact).
        return NoticePlan(kind=kind, role=role)
    if contact is None or not reachable:
        missing = MissingContact(
            event.event_id, event.complaint_id, kind, role, event.region, event.skpd
        )
        return NoticePlan(missing=(missing,), kind=kind, role=role)
    tz = policy.timezone(event.region)
    settings = policy.notify
    quiet = settings.quiet_hours if settings is not None else None
    released = release_instant(event.occurred_at, tz, policy.calendar, quiet)
    digest = settings is not None and settings.digest == "daily"
    notices: list[PlannedNotice] = []
    for address in dict.fromkeys(contact.emails):  # a repeated address is told once
        due = digest_slot(event.occurred_at, tz, policy.calendar, quiet) if digest else released
        notices.append(
            PlannedNotice(
                event.event_id, event.complaint_id, kind, role, "email", address, due, digest
            )
        )
    if contact.webhook is not None:
        notices.append(
            PlannedNotice(
                event.event_id,
                event.complaint_id,
                kind,
                role,
                "webhook",
                contact.webhook,
                released,
                False,
            )
        )
    return NoticePlan(notices=tuple(notices), kind=kind, role=role)


def _is_quiet(moment: time, quiet: QuietHours) -> bool:
    """Whether a local wall time lies in the quiet interval ``[from, to)``."""
    if quiet.start == quiet.end:
        return False
    if quiet.start > quiet.end:  # wraps midnight: 17:00 .. 07:30
        return moment >= quiet.start or moment < quiet.end
    return quiet.start <= moment < quiet.end


def release_instant(
    at: datetime, tz: ZoneInfo, calendar: WorkingCalendar, quiet: QuietHours | None
) -> datetime:
    """The earliest instant at or after ``at`` when a notice may go out.

    Without quiet hours that is ``at`` itself. With them, a notice waits while the local
    wall time is in ``[from, to)`` and on every non-working day (weekend, holiday, cuti
    bersama): a breach at 23:59:59 on a Thursday goes out at ``to`` (07:30) on Friday,
    one on a Friday evening at 07:30 on the next working Monday.
    """
    if quiet is None:
        return at
    local = at.astimezone(tz)
    if calendar.is_working_day(local.date()) and not _is_quiet(local.time(), quiet):
        return at
    day = local.date()
    for _ in range(_MAX_SEARCH_DAYS):
        if calendar.is_working_day(day):
            for start in _open_starts(quiet):
                candidate = datetime.combine(day, start, tzinfo=tz)
                if candidate >= local:
                    return candidate
        day += timedelta(days=1)
    raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {at.isoformat()}")


def _open_starts(quiet: QuietHours) -> tuple[time, ...]:
    """Local wall times at which a working day's open (non-quiet) intervals begin."""
    if quiet.start > quiet.end:
        return (quiet.end,)
    # Quiet inside one day (e.g. 12:00-13:00): open from midnight, and again at `to`.
    return (time(0, 0), quiet.end) if quiet.start > time(0, 0) else (quiet.end,)


def digest_slot(
    at: datetime, tz: ZoneInfo, calendar: WorkingCalendar, quiet: QuietHours | None
) -> datetime:
    """When the daily digest that carries a mail falling due at ``at`` goes out.

    Digests go out once a working day, at the start of office hours (the quiet hours'
    ``to``, else 07:30 local): a mail due at that instant or before it, since the
    previous one, waits for it. So an escalation at 23:59:59 on Thursday is in Friday's
    07:30 digest, and one at 10:00 on Friday in Monday's.
    """
    start = quiet.end if quiet is not None else DEFAULT_OFFICE_START
    local = at.astimezone(tz)
    day = local.date()
    if local.time() > start or not calendar.is_working_day(day):
        day = calendar.add_working_days(day, 1)
    return datetime.combine(day, start, tzinfo=tz)


def _late_days(event: Event, deadline: datetime, tz: ZoneInfo, calendar: WorkingCalendar) -> int:
    """Working days between the deadline and the event (0 at the breach itself)."""
    return working_days_elapsed(deadline, event.occurred_at, tz, calendar)


def notice_facts(
    event: Event,
    policy: Policy,
    *,
    title: str | None = None,
    confidential: bool = False,
    follow_up_deadline: datetime | None = None,
) -> dict[str, Any]:
    """What a message about ``event`` says, in plain values for a template.

    ``title`` (known only for a non-confidential complaint) is dropped when
    ``confidential`` is true. A dispatch carries no deadline in its event; the store's
    ``follow_up_deadline`` names it. Nothing here can carry a complainant's identity:
    only the event's routing fields and the SLA payload are read.
    """
    tz = policy.timezone(event.region)
    payload = event.payload
    facts: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.type,
        "kind": KIND_BY_EVENT.get(event.type),
        "complaint_id": event.complaint_id,
        "region": event.region,
        "skpd": event.skpd,
        "state": event.state,
        "occurred_at_local": _local_text(event.occurred_at, tz),
        "timezone": tz.key,
        "title": None if confidential else title,
        "confidential": confidential,
        "clock": payload.get("clock"),
        "level": payload.get("level"),
        "target": payload.get("target"),
        "deadline": None,
        "deadline_local": None,
        "late_working_days": None,
    }
    deadline_text = payload.get("deadline")
    if event.type == "complaint.dispatched":
        facts["clock"] = "follow_up"
        if follow_up_deadline is not None:
            deadline_text = follow_up_deadline.isoformat()
    if isinstance(deadline_text, str):
        deadline = datetime.fromisoformat(deadline_text)
        facts["deadline"] = deadline.isoformat()
        facts["deadline_local"] = _local_text(deadline, tz)
        if event.type == "complaint.escalated":
            facts["late_working_days"] = _late_days(event, deadline, tz, policy.calendar)
    return facts


_MONTHS: Final = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
_DAYS: Final = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_ZONE_NAMES: Final = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def _local_text(at: datetime, tz: ZoneInfo) -> str:
    """``Kamis, 5 Maret 2026 23:59:59 WITA``: an instant as an Indonesian reader reads it."""
    local = at.astimezone(tz)
    zone = _ZONE_NAMES.get(tz.key, local.strftime("UTC%z"))
    return (
        f"{_DAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} {local.year} "
        f"{local:%H:%M:%S} {zone}"
    )
