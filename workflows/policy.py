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
from datetime import date
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from workflows.calendar import WorkingCalendar
from workflows.sla import ClockName

__all__ = [
    "ClockLimits",
    "ClockOverrides",
    "Defaults",
    "EscalationChains",
    "HolidayAdjustments",
    "Override",
    "Policy",
    "RegionPolicy",
    "RegionTargets",
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


def _is_region_skpd(key: str) -> bool:
    """Whether ``key`` is ``REGION/SKPD`` with both parts non-empty."""
    region, sep, skpd = key.partition("/")
    return bool(sep) and bool(region) and bool(skpd) and "/" not in skpd


_DEFAULT_POLICY: Final = Policy()
