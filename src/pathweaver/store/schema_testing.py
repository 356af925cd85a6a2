"""The tables of conversation tests: cases, suites and runs (migrations 0005, 0006).

They live on the shared ``metadata``: importing this module registers them, so it must be
imported wherever the whole schema is needed (the store, and the migration test).
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from pathweaver.store.schema import Json, UTCDateTime, metadata

test_cases = Table(
    "test_cases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # scripted | simulated
    Column("definition", Json, nullable=False),  # the case's wire JSON (cases.py)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_test_cases_project_name"),
)

test_suites = Table(
    "test_suites",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("case_ids", Json, nullable=False),  # ordered list of test_cases.id
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_test_suites_project", "project_id"),
)

test_runs = Table(
    "test_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    # Not a foreign key: a run's record outlives the suite it ran.
    Column("suite_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # running | passed | failed | error
    Column("pathway_version", Integer, nullable=False),
    Column("agent_fingerprint", String(64), nullable=False),  # agent.py: what the run tested
    Column("total", Integer, nullable=False),
    Column("results", Json, nullable=False),  # CaseResult.to_json() per finished case
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # The last write by the worker running it (its heartbeat): a run still "running" whose
    # heartbeat is old was left by a worker that died (store/testing.py, interrupt_stale_runs).
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_test_runs_project_suite", "project_id", "suite_id", "created_at"),
    Index("ix_test_runs_status_updated", "status", "updated_at"),
)
