"""The knowledge base API (pathors-api.md section 2.9), with Pathors' documented shapes.

Unlike the other v1 routes, the knowledge-base list, the query and the dataset routes answer
**bare arrays**, and creating a knowledge base or uploading a dataset answers a
``{message}`` object (as Pathors documents; ``id``/``datasetId`` are added). Errors use the
v1 envelope. One knowledge base per project (409 for a second). Datasets are uploaded as
the multipart field ``dataset`` (.txt, .md, .csv, .pdf, .docx); a file over the size limit
is refused with 413 before it is parsed; processing happens in the background and
``isParsed`` turns true when it is done (``status``/``error`` say more: ``failed`` with a
reason for a file that cannot be read). Extensions: ``DELETE`` a dataset, ``PATCH`` a
chunk's ``isEnabled``, ``GET`` a dataset's original file (its ``fileUrl``).

A dataset or chunk of another project's knowledge base is 404, not 403: answers never tell
whether another project's ids exist.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, ValidationError, field_validator
from starlette.datastructures import UploadFile

from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import iso
from pathweaver.errors import PayloadTooLarge, UserError
from pathweaver.knowledge import chunking
from pathweaver.knowledge.bases import DEFAULT_THRESHOLD, DEFAULT_TOP_K, Knowledge
from pathweaver.knowledge.embeddings import embedders_from_settings
from pathweaver.knowledge.parsing import check_supported
from pathweaver.store.knowledge import Dataset, KnowledgeBase, KnowledgeStore, StoredChunk
from pathweaver.tools.config import field_error

CallerDep = Annotated[Caller, Depends(project_caller)]
JsonBody = Annotated[Any, Body()]
DEFAULT_MAX_DATASET_BYTES = 10_000_000
#: Multipart framing around the file (boundaries, part headers) allowed above the file limit.
_MULTIPART_SLACK = 16_384


def knowledge_of(app: FastAPI) -> Knowledge:
    """The application's :class:`Knowledge` (``app.state.knowledge``), made on first use
    from the store and settings when the composition root did not build one."""
    knowledge: Knowledge | None = getattr(app.state, "knowledge", None)
    if knowledge is None:
        knowledge = Knowledge(
            KnowledgeStore(app.state.store.engine), embedders_from_settings(app.state.settings)
        )
        app.state.knowledge = knowledge
    return knowledge


# Response shapes (documentation: api/openapi.py answers())


class KnowledgeBaseOut(BaseModel):
    """A project's knowledge base."""

    id: str
    name: str
    type: Literal["pgvector"]
    embeddingModelName: str
    chunkSize: int
    chunkOverlap: int
    createdAt: str
    updatedAt: str


class KnowledgeBaseList(RootModel[list[KnowledgeBaseOut]]):
    """The project's knowledge bases (at most one), as a bare array."""


class KnowledgeBaseCreated(BaseModel):
    """A knowledge base was created."""

    message: str
    id: str


class DatasetOut(BaseModel):
    """An uploaded file and how far its processing got."""

    id: str
    filename: str
    fileUrl: str = Field(description="Where to download the original file")
    extensionType: str = Field(description="The file's extension without the dot: txt, md, csv, pdf, docx")
    size: int = Field(description="The file's size in bytes")
    isParsed: bool = Field(description="True once the dataset is ready (chunked and embedded)")
    status: Literal["pending", "processing", "ready", "failed"]
    error: str | None = Field(description="Why processing failed (status failed); otherwise null")
    chunkCount: int
    createdAt: str
    updatedAt: str


class DatasetList(RootModel[list[DatasetOut]]):
    """A knowledge base's datasets, newest first, as a bare array."""


class DatasetUploaded(BaseModel):
    """A dataset was stored; it is chunked and embedded in the background."""

    message: str
    success: bool
    datasetId: str


class DatasetDeleted(BaseModel):
    """A dataset and its chunks were deleted."""

    message: str
    success: bool


class ChunkOut(BaseModel):
    """A passage of a dataset."""

    id: str
    content: str
    contentLength: int = Field(description="The length of content, in characters")
    isEnabled: bool = Field(description="Whether searches can find it")


class ChunkList(RootModel[list[ChunkOut]]):
    """Chunks, as a bare array: a dataset's in order, or a query's best first."""


#: The original file of a dataset, as uploaded: its media type is the one the upload declared.
DATASET_FILE: dict[int | str, Any] = {
    200: {
        "description": "The dataset's original file, with the media type its upload declared",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "Content-Disposition": {
                "description": "attachment, with the dataset's filename",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    }
}


def base_json(base: KnowledgeBase) -> dict[str, Any]:
    return {
        "id": base.id,
        "name": base.name,
        "type": base.type,
        "embeddingModelName": base.embedding_model_name,
        "chunkSize": base.chunk_size,
        "chunkOverlap": base.chunk_overlap,
        "createdAt": iso(base.created_at),
        "updatedAt": iso(base.updated_at),
    }


#: The upload's body, for the OpenAPI document: the handler reads the form itself (to hold
#: its size limits while it streams), so FastAPI cannot derive it from a parameter.
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["dataset"],
                "properties": {
                    "dataset": {
                        "type": "string",
                        "format": "binary",
                        "description": "The file: .txt, .md, .csv, .pdf or .docx, named with its extension",
                    }
                },
            }
        }
    },
}


def dataset_json(request: Request, project_id: str, dataset: Dataset) -> dict[str, Any]:
    file_url = request.url_for(
        "dataset_file", projectId=project_id, kbId=dataset.knowledge_base_id, datasetId=dataset.id
    )
    return {
        "id": dataset.id,
        "filename": dataset.filename,
        "fileUrl": str(file_url),
        "extensionType": dataset.extension_type,
        "size": dataset.size,
        "isParsed": dataset.is_parsed,
        "status": dataset.status,
        "error": dataset.error,
        "chunkCount": dataset.chunk_count,
        "createdAt": iso(dataset.created_at),
        "updatedAt": iso(dataset.updated_at),
    }


def chunk_json(chunk: StoredChunk) -> dict[str, Any]:
    return {
        "id": chunk.id,
        "content": chunk.content,
        "contentLength": len(chunk.content),
        "isEnabled": chunk.is_enabled,
    }


class BaseIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1)
    embeddingModelName: str = Field(min_length=1, max_length=128)
    chunkSize: int = chunking.DEFAULT_CHUNK_SIZE
    chunkOverlap: int = chunking.DEFAULT_CHUNK_OVERLAP

    @field_validator("type")
    @classmethod
    def _pgvector(cls, value: str) -> str:
        if value != "pgvector":
            raise ValueError("only 'pgvector' is supported (the vectors live in Pathweaver's own database)")
        return value


class ChunkPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isEnabled: StrictBool


def knowledge_router(*, max_dataset_bytes: int = DEFAULT_MAX_DATASET_BYTES) -> APIRouter:
    async def _base(request: Request, project_id: str, kb_id: str) -> tuple[Knowledge, KnowledgeBase]:
        knowledge = knowledge_of(request.app)
        return knowledge, await knowledge.store.get_base(project_id, kb_id)

    async def list_bases(request: Request, projectId: str, caller: CallerDep) -> Any:
        return [base_json(b) for b in await knowledge_of(request.app).store.list_bases(projectId)]

    async def create_base(request: Request, projectId: str, caller: CallerDep, body: JsonBody = None) -> Any:
        if not isinstance(body, dict):
            raise UserError("the request body must be a JSON object with name, type and embeddingModelName")
        try:
            data = BaseIn.model_validate(body)
            chunking.check_sizes(data.chunkSize, data.chunkOverlap)
        except ValidationError as exc:
            raise field_error(exc) from None
        except ValueError as exc:
            raise UserError(str(exc)) from None
        base = await knowledge_of(request.app).store.create_base(
            projectId,
            name=data.name,
            type=data.type,
            embedding_model_name=data.embeddingModelName,
            chunk_size=data.chunkSize,
            chunk_overlap=data.chunkOverlap,
        )
        return JSONResponse({"message": "Knowledgebase created successfully", "id": base.id}, status_code=201)

    async def query(
        request: Request,
        projectId: str,
        kbId: str,
        caller: CallerDep,
        q: str | None = None,
        topK: Annotated[int, Query(ge=1, le=50)] = DEFAULT_TOP_K,
        scoreThreshold: Annotated[float, Query(ge=0.0, le=1.0)] = DEFAULT_THRESHOLD,
    ) -> Any:
        if not q or not q.strip():
            raise UserError("q is required: the text to search for", details={"param": "q"})
        knowledge, base = await _base(request, projectId, kbId)
        passages = await knowledge.search(base, q[:2000], top_k=topK, threshold=scoreThreshold)
        return [
            {"id": p.chunk_id, "content": p.content, "contentLength": len(p.content), "isEnabled": True}
            for p in passages
        ]

    async def upload(request: Request, projectId: str, kbId: str, caller: CallerDep) -> Any:
        knowledge, base = await _base(request, projectId, kbId)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_dataset_bytes + _MULTIPART_SLACK:
            raise _too_large(max_dataset_bytes)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise UserError("send the file as multipart/form-data, in a field named 'dataset'")
        async with request.form(max_files=1, max_fields=10, max_part_size=max_dataset_bytes + 1) as form:
            upload = form.get("dataset")
            if not isinstance(upload, UploadFile):
                raise UserError(
                    "dataset is required: send the file in the multipart field 'dataset'",
                    details={"param": "dataset"},
                )
            filename = PurePath((upload.filename or "").replace("\\", "/")).name.strip() or "dataset.txt"
            try:
                extension = check_supported(filename)
            except ValueError as exc:
                raise UserError(f"dataset: {exc}") from None
            data = await upload.read(max_dataset_bytes + 1)
            file_type = upload.content_type or "application/octet-stream"
        if len(data) > max_dataset_bytes:
            raise _too_large(max_dataset_bytes)
        if not data:
            raise UserError("dataset: the file is empty")
        dataset = await knowledge.store.add_dataset(
            base, filename=filename, extension=extension, content=data, content_type=file_type
        )
        knowledge.submit(dataset.id)
        return {
            "message": "Dataset Uploaded successfully, currently embedding in the background",
            "success": True,
            "datasetId": dataset.id,
        }

    async def list_datasets(request: Request, projectId: str, kbId: str, caller: CallerDep) -> Any:
        knowledge, base = await _base(request, projectId, kbId)
        return [dataset_json(request, projectId, d) for d in await knowledge.store.list_datasets(base.id)]

    async def list_chunks(
        request: Request, projectId: str, kbId: str, datasetId: str, caller: CallerDep
    ) -> Any:
        knowledge, base = await _base(request, projectId, kbId)
        await knowledge.store.get_dataset(base.id, datasetId)
        return [chunk_json(c) for c in await knowledge.store.list_chunks(base.id, datasetId)]

    async def dataset_file(
        request: Request, projectId: str, kbId: str, datasetId: str, caller: CallerDep
    ) -> Any:
        knowledge, base = await _base(request, projectId, kbId)
        dataset = await knowledge.store.get_dataset(base.id, datasetId)
        content_type, data = await knowledge.store.dataset_file(dataset.id)
        safe_name = dataset.filename.replace('"', "")
        return Response(
            data,
            media_type=content_type,
            headers={
                "Content-Disposition": f'attachment; filename="{safe_name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def delete_dataset(
        request: Request, projectId: str, kbId: str, datasetId: str, caller: CallerDep
    ) -> Any:
        knowledge, base = await _base(request, projectId, kbId)
        await knowledge.store.delete_dataset(base.id, datasetId)
        return {"message": "Dataset deleted successfully", "success": True}

    async def patch_chunk(
        request: Request, projectId: str, kbId: str, chunkId: str, body: ChunkPatch, caller: CallerDep
    ) -> Any:
        knowledge, base = await _base(request, projectId, kbId)
        return chunk_json(await knowledge.store.set_chunk_enabled(base.id, chunkId, body.isEnabled))

    router = APIRouter(prefix="/v1/projects/{projectId}/knowledgebases", tags=["knowledge bases"])
    router.add_api_route("", list_bases, methods=["GET"], responses=answers(KnowledgeBaseList))
    router.add_api_route(
        "", create_base, methods=["POST"], status_code=201, responses=answers(KnowledgeBaseCreated, 201)
    )
    router.add_api_route("/{kbId}/query", query, methods=["GET"], responses=answers(ChunkList))
    router.add_api_route(
        "/{kbId}/datasets",
        upload,
        methods=["POST"],
        responses=answers(DatasetUploaded),
        openapi_extra={"requestBody": UPLOAD_BODY},
    )
    router.add_api_route("/{kbId}/datasets", list_datasets, methods=["GET"], responses=answers(DatasetList))
    router.add_api_route(
        "/{kbId}/datasets/{datasetId}", delete_dataset, methods=["DELETE"], responses=answers(DatasetDeleted)
    )
    router.add_api_route(
        "/{kbId}/datasets/{datasetId}/chunks", list_chunks, methods=["GET"], responses=answers(ChunkList)
    )
    router.add_api_route(
        "/{kbId}/datasets/{datasetId}/file",
        dataset_file,
        methods=["GET"],
        name="dataset_file",
        response_class=Response,
        responses=DATASET_FILE,
    )
    router.add_api_route(
        "/{kbId}/chunks/{chunkId}", patch_chunk, methods=["PATCH"], responses=answers(ChunkOut)
    )
    return router


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"dataset is larger than the limit of {limit} bytes ({limit / 1_000_000:g} MB); split it or raise "
        "PATHWEAVER_MAX_DATASET_BYTES",
        code="dataset_too_large",
    )
