"""``laporflow lapor-sim``: a simulated national SP4N-LAPOR! API (CONTRACT §7).

It keeps its reports in memory and serves, with ``Authorization: Bearer <token>``:

* ``GET /api/v1/reports?cursor=C&limit=L`` -> ``{"items": [...], "next": C2 | null}``,
  in the order of their last change (``updated_at``), so a report whose status changes
  upstream comes back through the cursor. ``next`` is null on a partial (last) page;
  a client then asks again with the same cursor later.
* ``GET /api/v1/reports/{tracking_id}`` -> the item plus its ``followups``;
* ``POST /api/v1/reports/{tracking_id}/followups`` <- a pushed dispatch, follow-up or
  resolution, idempotent by its ``event_id``.

Reports look Indonesian: the complaint topics and places of ``lapor/data/*.yaml``, over
several regions, categories and channels, some anonim (no identity at all) and some
rahasia. :meth:`LaporSim.advance` makes the national admin act on them over time
(verify, archive, bukan wewenang, defer); with a fault rate F that share of API requests
gets a 500, a 429 with ``Retry-After``, or a stall past the client's timeout.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from lapor.models import FollowUpPush
from lapor.regions import RegionData, load_other_regions, load_region

__all__ = ["FAULT_KINDS", "LaporSim", "SimReport", "create_app"]

FAULT_KINDS = ("500", "429", "stall")

#: Upstream (national admin) moves: status -> [(next status, weight)].
_UPSTREAM_MOVES: dict[str, tuple[tuple[str, int], ...]] = {
    "Belum Terverifikasi": (
        ("Terverifikasi", 55),
        ("Didisposisikan", 15),
        ("Arsip", 12),
        ("Bukan Wewenang", 10),
        ("Tunda", 8),
    ),
    "Terverifikasi": (("Didisposisikan", 70), ("Tunda", 15), ("Arsip", 15)),
    "Tunda": (("Terverifikasi", 100),),
}
_PUSH_STATUS = {"follow_up": "Ditindaklanjuti", "resolve": "Selesai"}


@dataclass
class SimReport:
    """One report as the simulator holds it."""

    tracking_id: str
    title: str
    body: str
    category: str
    classification: str
    channel: str
    region: str
    anonymous: bool
    confidential: bool
    status: str
    created_at: datetime
    updated_at: datetime
    complainant: dict[str, str] | None = None
    location: str | None = None
    version: int = 0
    followups: list[dict[str, Any]] = field(default_factory=list)

    def item(self, *, with_followups: bool = False) -> dict[str, Any]:
        """The JSON item of the API."""
        doc: dict[str, Any] = {
            "tracking_id": self.tracking_id,
            "title": self.title,
            "body": self.body,
            "category": self.category,
            "classification": self.classification,
            "channel": self.channel,
            "region": self.region,
            "anonymous": self.anonymous,
            "confidential": self.confidential,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if self.complainant is not None and not self.anonymous:
            doc["complainant"] = dict(self.complainant)
        if self.location is not None:
            doc["location"] = self.location
        if with_followups:
            doc["followups"] = [dict(f) for f in self.followups]
        return doc


class LaporSim:
    """The simulator's state: reports, the change order, pushes and fault injection."""

    def __init__(
        self,
        *,
        reports: int = 50,
        seed: int = 2026,
        fault_rate: float = 0.0,
        token: str = "sim-token",
        stall_s: float = 10.0,
        retry_after_s: int = 1,
        now: datetime | None = None,
        home_region: str = "hsu",
        home_share: float = 0.7,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault rate must be within 0..1, got {fault_rate}")
        self.rng = random.Random(seed)
        self._fault_rng = random.Random(seed * 7919 + 1)
        self.fault_rate = fault_rate
        self.token = token
        self.stall_s = stall_s
        self.retry_after_s = retry_after_s
        self.home: RegionData = load_region(home_region)
        self.home_share = home_share
        self.others = load_other_regions()
        self.lock = threading.Lock()
        self.reports: dict[str, SimReport] = {}
        self._version = 0
        self._last_time = datetime(2000, 1, 1, tzinfo=UTC)
        self._serial: Counter[tuple[str, int]] = Counter()
        self._scripted: deque[str] = deque()
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.pushes_received = 0
        self.push_duplicates = 0
        start = now or datetime.now(UTC)
        self.add_reports(reports, spread=timedelta(days=30), until=start)

    # --- reports ----------------------------------------------------------------------

    def add_reports(
        self, n: int, *, spread: timedelta = timedelta(0), until: datetime | None = None
    ) -> list[str]:
        """Create ``n`` new reports (status Belum Terverifikasi) created within ``spread``."""
        until = until or datetime.now(UTC)
        times = sorted(
            until - timedelta(seconds=self.rng.uniform(0, spread.total_seconds())) for _ in range(n)
        )
        ids = []
        with self.lock:
            for created in times:
                report = self._make_report(created)
                self._store(report, created)
                ids.append(report.tracking_id)
        return ids

    def put_report(self, report: SimReport) -> None:
        """Add (or replace) a report as given, as the newest change (the demo's feed)."""
        with self.lock:
            self._store(report, report.updated_at)

    def _store(self, report: SimReport, at: datetime) -> None:
        self._version += 1
        report.version = self._version
        report.updated_at = self._monotonic(at)
        self.reports[report.tracking_id] = report

    def _monotonic(self, at: datetime) -> datetime:
        # updated_at never goes backwards, so the listing order is also time order.
        if at <= self._last_time:
            at = self._last_time + timedelta(microseconds=1)
        self._last_time = at
        return at

    def _make_report(self, created: datetime) -> SimReport:
        rng, data = self.rng, self.home
        if rng.random() < self.home_share or not self.others:
            region, places = data.region, data.villages
            roads, markets = data.roads, data.markets
        else:
            other = rng.choice(self.others)
            region, places = other.region, other.villages
            roads, markets = other.roads, other.markets
        topic = rng.choices(data.topics, [t.weight for t in data.topics])[0]
        desa, kec = rng.choice(places)
        fill = {
            "desa": desa,
            "kec": kec,
            "jalan": rng.choice(roads),
            "pasar": rng.choice(markets),
            "n": str(rng.randint(1, 12)),
            "m": str(rng.randrange(50, 1500, 50)),
            "bulan": str(rng.randint(2, 8)),
            "rp": str(rng.choice((10, 15, 20, 25, 50))),
        }
        anonymous = rng.random() < 0.2
        confidential = rng.random() < 0.08 + topic.confidential
        channel = rng.choices([c for c, _ in data.channels], [w for _, w in data.channels])[0]
        self._serial[(region, created.year)] += 1
        serial = self._serial[(region, created.year)]
        complainant = None
        if not anonymous:
            first, last = rng.choice(data.first_names), rng.choice(data.last_names)
            phone = rng.choice(data.phone_prefixes) + "".join(
                rng.choice("0123456789") for _ in range(8)
            )
            complainant = {
                "name": f"{first} {last}",
                "phone": phone,
                "email": f"{first.lower()}.{last.lower()}@{rng.choice(data.mail_hosts)}",
            }
        return SimReport(
            tracking_id=f"{region}-{created.year}-{serial:06d}",
            title=rng.choice(topic.titles).format(**fill),
            body=rng.choice(topic.bodies).format(**fill),
            category=topic.category,
            classification=topic.classification,
            channel=channel,
            region=region,
            anonymous=anonymous,
            confidential=confidential,
            status="Belum Terverifikasi",
            created_at=created,
            updated_at=created,
            complainant=complainant,
            location=f"Desa {desa}, Kecamatan {kec}" if rng.random() < 0.7 else None,
        )

    def advance(self, n: int, *, at: datetime | None = None) -> list[tuple[str, str, str]]:
        """The national admin acts on up to ``n`` reports; returns (id, old, new) status."""
        changes = []
        with self.lock:
            movable = sorted(t for t, r in self.reports.items() if r.status in _UPSTREAM_MOVES)
            for tracking_id in self.rng.sample(movable, min(n, len(movable))):
                report = self.reports[tracking_id]
                moves = _UPSTREAM_MOVES[report.status]
                new = self.rng.choices([m for m, _ in moves], [w for _, w in moves])[0]
                changes.append((tracking_id, report.status, new))
                self._set_status(report, new, at or datetime.now(UTC))
        return changes

    def set_status(self, tracking_id: str, status: str, *, at: datetime | None = None) -> None:
        """Change one report's status upstream (tests, scripted scenarios)."""
        with self.lock:
            self._set_status(self.reports[tracking_id], status, at or datetime.now(UTC))

    def _set_status(self, report: SimReport, status: str, at: datetime) -> None:
        report.status = status
        self._version += 1
        report.version = self._version
        report.updated_at = self._monotonic(at)

    # --- the API's operations ---------------------------------------------------------

    def list_page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        """One page after ``cursor``, in change order."""
        after = _decode_cursor(cursor) if cursor else 0
        with self.lock:
            newer = sorted(
                (r for r in self.reports.values() if r.version > after), key=lambda r: r.version
            )
            page = newer[:limit]
            items = [r.item() for r in page]
        # A full page says where to go on; a partial one is the end for now (null).
        nxt = _encode_cursor(page[-1].version) if len(page) == limit else None
        return {"items": items, "next": nxt}

    def get(self, tracking_id: str) -> dict[str, Any] | None:
        """One report with its follow-ups."""
        with self.lock:
            report = self.reports.get(tracking_id)
            return report.item(with_followups=True) if report else None

    def push(self, tracking_id: str, push: FollowUpPush) -> tuple[bool, dict[str, Any]] | None:
        """Record a push once per event id; (created, the stored push), or None if unknown."""
        with self.lock:
            report = self.reports.get(tracking_id)
            if report is None:
                return None
            for existing in report.followups:
                if existing["event_id"] == push.event_id:
                    self.push_duplicates += 1
                    return False, existing
            stored = push.model_dump(mode="json")
            stored["received_at"] = datetime.now(UTC).isoformat()
            report.followups.append(stored)
            self.pushes_received += 1
            status = _PUSH_STATUS.get(push.type)
            if status is not None and status != report.status:
                self._set_status(report, status, datetime.now(UTC))
            return True, stored

    def followups(self) -> dict[str, list[dict[str, Any]]]:
        """Every report's received pushes (for tests and the demo's summary)."""
        with self.lock:
            return {t: list(r.followups) for t, r in self.reports.items() if r.followups}

    # --- faults -----------------------------------------------------------------------

    def script_faults(self, *kinds: str) -> None:
        """Answer the next requests with these faults, in order, before any random ones."""
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known {FAULT_KINDS}")
        with self.lock:
            self._scripted.extend(kinds)

    def next_fault(self) -> str | None:
        """The fault for the request now being served, if any."""
        with self.lock:
            self.requests += 1
            if self._scripted:
                kind: str | None = self._scripted.popleft()
            elif self.fault_rate and self._fault_rng.random() < self.fault_rate:
                kind = self._fault_rng.choice(FAULT_KINDS)
            else:
                kind = None
            if kind is not None:
                self.faults[kind] += 1
            return kind

    # --- background -------------------------------------------------------------------

    def run_ticker(
        self, stop: threading.Event, *, interval_s: float = 5.0, new: int = 1, moves: int = 2
    ) -> None:
        """Until ``stop``: every ``interval_s``, new reports arrive and the admin acts."""
        while not stop.wait(interval_s):
            self.add_reports(new)
            self.advance(moves)


def _encode_cursor(version: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{version}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, version = raw.split(":", 1)
        if tag != "v1":
            raise ValueError(tag)
        return int(version)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"invalid cursor {cursor!r}") from exc


def create_app(sim: LaporSim) -> FastAPI:
    """The simulator's HTTP API over ``sim``."""
    app = FastAPI(title="Simulated national SP4N-LAPOR! API", version="1")

    async def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = f"Bearer {sim.token}".encode()
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
            raise HTTPException(401, "missing or wrong bearer token")

    async def faults(request: Request) -> None:
        kind = sim.next_fault()
        if kind == "500":
            raise HTTPException(500, "simulated internal error")
        if kind == "429":
            raise HTTPException(
                429, "simulated rate limit", headers={"Retry-After": str(sim.retry_after_s)}
            )
        if kind == "stall":
            await asyncio.sleep(sim.stall_s)

    guards = [Depends(authorised), Depends(faults)]

    @app.get("/api/v1/reports", dependencies=guards)
    async def list_reports(
        cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> dict[str, Any]:
        return sim.list_page(cursor, limit)

    @app.get("/api/v1/reports/{tracking_id}", dependencies=guards)
    async def get_report(tracking_id: str) -> dict[str, Any]:
        found = sim.get(tracking_id)
        if found is None:
            raise HTTPException(404, f"no report {tracking_id}")
        return found

    @app.post("/api/v1/reports/{tracking_id}/followups", dependencies=guards)
    async def push_followup(tracking_id: str, push: FollowUpPush) -> JSONResponse:
        result = sim.push(tracking_id, push)
        if result is None:
            raise HTTPException(404, f"no report {tracking_id}")
        created, stored = result
        return JSONResponse({"duplicate": not created, "followup": stored}, 201 if created else 200)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "reports": len(sim.reports)}

    return app
