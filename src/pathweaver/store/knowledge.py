"""Knowledge bases (one per project), their datasets, the datasets' files and chunks.

A dataset moves ``pending`` -> ``processing`` -> ``ready`` or ``failed`` (with a reason).
Its chunks are written in the same transaction that marks it ready, so a dataset is never
half-searchable; a failed dataset has no chunks and changes nothing else. Every change of
what a base can find (a dataset ready or deleted, a chunk toggled) bumps the base's
``revision``, which in-memory indexes compare against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pathweaver import keys
from pathweaver.errors import Conflict, NotFound
from pathweaver.store.database import read_transaction, write_transaction
from pathweaver.store.schema import utcnow
from pathweaver.store.schema_tools import chunks, dataset_files, datasets, knowledge_bases


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    id: str
    project_id: str
    name: str
    type: str
    embedding_model_name: str
    chunk_size: int
    chunk_overlap: int
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    knowledge_base_id: str
    filename: str
    extension_type: str
    size: int
    status: str
    error: str | None
    chunk_count: int
    embedded_with: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_parsed(self) -> bool:
        return self.status == "ready"


@dataclass(frozen=True, slots=True)
class StoredChunk:
    id: str
    dataset_id: str
    position: int
    content: str
    is_enabled: bool


@dataclass(frozen=True, slots=True)
class NewChunk:
    position: int
    content: str
    embedding: bytes


_DATASET_COLUMNS = [c for c in datasets.c]
_CHUNK_COLUMNS = [chunks.c.id, chunks.c.dataset_id, chunks.c.position, chunks.c.content, chunks.c.is_enabled]


async def _bump(conn: AsyncConnection, kb_id: str) -> None:
    await conn.execute(
        update(knowledge_bases)
        .where(knowledge_bases.c.id == kb_id)
        .values(revision=knowledge_bases.c.revision + 1, updated_at=utcnow())
    )


class KnowledgeStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    # Knowledge bases -------------------------------------------------------------------

    async def create_base(
        self,
        project_id: str,
        *,
        name: str,
        type: str,
        embedding_model_name: str,
        chunk_size: int,
        chunk_overlap: int,
    ) -> KnowledgeBase:
        """Create the project's knowledge base; :class:`Conflict` when it already has one."""
        now = utcnow()
        base = KnowledgeBase(
            keys.new_id("kb"),
            project_id,
            name,
            type,
            embedding_model_name,
            chunk_size,
            chunk_overlap,
            0,
            now,
            now,
        )
        try:
            async with write_transaction(self.engine) as conn:
                await conn.execute(insert(knowledge_bases).values(**_row(base)))
        except IntegrityError:
            raise Conflict("this project already has a knowledge base (one per project)") from None
        return base

    async def list_bases(self, project_id: str) -> list[KnowledgeBase]:
        query = select(knowledge_bases).where(knowledge_bases.c.project_id == project_id)
        async with read_transaction(self.engine) as conn:
            return [KnowledgeBase(**row._mapping) for row in (await conn.execute(query)).all()]

    async def get_base(self, project_id: str, kb_id: str) -> KnowledgeBase:
        query = select(knowledge_bases).where(
            knowledge_bases.c.project_id == project_id, knowledge_bases.c.id == kb_id
        )
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"knowledge base {kb_id!r} not found")
        return KnowledgeBase(**row._mapping)

    async def revision(self, kb_id: str) -> int | None:
        query = select(knowledge_bases.c.revision).where(knowledge_bases.c.id == kb_id)
        async with read_transaction(self.engine) as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return None if value is None else int(value)

    # Datasets --------------------------------------------------------------------------

    async def add_dataset(
        self, base: KnowledgeBase, *, filename: str, extension: str, content: bytes, content_type: str
    ) -> Dataset:
        now = utcnow()
        dataset = Dataset(
            keys.new_id("dataset"),
            base.id,
            filename[:255],
            extension,
            len(content),
            "pending",
            None,
            0,
            None,
            now,
            now,
        )
        async with write_transaction(self.engine) as conn:
            await conn.execute(insert(datasets).values(**_row(dataset)))
            await conn.execute(
                insert(dataset_files).values(
                    dataset_id=dataset.id, content_type=content_type[:128], content=content
                )
            )
        return dataset

    async def list_datasets(self, kb_id: str) -> list[Dataset]:
        query = (
            select(*_DATASET_COLUMNS)
            .where(datasets.c.knowledge_base_id == kb_id)
            .order_by(datasets.c.created_at.desc(), datasets.c.id.desc())
        )
        async with read_transaction(self.engine) as conn:
            return [Dataset(**row._mapping) for row in (await conn.execute(query)).all()]

    async def get_dataset(self, kb_id: str, dataset_id: str) -> Dataset:
        query = select(*_DATASET_COLUMNS).where(
            datasets.c.knowledge_base_id == kb_id, datasets.c.id == dataset_id
        )
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"dataset {dataset_id!r} not found in this knowledge base")
        return Dataset(**row._mapping)

    async def locate(self, dataset_id: str) -> tuple[KnowledgeBase, Dataset]:
        """A dataset and its knowledge base, by the dataset's id alone (for background work)."""
        query = select(*_DATASET_COLUMNS).where(datasets.c.id == dataset_id)
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound(f"dataset {dataset_id!r} not found")
            base = (
                await conn.execute(
                    select(knowledge_bases).where(knowledge_bases.c.id == row.knowledge_base_id)
                )
            ).one()
        return KnowledgeBase(**base._mapping), Dataset(**row._mapping)

    async def dataset_file(self, dataset_id: str) -> tuple[str, bytes]:
        """The uploaded file's content type and bytes."""
        query = select(dataset_files.c.content_type, dataset_files.c.content).where(
            dataset_files.c.dataset_id == dataset_id
        )
        async with read_transaction(self.engine) as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"dataset {dataset_id!r} has no file")
        return str(row.content_type), bytes(row.content)

    async def claim(self, dataset_id: str) -> bool:
        """Move a pending dataset to processing; False when another worker has it (or it is gone)."""
        async with write_transaction(self.engine) as conn:
            result = await conn.execute(
                update(datasets)
                .where(datasets.c.id == dataset_id, datasets.c.status == "pending")
                .values(status="processing", updated_at=utcnow())
            )
        return bool(result.rowcount)

    async def finish(self, dataset_id: str, new_chunks: Sequence[NewChunk], model: str) -> bool:
        """Store the chunks and mark the dataset ready, atomically; False if it was deleted."""
        async with write_transaction(self.engine) as conn:
            kb_id = (
                await conn.execute(select(datasets.c.knowledge_base_id).where(datasets.c.id == dataset_id))
            ).scalar_one_or_none()
            if kb_id is None:
                return False
            # Idempotent: a second worker finishing the same dataset replaces, never duplicates.
            await conn.execute(delete(chunks).where(chunks.c.dataset_id == dataset_id))
            if new_chunks:
                await conn.execute(
                    insert(chunks),
                    [
                        {
                            "id": keys.new_id("chunk"),
                            "dataset_id": dataset_id,
                            "knowledge_base_id": kb_id,
                            "position": c.position,
                            "content": c.content,
                            "is_enabled": True,
                            "embedding": c.embedding,
                            "embedding_model": model,
                        }
                        for c in new_chunks
                    ],
                )
            await conn.execute(
                update(datasets)
                .where(datasets.c.id == dataset_id)
                .values(
                    status="ready",
                    error=None,
                    chunk_count=len(new_chunks),
                    embedded_with=model,
                    updated_at=utcnow(),
                )
            )
            await _bump(conn, kb_id)
        return True

    async def fail(self, dataset_id: str, reason: str) -> None:
        """Mark the dataset failed with ``reason``; nothing else changes."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(datasets)
                .where(datasets.c.id == dataset_id)
                .values(status="failed", error=reason[:2000], updated_at=utcnow())
            )

    async def unfinished(self) -> list[tuple[str, str]]:
        """``(project_id, dataset_id)`` of datasets still pending or processing (after a restart)."""
        query = (
            select(knowledge_bases.c.project_id, datasets.c.id)
            .join(knowledge_bases, knowledge_bases.c.id == datasets.c.knowledge_base_id)
            .where(datasets.c.status.in_(["pending", "processing"]))
            .order_by(datasets.c.created_at)
        )
        async with read_transaction(self.engine) as conn:
            return [(row.project_id, row.id) for row in (await conn.execute(query)).all()]

    async def reset_to_pending(self, dataset_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                update(datasets)
                .where(datasets.c.id == dataset_id, datasets.c.status == "processing")
                .values(status="pending", updated_at=utcnow())
            )

    async def delete_dataset(self, kb_id: str, dataset_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            # Chunks and the file go with it (ON DELETE CASCADE); deleted explicitly too, so
            # SQLite databases opened without foreign keys stay clean.
            await conn.execute(delete(chunks).where(chunks.c.dataset_id == dataset_id))
            await conn.execute(delete(dataset_files).where(dataset_files.c.dataset_id == dataset_id))
            result = await conn.execute(
                delete(datasets).where(datasets.c.knowledge_base_id == kb_id, datasets.c.id == dataset_id)
            )
            if not result.rowcount:
                raise NotFound(f"dataset {dataset_id!r} not found in this knowledge base")
            await _bump(conn, kb_id)

    # Chunks ----------------------------------------------------------------------------

    async def list_chunks(self, kb_id: str, dataset_id: str) -> list[StoredChunk]:
        query = (
            select(*_CHUNK_COLUMNS)
            .where(chunks.c.knowledge_base_id == kb_id, chunks.c.dataset_id == dataset_id)
            .order_by(chunks.c.position)
        )
        async with read_transaction(self.engine) as conn:
            return [StoredChunk(**row._mapping) for row in (await conn.execute(query)).all()]

    async def set_chunk_enabled(self, kb_id: str, chunk_id: str, enabled: bool) -> StoredChunk:
        async with write_transaction(self.engine) as conn:
            row = (
                await conn.execute(
                    select(*_CHUNK_COLUMNS).where(
                        chunks.c.knowledge_base_id == kb_id, chunks.c.id == chunk_id
                    )
                )
            ).first()
            if row is None:
                raise NotFound(f"chunk {chunk_id!r} not found in this knowledge base")
            if row.is_enabled != enabled:
                await conn.execute(update(chunks).where(chunks.c.id == chunk_id).values(is_enabled=enabled))
                await _bump(conn, kb_id)
        return StoredChunk(row.id, row.dataset_id, row.position, row.content, enabled)

    async def chunks_by_id(self, ids: Sequence[str]) -> dict[str, StoredChunk]:
        if not ids:
            return {}
        query = select(*_CHUNK_COLUMNS).where(chunks.c.id.in_(list(ids)))
        async with read_transaction(self.engine) as conn:
            return {row.id: StoredChunk(**row._mapping) for row in (await conn.execute(query)).all()}

    async def vectors(self, kb_id: str, model: str) -> tuple[list[str], list[bytes]]:
        """Ids and vector bytes of the enabled chunks embedded by ``model``."""
        query = select(chunks.c.id, chunks.c.embedding).where(
            chunks.c.knowledge_base_id == kb_id,
            chunks.c.is_enabled.is_(True),
            chunks.c.embedding_model == model,
            chunks.c.embedding.is_not(None),
        )
        async with read_transaction(self.engine) as conn:
            rows = (await conn.execute(query)).all()
        return [r.id for r in rows], [bytes(r.embedding) for r in rows]

    async def count_chunks(self, kb_id: str) -> int:
        query = select(func.count()).select_from(chunks).where(chunks.c.knowledge_base_id == kb_id)
        async with read_transaction(self.engine) as conn:
            return int((await conn.execute(query)).scalar_one())


def _row(value: KnowledgeBase | Dataset) -> dict[str, object]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}
