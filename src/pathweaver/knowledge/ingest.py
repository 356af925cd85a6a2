"""``pathweaver kb ingest PATH...``: add local files to a project's knowledge base, now.

The CLI calls :func:`ingest_files` and draws a progress bar from its callback. Each file
becomes a dataset processed in the foreground (the same pipeline as an upload); the
project's knowledge base is created with the defaults when it has none. A file that cannot
be read is reported and marks its dataset failed; the others go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathweaver.errors import PayloadTooLarge, UserError
from pathweaver.knowledge import chunking
from pathweaver.knowledge.bases import Knowledge
from pathweaver.knowledge.parsing import check_supported
from pathweaver.store.knowledge import Dataset, KnowledgeBase

DEFAULT_BASE_NAME = "Knowledge base"


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Where ingestion is: file ``file_index`` of ``files``, at ``stage`` (``reading``,
    ``parsing``, ``embedding``, ``storing``, ``done``, ``failed``), ``done`` of ``total`` chunks."""

    path: Path
    file_index: int
    files: int
    stage: str
    done: int = 0
    total: int = 0
    message: str = ""


async def ensure_base(knowledge: Knowledge, project_id: str) -> KnowledgeBase:
    """The project's knowledge base, created with the defaults when it has none."""
    bases = await knowledge.store.list_bases(project_id)
    if bases:
        return bases[0]
    return await knowledge.store.create_base(
        project_id,
        name=DEFAULT_BASE_NAME,
        type="pgvector",
        embedding_model_name=knowledge.embedders.default_model(),
        chunk_size=chunking.DEFAULT_CHUNK_SIZE,
        chunk_overlap=chunking.DEFAULT_CHUNK_OVERLAP,
    )


async def ingest_files(
    knowledge: Knowledge,
    project_id: str,
    paths: Sequence[Path],
    *,
    max_bytes: int = 10_000_000,
    progress: Callable[[IngestProgress], None] | None = None,
) -> list[Dataset]:
    """Ingest ``paths`` into the project's knowledge base; the datasets (ready or failed).

    Raises :class:`UserError` before doing anything when a path is missing, unsupported or
    too large, so a typo does not leave half the files ingested.
    """
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        try:
            check_supported(path.name)
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from None
        if path.stat().st_size > max_bytes:
            raise PayloadTooLarge(f"{path}: larger than the limit of {max_bytes} bytes")
    base = await ensure_base(knowledge, project_id)
    results: list[Dataset] = []
    for index, path in enumerate(paths):

        def report(
            stage: str, done: int = 0, total: int = 0, message: str = "", *, i: int = index, p: Path = path
        ) -> None:
            if progress:
                progress(IngestProgress(p, i, len(paths), stage, done, total, message))

        report("reading")
        data = await asyncio.to_thread(path.read_bytes)
        dataset = await knowledge.store.add_dataset(
            base,
            filename=path.name,
            extension=check_supported(path.name),
            content=data,
            content_type=_content_type(path),
        )
        processed = await knowledge.process(
            dataset.id, progress=lambda stage, done, total: report(stage, done, total)
        )
        final = processed or dataset
        report(
            "done" if final.is_parsed else "failed", final.chunk_count, final.chunk_count, final.error or ""
        )
        results.append(final)
    return results


def _content_type(path: Path) -> str:
    return {
        "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "md": "text/markdown",
        "markdown": "text/markdown",
        "csv": "text/csv",
    }.get(path.suffix.lower().removeprefix("."), "text/plain")
