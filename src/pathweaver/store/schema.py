"""The tables, as SQLAlchemy Core. One schema for SQLite and PostgreSQL.

Migrations under ``migrations/versions`` create exactly these; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("pathway_version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),  # "sk" (project key) or "dk" (developer key)
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("hint", String(16), nullable=False),  # "sk_ab12…": enough to recognise, not to use
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

api_key_projects = Table(
    "api_key_projects",
    metadata,
    Column("key_id", String(64), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
)

agents = Table(
    "agents",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), nullable=False),
    Column("config", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

pathway_versions = Table(
    "pathway_versions",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("schema_version", Integer, nullable=False),
    Column("document", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("author", String(200), nullable=False, default=""),
    Column("note", String(500), nullable=False, default=""),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("pathway_version", Integer, nullable=False),
    Column("provider", String(64), nullable=True),
    Column("session_type", String(16), nullable=False, default="text"),
    Column("status", String(16), nullable=False, default="active"),  # active | ended
    Column("end_reason", String(64), nullable=True),
    Column("variables", Json, nullable=False),
    Column("extracted", Json, nullable=False),
    Column("current_node_id", String(200), nullable=True),
    Column("visited", Json, nullable=False),  # node ids in first-visit order
    Column("turn_count", Integer, nullable=False, default=0),
    Column("message_count", Integer, nullable=False, default=0),
    Column("marked", Boolean, nullable=False, default=False),
    Column("evaluation", Json, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    # The turn lease: which worker runs this session's current turn, and until when.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    UniqueConstraint("project_id", "external_id", name="uq_sessions_project_external"),
    Index("ix_sessions_project_updated", "project_id", "updated_at"),
)

turns = Table(
    "turns",
    metadata,
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),  # 1, 2, 3 ... per session: the unique guard
    Column("status", String(16), nullable=False),  # completed | aborted
    Column("node_before", String(200), nullable=True),
    Column("node_after", String(200), nullable=True),
    Column("response", Json, nullable=True),  # the assistant's answer, for replays
    Column("trace", Json, nullable=False),
    Column("error", Text, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("turn_seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=True),
    Column("tool_calls", Json, nullable=True),
    Column("tool_call_id", String(200), nullable=True),
    Column("node_id", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Server-side tool calls and results: the model's context, not the client's history.
    Column("internal", Boolean, nullable=False, default=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("scope", String(32), primary_key=True),  # "session.create" | "chat.completions"
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of the request body and session
    Column("status", String(16), nullable=False),  # running | done
    Column("status_code", Integer, nullable=True),
    Column("response", Json, nullable=True),
    Column("headers", Json, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Session lifecycle: the end-of-session pipeline and webhook deliveries (a durable outbox).

session_jobs = Table(
    "session_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),  # "finalize"
    Column("status", String(16), nullable=False),  # pending | running | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("session_id", "kind", name="uq_session_jobs_session_kind"),
    Index("ix_session_jobs_status", "status"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("events", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhook_subscriptions_project", "project_id"),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True),
    Column("event", String(64), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("headers", Json, nullable=False),
    Column("payload", Json, nullable=False),
    # pending | sending | delivered | failed | unknown (at-most-once event cut mid-send)
    Column("status", String(16), nullable=False),
    Column("at_most_once", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("session_id", "event", "url", name="uq_webhook_deliveries_session_event_url"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhook_attempts_delivery", "delivery_id"),
)


# The tables of other features join the same metadata (imported last: they use the names above).
from pathweaver.store import schema_testing as _schema_testing  # noqa: E402, F401
from pathweaver.store import schema_tools as _schema_tools  # noqa: E402, F401
