"""The store: complaints, history, clocks, idempotency, progress and outbox in one database.

One :meth:`Store.write` call is one transaction: the state, the history, the processed
command ids, the partition progress and the outbox rows of a whole batch commit together
or not at all. SQLAlchemy errors are translated here, once, into :mod:`engine.errors`.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from engine.errors import ConcurrencyError, SchemaError, StoreError
from engine.receipts import ReceiptChanges, receipt_changes
from engine.schema import (
    clocks_table,
    complaint_counts_table,
    complaints_table,
    events_table,
    label_values_table,
    outbox_table,
    processed_commands_table,
    progress_table,
    settlements_table,
    skpd_receipts_table,
)
from engine.settlements import SettlementChanges, settlement_changes
from workflows.model import ClockState, ComplaintState, Event

__all__ = [
    "DEFAULT_DATABASE_URL",
    "OUTBOX_LOCK_SPACE",
    "BatchWrite",
    "ComplaintWrite",
    "OutboxClaim",
    "OutboxRecord",
    "ParkedRecord",
    "ProcessedCommand",
    "Progress",
    "Store",
    "redact_url",
]

DEFAULT_DATABASE_URL = "sqlite:///laporflow.db"
#: How long a SQLite connection waits for another process's lock.
_SQLITE_BUSY_TIMEOUT_MS = 10_000
#: pg_advisory_xact_lock key serializing label value admissions ("labels" in ASCII).
_LABEL_LOCK_KEY = 0x6C6162656C73
#: pg_advisory_xact_lock key serializing schema upgrades ("schema" in ASCII).
_SCHEMA_LOCK_KEY = 0x736368656D61

#: PostgreSQL advisory lock space of the outbox relays (``crc32("laporflow.outbox")``
#: as a signed 32-bit int); the lock id within it is the partition. A relay publishes a
#: partition's rows only while it holds that partition's lock, so two relays never
#: publish the same rows, even while a rebalance moves the partition between them.
OUTBOX_LOCK_SPACE = zlib.crc32(b"laporflow.outbox") - (1 << 32)

_COMPLAINT_COLUMNS = (
    "workflow",
    "workflow_version",
    "state",
    "seq",
    "region",
    "skpd",
    "category",
    "partition",
    "escalation_level",
    "next_due_at",
    "created_at",
    "updated_at",
    "data",
)
#: Upserted columns where NULL means "keep the stored value" (a clock's policy stamp).
_KEEP_IF_NULL = frozenset({"policy"})
#: Below this many rows, a pipelined executemany costs no more than staging them.
_STAGE_MIN_ROWS = 20
#: Optimistic concurrency: a row is only updated if it still has the seq it was read at.
_UPDATE_COMPLAINT = (
    update(complaints_table)
    .where(
        and_(
            complaints_table.c.complaint_id == bindparam("b_id"),
            complaints_table.c.seq == bindparam("b_expected"),
        )
    )
    .values({name: bindparam(name) for name in _COMPLAINT_COLUMNS})
)


# The statements every batch sends, built once: building them per batch (SQLAlchemy's
# operators, a new cache key each time) cost about as much as sending them in a batch
# of 50 commands (docs/perf.md section 33).
_READ_PROGRESS = select(progress_table).where(
    and_(
        progress_table.c.topic == bindparam("topic"),
        progress_table.c.partition.in_(bindparam("partitions", expanding=True)),
    )
)
_MOVE_PROGRESS = (
    update(progress_table)
    .where(
        and_(
            progress_table.c.topic == bindparam("b_topic"),
            progress_table.c.partition == bindparam("b_partition"),
            progress_table.c.next_offset == bindparam("b_expected"),
        )
    )
    .values(next_offset=bindparam("b_next"), watermark=bindparam("b_watermark"))
)


def _dialect_insert(dialect: str, table: Table) -> Any:
    """``dialect``'s INSERT for ``table``, which can say ``ON CONFLICT``."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


@functools.cache
def _add_counts(dialect: str) -> Any:
    """``complaint_counts`` rows added to, each key's ``n`` by the row's; built once."""
    stmt = _dialect_insert(dialect, complaint_counts_table)
    return stmt.on_conflict_do_update(
        index_elements=["partition", "state", "skpd"],
        set_={"n": complaint_counts_table.c.n + stmt.excluded.n},
    )


#: :func:`_add_counts` as one PostgreSQL statement with four arrays
#: (:meth:`Store._write_counts`): rows added in the arrays' order (``WITH ORDINALITY``),
#: so they lock in key order as the ``executemany`` did.
_ADD_COUNTS_AT_ONCE = """
INSERT INTO complaint_counts (partition, state, skpd, n)
SELECT v.partition, v.state, v.skpd, v.n
FROM unnest(%(partitions)s::int[], %(states)s::text[], %(skpds)s::text[], %(ns)s::bigint[])
    WITH ORDINALITY AS v(partition, state, skpd, n, k)
ORDER BY v.k
ON CONFLICT (partition, state, skpd) DO UPDATE SET n = complaint_counts.n + excluded.n
"""


@functools.cache
def _upsert_statement(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    """``table``'s upsert on ``keys`` in ``dialect``, built once (as the statements above).

    Columns in :data:`_KEEP_IF_NULL` keep their stored value when the new row has none.
    """
    stmt = _dialect_insert(dialect, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={
            c.name: func.coalesce(stmt.excluded[c.name], c)
            if c.name in _KEEP_IF_NULL
            else stmt.excluded[c.name]
            for c in table.columns
            if c.name not in keys
        },
    )


@dataclass(frozen=True)
class ComplaintWrite:
    """A complaint's new state; ``expected_seq`` is the seq it was read at (None: new)."""

    complaint: ComplaintState
    expected_seq: int | None
    partition: int
    next_due_at: datetime | None
    complainant: str | None = None
    #: Each clock's next firing instant (warning, breach, escalation, auto-close).
    clock_due: Mapping[str, datetime | None] = field(default_factory=dict)
    #: The clocks and SKPD as they were read; only clock rows that differ are written.
    clocks_before: Mapping[str, ClockState] = field(default_factory=dict)
    skpd_before: str | None = None
    #: The state as it was read (for the counts behind the gauges); when an update does
    #: not give it, the store reads it in the batch's transaction.
    state_before: str | None = None

    def changed_clocks(self) -> list[ClockState]:
        """Clock rows to write: all when the SKPD changed (each row names it), else changed ones."""
        if self.complaint.skpd != self.skpd_before:
            return list(self.complaint.clocks.values())
        return [
            clock
            for name, clock in self.complaint.clocks.items()
            if self.clocks_before.get(name) != clock
        ]


@dataclass(frozen=True)
class OutboxRecord:
    """A record to publish: an event on ``lapor.events`` or a dead letter.

    For an event, ``value`` may be ``None``: the relay then publishes the event's stored
    body (``events.body``), so the JSON is written once, not twice.
    """

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    event_id: str | None = None
    id: int | None = None
    #: The ``lapor.commands`` partition of the complaint (or of the dead letter's source
    #: record): only the relay of the engine owning that partition publishes the row.
    partition: int | None = None


@dataclass(frozen=True)
class ParkedRecord:
    """An outbox record Kafka refused for good; kept for the operator, never retried."""

    id: int
    topic: str
    key: bytes | None
    event_id: str | None
    partition: int | None
    size: int
    reason: str
    parked_at: datetime


@dataclass
class OutboxClaim:
    """A page of outbox records claimed for publishing, and what became of each.

    The relay fills :attr:`published` and :attr:`parked`; :meth:`Store.claim_outbox`
    writes both when the claim ends.
    """

    records: list[OutboxRecord]
    #: The partitions whose rows this claim holds (None: every row, single instance).
    partitions: frozenset[int] | None
    published: list[int] = field(default_factory=list)
    parked: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessedCommand:
    """The outcome of a command id, for de-duplication and audit."""

    command_id: str
    complaint_id: str
    command_type: str
    outcome: str
    topic: str
    partition: int
    offset: int
    processed_at: datetime


@dataclass(frozen=True)
class Progress:
    """How far a partition has been applied, and its event-time watermark."""

    topic: str
    partition: int
    next_offset: int
    watermark: datetime | None
    #: The ``next_offset`` read before the batch (None: no row yet). Writing requires it
    #: unchanged, so two instances can never both apply the same records.
    expected_next_offset: int | None = field(default=None, compare=False)


@dataclass
class BatchWrite:
    """Everything one batch changes; written by :meth:`Store.write` in one transaction."""

    complaints: list[ComplaintWrite] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    processed: list[ProcessedCommand] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    #: Fingerprint of the policy the batch's clocks were computed under, stamped on the
    #: clock rows it writes (``None``: unknown, checked again at the next start).
    policy: str | None = None
    #: Complaints (id -> seq as written) whose running clocks were checked under
    #: ``policy`` and found current: their rows are stamped if the seq still matches.
    checked: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.complaints
            or self.events
            or self.processed
            or self.outbox
            or self.progress
            or self.checked
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets `laporflow status` read while the engine writes; NORMAL sync is durable
    # across process crashes, which is what the embedded demo needs.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the new file.

    Processes started together on a new file each switch it. The switch needs the
    exclusive lock, and SQLite refuses it at once, without the busy timeout's wait, to
    a connection that reads while another one writes (its schema upgrade): waiting
    there could deadlock. So wait here, as long as the busy timeout would.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    """The engine's only gateway to the database."""

    def __init__(self, url: str = DEFAULT_DATABASE_URL, *, echo: bool = False) -> None:
        self.url = url
        #: Column type oids per table, for binary COPY (:meth:`_column_types`).
        self._types: dict[str, dict[str, int]] = {}
        #: Per thread, the connection :meth:`reading` holds for its reads (or none).
        self._held = threading.local()
        try:
            # A bounded connect: a dead server must fail /readyz and retries quickly.
            # hide_parameters: a failed statement's error never carries row values
            # (complainant identity, command text) into logs or messages.
            # A UTC session: timestamps arrive tagged with datetime.UTC itself, which
            # UTCDateTime passes through instead of converting each one.
            connect_args: dict[str, Any] = (
                {"connect_timeout": 5, "options": _utc_session(url)}
                if url.startswith("postgresql")
                else {}
            )
            self.engine: Engine = create_engine(
                url,
                echo=echo,
                pool_pre_ping=True,
                connect_args=connect_args,
                hide_parameters=True,
            )
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot use database URL: {exc}", url=redact_url(url)) from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    # --- schema -------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema or upgrade it to the newest revision (Alembic)."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(files("engine") / "migrations"))
        self._types.clear()  # a revision may change a column's type
        try:
            with self.engine.begin() as conn:
                # The engine, the notifier and the feed may start together: each reads
                # the schema's revision, then creates what is missing, so two at once
                # on an empty database both saw nothing and the second CREATE TABLE
                # failed. Serialized, a waiting process reads the revision its
                # predecessor committed and has nothing left to do.
                self._serialize(conn, _SCHEMA_LOCK_KEY)
                config.attributes["connection"] = conn
                alembic_command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise SchemaError(f"schema upgrade failed: {exc}", url=redact_url(self.url)) from exc

    def _serialize(self, conn: Connection, key: int) -> None:
        """Hold off every other process doing the same until ``conn``'s transaction ends.

        PostgreSQL: an advisory lock on ``key``. SQLite: its write lock, taken now with
        ``BEGIN IMMEDIATE`` (pysqlite opens a transaction only before a data change, and
        the statements that follow, DDL included, then run inside it).
        """
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    @contextmanager
    def connect(self, what: str) -> Iterator[Connection]:
        """A read connection; database errors surface as :class:`StoreError` naming ``what``.

        Inside :meth:`one_connection`, in the same thread, the connection it holds.
        """
        held = self._held_connection()
        try:
            if held is not None:
                yield held
                return
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"{what} failed: {exc}") from exc

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Serve this thread's reads and its :meth:`write` inside the block from one connection.

        A batch reads its partitions' progress, processed ids and complaints, then each
        swept partition's due timers, then writes. Each read took a connection from the
        pool, which pings the server first (``pool_pre_ping``), and gave it back, which
        rolls back: two round trips per read, 18 % of the loop's time during a timer
        flood. Held for the batch, the connection is pinged once, and the reads and the
        write are one transaction, which the write commits: no second checkout, ping,
        ``ROLLBACK`` and ``BEGIN`` per batch (docs/perf.md section 48). Under READ
        COMMITTED each read still sees what was committed when it ran, as before.
        """
        if self._held_connection() is not None:
            yield  # already held by an outer block
            return
        with self.connect("reading") as conn:
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    def _held_connection(self) -> Connection | None:
        """The connection :meth:`one_connection` holds for this thread, or ``None``."""
        held: Connection | None = getattr(self._held, "conn", None)
        return held

    # --- reads --------------------------------------------------------------------

    def _among(self, column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
        """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter.

        psycopg parses and adapts every placeholder of an IN list: for the 500 command
        ids of a batch, 5.7 ms of CPU per query against 1.6 ms with one array.
        """
        if self.dialect == "postgresql":
            return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(values)

    def load(self, complaint_ids: Iterable[str]) -> dict[str, ComplaintState]:
        """The stored state of each known complaint among ``complaint_ids``."""
        ids = list(set(complaint_ids))
        found: dict[str, ComplaintState] = {}
        with self.connect("loading complaints") as conn:
            for chunk in _chunks(ids, 500):
                rows = conn.execute(
                    select(complaints_table.c.data).where(
                        self._among(complaints_table.c.complaint_id, chunk)
                    )
                )
                for (data,) in rows:
                    state = ComplaintState.model_validate_json(data)
                    found[state.complaint_id] = state
        return found

    def complaint(self, complaint_id: str) -> ComplaintState | None:
        """One complaint's stored state, or ``None``."""
        return self.load([complaint_id]).get(complaint_id)

    def processed(self, command_ids: Iterable[str]) -> dict[str, str]:
        """The stored outcome of each already-processed command id among ``command_ids``."""
        ids = list(set(command_ids))
        outcomes: dict[str, str] = {}
        table = processed_commands_table
        with self.connect("loading processed commands") as conn:
            for chunk in _chunks(ids, 500):
                if self.dialect == "postgresql":
                    rows = conn.execute(_PROBE_PROCESSED, {"ids": chunk})
                else:
                    rows = conn.execute(
                        select(table.c.command_id, table.c.outcome).where(
                            self._among(table.c.command_id, chunk)
                        )
                    )
                outcomes.update({cid: outcome for cid, outcome in rows})
        return outcomes

    def progress(self, topic: str, partitions: Iterable[int]) -> dict[int, Progress]:
        """Stored progress of the given partitions of ``topic``."""
        parts = list(partitions)
        with self.connect("loading partition progress") as conn:
            rows = conn.execute(_READ_PROGRESS, {"topic": topic, "partitions": parts})
            return {
                row.partition: Progress(row.topic, row.partition, row.next_offset, row.watermark)
                for row in rows
            }

    def due(self, until: Mapping[int, datetime], limit: int) -> dict[int, list[ComplaintState]]:
        """Per partition, complaints with a timer due before its ``until``, earliest first.

        At most ``limit`` per partition, all in one statement: a batch sweeps each of
        its partitions, and a query each cost a round trip per partition.
        """
        if not until:
            return {}
        if any(instant.tzinfo is None for instant in until.values()):
            raise ValueError("naive datetime given to the store")
        with self.connect("loading due timers") as conn:
            if self.dialect == "postgresql":
                swept = sorted(until)
                instants = [until[p] for p in swept]
                params = {"partitions": swept, "until": instants, "limit": limit}
                rows = conn.execute(_DUE_TIMERS, params).all()
            else:
                rows = conn.execute(self._due_union(until, limit)).all()
        found: dict[int, list[ComplaintState]] = {p: [] for p in until}
        # In instant order within each partition: each partition's rows come from its own
        # ordered LIMIT, but neither a union's nor a join's output order is promised.
        for partition, data, _ in sorted(rows, key=lambda r: (r[0], r[2])):
            found[partition].append(ComplaintState.model_validate_json(data))
        return found

    def _due_union(self, until: Mapping[int, datetime], limit: int) -> Any:
        """:meth:`due`'s statement on SQLite: a ``UNION ALL`` of one subquery per partition.

        PostgreSQL runs one fixed statement instead (:data:`_DUE_TIMERS`), the partitions
        as arrays: building this union anew for every set of partitions cost about 3 ms
        of a 50-command batch's 18 (docs/perf.md section 33).
        """
        table = complaints_table
        parts = []
        for partition, instant in sorted(until.items()):
            first = (
                select(table.c.partition, table.c.data, table.c.next_due_at)
                .where(
                    and_(
                        table.c.partition == partition,
                        table.c.next_due_at.is_not(None),
                        table.c.next_due_at < instant,
                    )
                )
                .order_by(table.c.next_due_at)
                .limit(limit)
                .subquery()
            )
            # Each partition's first ``limit`` in a subquery of its own: SQLite refuses
            # ORDER BY and LIMIT on the members of a UNION.
            parts.append(select(first.c.partition, first.c.data, first.c.next_due_at))
        return union_all(*parts)

    def running_clocks(
        self, after: str | None, limit: int, *, stale_for: str | None = None
    ) -> list[tuple[str, int]]:
        """A page of (complaint_id, partition) with a clock running and not breached.

        In complaint id order, starting after ``after`` (keyset paging), at most ``limit``.
        With ``stale_for`` (a policy fingerprint), only clocks not known to be current
        under that policy (stamped otherwise, or not at all).
        """
        clocks, complaints = clocks_table, complaints_table
        conditions: list[ColumnElement[bool]] = [
            clocks.c.stopped_at.is_(None),
            clocks.c.breached_at.is_(None),
        ]
        if stale_for is not None:
            conditions.append(or_(clocks.c.policy.is_(None), clocks.c.policy != stale_for))
        if after is not None:
            conditions.append(clocks.c.complaint_id > after)
        # The page's ids first, walking the clocks' primary key from ``after`` and
        # stopping at ``limit``: each page costs its own size, not the whole table's.
        page = (
            select(clocks.c.complaint_id)
            .where(and_(*conditions))
            .group_by(clocks.c.complaint_id)
            .order_by(clocks.c.complaint_id)
            .limit(limit)
            .subquery()
        )
        with self.connect("loading running clocks") as conn:
            rows = conn.execute(
                select(complaints.c.complaint_id, complaints.c.partition)
                .join(page, complaints.c.complaint_id == page.c.complaint_id)
                .order_by(complaints.c.complaint_id)
            )
            return [(cid, partition) for cid, partition in rows]

    def history(self, complaint_id: str) -> list[Event]:
        """Every event of a complaint in seq order (rejections last, by time)."""
        table = events_table
        with self.connect("loading history") as conn:
            rows = conn.execute(
                select(table.c.body)
                .where(table.c.complaint_id == complaint_id)
                .order_by(table.c.seq.is_(None), table.c.seq, table.c.recorded_at)
            )
            return [Event.model_validate_json(body) for (body,) in rows]

    def count_by_state_skpd(self) -> dict[tuple[str, str], int]:
        """Complaints now in each (state, skpd); skpd ``""`` before dispatch.

        Summed from the per-partition counts each batch keeps (``complaint_counts``):
        exact across engine instances, and as cheap with a million complaints stored
        as with ten.
        """
        table = complaint_counts_table
        with self.connect("counting complaints") as conn:
            rows = conn.execute(
                select(table.c.state, table.c.skpd, func.sum(table.c.n)).group_by(
                    table.c.state, table.c.skpd
                )
            )
            return {(state, skpd): int(n) for state, skpd, n in rows if n}

    def open_breaches(self) -> dict[tuple[str, str], int]:
        """Clocks now breached and still running, per (skpd, clock)."""
        table = clocks_table
        with self.connect("counting breaches") as conn:
            rows = conn.execute(
                select(table.c.skpd, table.c.clock, func.count())
                .where(and_(table.c.stopped_at.is_(None), table.c.breached_at.is_not(None)))
                .group_by(table.c.skpd, table.c.clock)
            )
            return {(skpd or "", clock): n for skpd, clock, n in rows}

    def timer_backlog(self, until: datetime) -> int:
        """How many complaints have a timer due before ``until`` (all partitions)."""
        table = complaints_table
        with self.connect("counting due timers") as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        and_(table.c.next_due_at.is_not(None), table.c.next_due_at < until)
                    )
                ).scalar_one()
            )

    def outbox_pending_count(self) -> int:
        """Records stored but not yet published (parked ones excluded)."""
        table = outbox_table
        with self.connect("counting outbox") as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        and_(table.c.published.is_(False), table.c.parked_at.is_(None))
                    )
                ).scalar_one()
            )

    def outbox_parked_count(self) -> int:
        """Records Kafka refused for good, waiting for an operator."""
        with self.connect("counting parked outbox records") as conn:
            return int(
                conn.execute(
                    select(func.count()).where(outbox_table.c.parked_at.is_not(None))
                ).scalar_one()
            )

    def pending_outbox(
        self, limit: int, partitions: Iterable[int] | None = None
    ) -> list[OutboxRecord]:
        """The oldest unpublished, unparked records, in write order (per-complaint order).

        ``partitions`` keeps only the rows of those commands-topic partitions (rows with
        no partition go with partition 0); ``None`` keeps every row.
        """
        with self.connect("reading outbox") as conn:
            return self._pending(conn, limit, None if partitions is None else set(partitions))

    def _pending(
        self, conn: Connection, limit: int, partitions: set[int] | None, after: int = 0
    ) -> list[OutboxRecord]:
        table = outbox_table
        where: list[ColumnElement[bool]] = [
            table.c.published.is_(False),
            table.c.parked_at.is_(None),
        ]
        if after > 0:
            # Where the index scan starts: the entries of rows marked published stay in
            # the partial index until VACUUM, and starting at its beginning reads them
            # all (producers/claim_floors.py).
            where.append(table.c.id > after)
        if partitions is not None:
            owned = table.c.partition.in_(sorted(partitions))
            where.append(or_(owned, table.c.partition.is_(None)) if 0 in partitions else owned)
        # An event's outbox row carries no copy of it: its bytes are the stored body.
        # Only the columns a record needs: the others (times, flags) cost the relay a
        # conversion per row and are never read here.
        rows = conn.execute(
            select(
                table.c.id,
                table.c.topic,
                table.c.key,
                table.c.value,
                table.c.headers,
                table.c.event_id,
                table.c.partition,
                events_table.c.body,
            )
            .outerjoin(events_table, events_table.c.event_id == table.c.event_id)
            .where(and_(*where))
            .order_by(table.c.id)
            .limit(limit)
        )
        return [
            OutboxRecord(
                topic=topic,
                key=key,
                value=body.encode() if value is None and body else value,
                headers=_headers(headers),
                event_id=event_id,
                id=row_id,
                partition=partition,
            )
            for row_id, topic, key, value, headers, event_id, partition, body in rows
        ]

    @contextmanager
    def claim_outbox(
        self, partitions: Iterable[int] | None, limit: int, *, after: int = 0
    ) -> Iterator[OutboxClaim]:
        """Claim up to ``limit`` pending records of ``partitions`` for publishing.

        Only rows with an id above ``after`` are looked at: the caller knows none of
        those partitions' rows at or below it is pending (producers/claim_floors.py).

        On PostgreSQL the claim is a transaction holding each claimed partition's
        advisory lock (partitions another relay holds are skipped this time); the
        records marked published or parked in the claim are written in that same
        transaction, so the next holder of the partition starts after them. SQLite is
        a single-instance store: no lock, the marks are written when the claim ends.
        """
        wanted = None if partitions is None else set(partitions)
        if self.dialect != "postgresql":
            with self.connect("reading outbox") as conn:
                records = self._pending(conn, limit, wanted, after)
            claim = OutboxClaim(records, None if wanted is None else frozenset(wanted))
            yield claim
            self._settle(None, claim)
            return
        try:
            with self.engine.begin() as conn:
                if wanted is not None and wanted:
                    wanted = self._lock_partitions(conn, wanted)
                records = self._pending(conn, limit, wanted, after) if wanted != set() else []
                claim = OutboxClaim(records, None if wanted is None else frozenset(wanted))
                yield claim
                self._settle(conn, claim)
        except SQLAlchemyError as exc:
            raise StoreError(f"claiming outbox records failed: {exc}") from exc

    def _lock_partitions(self, conn: Connection, partitions: set[int]) -> set[int]:
        """Of ``partitions``, those whose advisory lock this transaction could take."""
        rows = conn.execute(
            text(
                "SELECT p FROM unnest(CAST(:parts AS integer[])) AS p"
                " WHERE pg_try_advisory_xact_lock(:space, p)"
            ),
            {"parts": sorted(partitions), "space": OUTBOX_LOCK_SPACE},
        )
        return {int(p) for (p,) in rows}

    def _settle(self, conn: Connection | None, claim: OutboxClaim) -> None:
        """Write a claim's outcome: published rows get their time, refused ones parked."""
        if not claim.published and not claim.parked:
            return
        if conn is None:
            try:
                with self.engine.begin() as own:
                    self._settle(own, claim)
            except SQLAlchemyError as exc:
                raise StoreError(f"marking outbox records failed: {exc}") from exc
            return
        now = datetime.now(UTC)
        table = outbox_table
        for chunk in _chunks(claim.published, 500):
            conn.execute(
                update(table)
                .where(self._among(table.c.id, chunk))
                .values(published=True, published_at=now)
            )
        for row_id, reason in claim.parked.items():
            conn.execute(
                update(table)
                .where(table.c.id == row_id)
                .values(parked_at=now, park_reason=reason[:2000])
            )

    def mark_published(self, ids: Sequence[int]) -> None:
        """Mark outbox records as published."""
        if ids:
            self._settle(None, OutboxClaim([], None, published=list(ids)))

    def park_outbox(self, row_id: int, reason: str) -> None:
        """Park one record: Kafka refused it for good; the relay skips it from now on."""
        self._settle(None, OutboxClaim([], None, parked={row_id: reason}))

    def unpark_outbox(self, ids: Iterable[int] | None = None) -> int:
        """Put parked records (all when ``ids`` is None) back in line; return how many."""
        table = outbox_table
        where: list[ColumnElement[bool]] = [table.c.parked_at.is_not(None)]
        if ids is not None:
            where.append(table.c.id.in_(list(ids)))
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(table).where(and_(*where)).values(parked_at=None, park_reason=None)
                )
                return int(result.rowcount)
        except SQLAlchemyError as exc:
            raise StoreError(f"un-parking outbox records failed: {exc}") from exc

    def parked_outbox(
        self, complaint_id: str | None = None, limit: int = 100
    ) -> list[ParkedRecord]:
        """Parked records, oldest first; only a complaint's (by key) when given."""
        table = outbox_table
        where: list[ColumnElement[bool]] = [table.c.parked_at.is_not(None)]
        if complaint_id is not None:
            where.append(table.c.key == complaint_id.encode())
        size = func.coalesce(func.length(table.c.value), func.length(events_table.c.body), 0)
        with self.connect("reading parked outbox records") as conn:
            rows = conn.execute(
                select(table, size.label("size"))
                .outerjoin(events_table, events_table.c.event_id == table.c.event_id)
                .where(and_(*where))
                .order_by(table.c.id)
                .limit(limit)
            )
            return [
                ParkedRecord(
                    id=row.id,
                    topic=row.topic,
                    key=row.key,
                    event_id=row.event_id,
                    partition=row.partition,
                    size=int(row.size),
                    reason=row.park_reason or "",
                    parked_at=row.parked_at,
                )
                for row in rows
            ]

    def prune_outbox(self, published_before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` rows published before ``published_before``; return how many.

        Oldest first, one short transaction; call again for the next batch. Rows from
        before revision 0003 have no publish time: their creation time stands in.
        """
        table = outbox_table
        old = or_(
            table.c.published_at < published_before,
            and_(table.c.published_at.is_(None), table.c.created_at < published_before),
        )
        chosen = (
            select(table.c.id)
            .where(and_(table.c.published.is_(True), old))
            .order_by(table.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            # Two instances pruning at once skip each other's rows instead of waiting.
            chosen = chosen.with_for_update(skip_locked=True)
        try:
            with self.engine.begin() as conn:
                result = conn.execute(delete(table).where(table.c.id.in_(chosen)))
                return int(result.rowcount)
        except SQLAlchemyError as exc:
            raise StoreError(f"pruning the outbox failed: {exc}") from exc

    # --- label values (the metric label guard) --------------------------------------

    def admitted_label_values(self, label: str, limit: int) -> list[str]:
        """The first ``limit`` values admitted for metric label ``label``, in admission order."""
        table = label_values_table
        with self.connect("loading admitted label values") as conn:
            rows = conn.execute(
                select(table.c.value)
                .where(table.c.label == label)
                .order_by(table.c.id)
                .limit(max(limit, 0))
            )
            return [value for (value,) in rows]

    def admit_label_values(self, label: str, candidates: Sequence[str], limit: int) -> list[str]:
        """Admit ``candidates`` (in order) while fewer than ``limit`` values are admitted.

        Returns every admitted value of ``label`` (at most ``limit``), in admission order,
        including those other engine instances admitted. One transaction, serialized
        across instances (an advisory lock on PostgreSQL, the write lock on SQLite), so
        the table never holds more than ``limit`` values of a label admitted under it.
        """
        table = label_values_table
        try:
            with self.engine.begin() as conn:
                # Count, then insert, with no other admitter in between.
                self._serialize(conn, _LABEL_LOCK_KEY)
                admitted = [
                    value
                    for (value,) in conn.execute(
                        select(table.c.value).where(table.c.label == label).order_by(table.c.id)
                    )
                ][: max(limit, 0)]
                known = set(admitted)
                fresh = [v for v in dict.fromkeys(candidates) if v not in known]
                fresh = fresh[: max(limit - len(admitted), 0)]
                if fresh:
                    now = datetime.now(UTC)
                    conn.execute(
                        insert(table),
                        [{"label": label, "value": v, "admitted_at": now} for v in fresh],
                    )
                return admitted + fresh
        except SQLAlchemyError as exc:
            raise StoreError(f"admitting {label} label values failed: {exc}") from exc

    # --- the batch write ----------------------------------------------------------

    def write(self, batch: BatchWrite) -> None:
        """Write one batch atomically; raise :class:`ConcurrencyError` on a seq conflict.

        Inside :meth:`one_connection`, on the connection it holds: the transaction its
        reads began, committed here (rolled back if the write fails).
        """
        if not batch:
            return
        held = self._held_connection()
        try:
            if held is None:
                with self.engine.begin() as conn:
                    self._write_batch(conn, batch)
            else:
                # The same commit-or-roll-back as ``engine.begin()``, on the transaction
                # the reads began (autobegin), or a new one if they read nothing.
                with held.get_transaction() or held.begin():
                    self._write_batch(held, batch)
        except ConcurrencyError:
            raise
        except IntegrityError as exc:
            # A duplicate (complaint_id, seq) or complaint id: someone else wrote first.
            raise ConcurrencyError(f"conflicting write: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"batch write failed: {exc}") from exc

    def _write_batch(self, conn: Connection, batch: BatchWrite) -> None:
        """Every statement of one batch write, in ``conn``'s transaction."""
        self._write_complaints(conn, batch.complaints, batch.policy)
        self._stamp_checked(conn, batch.checked, batch.policy)
        self._write_events(conn, batch.events)
        self._write_receipts(conn, receipt_changes(batch.events))
        self._write_settlements(conn, settlement_changes(batch.events))
        self._write_processed(conn, batch.processed)
        self._write_outbox(conn, batch.outbox)
        self._write_progress(conn, batch.progress)

    def _write_complaints(
        self, conn: Connection, writes: list[ComplaintWrite], policy: str | None
    ) -> None:
        table = complaints_table
        inserts, updates = [], []
        for w in writes:
            c = w.complaint
            values = {
                "workflow": c.workflow,
                "workflow_version": c.workflow_version,
                "state": c.state,
                "seq": c.seq,
                "region": c.region,
                "skpd": c.skpd,
                "category": c.category,
                "partition": w.partition,
                "escalation_level": c.escalation_level,
                "next_due_at": w.next_due_at,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "data": c.model_dump_json(),
            }
            if w.expected_seq is None:
                inserts.append(
                    {"complaint_id": c.complaint_id, "complainant": w.complainant, **values}
                )
            else:
                updates.append({"b_id": c.complaint_id, "b_expected": w.expected_seq, **values})
        counts = self._count_deltas(conn, writes)
        if updates:
            # One statement, executed for every row (psycopg pipelines it), or on
            # PostgreSQL one UPDATE ... FROM a staged copy; either way the rowcount tells
            # whether each row still had the seq it was read at.
            if self._stages(updates):
                rowcount = self._update_staged(conn, updates)
            else:
                rowcount = conn.execute(_UPDATE_COMPLAINT, updates).rowcount
            if rowcount != len(updates):
                raise ConcurrencyError(
                    f"{len(updates) - rowcount} of {len(updates)} complaints changed "
                    "since they were read",
                    complaint_id=updates[0]["b_id"] if len(updates) == 1 else None,
                )
        if inserts:
            self._insert(conn, table, inserts)
        self._write_counts(conn, counts)
        self._write_clocks(conn, writes, policy)

    def _count_deltas(
        self, conn: Connection, writes: list[ComplaintWrite]
    ) -> dict[tuple[int, str, str], int]:
        """How this batch moves ``complaint_counts``: -1 where a complaint was, +1 where it is."""
        unknown = [
            w.complaint.complaint_id
            for w in writes
            if w.expected_seq is not None and w.state_before is None
        ]
        read: dict[str, tuple[str, str | None]] = {}
        for chunk in _chunks(unknown, 500):
            table = complaints_table
            rows = conn.execute(
                select(table.c.complaint_id, table.c.state, table.c.skpd).where(
                    self._among(table.c.complaint_id, chunk)
                )
            )
            read.update((cid, (state, skpd)) for cid, state, skpd in rows)
        deltas: dict[tuple[int, str, str], int] = {}
        for w in writes:
            c = w.complaint
            if w.expected_seq is not None:
                if w.state_before is not None:
                    state, skpd = w.state_before, w.skpd_before
                else:
                    # Gone since it was read: the seq check below reports the conflict.
                    state, skpd = read.get(c.complaint_id, (c.state, c.skpd))
                key = (w.partition, state, skpd or "")
                deltas[key] = deltas.get(key, 0) - 1
            key = (w.partition, c.state, c.skpd or "")
            deltas[key] = deltas.get(key, 0) + 1
        return {key: n for key, n in deltas.items() if n}

    def _write_counts(self, conn: Connection, deltas: dict[tuple[int, str, str], int]) -> None:
        """Add ``deltas`` to ``complaint_counts``, rows in key order (no lock-order cycles)."""
        if not deltas:
            return
        rows = sorted(deltas.items())
        if self.dialect == "postgresql":
            # One statement with four arrays instead of one upsert per row (a few dozen
            # rows a batch), added in the same key order.
            conn.exec_driver_sql(
                _ADD_COUNTS_AT_ONCE,
                {
                    "partitions": [p for (p, _, _), _ in rows],
                    "states": [state for (_, state, _), _ in rows],
                    "skpds": [skpd for (_, _, skpd), _ in rows],
                    "ns": [n for _, n in rows],
                },
            )
            return
        conn.execute(
            _add_counts(self.dialect),
            [
                {"partition": p, "state": state, "skpd": skpd, "n": n}
                for (p, state, skpd), n in rows
            ],
        )

    def _stamp_checked(self, conn: Connection, checked: dict[str, int], policy: str | None) -> None:
        """Stamp ``policy`` on the running clocks of ``checked`` complaints still at their seq."""
        if not checked or policy is None:
            return
        clocks, complaints = clocks_table, complaints_table
        stmt = (
            update(clocks)
            .where(
                and_(
                    clocks.c.complaint_id == bindparam("b_id"),
                    clocks.c.stopped_at.is_(None),
                    clocks.c.breached_at.is_(None),
                    select(complaints.c.seq)
                    .where(complaints.c.complaint_id == bindparam("b_id"))
                    .scalar_subquery()
                    == bindparam("b_seq"),
                )
            )
            .values(policy=bindparam("b_policy"))
        )
        conn.execute(
            stmt,
            [{"b_id": cid, "b_seq": seq, "b_policy": policy} for cid, seq in checked.items()],
        )

    def _write_clocks(
        self, conn: Connection, writes: list[ComplaintWrite], policy: str | None
    ) -> None:
        # A complaint first written in this batch has no clock rows yet (its own row is
        # inserted in this transaction, and nothing deletes a complaint): its clocks are
        # plain inserts. The others' rows are upserted.
        new = [w for w in writes if w.expected_seq is None]
        self._copy_new(conn, clocks_table, self._clock_rows(new, policy), ("complaint_id", "clock"))
        old = [w for w in writes if w.expected_seq is not None]
        self._upsert(conn, clocks_table, self._clock_rows(old, policy), ("complaint_id", "clock"))

    def _clock_rows(self, writes: list[ComplaintWrite], policy: str | None) -> list[dict[str, Any]]:
        """The ``sla_clocks`` rows that ``writes`` change."""
        return [
            {
                "complaint_id": w.complaint.complaint_id,
                "clock": clock.name,
                "region": w.complaint.region,
                "skpd": w.complaint.skpd,
                "started_at": clock.started_at,
                "deadline": clock.deadline,
                "warning_at": clock.warning_at,
                "next_fire_at": w.clock_due.get(clock.name),
                "paused_at": clock.paused_at,
                "breached_at": clock.breached_at,
                "escalation_level": clock.escalation_level,
                "stopped_at": clock.stopped_at,
                # Only a clock (re)started in this batch was computed under ``policy``;
                # a continuing one keeps its row's stamp (NULL here: see _KEEP_IF_NULL).
                "policy": policy if _started_here(w, clock) else None,
            }
            for w in writes
            for clock in w.changed_clocks()
        ]

    def _upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
    ) -> None:
        """Insert rows, replacing those with the same key (one statement, both dialects)."""
        if not rows:
            return
        if self._stages(rows):
            self._upsert_staged(conn, table, rows, keys)
            return
        conn.execute(_upsert_statement(self.dialect, table, keys), rows)

    def _copy_new(
        self,
        conn: Connection,
        table: Table,
        rows: list[dict[str, Any]],
        keys: tuple[str, ...],
        *,
        keep_stored: bool = False,
    ) -> None:
        """Upsert ``rows`` that are almost always new: one ``COPY`` on PostgreSQL.

        A row whose key is stored replaces it, or with ``keep_stored`` is dropped. The
        COPY runs under a savepoint; if a key is taken after all, the savepoint is rolled
        back and the rows go through the conflict-handling statement instead, so the
        result is the same either way. For a thousand rows, a staged upsert costs about
        13 ms and the COPY about 8 (docs/perf.md section 21).
        """
        if not rows:
            return
        # One statement may not write a key twice. Written one after another, the last
        # row for a key would win an upsert, and the first would be kept by an insert
        # that keeps stored rows.
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            if keep_stored:
                by_key.setdefault(key, row)
            else:
                by_key[key] = row
        folded = list(by_key.values())
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None  # a checked-out connection always has its driver's
            # Never released: COMMIT releases it with the transaction. Its own RELEASE
            # was one more round trip per COPY, about 2 % of a small batch each
            # (docs/perf.md section 33).
            raw.execute("SAVEPOINT copy_new")
            try:
                self._copy(conn, table.name, folded)
                return
            except ConcurrencyError:
                # Back to before the COPY (the latest savepoint of that name): handle
                # the conflicts below.
                raw.execute("ROLLBACK TO SAVEPOINT copy_new")
        if keep_stored:
            conn.execute(
                _dialect_insert(self.dialect, table).on_conflict_do_nothing(
                    index_elements=list(keys)
                ),
                folded,
            )
        else:
            self._upsert(conn, table, folded, keys)

    def _insert(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (dicts with the same keys): one ``COPY`` on PostgreSQL.

        An ``executemany`` INSERT sends one statement per row (pipelined, but the
        server still parses and plans each); ``COPY ... FROM STDIN`` streams the whole
        batch as one statement. SQLite keeps the plain ``executemany``.
        """
        if self.dialect != "postgresql":
            conn.execute(insert(table), rows)
            return
        self._copy(conn, table.name, rows)

    def _copy(self, conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
        """``COPY table (keys of the rows) FROM STDIN`` in the batch's transaction.

        In binary format, with the columns' types read from the database: the text
        format had psycopg render every value as text, 6-8 µs of CPU per event row
        against about 1 µs (a thousand rows, 10 copies each way).
        """
        import psycopg  # the PostgreSQL driver: only here, where it is in use

        columns = list(rows[0])
        names = ", ".join(f'"{name}"' for name in columns)
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always has its driver's
        try:
            with raw.cursor() as cursor:
                types = self._column_types(cursor, table, columns)
                with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row([row[name] for name in columns])
        except psycopg.IntegrityError as exc:
            # A duplicate event (complaint_id, seq) or complaint id: someone wrote first.
            raise ConcurrencyError(f"conflicting write: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"copying rows into {table} failed: {exc}") from exc

    def _column_types(self, cursor: Any, table: str, columns: list[str]) -> list[int]:
        """The type oids of ``table``'s ``columns``, as the database has them (cached).

        A binary COPY must send each value in its column's exact type (an ``integer``
        sent to a ``bigint`` is refused), so they come from the catalogue, not from the
        metadata; a staging table has its base table's types.
        """
        known = self._types.get(table)
        if known is None:
            cursor.execute(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (f'"{table}"',),
            )
            known = self._types[table] = dict(cursor.fetchall())
        return [known[name] for name in columns]

    def _stages(self, rows: list[dict[str, Any]]) -> bool:
        """Whether ``rows`` go through a staging table (PostgreSQL, enough rows to pay)."""
        return self.dialect == "postgresql" and len(rows) >= _STAGE_MIN_ROWS

    def _stage(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], extra: str = ""
    ) -> str:
        """COPY ``rows`` into this session's staging copy of ``table``; the staging name.

        A temporary table shaped like ``table`` (plus ``extra`` column definitions),
        emptied at every commit or rollback: a batch's rows arrive in one COPY and are
        applied with one set-based statement.
        """
        stage = f"stage_{table.name}"
        conn.exec_driver_sql(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" (LIKE "{table.name}"{extra}) '
            "ON COMMIT DELETE ROWS"
        )
        self._copy(conn, stage, rows)
        return stage

    def _upsert_staged(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
    ) -> None:
        """The PostgreSQL upsert of many rows: COPY to staging, one INSERT ... SELECT.

        One statement may not touch a row twice, so rows sharing a key are folded first,
        the last one winning: exactly what upserting them one after another leaves.
        """
        folded = list({tuple(row[k] for k in keys): row for row in rows}.values())
        stage = self._stage(conn, table, folded)
        columns = list(folded[0])
        names = ", ".join(f'"{c}"' for c in columns)
        conflict = ", ".join(f'"{k}"' for k in keys)
        assign = ", ".join(
            f'"{c}" = COALESCE(EXCLUDED."{c}", "{table.name}"."{c}")'
            if c in _KEEP_IF_NULL
            else f'"{c}" = EXCLUDED."{c}"'
            for c in columns
            if c not in keys
        )
        conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{stage}" '
            f"ON CONFLICT ({conflict}) DO UPDATE SET {assign}"
        )

    def _update_staged(self, conn: Connection, updates: list[dict[str, Any]]) -> int:
        """The seq-checked complaint UPDATEs as one UPDATE ... FROM; rows updated."""
        rows = [
            {"complaint_id": u["b_id"], "b_expected": u["b_expected"], **_values_of(u)}
            for u in updates
        ]
        stage = self._stage(conn, complaints_table, rows, ', "b_expected" integer')
        assign = ", ".join(f'"{c}" = s."{c}"' for c in _COMPLAINT_COLUMNS)
        result = conn.exec_driver_sql(
            f'UPDATE "complaints" AS c SET {assign} FROM "{stage}" AS s '
            "WHERE c.complaint_id = s.complaint_id AND c.seq = s.b_expected"
        )
        return int(result.rowcount)

    def _write_events(self, conn: Connection, events: list[Event]) -> None:
        if not events:
            return
        self._insert(
            conn,
            events_table,
            [
                {
                    "event_id": e.event_id,
                    "complaint_id": e.complaint_id,
                    "seq": e.seq,
                    "type": e.type,
                    "occurred_at": e.occurred_at,
                    "recorded_at": e.recorded_at,
                    "state": e.state,
                    "previous_state": e.previous_state,
                    "region": e.region,
                    "skpd": e.skpd,
                    "causation_id": e.causation_id[:160],
                    "body": e.model_dump_json(),
                }
                for e in events
            ],
        )

    def _write_receipts(self, conn: Connection, changes: ReceiptChanges) -> None:
        """Add the batch's receipts, then fill answers and returns (engine/receipts)."""
        if not changes:
            return
        table = skpd_receipts_table
        # A receipt is kept from the first dispatch: a later one to the same SKPD,
        # stored already, does not replace it.
        self._copy_new(
            conn,
            table,
            [r.__dict__ for r in changes.receipts],
            ("complaint_id", "skpd"),
            keep_stored=True,
        )
        if not (changes.answers or changes.returns):
            return
        if self.dialect == "postgresql":
            self._fill_outcomes_at_once(conn, changes)
            return
        for column, outcomes in (
            (table.c.answered_at, changes.answers),
            (table.c.returned_at, changes.returns),
        ):
            if not outcomes:
                continue
            # Executed in seq order: the first outcome after the dispatch fills the
            # column, and every later one finds it taken.
            conn.execute(
                update(table)
                .where(
                    table.c.complaint_id == bindparam("b_id"),
                    table.c.skpd == bindparam("b_skpd"),
                    table.c.dispatch_seq < bindparam("b_seq"),
                    column.is_(None),
                )
                .values({column.name: bindparam("b_at")}),
                [
                    {"b_id": o.complaint_id, "b_skpd": o.skpd, "b_seq": o.seq, "b_at": o.at}
                    for o in outcomes
                ],
            )

    def _fill_outcomes_at_once(self, conn: Connection, changes: ReceiptChanges) -> None:
        """The answers and returns as one PostgreSQL UPDATE: what the ordered updates do.

        Per receipt, the first answer and the first return after its dispatch (by seq)
        fill its columns if they are still empty. One statement with five arrays, in
        place of one statement per outcome.
        """
        outcomes = [(o, True) for o in changes.answers] + [(o, False) for o in changes.returns]
        conn.exec_driver_sql(
            _FILL_OUTCOMES,
            {
                "ids": [o.complaint_id for o, _ in outcomes],
                "skpds": [o.skpd for o, _ in outcomes],
                "seqs": [o.seq for o, _ in outcomes],
                "ats": [o.at for o, _ in outcomes],
                "answers": [answer for _, answer in outcomes],
            },
        )

    def _write_settlements(self, conn: Connection, changes: SettlementChanges) -> None:
        """Replace the batch's settlements; drop those the batch ended (engine/settlements)."""
        table = settlements_table
        if changes.unsettled:
            if self.dialect == "postgresql":
                ids, states = zip(*changes.unsettled, strict=True)
                conn.exec_driver_sql(
                    "DELETE FROM settlements AS s USING unnest(%(ids)s::text[], "
                    "%(states)s::text[]) AS v(complaint_id, state) "
                    "WHERE s.complaint_id = v.complaint_id AND s.state <> v.state",
                    {"ids": list(ids), "states": list(states)},
                )
            else:
                conn.execute(
                    delete(table).where(
                        table.c.complaint_id == bindparam("b_id"),
                        table.c.state != bindparam("b_state"),
                    ),
                    [{"b_id": cid, "b_state": state} for cid, state in changes.unsettled],
                )
        self._upsert(conn, table, [s.__dict__ for s in changes.settled], ("complaint_id",))

    def _write_processed(self, conn: Connection, processed: list[ProcessedCommand]) -> None:
        # A command rejected earlier may be re-sent and now apply: its row is replaced.
        self._copy_new(
            conn, processed_commands_table, [p.__dict__ for p in processed], ("command_id",)
        )

    def _write_outbox(self, conn: Connection, records: list[OutboxRecord]) -> None:
        if not records:
            return
        now = datetime.now(UTC)
        self._insert(
            conn,
            outbox_table,
            [
                {
                    "topic": r.topic,
                    "key": r.key,
                    "value": r.value,
                    # NULL for an event's row: it has none, and the relay reads NULL as none.
                    "headers": json.dumps([[n, v.decode("latin-1")] for n, v in r.headers])
                    if r.headers
                    else None,
                    "event_id": r.event_id,
                    "created_at": now,
                    "published": False,
                    "partition": r.partition,
                }
                for r in records
            ],
        )

    def _write_progress(self, conn: Connection, progress: list[Progress]) -> None:
        table = progress_table
        new = [p for p in progress if p.expected_next_offset is None]
        moved = [p for p in progress if p.expected_next_offset is not None]
        if moved:
            result = conn.execute(
                _MOVE_PROGRESS,
                [
                    {
                        "b_topic": p.topic,
                        "b_partition": p.partition,
                        "b_expected": p.expected_next_offset,
                        "b_next": p.next_offset,
                        "b_watermark": p.watermark,
                    }
                    for p in moved
                ],
            )
            if result.rowcount != len(moved):
                raise ConcurrencyError(
                    "partition progress moved since it was read: another instance "
                    "applied these records",
                    partitions=sorted(p.partition for p in moved),
                )
        if new:
            # A concurrent first insert of the same partition fails on the primary key.
            conn.execute(
                insert(table),
                [
                    {
                        "topic": p.topic,
                        "partition": p.partition,
                        "next_offset": p.next_offset,
                        "watermark": p.watermark,
                    }
                    for p in new
                ],
            )


#: Receipts' first answer and first return after the dispatch, from a batch's outcomes.
_FILL_OUTCOMES = """
UPDATE skpd_receipts AS r SET
    answered_at = COALESCE(r.answered_at, f.answered_at),
    returned_at = COALESCE(r.returned_at, f.returned_at)
FROM (
    SELECT v.complaint_id, v.skpd,
        (array_agg(v.at ORDER BY v.seq) FILTER (WHERE v.answer))[1] AS answered_at,
        (array_agg(v.at ORDER BY v.seq) FILTER (WHERE NOT v.answer))[1] AS returned_at
    FROM unnest(%(ids)s::text[], %(skpds)s::text[], %(seqs)s::int[],
                %(ats)s::timestamptz[], %(answers)s::bool[])
        AS v(complaint_id, skpd, seq, at, answer)
    JOIN skpd_receipts AS x
        ON x.complaint_id = v.complaint_id AND x.skpd = v.skpd AND x.dispatch_seq < v.seq
    GROUP BY v.complaint_id, v.skpd
) AS f
WHERE r.complaint_id = f.complaint_id AND r.skpd = f.skpd
"""


def _started_here(write: ComplaintWrite, clock: ClockState) -> bool:
    """Whether ``clock`` was (re)started by the batch writing ``write``."""
    before = write.clocks_before.get(clock.name)
    return before is None or before.started_at != clock.started_at


def _values_of(update_row: dict[str, Any]) -> dict[str, Any]:
    """The complaint columns of an ``_UPDATE_COMPLAINT`` parameter row."""
    return {name: update_row[name] for name in _COMPLAINT_COLUMNS}


#: Every batch asks which of its command ids were processed before, one index probe per
#: id. Written as a LATERAL probe because ``command_id = ANY(:ids)`` leaves the choice
#: to the planner's statistics, and those lag: a table that grows faster than autovacuum
#: analyzes it (any fresh database under a backlog) is estimated at a fraction of its
#: rows, so the planner scans all of it, once per batch. At 200,000 processed commands
#: that was 15 to 20 ms a query against about 2 with the probes (docs/perf.md section 27).
#: The ``LIMIT 1`` (the id is the key: one row at most) keeps the planner from pulling the
#: probe up into a plain join, which it could again run as one scan of the table.
_PROBE_PROCESSED = text(
    "SELECT p.command_id, p.outcome"
    " FROM unnest(CAST(:ids AS varchar[])) AS wanted(id)"
    " CROSS JOIN LATERAL ("
    "SELECT command_id, outcome FROM processed_commands WHERE command_id = wanted.id LIMIT 1"
    ") AS p"
)


#: Each swept partition's earliest due complaints (PostgreSQL): one index scan of
#: ``ix_complaints_due`` per partition, under its own ``LIMIT``.
_DUE_TIMERS = text(
    "SELECT due.partition, due.data, due.next_due_at"
    " FROM unnest(CAST(:partitions AS integer[]), CAST(:until AS timestamptz[]))"
    " AS swept(part, before)"
    " CROSS JOIN LATERAL ("
    "SELECT partition, data, next_due_at FROM complaints"
    " WHERE partition = swept.part AND next_due_at IS NOT NULL AND next_due_at < swept.before"
    " ORDER BY next_due_at LIMIT :limit"
    ") AS due"
)


def _headers(stored: str | None) -> tuple[tuple[str, bytes], ...]:
    """An outbox row's headers column back as Kafka headers (an event's has none)."""
    if not stored or stored == "[]":
        return ()
    return tuple((name, value.encode("latin-1")) for name, value in json.loads(stored))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _utc_session(url: str) -> str:
    """The libpq ``options`` of ``url`` (kept: they would be replaced), plus a UTC session."""
    given = make_url(url).query.get("options", "")
    return " ".join([*([given] if isinstance(given, str) else given), "-c TimeZone=UTC"]).strip()


def redact_url(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"
