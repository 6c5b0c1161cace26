"""The database tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

``complaints`` holds current state (the full :class:`ComplaintState` as JSON plus the
columns the engine filters on); ``events`` is the append-only history, unique on
(complaint_id, seq) so a second writer of the same seq fails loudly; ``sla_clocks``
holds one row per clock; ``processed_commands`` makes commands idempotent;
``partition_progress`` stores each partition's next offset and watermark in the same
transaction as the state, so a replay after a crash skips what was already applied;
``outbox`` holds records waiting to be published (events and dead letters alike), each
tagged with the ``lapor.commands`` partition it belongs to: the relay of the engine that
owns that partition publishes it. A row Kafka refuses for good is parked, not retried;
published rows are pruned after a retention period.
``label_values`` holds the metric label values admitted beyond the policy's lists, so the
bounded label set survives restarts and is shared by every engine instance.

The LAPOR! feed (``laporflow feed``) keeps its own small tables here: ``lapor_feed_cursor``
(where the poller resumes), ``lapor_reports`` (the last upstream status seen per tracking
ID, and nothing of its content), ``lapor_deliveries`` (webhook deliveries already taken)
and ``lapor_pushes`` (what the sync-back pushed upstream, or failed to).

``notices`` holds every notice of ``laporflow notify``, unique per (event, recipient,
channel) and stored before it is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

__all__ = [
    "UTCDateTime",
    "clocks_table",
    "complaint_counts_table",
    "complaints_table",
    "events_table",
    "label_values_table",
    "lapor_cursor_table",
    "lapor_deliveries_table",
    "lapor_pushes_table",
    "lapor_reports_table",
    "metadata",
    "notices_table",
    "outbox_table",
    "processed_commands_table",
    "progress_table",
    "settlements_table",
    "skpd_receipts_table",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type; storing naive UTC there and tagging it on the way out
    keeps comparisons (``next_due_at <= :watermark``) right on both backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; naive on SQLite."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None or value.tzinfo is UTC:  # PostgreSQL's, in the session's UTC
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

complaints_table = Table(
    "complaints",
    metadata,
    Column("complaint_id", String(64), primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("region", String(64), nullable=False),
    Column("skpd", String(64)),
    Column("category", String(64), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("next_due_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("data", Text, nullable=False),
    # Complainant identity stays here, never in an event.
    Column("complainant", Text),
    Index("ix_complaints_due", "partition", "next_due_at"),
    Index("ix_complaints_state_skpd", "state", "skpd"),
    # The admin's listing filtered by region pages along this index (0007_admin).
    Index("ix_complaints_region_id", "region", "complaint_id"),
)

events_table = Table(
    "events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("complaint_id", String(64), nullable=False),
    Column("seq", Integer),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("state", String(32)),
    Column("previous_state", String(32)),
    Column("region", String(64)),
    Column("skpd", String(64)),
    Column("causation_id", String(160), nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("complaint_id", "seq", name="uq_events_complaint_seq"),
    Index("ix_events_type_occurred", "type", "occurred_at"),
)

#: Complaints per (partition, state, skpd), kept by ``Store.write`` in the batch's own
#: transaction (+1 for the new state, -1 for the old), so the ``laporflow_complaints``
#: gauge sums a few hundred rows instead of scanning every complaint ever stored. Rows are
#: keyed by partition so engine instances, which own distinct partitions, do not wait on
#: each other's counter rows; a row may go negative if a complaint's partition changes,
#: the sums per (state, skpd) stay exact.
complaint_counts_table = Table(
    "complaint_counts",
    metadata,
    Column("partition", Integer, primary_key=True),
    Column("state", String(32), primary_key=True),
    Column("skpd", String(64), primary_key=True),  # "" before dispatch
    Column("n", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
)

#: One row per complaint per SKPD it was dispatched to (engine/receipts): the first
#: dispatch, and that SKPD's first answer and first return after it. Kept by
#: ``Store.write`` in the batch's own transaction, so the report reads its period's
#: receipts through ``ix_skpd_receipts_dispatched`` instead of probing each dispatch's
#: history (0011_receipts).
skpd_receipts_table = Table(
    "skpd_receipts",
    metadata,
    Column("complaint_id", String(64), primary_key=True),
    Column("skpd", String(64), primary_key=True),
    Column("region", String(64)),
    Column("dispatch_seq", Integer, nullable=False),
    Column("dispatched_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime()),
    Column("returned_at", UTCDateTime()),
    Index("ix_skpd_receipts_dispatched", "dispatched_at"),
)

#: One row per complaint standing resolved (engine/settlements): its latest resolution.
#: Kept by ``Store.write`` in the batch's own transaction, so the report reads its
#: period's settlements through ``ix_settlements_resolved`` instead of probing each
#: resolution's history (0012_settlements).
settlements_table = Table(
    "settlements",
    metadata,
    Column("complaint_id", String(64), primary_key=True),
    Column("skpd", String(64)),
    Column("region", String(64)),
    Column("state", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=False),
    Column("auto_closed", Boolean, nullable=False),
    Index("ix_settlements_resolved", "resolved_at"),
)

clocks_table = Table(
    "sla_clocks",
    metadata,
    Column("complaint_id", String(64), primary_key=True),
    Column("clock", String(32), primary_key=True),
    Column("region", String(64), nullable=False),
    Column("skpd", String(64)),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("deadline", UTCDateTime(), nullable=False),
    Column("warning_at", UTCDateTime()),
    # The next instant this clock fires: its warning, breach, next escalation level or
    # auto-close; NULL when stopped, paused or fully escalated.
    Column("next_fire_at", UTCDateTime()),
    Column("paused_at", UTCDateTime()),
    Column("breached_at", UTCDateTime()),
    Column("escalation_level", Integer, nullable=False),
    Column("stopped_at", UTCDateTime()),
    # Fingerprint of the policy this row was last computed or checked under (NULL:
    # unknown): the start-up reschedule reads only the running clocks not yet under the
    # current policy, instead of every running clock at every start.
    Column("policy", String(16)),
    Index("ix_clocks_open", "stopped_at", "breached_at"),
)

processed_commands_table = Table(
    "processed_commands",
    metadata,
    Column("command_id", String(128), primary_key=True),
    Column("complaint_id", String(64), nullable=False),
    Column("command_type", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("processed_at", UTCDateTime(), nullable=False),
)

progress_table = Table(
    "partition_progress",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("watermark", UTCDateTime()),
)

_UNPUBLISHED = "published IS false AND parked_at IS NULL"
_PARKED = "parked_at IS NOT NULL"

outbox_table = Table(
    "outbox",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("topic", String(255), nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", Text),  # JSON list of [name, value]
    Column("event_id", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("published", Boolean, nullable=False, default=False),
    # The commands-topic partition of the complaint (or of the dead letter's source
    # record); NULL only on rows written before revision 0003 that could not be placed.
    Column("partition", Integer),
    Column("published_at", UTCDateTime()),
    # Kafka refused the record for good (e.g. too large): kept for the operator, skipped.
    Column("parked_at", UTCDateTime()),
    Column("park_reason", Text),
    # Partial indexes: only rows waiting to be published (the relay's page query, in id
    # order, filtered by partition), and the rare parked ones. Marking a row published
    # takes it out; a published row costs no index entry beyond the primary key.
    Index(
        "ix_outbox_unpublished",
        "id",
        postgresql_where=text(_UNPUBLISHED),
        sqlite_where=text(_UNPUBLISHED),
    ),
    Index(
        "ix_outbox_parked",
        "parked_at",
        postgresql_where=text(_PARKED),
        sqlite_where=text(_PARKED),
    ),
)

label_values_table = Table(
    "label_values",
    metadata,
    # Admission order: when a lower limit is configured, the first admitted are kept.
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("label", String(32), nullable=False),
    Column("value", String(200), nullable=False),
    Column("admitted_at", UTCDateTime(), nullable=False),
    UniqueConstraint("label", "value", name="uq_label_values_label_value"),
)

lapor_cursor_table = Table(
    "lapor_feed_cursor",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("cursor", Text),
    Column("polled_at", UTCDateTime()),
)

# No title, body or identity: only what the feed needs to tell a change from a repeat.
lapor_reports_table = Table(
    "lapor_reports",
    metadata,
    Column("tracking_id", String(64), primary_key=True),
    Column("status", String(64), nullable=False),
    Column("upstream_updated_at", UTCDateTime(), nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)

lapor_deliveries_table = Table(
    "lapor_deliveries",
    metadata,
    Column("delivery_id", String(128), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
)

lapor_pushes_table = Table(
    "lapor_pushes",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("complaint_id", String(64), nullable=False),
    Column("push_type", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),  # pushed | failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("body", Text, nullable=False),  # the push JSON, to retry a failed one
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_lapor_pushes_complaint", "complaint_id"),
    Index("ix_lapor_pushes_outcome", "outcome", "updated_at"),
)

notices_table = Table(
    "notices",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(64), nullable=False),
    Column("complaint_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("role", String(64), nullable=False),
    # email, webhook, or "none" for a role that no contact names (status no_contact).
    Column("channel", String(16), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("region", String(64)),
    Column("skpd", String(64)),
    Column("digest", Boolean, nullable=False, default=False),
    # pending -> sent | failed; no_contact is final from the start.
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    # Also the claim lease of an attempt in flight: nobody retries it before then.
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("event", Text, nullable=False),  # the event's JSON, as consumed
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    UniqueConstraint("event_id", "recipient", "channel", name="uq_notices_event_recipient_channel"),
    Index("ix_notices_due", "status", "next_attempt_at"),
    Index("ix_notices_complaint", "complaint_id"),
)
