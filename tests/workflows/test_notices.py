"""Who is told of what, and when: recipients, quiet hours, the digest, message facts."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from workflows.model import Actor, Event
from workflows.notices import (
    digest_slot,
    notice_facts,
    plan_notices,
    release_instant,
)
from workflows.policy import Policy, QuietHours

WITA = ZoneInfo("Asia/Makassar")
WIB = ZoneInfo("Asia/Jakarta")

# The example of CONTRACT §8, verbatim.
CONTRACT_EXAMPLE = """
contacts:                              # role -> channel addresses, most specific wins
  "HSU/PUPR": {kepala_skpd: {email: kadis.pupr@hsu.go.id}, penghubung: {webhook: wa-pupr}}
  "HSU": {sekda: {email: sekda@hsu.go.id}, kepala_diskominfo: {email: kominfo@hsu.go.id}}
  "*": {koordinator_provinsi: {email: lapor@kalselprov.go.id}}
webhooks: {wa-pupr: {url: "https://wa-gateway.example/send", secret_env: LAPORFLOW_WEBHOOK_SECRET}}
notify:
  quiet_hours: {from: "17:00", to: "07:30"}   # local time; held notices go out at the end
  digest: daily                                # none | daily: one mail a day per recipient
"""


@pytest.fixture
def example() -> Policy:
    return Policy.model_validate(yaml.safe_load(CONTRACT_EXAMPLE))


def event(
    event_type: str = "complaint.escalated",
    *,
    occurred_at: str = "2026-03-05T23:59:59+08:00",
    region: str | None = "HSU",
    skpd: str | None = "PUPR",
    **payload: Any,
) -> Event:
    if event_type != "complaint.dispatched":
        payload.setdefault("clock", "follow_up")
        payload.setdefault("started_at", "2026-02-26T09:00:00+08:00")
        payload.setdefault("deadline", "2026-03-05T23:59:59+08:00")
    if event_type == "complaint.escalated":
        payload.setdefault("level", 1)
        payload.setdefault("target", "kepala_skpd")
    return Event(
        event_id=f"HSU-1:{event_type}:{occurred_at}",
        type=event_type,
        complaint_id="HSU-2026-000123",
        seq=7,
        occurred_at=datetime.fromisoformat(occurred_at),
        recorded_at=datetime.fromisoformat(occurred_at),
        state="dispatched",
        previous_state="dispatched",
        region=region,
        skpd=skpd,
        causation_id="timer:x",
        actor=Actor(role="system", id="sla"),
        payload=payload,
    )


# --- policy sections ------------------------------------------------------------------


def test_the_contract_example_validates(example: Policy) -> None:
    assert example.notify is not None
    assert example.notify.quiet_hours == QuietHours(start=time(17, 0), end=time(7, 30))
    assert example.notify.digest == "daily"
    assert example.webhooks["wa-pupr"].secret_env == "LAPORFLOW_WEBHOOK_SECRET"


def test_without_a_notify_section_there_are_no_quiet_hours_and_no_digest() -> None:
    assert Policy.default().notify is None
    policy = Policy.model_validate({"contacts": {"*": {"sekda": {"email": "s@x.go.id"}}}})
    plan = plan_notices(event(target="sekda", level=2), policy)
    (notice,) = plan.notices
    assert notice.due_at == datetime.fromisoformat("2026-03-05T23:59:59+08:00")
    assert notice.digest is False


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"contacts": {"HSU": {"sekda": {"emial": "a@b.id"}}}}, "emial"),
        ({"notify": {"quiet_hours": {"from": "17:00", "to": "07:30", "tz": "x"}}}, "tz"),
        ({"notify": {"digest": "weekly"}}, "digest"),
        ({"notify": {"quiet_hours": {"from": "5pm", "to": "07:30"}}}, "07:30"),
        ({"webhooks": {"w": {"url": "https://x", "secret_env": "S", "x": 1}}}, "x"),
        ({"contacts": {"HSU": {"sekda": {"webhook": "nope"}}}}, "nope"),
        ({"contacts": {"HSU/": {"sekda": {"email": "a@b.id"}}}}, "HSU/"),
        ({"contacts": {"HSU": {"sekda": {"email": "not-an-address"}}}}, "email"),
    ],
)
def test_unknown_keys_and_bad_values_are_errors(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Policy.model_validate(data)
    assert fragment in str(info.value)


def test_yaml_unquoted_times_are_read_as_times() -> None:
    # YAML 1.1 reads an unquoted 07:30 as the sexagesimal integer 450.
    policy = Policy.model_validate(
        yaml.safe_load("notify: {quiet_hours: {from: 17:00, to: 07:30}}")
    )
    assert policy.notify is not None
    assert policy.notify.quiet_hours == QuietHours(start=time(17, 0), end=time(7, 30))


# --- recipients -----------------------------------------------------------------------


def test_escalation_goes_to_its_levels_target_most_specific_scope_first(example: Policy) -> None:
    plan = plan_notices(event(level=1, target="kepala_skpd"), example)
    assert [(n.role, n.channel, n.recipient) for n in plan.notices] == [
        ("kepala_skpd", "email", "kadis.pupr@hsu.go.id")
    ]
    plan = plan_notices(event(level=2, target="sekda"), example)
    assert [n.recipient for n in plan.notices] == ["sekda@hsu.go.id"]
    plan = plan_notices(event(level=3, target="koordinator_provinsi"), example)
    assert [n.recipient for n in plan.notices] == ["lapor@kalselprov.go.id"]


def test_a_region_scope_overrides_the_star_and_an_skpd_scope_the_region() -> None:
    policy = Policy.model_validate(
        {
            "contacts": {
                "HSU/PUPR": {"sekda": {"email": "pupr-sekda@hsu.go.id"}},
                "HSU": {"sekda": {"email": "sekda@hsu.go.id"}},
                "*": {"sekda": {"email": "any@prov.go.id"}},
            }
        }
    )
    esc = {"level": 2, "target": "sekda"}
    assert plan_notices(event(**esc), policy).notices[0].recipient == "pupr-sekda@hsu.go.id"
    assert plan_notices(event(skpd="DINKES", **esc), policy).notices[0].recipient == (
        "sekda@hsu.go.id"
    )
    assert plan_notices(event(region="HST", **esc), policy).notices[0].recipient == (
        "any@prov.go.id"
    )


def test_warning_and_dispatch_go_to_the_liaison_officer_by_webhook(example: Policy) -> None:
    for event_type in ("complaint.sla_warning", "complaint.dispatched"):
        (notice,) = plan_notices(
            event(event_type, occurred_at="2026-03-04T10:00:00+08:00"), example
        ).notices
        assert (notice.role, notice.channel, notice.recipient) == (
            "penghubung",
            "webhook",
            "wa-pupr",
        )
        # Webhooks are never digested; 10:00 on a Wednesday is office hours.
        assert notice.digest is False
        assert notice.due_at == datetime.fromisoformat("2026-03-04T10:00:00+08:00")


def test_verification_escalation_before_dispatch_uses_the_region(example: Policy) -> None:
    plan = plan_notices(event(skpd=None, clock="verification", target="kepala_diskominfo"), example)
    assert [n.recipient for n in plan.notices] == ["kominfo@hsu.go.id"]


def test_a_role_without_contact_is_reported_not_raised(example: Policy) -> None:
    plan = plan_notices(event("complaint.dispatched", skpd="DINKES"), example)
    assert plan.notices == ()
    (missing,) = plan.missing
    assert (missing.role, missing.region, missing.skpd, missing.kind) == (
        "penghubung",
        "HSU",
        "DINKES",
        "dispatch",
    )


def test_other_events_call_for_no_notice(example: Policy) -> None:
    for event_type in ("complaint.sla_breached", "complaint.followed_up", "command.rejected"):
        plan = plan_notices(event(event_type), example)
        assert plan.notices == () and plan.missing == ()


def test_email_and_webhook_and_several_addresses() -> None:
    policy = Policy.model_validate(
        {
            "contacts": {
                "*": {
                    "kepala_skpd": {
                        "email": ["a@x.go.id", "b@x.go.id", "a@x.go.id"],
                        "webhook": "wa",
                    }
                }
            },
            "webhooks": {"wa": {"url": "http://127.0.0.1:1/x", "secret_env": "S"}},
        }
    )
    plan = plan_notices(event(), policy)
    assert [(n.channel, n.recipient) for n in plan.notices] == [
        ("email", "a@x.go.id"),
        ("email", "b@x.go.id"),
        ("webhook", "wa"),
    ]


# --- quiet hours ----------------------------------------------------------------------

QUIET = QuietHours(start=time(17, 0), end=time(7, 30))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("fired", "released"),
    [
        # A breach at 23:59:59 on Thursday: 07:30 on Friday.
        ("2026-03-05T23:59:59+08:00", "2026-03-06T07:30:00+08:00"),
        # Office hours: at once.
        ("2026-03-05T10:00:00+08:00", "2026-03-05T10:00:00+08:00"),
        ("2026-03-05T07:30:00+08:00", "2026-03-05T07:30:00+08:00"),
        ("2026-03-05T16:59:59+08:00", "2026-03-05T16:59:59+08:00"),
        # 17:00 sharp is quiet.
        ("2026-03-05T17:00:00+08:00", "2026-03-06T07:30:00+08:00"),
        # Early morning of a working day: the same day's 07:30.
        ("2026-03-05T06:00:00+08:00", "2026-03-05T07:30:00+08:00"),
        # Friday night and the weekend: Monday 07:30.
        ("2026-03-06T23:59:59+08:00", "2026-03-09T07:30:00+08:00"),
        ("2026-03-07T11:00:00+08:00", "2026-03-09T07:30:00+08:00"),
        # Tuesday night before Nyepi and Idul Fitri cuti bersama (03-18 .. 03-24).
        ("2026-03-17T23:59:59+08:00", "2026-03-25T07:30:00+08:00"),
        # A holiday at noon is quiet too.
        ("2026-03-19T12:00:00+08:00", "2026-03-25T07:30:00+08:00"),
        # UTC input is judged in local time: 15:59:59Z is 23:59:59 WITA.
        ("2026-03-05T15:59:59+00:00", "2026-03-06T07:30:00+08:00"),
    ],
)
def test_quiet_hours_hold_until_the_next_working_morning(fired: str, released: str) -> None:
    from workflows.calendar import WorkingCalendar

    assert release_instant(at(fired), WITA, WorkingCalendar(), QUIET) == at(released)


def test_quiet_hours_follow_the_regions_time_zone() -> None:
    from workflows.calendar import WorkingCalendar

    # 17:30 WITA is 16:30 WIB: still office hours in Jakarta.
    assert release_instant(at("2026-03-05T17:30:00+08:00"), WIB, WorkingCalendar(), QUIET) == at(
        "2026-03-05T17:30:00+08:00"
    )


def test_quiet_hours_within_one_day_and_policy_holidays() -> None:
    from workflows.calendar import WorkingCalendar

    lunch = QuietHours(start=time(12, 0), end=time(13, 0))
    cal = WorkingCalendar(added=[at("2026-03-06T00:00:00+08:00").date()])
    assert release_instant(at("2026-03-05T12:30:00+08:00"), WITA, cal, lunch) == at(
        "2026-03-05T13:00:00+08:00"
    )
    assert release_instant(at("2026-03-05T22:00:00+08:00"), WITA, cal, lunch) == at(
        "2026-03-05T22:00:00+08:00"
    )
    # The policy's own holiday (Friday 03-06) is skipped: Monday, from midnight.
    assert release_instant(at("2026-03-06T09:00:00+08:00"), WITA, cal, lunch) == at(
        "2026-03-09T00:00:00+08:00"
    )


def test_the_plan_holds_a_midnight_breach(example: Policy) -> None:
    policy = example.model_copy(
        update={"notify": example.notify.model_copy(update={"digest": "none"})}
    )  # type: ignore[union-attr]
    (notice,) = plan_notices(event(level=2, target="sekda"), policy).notices
    assert notice.due_at == at("2026-03-06T07:30:00+08:00")
    assert notice.digest is False


# --- the daily digest -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fired", "slot"),
    [
        ("2026-03-05T23:59:59+08:00", "2026-03-06T07:30:00+08:00"),
        ("2026-03-05T07:30:00+08:00", "2026-03-05T07:30:00+08:00"),
        ("2026-03-05T07:30:01+08:00", "2026-03-06T07:30:00+08:00"),
        ("2026-03-06T10:00:00+08:00", "2026-03-09T07:30:00+08:00"),
        ("2026-03-08T06:00:00+08:00", "2026-03-09T07:30:00+08:00"),
        ("2026-03-17T08:00:00+08:00", "2026-03-25T07:30:00+08:00"),
    ],
)
def test_digest_slot_is_the_next_office_start(fired: str, slot: str) -> None:
    from workflows.calendar import WorkingCalendar

    assert digest_slot(at(fired), WITA, WorkingCalendar(), QUIET) == at(slot)


def test_digest_without_quiet_hours_goes_at_0730() -> None:
    from workflows.calendar import WorkingCalendar

    assert digest_slot(at("2026-03-05T10:00:00+08:00"), WITA, WorkingCalendar(), None) == at(
        "2026-03-06T07:30:00+08:00"
    )


def test_with_the_digest_every_email_of_a_day_shares_one_slot(example: Policy) -> None:
    times = ["2026-03-05T08:00:00+08:00", "2026-03-05T13:00:00+08:00", "2026-03-05T23:59:59+08:00"]
    slots = {plan_notices(event(occurred_at=t), example).notices[0].due_at for t in times}
    assert slots == {at("2026-03-06T07:30:00+08:00")}
    assert all(plan_notices(event(occurred_at=t), example).notices[0].digest for t in times)


# --- what a message says --------------------------------------------------------------


def test_facts_name_the_deadline_in_local_time_and_the_working_days_late() -> None:
    policy = Policy.model_validate({"regions": {"ACEH": {"timezone": "Asia/Jakarta"}}})
    level3 = event(
        occurred_at="2026-03-12T23:59:59+08:00",  # 5th working day after Thu 03-05
        level=3,
        target="koordinator_provinsi",
    )
    facts = notice_facts(level3, policy, title="Jalan rusak")
    assert facts["deadline_local"] == "Kamis, 5 Maret 2026 23:59:59 WITA"
    assert facts["late_working_days"] == 5
    assert facts["title"] == "Jalan rusak"
    assert facts["clock"] == "follow_up" and facts["level"] == 3
    aceh = event(region="ACEH", deadline="2026-03-05T23:59:59+07:00")
    assert notice_facts(aceh, policy)["deadline_local"] == "Kamis, 5 Maret 2026 23:59:59 WIB"
    assert notice_facts(aceh, policy)["late_working_days"] == 0


def test_facts_drop_the_title_of_a_confidential_complaint() -> None:
    facts = notice_facts(event(), Policy.default(), title="Rahasia", confidential=True)
    assert facts["title"] is None
    assert "Rahasia" not in repr(facts)


def test_a_warning_before_dispatch_goes_to_a_region_liaison_or_nobody(example: Policy) -> None:
    verification = event("complaint.sla_warning", skpd=None, clock="verification")
    plan = plan_notices(verification, example)
    assert plan.notices == () and plan.missing == ()
    with_region_liaison = Policy.model_validate(
        {"contacts": {"HSU": {"penghubung": {"email": "admin@kominfo.hsu.go.id"}}}}
    )
    (notice,) = plan_notices(verification, with_region_liaison).notices
    assert notice.recipient == "admin@kominfo.hsu.go.id"
