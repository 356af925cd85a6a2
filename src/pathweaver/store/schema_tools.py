"""Tables for tool configs and knowledge bases, in the same metadata as ``schema.py``.

Importing this module adds them to :data:`pathweaver.store.schema.metadata`; migration
0003 creates exactly these (``tests/store/test_migrations.py`` compares the two, so this
module must be imported wherever the metadata is used as the declared schema).

Vectors are stored as float32 bytes (little-endian) beside their chunk, with the name of
the model that made them; search is exact, in numpy, over a knowledge base's enabled
chunks (``pathweaver.knowledge.search``). ``knowledge_bases.revision`` goes up with every
change of its searchable chunks, so in-memory indexes know when to reload.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from pathweaver.store.schema import Json, UTCDateTime, metadata

tool_configs = Table(
    "tool_configs",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("config", Json, nullable=False),  # the whole tool, Pathors JSON shape
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_tool_configs_project_name"),
)

knowledge_bases = Table(
    "knowledge_bases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),
    Column("embedding_model_name", String(128), nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("chunk_overlap", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "knowledge_base_id", String(64), ForeignKey("knowledge_bases.id", ondelete="CASCADE"), nullable=False
    ),
    Column("filename", String(255), nullable=False),
    Column("extension_type", String(16), nullable=False),
    Column("size", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending | processing | ready | failed
    Column("error", Text, nullable=True),
    Column("chunk_count", Integer, nullable=False),
    Column("embedded_with", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_datasets_kb_created", "knowledge_base_id", "created_at"),
)

dataset_files = Table(
    "dataset_files",
    metadata,
    Column("dataset_id", String(64), ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("content_type", String(128), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("dataset_id", String(64), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column(
        "knowledge_base_id", String(64), ForeignKey("knowledge_bases.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    Column("content", Text, nullable=False),
    Column("is_enabled", Boolean, nullable=False),
    Column("embedding", LargeBinary, nullable=True),
    Column("embedding_model", String(128), nullable=True),
    Index("ix_chunks_dataset_position", "dataset_id", "position"),
    Index("ix_chunks_kb_enabled", "knowledge_base_id", "is_enabled"),
)
