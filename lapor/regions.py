"""Region data (SKPDs, villages, names, complaint topics) loaded from ``lapor/data/*.yaml``.

One data file per region, shared by the demo's traffic generator and the simulated
national LAPOR! (:mod:`lapor.sim`), so both speak about the same SKPDs and villages.
The lists keep their file order: generators draw from them with a seeded random
generator, and the same seed must give the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from engine.errors import ConfigError

__all__ = ["OtherRegion", "RegionData", "Topic", "load_other_regions", "load_region"]


@dataclass(frozen=True)
class Topic:
    """A kind of complaint: where it goes and what its texts look like."""

    category: str
    skpds: tuple[str, ...]  # SKPDs that hold the authority, the usual one first
    titles: tuple[str, ...]
    bodies: tuple[str, ...]
    answers: tuple[str, ...]
    weight: float = 2.0
    classification: str = "pengaduan"
    season: str = ""  # "hujan": rainy-season peak; "ramadan": only during Ramadan
    confidential: float = 0.0  # extra chance of a rahasia complaint


@dataclass(frozen=True)
class RegionData:
    """Everything a generator needs to make a region's complaints look real."""

    region: str
    name: str
    timezone: str
    skpds: tuple[tuple[str, str], ...]  # (code, full name)
    slow_skpds: tuple[str, ...]
    fast_skpds: tuple[str, ...]
    villages: tuple[tuple[str, str], ...]  # (desa, kecamatan)
    roads: tuple[str, ...]
    markets: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    phone_prefixes: tuple[str, ...]
    mail_hosts: tuple[str, ...]
    channels: tuple[tuple[str, int], ...]  # (channel, weight)
    texts: dict[str, tuple[str, ...]]
    ramadan: tuple[tuple[date, date], ...]
    topics: tuple[Topic, ...]

    def text(self, name: str) -> tuple[str, ...]:
        """One of the text pools (``archive_reasons``, ``resolve_notes``, ...)."""
        return self.texts[name]


@dataclass(frozen=True)
class OtherRegion:
    """A neighbouring region for the national feed: its code, name and places."""

    region: str
    name: str
    timezone: str
    villages: tuple[tuple[str, str], ...]
    roads: tuple[str, ...]
    markets: tuple[str, ...]


def _read(name: str) -> dict[str, Any]:
    resource = files("lapor") / "data" / name
    try:
        doc = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read region data lapor/data/{name}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"lapor/data/{name} must hold a mapping")
    return doc


def _places(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((v["desa"], v["kecamatan"]) for v in doc["villages"])


@cache
def load_region(name: str = "hsu") -> RegionData:
    """The region described by ``lapor/data/<name>.yaml`` (read once, then cached)."""
    doc = _read(f"{name}.yaml")
    try:
        topics = tuple(
            Topic(
                category=t["category"],
                skpds=tuple(t["skpds"]),
                titles=tuple(t["titles"]),
                bodies=tuple(t["bodies"]),
                answers=tuple(t["answers"]),
                weight=float(t.get("weight", 2.0)),
                classification=t.get("classification", "pengaduan"),
                season=t.get("season", ""),
                confidential=float(t.get("confidential", 0.0)),
            )
            for t in doc["topics"]
        )
        return RegionData(
            region=doc["region"],
            name=doc["name"],
            timezone=doc["timezone"],
            skpds=tuple((s["code"], s["name"]) for s in doc["skpds"]),
            slow_skpds=tuple(doc["slow_skpds"]),
            fast_skpds=tuple(doc["fast_skpds"]),
            villages=_places(doc),
            roads=tuple(doc["roads"]),
            markets=tuple(doc["markets"]),
            first_names=tuple(doc["first_names"]),
            last_names=tuple(doc["last_names"]),
            phone_prefixes=tuple(doc["phone_prefixes"]),
            mail_hosts=tuple(doc["mail_hosts"]),
            channels=tuple((str(k), int(v)) for k, v in doc["channels"].items()),
            texts={k: tuple(v) for k, v in doc["texts"].items()},
            ramadan=tuple(
                (date.fromisoformat(a), date.fromisoformat(b)) for a, b in doc["ramadan"]
            ),
            topics=topics,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"lapor/data/{name}.yaml is malformed: {exc!r}") from exc


@cache
def load_other_regions() -> tuple[OtherRegion, ...]:
    """The neighbouring regions of ``lapor/data/kalsel.yaml``."""
    doc = _read("kalsel.yaml")
    return tuple(
        OtherRegion(
            region=r["region"],
            name=r["name"],
            timezone=r["timezone"],
            villages=_places(r),
            roads=tuple(r["roads"]),
            markets=tuple(r["markets"]),
        )
        for r in doc["regions"]
    )
