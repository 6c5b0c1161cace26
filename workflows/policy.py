"""The SLA policy: clock limits, time zones, holidays and escalation chains (CONTRACT §4).

The models mirror the policy YAML key for key. Every key is optional (defaults are the
published LAPOR! practice) and unknown keys are validation errors naming them, so a typo
such as ``clokcs`` never silently falls back to a default. All models are frozen; a
:class:`Policy` is hashable and safe to share between threads.

Reading the file is the engine's job (``engine.policy_file``); this module only
validates data that is already in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Hashable, Mapping
from datetime import date, datetime, time
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from workflows.calendar import WorkingCalendar
from workflows.memo import BoundedMemo
from workflows.sla import ClockName

__all__ = [
    "ClockLimits",
    "ClockOverrides",
    "Contact",
    "Defaults",
    "EscalationChains",
    "HolidayAdjustments",
    "NotifySettings",
    "Override",
    "Policy",
    "PolicyLookups",
    "QuietHours",
    "RegionPolicy",
    "RegionTargets",
    "SkpdDirectory",
    "Webhook",
    "lookups",
]

_FROZEN: Final = ConfigDict(extra="forbid", frozen=True)

# Strict: YAML `follow_up: yes` or `3.5` must be an error, not 1 or a rounded 3.
Days = Annotated[int, Field(strict=True, gt=0)]


def _check_timezone(name: str) -> str:
    """Accept an IANA zone name only if this machine can load it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


TimeZoneName = Annotated[str, Field(strict=True), AfterValidator(_check_timezone)]
Target = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
# Three levels exist; a longer chain would be silently cut, so it is rejected instead.
Chain = Annotated[tuple[Target, ...], Field(min_length=1, max_length=3)]
# The same shape as a command's `region` and `skpd` codes (workflows.payloads.Code), so a
# directory can only list codes a dispatch can carry.
DirectoryCode = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]
SkpdName = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]
#: A region's SKPD directory: code -> full name (``None`` when the file gives codes only).
SkpdDirectory = dict[DirectoryCode, SkpdName | None]


class ClockLimits(BaseModel):
    """Complete clock limits in days: the ``defaults.clocks`` section."""

    model_config = _FROZEN

    verification: Days = 3
    follow_up: Days = 5
    resolution: Days = 60
    auto_close: Days = 10

    def get(self, clock: ClockName) -> int:
        """The limit of ``clock``."""
        value: int = getattr(self, clock)
        return value


class ClockOverrides(BaseModel):
    """Partial clock limits for a region, SKPD or category; ``None`` means inherit."""

    model_config = _FROZEN

    verification: Days | None = None
    follow_up: Days | None = None
    resolution: Days | None = None
    auto_close: Days | None = None

    def get(self, clock: ClockName) -> int | None:
        """The overriding limit of ``clock``, or ``None`` to inherit."""
        value: int | None = getattr(self, clock)
        return value


class Defaults(BaseModel):
    """The ``defaults`` section: what applies where nothing more specific does."""

    model_config = _FROZEN

    timezone: TimeZoneName = "Asia/Makassar"
    clocks: ClockLimits = ClockLimits()
    warning_fraction: Annotated[float, Field(strict=True, gt=0.0, lt=1.0)] = 0.8


class RegionPolicy(BaseModel):
    """One entry of ``regions``: the region's time zone and clock overrides."""

    model_config = _FROZEN

    timezone: TimeZoneName | None = None
    clocks: ClockOverrides = ClockOverrides()


class Override(BaseModel):
    """One entry of ``skpd`` or ``categories``: clock overrides."""

    model_config = _FROZEN

    clocks: ClockOverrides = ClockOverrides()


class HolidayAdjustments(BaseModel):
    """The ``holidays`` section: dates to add as non-working or remove (work anyway)."""

    model_config = _FROZEN

    add: tuple[date, ...] = ()
    remove: tuple[date, ...] = ()

    @field_validator("add", "remove")
    @classmethod
    def _normalize(cls, days: tuple[date, ...]) -> tuple[date, ...]:
        """Sort and de-duplicate, so equal calendars give equal fingerprints."""
        return tuple(sorted(set(days)))

    @model_validator(mode="after")
    def _disjoint(self) -> HolidayAdjustments:
        """A date both added and removed has no meaning; name it."""
        both = sorted(set(self.add) & set(self.remove))
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"dates both in holidays.add and holidays.remove: {listed}")
        return self


class RegionTargets(BaseModel):
    """One entry of ``targets``: what a region aims for (intake is itself a KPI)."""

    model_config = _FROZEN

    #: Complaints the region wants received per local calendar month.
    complaints_per_month: Annotated[int, Field(strict=True, ge=0)] | None = None


_DEFAULT_CHAIN: Final = ("kepala_skpd", "sekda", "koordinator_provinsi")
_VERIFICATION_CHAIN: Final = ("kepala_diskominfo", "sekda", "koordinator_provinsi")


class EscalationChains(BaseModel):
    """The ``escalation`` section: per clock, the targets of levels 1, 2 and 3.

    A chain shorter than three repeats its last target for the missing levels.
    """

    model_config = _FROZEN

    # Before dispatch no SKPD holds the complaint, so verification escalates to the
    # coordinator's own head (Diskominfo) first.
    verification: Chain = _VERIFICATION_CHAIN
    follow_up: Chain = _DEFAULT_CHAIN
    resolution: Chain = _DEFAULT_CHAIN
    auto_close: Chain = _DEFAULT_CHAIN

    def get(self, clock: ClockName) -> tuple[str, ...]:
        """The chain of ``clock``."""
        chain: tuple[str, ...] = getattr(self, clock)
        return chain


# --- notices (CONTRACT §8) ------------------------------------------------------------

EmailAddress = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$"),
]
Name = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class Contact(BaseModel):
    """How one role is reached in one scope: an email address (or several) and/or a webhook.

    ``webhook`` names an entry of the policy's ``webhooks`` section.
    """

    model_config = _FROZEN

    email: EmailAddress | tuple[EmailAddress, ...] | None = None
    webhook: Name | None = None

    @property
    def emails(self) -> tuple[str, ...]:
        """The email addresses, as a tuple (empty when there is none)."""
        if self.email is None:
            return ()
        return (self.email,) if isinstance(self.email, str) else self.email


class Webhook(BaseModel):
    """One entry of ``webhooks``: where to POST, and the env var holding the HMAC secret."""

    model_config = _FROZEN

    url: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://\S+$")]
    secret_env: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _parse_hhmm(value: object) -> object:
    """``"07:30"`` to a time; YAML may also hand over minutes past midnight as an int."""
    if isinstance(value, str):
        hours, sep, minutes = value.partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
            raise ValueError(f"expected a local time like '07:30', got {value!r}")
        return time(int(hours), int(minutes))
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML 1.1 reads 07:30 unquoted as 450
    return value


LocalTime = Annotated[time, BeforeValidator(_parse_hhmm)]


class QuietHours(BaseModel):
    """Local times between which no notice goes out (``from`` 17:00, ``to`` 07:30)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: LocalTime = Field(alias="from")
    end: LocalTime = Field(alias="to")


class NotifySettings(BaseModel):
    """The ``notify`` section: quiet hours and the mail digest."""

    model_config = _FROZEN

    quiet_hours: QuietHours | None = None
    digest: Literal["none", "daily"] = "none"


class Policy(BaseModel):
    """A whole SLA policy file; ``Policy()`` is the contract's defaults.

    Hashable (by :attr:`fingerprint`) and frozen; its :attr:`calendar` is built once.
    """

    model_config = _FROZEN

    defaults: Defaults = Defaults()
    regions: dict[str, RegionPolicy] = {}
    skpd: dict[str, Override] = {}
    categories: dict[str, Override] = {}
    holidays: HolidayAdjustments = HolidayAdjustments()
    escalation: EscalationChains = EscalationChains()
    #: Per region, the SKPDs a complaint may be dispatched to (CONTRACT §4); a region not
    #: listed here accepts any SKPD code.
    skpds: dict[DirectoryCode, SkpdDirectory] = {}
    contacts: dict[str, dict[Name, Contact]] = {}
    webhooks: dict[Name, Webhook] = {}
    #: ``None`` (no section): no quiet hours and no digest, each notice goes out at once.
    notify: NotifySettings | None = None
    #: Per region: e.g. ``{"HSU": {"complaints_per_month": 40}}`` (intake report).
    targets: dict[str, RegionTargets] = {}

    # Derived once after validation; private attributes may be set on frozen models.
    _calendar: WorkingCalendar = PrivateAttr()
    _fingerprint: str = PrivateAttr()

    @field_validator("skpd")
    @classmethod
    def _skpd_keys(cls, entries: dict[str, Override]) -> dict[str, Override]:
        """SKPD overrides are keyed ``REGION/SKPD``; name any key that is not."""
        bad = [key for key in entries if not _is_region_skpd(key)]
        if bad:
            listed = ", ".join(repr(key) for key in bad)
            raise ValueError(f"keys must look like 'REGION/SKPD', got {listed}")
        return entries

    @field_validator("skpds", mode="before")
    @classmethod
    def _directory_forms(cls, value: object) -> object:
        """Accept a list of codes as well as a mapping of code to name, per region.

        ``{HSU: [PUPR, DINKES]}`` and ``{HSU: {PUPR: "Dinas ..."}}`` both become a mapping;
        a code listed twice or an empty list is an error naming the region.
        """
        if not isinstance(value, dict):
            return value
        normalized: dict[object, object] = {}
        for region, entries in value.items():
            if isinstance(entries, list | tuple):
                counts = Counter(str(c) for c in entries)
                repeated = sorted(c for c, n in counts.items() if n > 1)
                if repeated:
                    listed = ", ".join(repr(c) for c in repeated)
                    raise ValueError(f"SKPD codes listed twice for region {region!r}: {listed}")
                entries = dict.fromkeys(entries)
            if isinstance(entries, dict) and not entries:
                raise ValueError(
                    f"the SKPD directory of region {region!r} is empty, which would refuse "
                    "every dispatch; list its SKPDs or leave the region out"
                )
            normalized[region] = entries
        return normalized

    @model_validator(mode="after")
    def _overrides_name_listed_skpds(self) -> Policy:
        """An ``skpd`` override for a region with a directory must name a listed SKPD."""
        bad = []
        for key in self.skpd:
            region, _, code = key.partition("/")
            directory = self.skpds.get(region)
            if directory is not None and code not in directory:
                bad.append(key)
        if bad:
            listed = ", ".join(repr(key) for key in bad)
            raise ValueError(
                f"skpd overrides name SKPDs missing from the skpds directory: {listed}"
            )
        return self

    @field_validator("contacts")
    @classmethod
    def _contact_scopes(
        cls, entries: dict[str, dict[str, Contact]]
    ) -> dict[str, dict[str, Contact]]:
        """Contact scopes are ``REGION/SKPD``, ``REGION`` or ``*``; name any other key."""
        bad = [k for k in entries if k != "*" and not _is_region_skpd(k) and not _is_code(k)]
        if bad:
            listed = ", ".join(repr(key) for key in bad)
            raise ValueError(f"keys must look like 'REGION/SKPD', 'REGION' or '*', got {listed}")
        return entries

    @model_validator(mode="after")
    def _webhooks_named(self) -> Policy:
        """Every contact's webhook must name an entry of ``webhooks``."""
        unknown = sorted(
            f"contacts.{scope}.{role}.webhook={contact.webhook!r}"
            for scope, roles in self.contacts.items()
            for role, contact in roles.items()
            if contact.webhook is not None and contact.webhook not in self.webhooks
        )
        if unknown:
            raise ValueError(f"webhooks not defined in 'webhooks': {', '.join(unknown)}")
        return self

    def contact(self, role: str, *, region: str | None, skpd: str | None) -> Contact | None:
        """Who holds ``role`` for a complaint: most specific scope wins.

        Order: ``contacts["REGION/SKPD"]`` > ``contacts["REGION"]`` > ``contacts["*"]``;
        ``None`` when no scope names the role.
        """
        scopes: list[str] = []
        if region is not None and skpd is not None:
            scopes.append(f"{region}/{skpd}")
        if region is not None:
            scopes.append(region)
        scopes.append("*")
        for scope in scopes:
            found = self.contacts.get(scope, {}).get(role)
            if found is not None:
                return found
        return None

    def model_post_init(self, context: Any, /) -> None:
        """Build the derived calendar and fingerprint."""
        self._calendar = WorkingCalendar(added=self.holidays.add, removed=self.holidays.remove)
        normalized = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        )
        self._fingerprint = hashlib.sha256(normalized.encode("ascii")).hexdigest()[:12]

    def __hash__(self) -> int:
        # The dict fields are unhashable; equal policies have equal fingerprints.
        return hash(self._fingerprint)

    @classmethod
    def default(cls) -> Policy:
        """The contract's default policy (what an absent or empty policy file means)."""
        return _DEFAULT_POLICY

    @property
    def fingerprint(self) -> str:
        """Short stable hash (12 hex digits) of the normalized policy, for audit records.

        Normalized means defaults filled in, keys sorted and holiday dates sorted, so an
        empty file and one spelling out the defaults share a fingerprint. The holiday
        data of the ``holidays`` package is not part of it.
        """
        return self._fingerprint

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar with this policy's added and removed dates."""
        return self._calendar

    @property
    def warning_fraction(self) -> float:
        """Share of a clock's span after which ``sla_warning`` fires."""
        return self.defaults.warning_fraction

    def limit(
        self,
        clock: ClockName,
        *,
        region: str | None,
        skpd: str | None,
        category: str | None,
    ) -> int:
        """The limit in days of ``clock``: the most specific setting wins.

        Order: ``skpd["REGION/SKPD"]`` > ``categories[category]`` > ``regions[region]`` >
        ``defaults``. Unknown regions, SKPDs and categories simply inherit.
        """
        layers: list[ClockOverrides] = []
        if region is not None and skpd is not None:
            entry = self.skpd.get(f"{region}/{skpd}")
            if entry is not None:
                layers.append(entry.clocks)
        if category is not None:
            override = self.categories.get(category)
            if override is not None:
                layers.append(override.clocks)
        if region is not None:
            region_policy = self.regions.get(region)
            if region_policy is not None:
                layers.append(region_policy.clocks)
        for layer in layers:
            value = layer.get(clock)
            if value is not None:
                return value
        return self.defaults.clocks.get(clock)

    def timezone(self, region: str | None) -> ZoneInfo:
        """The time zone of ``region`` (the default zone if unlisted or ``None``)."""
        if region is not None:
            region_policy = self.regions.get(region)
            if region_policy is not None and region_policy.timezone is not None:
                return ZoneInfo(region_policy.timezone)
        return ZoneInfo(self.defaults.timezone)

    def lists_skpds(self, region: str | None) -> bool:
        """Whether the policy has an SKPD directory for ``region``."""
        return region is not None and region in self.skpds

    def skpd_known(self, region: str | None, code: str) -> bool:
        """Whether a complaint of ``region`` may be dispatched to SKPD ``code``.

        True for every code when the region has no directory (or is ``None``).
        """
        if region is None:
            return True
        directory = self.skpds.get(region)
        return directory is None or code in directory

    def skpd_name(self, region: str | None, code: str) -> str | None:
        """The full name of SKPD ``code`` of ``region`` from the directory, or ``None``.

        With ``region=None`` (a report over every region) the name is found in any
        region's directory, as long as the regions that list the code agree on it.
        """
        if region is not None:
            return self.skpds.get(region, {}).get(code)
        names = {d[code] for d in self.skpds.values() if d.get(code) is not None}
        return names.pop() if len(names) == 1 else None

    def with_skpds(self, region: str, directory: Mapping[str, str | None]) -> Policy:
        """This policy with ``region``'s SKPD directory set (validated like the file's)."""
        data = self.model_dump()
        data["skpds"] = {**data["skpds"], region: dict(directory)}
        return Policy.model_validate(data)

    def listed_skpds(self) -> frozenset[str]:
        """Every SKPD code of every region's directory."""
        return frozenset(code for directory in self.skpds.values() for code in directory)

    def listed_regions(self) -> frozenset[str]:
        """Every region the policy names (``regions`` and ``skpds``)."""
        return frozenset(self.regions) | frozenset(self.skpds)

    def monthly_intake_target(self, region: str) -> int | None:
        """The region's target of complaints received per month, or ``None`` if unset."""
        entry = self.targets.get(region)
        return None if entry is None else entry.complaints_per_month

    def escalation_target(self, clock: ClockName, level: int) -> str:
        """Who is notified at escalation ``level`` (1..3) of ``clock``.

        A chain shorter than ``level`` repeats its last entry.
        """
        if not 1 <= level <= 3:
            raise ValueError(f"escalation level must be 1, 2 or 3, got {level}")
        chain = self.escalation.get(clock)
        return chain[min(level, len(chain)) - 1]


def _is_code(key: str) -> bool:
    """Whether ``key`` is a plain region code (no slash, no blanks)."""
    return bool(key) and "/" not in key and not any(ch.isspace() for ch in key)


def _is_region_skpd(key: str) -> bool:
    """Whether ``key`` is ``REGION/SKPD`` with both parts non-empty."""
    region, sep, skpd = key.partition("/")
    return bool(sep) and bool(region) and bool(skpd) and "/" not in skpd


#: Entries :attr:`PolicyLookups.schedules` holds at most.
SCHEDULES_LIMIT: Final = 10_000


class PolicyLookups:
    """Memoised lookups of one :class:`Policy`, for the per-command hot path.

    A policy is frozen, so its limits, time zones and calendar never change: each
    distinct question is answered once. Get one with :func:`lookups`.
    """

    __slots__ = ("_limits", "_zones", "calendar", "policy", "schedules", "warning_fraction")

    def __init__(self, policy: Policy) -> None:
        """Wrap ``policy`` (held, so the memo can never outlive it)."""
        self.policy = policy
        self.calendar: WorkingCalendar = policy.calendar
        self.warning_fraction: float = policy.warning_fraction
        self._limits: dict[tuple[str, str | None, str | None, str | None], int] = {}
        self._zones: dict[str | None, ZoneInfo] = {}
        #: A started clock's (limit, deadline) by what they depend on, local start day
        #: included: kept by :func:`workflows.transition.start_clock`, which owns the key.
        #: A few days of a province's distinct starts fit; full, it holds about 1 MB.
        self.schedules: BoundedMemo[tuple[Hashable, ...], tuple[int, datetime]] = BoundedMemo(
            SCHEDULES_LIMIT
        )

    def limit(
        self, clock: ClockName, *, region: str | None, skpd: str | None, category: str | None
    ) -> int:
        """:meth:`Policy.limit`, memoised."""
        key = (clock, region, skpd, category)
        value = self._limits.get(key)
        if value is None:
            value = self._limits[key] = self.policy.limit(
                clock, region=region, skpd=skpd, category=category
            )
        return value

    def timezone(self, region: str | None) -> ZoneInfo:
        """:meth:`Policy.timezone`, memoised."""
        zone = self._zones.get(region)
        if zone is None:
            zone = self._zones[region] = self.policy.timezone(region)
        return zone


#: By ``id(policy)``; each entry holds its policy, so an id is never reused under it.
_LOOKUPS: dict[int, PolicyLookups] = {}
_MAX_LOOKUPS: Final = 32


def lookups(policy: Policy) -> PolicyLookups:
    """The memoised lookups of ``policy`` (built on first use, then shared)."""
    found = _LOOKUPS.get(id(policy))
    if found is not None and found.policy is policy:
        return found
    if len(_LOOKUPS) >= _MAX_LOOKUPS:
        _LOOKUPS.clear()  # policies are few; a reload storm must not grow this forever
    found = _LOOKUPS[id(policy)] = PolicyLookups(policy)
    return found


_DEFAULT_POLICY: Final = Policy()
