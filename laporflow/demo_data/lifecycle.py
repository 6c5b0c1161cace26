"""The lifecycle simulator: each complaint's commands in a valid order, at realistic times.

Admins and SKPD liaison officers work 07:30-16:00 WITA on weekdays; complainants act at
any hour. All randomness flows through one seeded :class:`random.Random`, in order.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from lapor.regions import Topic
from laporflow.demo_data.records import (
    WITA,
    WORK_SECONDS,
    WORK_START,
    DemoMix,
    DemoRecord,
    DemoRegion,
    add_workdays,
    encode,
    in_work_hours,
    iso,
)
from laporflow.demo_data.region import (
    ARCHIVE_DELAY,
    CITIZEN_HOURS,
    DATA,
    DISPATCH_DELAY,
    FOLLOW_UP_FAST,
    FOLLOW_UP_NORMAL,
    FOLLOW_UP_SLOW,
    REDISPATCH_DELAY,
    VERIFY_DELAY,
    season_factor,
)
from workflows.wire import command_doc

__all__ = ["Complaint", "Generator", "Person"]

CHANNEL_NAMES: Final = tuple(name for name, _ in DATA.channels)
CHANNEL_WEIGHTS: Final = tuple(weight for _, weight in DATA.channels)


@dataclass
class Person:
    """A complainant (or a placeholder for an unknown complaint)."""

    actor_id: str
    name: str
    phone: str
    email: str


@dataclass
class Complaint:
    """One complaint being played: its id, topic, place and the commands so far."""

    complaint_id: str
    submitted_at: datetime
    topic: Topic
    person: Person
    place: tuple[str, str]
    submitter: tuple[str, str]  # (role, id) of the submit
    events: list[tuple[datetime, str]] = field(default_factory=list)


class Generator:
    """One run of :func:`generate`: all randomness flows through ``self.rng`` in order."""

    def __init__(
        self, rng: random.Random, region: DemoRegion, mix: DemoMix, start: date, days: int
    ) -> None:
        self.rng = rng
        self.region = region
        self.mix = mix
        self.start = start
        self.days = days
        self.admin = region.admin_id
        self.lifecycle: list[DemoRecord] = []
        self.extras: list[DemoRecord] = []
        self.command_ids: set[str] = set()
        self.people: list[Person] = []
        self.complaints: list[Complaint] = []
        self.skpd_codes = tuple(code for code, _ in region.skpds)
        self._topic_weights: dict[date, list[float]] = {}

    # -- small random helpers

    def pick(self, table: Sequence[tuple[int, int]]) -> int:
        """A value from ``(value, weight)`` pairs."""
        values = [v for v, _ in table]
        weights = [w for _, w in table]
        return self.rng.choices(values, weights)[0]

    def command_id(self) -> str:
        """A fresh ``c-<hex>`` id, unique within the run."""
        while True:
            cid = f"c-{self.rng.getrandbits(80):020x}"
            if cid not in self.command_ids:
                self.command_ids.add(cid)
                return cid

    def work_time(self, day: date) -> datetime:
        """A random moment of office hours on ``day``."""
        base = datetime.combine(day, WORK_START, WITA)
        return base + timedelta(seconds=self.rng.randrange(WORK_SECONDS))

    def citizen_time(self, day: date) -> datetime:
        """A random moment of ``day`` as complainants act: mostly daytime and evening."""
        hour = self.rng.choices(range(24), CITIZEN_HOURS)[0]
        return datetime.combine(day, time(hour), WITA) + timedelta(seconds=self.rng.randrange(3600))

    def staff_after(self, prev: datetime, workdays: int) -> datetime:
        """An office-hours moment ``workdays`` working days after ``prev``, strictly later."""
        at = self.work_time(add_workdays(prev.date(), workdays))
        if at <= prev:
            at = prev + timedelta(seconds=self.rng.randint(5 * 60, 150 * 60))
            if not in_work_hours(at):
                at = self.work_time(add_workdays(prev.date(), 1))
        return at

    def citizen_after(self, prev: datetime, lo_days: int, hi_days: int) -> datetime:
        """A complainant's moment ``lo_days..hi_days`` calendar days after ``prev`` (skewed early).

        The date is at most ``max(hi_days, 1)`` days after ``prev``'s date.
        """
        k = min(self.rng.randint(lo_days, hi_days), self.rng.randint(lo_days, hi_days))
        at = self.citizen_time(prev.date() + timedelta(days=k))
        if at <= prev:
            at = prev + timedelta(seconds=self.rng.randint(10 * 60, 4 * 3600))
        return at

    def person(self) -> Person:
        """A complainant: mostly new people, some who have reported before."""
        if self.people and self.rng.random() < 0.12:
            return self.rng.choice(self.people)
        first = self.rng.choice(DATA.first_names)
        last = self.rng.choice(DATA.last_names)
        number = len(self.people) + 1
        phone = self.rng.choice(DATA.phone_prefixes) + "".join(
            self.rng.choice("0123456789") for _ in range(self.rng.choice((7, 8)))
        )
        mail = f"{first.lower()}.{last.lower()}{self.rng.randint(1, 99)}@"
        person = Person(
            f"pelapor-{number}",
            f"{first} {last}",
            phone,
            mail + self.rng.choice(DATA.mail_hosts),
        )
        self.people.append(person)
        return person

    def topic(self, day: date) -> Topic:
        """A topic, weighted by its share and season on ``day``."""
        weights = self._topic_weights.get(day)
        if weights is None:
            weights = [t.weight * season_factor(t, day) for t in DATA.topics]
            self._topic_weights[day] = weights
        return self.rng.choices(DATA.topics, weights)[0]

    def texts(self, topic: Topic, place: tuple[str, str]) -> dict[str, str]:
        """Values for the ``{...}`` fields of a topic's templates."""
        return {
            "desa": place[0],
            "kec": place[1],
            "jalan": self.rng.choice(DATA.roads),
            "pasar": self.rng.choice(DATA.markets),
            "n": str(self.rng.randint(1, 12)),
            "m": str(self.rng.randrange(50, 1500, 50)),
            "bulan": str(self.rng.randint(2, 8)),
            "rp": str(self.rng.choice((10, 15, 20, 25, 30, 50, 150, 250))),
        }

    # -- emitting

    def emit(
        self,
        c: Complaint,
        at: datetime,
        ctype: str,
        actor: tuple[str, str],
        payload: dict[str, Any],
        kind: str = "lifecycle",
    ) -> DemoRecord:
        """Encode one command of complaint ``c`` and keep it as a record of ``kind``."""
        value = encode(
            command_doc(
                ctype,
                c.complaint_id,
                iso(at),
                role=actor[0],
                actor_id=actor[1],
                payload=payload,
                command_id=self.command_id(),
            )
        )
        record = DemoRecord(c.complaint_id.encode("utf-8"), value, kind, at)
        if kind == "lifecycle":
            self.lifecycle.append(record)
            c.events.append((at, ctype))
        else:
            self.extras.append(record)
        return record

    def submit_payload(self, c: Complaint, channel: str, topic: Topic) -> dict[str, Any]:
        """The payload of a submit of ``c`` about ``topic``."""
        rng = self.rng
        fill = self.texts(topic, c.place)
        body = rng.choice(topic.bodies).format(**fill) + rng.choice(DATA.text("closings"))
        anonymous = rng.random() < self.mix.anonymous
        confidential = rng.random() < min(1.0, self.mix.confidential + topic.confidential)
        payload: dict[str, Any] = {
            "title": rng.choice(topic.titles).format(**fill),
            "body": body,
            "category": topic.category,
            "classification": topic.classification,
            "channel": channel,
            "region": self.region.region,
            "anonymous": anonymous,
            "confidential": confidential,
        }
        if not anonymous:
            p = c.person
            payload["complainant"] = {"name": p.name, "phone": p.phone, "email": p.email}
        if rng.random() < 0.75:
            payload["location"] = f"Desa {c.place[0]}, Kecamatan {c.place[1]}"
        return payload

    # -- the complaints

    def make_complaints(self, count: int) -> None:
        """Draw submit moments over the window, then number the complaints in that order."""
        rng = self.rng
        days = [self.start + timedelta(days=i) for i in range(self.days)]
        day_weights = [(1.0, 1.0, 1.0, 1.0, 0.9, 0.55, 0.45)[d.weekday()] for d in days]
        drafts: list[tuple[datetime, bool]] = []
        for day in rng.choices(days, day_weights, k=count):
            by_admin = day.weekday() < 5 and rng.random() < self.mix.admin_submit
            at = self.work_time(day) if by_admin else self.citizen_time(day)
            drafts.append((at, by_admin))
        drafts.sort(key=lambda d: d[0])
        serial: Counter[int] = Counter()
        for at, by_admin in drafts:
            serial[at.year] += 1
            person = self.person()
            topic = self.topic(at.date())
            c = Complaint(
                complaint_id=f"{self.region.region}-{at.year}-{serial[at.year]:06d}",
                submitted_at=at,
                topic=topic,
                person=person,
                place=rng.choice(DATA.villages),
                submitter=("admin", self.admin) if by_admin else ("complainant", person.actor_id),
            )
            channel = "other" if by_admin else rng.choices(CHANNEL_NAMES, CHANNEL_WEIGHTS)[0]
            self.complaints.append(c)
            self.play(c, self.submit_payload(c, channel, topic))

    def play(self, c: Complaint, submit: dict[str, Any]) -> None:
        """Emit the lifecycle of one complaint, every command strictly after the previous."""
        rng, mix = self.rng, self.mix
        admin = ("admin", self.admin)
        citizen = ("complainant", c.person.actor_id)
        t = c.submitted_at
        self.emit(c, t, "submit", c.submitter, submit)

        roll = rng.random()
        if roll < mix.archived:
            if rng.random() < 0.5:
                t = self.verify(c, t)
            t = self.staff_after(t, self.pick(ARCHIVE_DELAY))
            self.emit(c, t, "archive", admin, {"reason": rng.choice(DATA.text("archive_reasons"))})
            return
        if roll < mix.archived + mix.left_open:
            if rng.random() < 0.5:
                self.verify(c, t)
            return

        handled = 1.0 - mix.archived - mix.left_open
        t = self.verify(c, t)
        skpd = rng.choices(c.topic.skpds, [3.0] + [1.0] * (len(c.topic.skpds) - 1))[0]
        t = self.staff_after(t, self.pick(DISPATCH_DELAY))
        if rng.random() < mix.returned / handled:
            wrong = rng.choice([s for s in self.skpd_codes if s not in c.topic.skpds])
            self.emit(c, t, "dispatch", admin, {"skpd": wrong})
            t = self.staff_after(t, rng.randint(1, 3))
            reason = (
                f"Bukan wewenang {self.region.skpd_name(wrong)}; "
                f"kewenangan ada pada {self.region.skpd_name(skpd)}"
            )
            self.emit(c, t, "return", self.liaison(wrong), {"reason": reason})
            t = self.staff_after(t, self.pick(REDISPATCH_DELAY))
        self.emit(c, t, "dispatch", admin, {"skpd": skpd})
        if rng.random() < mix.deferred / handled:
            t = self.staff_after(t, rng.randint(0, 2))
            self.emit(
                c,
                t,
                "defer",
                self.liaison(skpd),
                {"reason": rng.choice(DATA.text("defer_reasons"))},
            )
            t = self.staff_after(t, rng.randint(1, 5))
            self.emit(c, t, "resume", self.liaison(skpd), {})
        if rng.random() < mix.extra_follow_up / handled:
            t = self.follow_up(c, t, skpd, rng.choice(DATA.text("interim_notes")))
            t = self.staff_after(t, rng.randint(1, 4))  # well before auto_close (10 WD)
            self.emit(c, t, "follow_up", self.liaison(skpd), {"note": self.answer(c)})
        else:
            t = self.follow_up(c, t, skpd, self.answer(c))
        if rng.random() < mix.replied / handled:
            t = self.citizen_after(t, 0, 9)
            self.emit(c, t, "reply", citizen, {"note": rng.choice(DATA.text("reply_notes"))})
            note = "Menindaklanjuti tanggapan pelapor: " + self.answer(c)
            t = self.follow_up(c, t, skpd, note)
        if rng.random() < mix.reopened / handled:
            t = self.resolve(c, t)
            t = self.citizen_after(t, 1, 20)
            self.emit(c, t, "reopen", citizen, {"reason": rng.choice(DATA.text("reopen_reasons"))})
            t = self.follow_up(c, t, skpd, "Laporan dibuka kembali: " + self.answer(c))
        if rng.random() >= mix.auto_close:
            self.resolve(c, t)

    def liaison(self, skpd: str) -> tuple[str, str]:
        """The actor of an SKPD's liaison officer (pejabat penghubung)."""
        return ("skpd", f"penghubung-{skpd.lower()}")

    def answer(self, c: Complaint) -> str:
        """A follow-up text for ``c``'s topic."""
        return self.rng.choice(c.topic.answers).format(**self.texts(c.topic, c.place))

    def verify(self, c: Complaint, t: datetime) -> datetime:
        """Emit the admin's verify, 0-4 working days after ``t``."""
        at = self.staff_after(t, self.pick(VERIFY_DELAY))
        payload = (
            {"note": self.rng.choice(DATA.text("verify_notes"))} if self.rng.random() < 0.5 else {}
        )
        self.emit(c, at, "verify", ("admin", self.admin), payload)
        return at

    def follow_up(self, c: Complaint, t: datetime, skpd: str, note: str) -> datetime:
        """Emit the SKPD's follow-up, as late as that SKPD usually is."""
        table: Sequence[tuple[int, int]]
        if skpd in self.region.slow_skpds:
            table = FOLLOW_UP_SLOW
        elif skpd in DATA.fast_skpds:
            table = FOLLOW_UP_FAST
        else:
            table = FOLLOW_UP_NORMAL
        at = self.staff_after(t, self.pick(table))
        self.emit(c, at, "follow_up", self.liaison(skpd), {"note": note})
        return at

    def resolve(self, c: Complaint, t: datetime) -> datetime:
        """Emit the complainant's resolve 0-9 calendar days after the follow-up at ``t``.

        Nine calendar days are at most seven working days: always before auto_close.
        """
        at = self.citizen_after(t, 0, 9)
        payload = (
            {"note": self.rng.choice(DATA.text("resolve_notes"))} if self.rng.random() < 0.7 else {}
        )
        self.emit(c, at, "resolve", ("complainant", c.person.actor_id), payload)
        return at
