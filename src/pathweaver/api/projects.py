"""``GET /v1/projects`` and ``GET /v1/projects/{projectId}``: what a key reaches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from pathweaver.api.auth import Caller, authenticate, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import iso
from pathweaver.errors import NotFound
from pathweaver.store.projects import Project
from pathweaver.store.store import Store

# Response shapes (documentation: api/openapi.py answers())


class ProjectOut(BaseModel):
    """A project the key reaches."""

    id: str
    name: str
    pathwayVersion: int = Field(description="The version of the pathway new sessions run")
    createdAt: str
    updatedAt: str


class ProjectListEnvelope(BaseModel):
    """The projects the key reaches, oldest first."""

    data: list[ProjectOut]


class ProjectEnvelope(BaseModel):
    """A project."""

    data: ProjectOut


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "pathwayVersion": project.pathway_version,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }


async def list_projects(request: Request, caller: Annotated[Caller, Depends(authenticate)]) -> Any:
    store: Store = request.app.state.store
    found = await store.projects.list_projects(sorted(caller.key.project_ids))
    return {"data": [project_json(p) for p in found]}


async def get_project(
    request: Request,
    projectId: str,
    caller: Annotated[Caller, Depends(project_caller)],
) -> Any:
    store: Store = request.app.state.store
    project = await store.projects.get_project(projectId)
    if project is None:
        raise NotFound("Project not found")
    return {"data": project_json(project)}


def projects_router() -> APIRouter:
    router = APIRouter(prefix="/v1/projects", tags=["projects"])
    router.add_api_route("", list_projects, methods=["GET"], responses=answers(ProjectListEnvelope))
    router.add_api_route("/{projectId}", get_project, methods=["GET"], responses=answers(ProjectEnvelope))
    return router
