"""The tool configs API (pathors-api.md section 2.7), in the ``{"data": ...}`` envelope.

``POST`` takes ``{type, metadata}`` and optionally ``name``, ``description``,
``inputSchema`` and ``placeholderMessages`` (a default name is made from the type) and
answers 201. ``PUT`` changes any of ``name``, ``description``, ``metadata``,
``inputSchema``, ``placeholderMessages``; fields not sent keep their value; ``type`` cannot
change. What a read adds (``id``, ``createdAt``, ``updatedAt``) is ignored, so a tool read
with GET can be sent back with PUT as it is. Every save is validated (messages name the field) and the tool's URL is checked
against the outbound policy, so a tool pointing at a private address is refused when it is
saved (400), not only when it is called.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from pathweaver import keys
from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import DeletedOut, iso
from pathweaver.errors import OutboundRefused, UserError
from pathweaver.offload import heavy
from pathweaver.store.tools import StoredTool, ToolStore
from pathweaver.tools.config import McpTool, RestfulTool, parse_tool, type_catalogue
from pathweaver.tools.outbound import OutboundPolicy, check_url, policy_from_settings
from pathweaver.tools.restful import PLACEHOLDER

CallerDep = Annotated[Caller, Depends(project_caller)]
JsonBody = Annotated[Any, Body()]
_EDITABLE = ("name", "description", "metadata", "inputSchema", "placeholderMessages")
#: What a read answers beside the editable fields: a tool read with GET can be sent back
#: with PUT (or to POST, as a copy) as it is; these are ignored, never refused.
_READ_ONLY = ("type", "id", "createdAt", "updatedAt")


# Response shapes (documentation: api/openapi.py answers()) -------------------------------


class RestfulMetadataOut(BaseModel):
    """The HTTP call a restful tool makes; {{placeholders}} take the model's arguments."""

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    headers: dict[str, str]
    body: str | dict[str, Any] | list[Any] | None = Field(
        description="The request body template; null sends the unused arguments as JSON"
    )


class McpMetadataOut(BaseModel):
    """The MCP server (streamable HTTP) whose tools an mcp tool offers."""

    serverUrl: str
    headers: dict[str, str]


class PlaceholderMessagesOut(BaseModel):
    """What the caller hears while a tool runs: phrases per language, or one list."""

    messages: list[str] | dict[str, list[str]]
    defaultLanguage: str | None


class _ToolOut(BaseModel):
    id: str
    name: str = Field(description="The function name the model calls")
    description: str
    inputSchema: dict[str, Any] = Field(description="The JSON Schema of the tool's arguments")
    placeholderMessages: PlaceholderMessagesOut | None
    createdAt: str
    updatedAt: str


class RestfulToolOut(_ToolOut):
    """A tool that calls an HTTP endpoint."""

    type: Literal["restful"]
    metadata: RestfulMetadataOut


class McpToolOut(_ToolOut):
    """A tool that offers the tools of an external MCP server."""

    type: Literal["mcp"]
    metadata: McpMetadataOut


ToolOut = Annotated[RestfulToolOut | McpToolOut, Field(discriminator="type")]


class ToolEnvelope(BaseModel):
    """A tool config."""

    data: ToolOut


class ToolListEnvelope(BaseModel):
    """The project's tool configs."""

    data: list[ToolOut]


class ToolTypeOut(BaseModel):
    """A kind of tool and the JSON Schema of its metadata."""

    type: Literal["restful", "mcp"]
    name: str
    description: str
    metadataSchema: dict[str, Any]


class ToolTypeListEnvelope(BaseModel):
    """The tool types this server supports."""

    data: list[ToolTypeOut]


class ToolWarningOut(BaseModel):
    """A node that still lists the deleted tool (it runs without it)."""

    code: Literal["unknown_tool"]
    message: str
    nodeId: str
    field: str = Field(description="Where the node lists it, e.g. nodes[3].data.tools[0]")


class ToolDeletedEnvelope(BaseModel):
    """The tool was deleted; the nodes that still list it, if any."""

    data: DeletedOut
    warnings: list[ToolWarningOut] | SkipJsonSchema[None] = Field(
        default=None, description="Left out when no node lists the tool"
    )


def still_listed(document: dict[str, Any], tool_id: str) -> list[dict[str, str]]:
    """A warning for each node of the pathway document that lists ``tool_id``."""
    warnings = []
    for index, node in enumerate(document.get("nodes", [])):
        tools = node.get("data", {}).get("tools", [])
        for position, listed in enumerate(tools):
            if listed == tool_id:
                message = (
                    f'node "{node.get("id")}" still lists the deleted tool "{tool_id}" and runs without '
                )
                message += "it; remove it from the node's tools (or create a tool that does its work)"
                warnings.append(
                    {
                        "code": "unknown_tool",
                        "message": message,
                        "nodeId": str(node.get("id")),
                        "field": f"nodes[{index}].data.tools[{position}]",
                    }
                )
    return warnings


def tool_json(stored: StoredTool) -> dict[str, Any]:
    return {**stored.tool.to_json(), "createdAt": iso(stored.created_at), "updatedAt": iso(stored.updated_at)}


def _store(request: Request) -> ToolStore:
    return ToolStore(request.app.state.store.engine)


def _check_destination(tool: RestfulTool | McpTool, policy: OutboundPolicy) -> None:
    field, url = (
        ("metadata.url", tool.metadata.url)
        if isinstance(tool, RestfulTool)
        else ("metadata.serverUrl", tool.metadata.server_url)
    )
    # Placeholders may stand anywhere; check the URL with each one filled by a plain word.
    try:
        check_url(PLACEHOLDER.sub("x", url), policy)
    except OutboundRefused as exc:
        raise UserError(
            f"{field}: {exc.message}", details={"errors": [{"field": field, "message": exc.message}]}
        ) from None


def _refuse_unknown(raw: dict[str, Any]) -> None:
    unknown = sorted(set(raw) - {*_READ_ONLY, *_EDITABLE})
    if unknown:
        known = ", ".join(_EDITABLE)
        raise UserError(
            f"{unknown[0]}: is not a known field of a tool; the fields a save takes are type, {known}",
            details={"errors": [{"field": name, "message": "is not a known field"} for name in unknown]},
        )


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise UserError("the request body must be a JSON object")
    return body


def tools_router(policy: OutboundPolicy | None = None) -> APIRouter:
    """The routes; ``policy`` defaults to the one the app's settings describe."""

    def policy_for(request: Request) -> OutboundPolicy:
        return policy or policy_from_settings(request.app.state.settings)

    async def list_tools(request: Request, projectId: str, caller: CallerDep) -> Any:
        return {"data": [tool_json(t) for t in await _store(request).list_tools(projectId)]}

    async def tool_types(request: Request, projectId: str, caller: CallerDep) -> Any:
        return {"data": type_catalogue()}

    async def get_tool(request: Request, projectId: str, toolId: str, caller: CallerDep) -> Any:
        return {"data": tool_json(await _store(request).get_tool(projectId, toolId))}

    async def create_tool(request: Request, projectId: str, caller: CallerDep, body: JsonBody = None) -> Any:
        raw = _object(body)
        _refuse_unknown(raw)
        kind = raw.get("type")
        if not isinstance(kind, str) or not kind:
            raise UserError(
                "type is required (a non-empty string: restful or mcp)", details={"param": "type"}
            )
        tool_id = keys.new_id("tool")
        default_name = f"{re.sub(r'[^A-Za-z0-9_-]', '_', kind)[:40]}_{tool_id[-6:]}"
        # Checking a big inputSchema takes a while (input_schema.check): not on the event loop.
        fields = {k: v for k, v in raw.items() if k in _EDITABLE}
        tool = await heavy(
            parse_tool, {"name": default_name, "metadata": {}, **fields, "type": kind, "id": tool_id}
        )
        _check_destination(tool, policy_for(request))
        stored = await _store(request).create_tool(projectId, tool)
        return JSONResponse({"data": tool_json(stored)}, status_code=201)

    async def update_tool(
        request: Request, projectId: str, toolId: str, caller: CallerDep, body: JsonBody = None
    ) -> Any:
        raw = _object(body)
        store = _store(request)
        current = (await store.get_tool(projectId, toolId)).tool
        if "type" in raw and raw["type"] != current.type:
            raise UserError(
                f"type: a tool's type cannot change (this one is {current.type!r}); create a new tool"
            )
        _refuse_unknown(raw)
        merged = {**current.to_json(), **{k: v for k, v in raw.items() if k in _EDITABLE}}
        merged["id"] = current.id
        tool = await heavy(parse_tool, merged)
        _check_destination(tool, policy_for(request))
        return {"data": tool_json(await store.replace_tool(projectId, tool))}

    async def delete_tool(request: Request, projectId: str, toolId: str, caller: CallerDep) -> Any:
        await _store(request).delete_tool(projectId, toolId)
        answer: dict[str, Any] = {"data": {"id": toolId, "deleted": True}}
        pathway = await request.app.state.store.projects.get_pathway(projectId)
        warnings = still_listed(pathway.document, toolId)
        if warnings:
            answer["warnings"] = warnings
        return answer

    router = APIRouter(prefix="/v1/projects/{projectId}", tags=["tools"])
    router.add_api_route("/tools", list_tools, methods=["GET"], responses=answers(ToolListEnvelope))
    router.add_api_route(
        "/tools", create_tool, methods=["POST"], status_code=201, responses=answers(ToolEnvelope, status=201)
    )
    router.add_api_route("/tools/types", tool_types, methods=["GET"], responses=answers(ToolTypeListEnvelope))
    router.add_api_route("/tools/{toolId}", get_tool, methods=["GET"], responses=answers(ToolEnvelope))
    router.add_api_route("/tools/{toolId}", update_tool, methods=["PUT"], responses=answers(ToolEnvelope))
    router.add_api_route(
        "/tools/{toolId}", delete_tool, methods=["DELETE"], responses=answers(ToolDeletedEnvelope)
    )
    return router
