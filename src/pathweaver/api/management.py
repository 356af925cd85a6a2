"""The management API for the agent and its pathway (pathors-api.md sections 2.6 and 2.8).

Every answer is in the ``{"data": ...}`` envelope; errors use the v1 envelope. Every change
to the pathway is validated (section 3.7) and stored as a new immutable version in one
transaction: a pathway that fails validation is never half saved, and two concurrent edits
never overwrite each other. A change that changes nothing makes no version, and a PUT that
names the version it was based on is refused (409) once another save has followed it.
Warnings (an unreachable node, no end node) come back with the saved pathway under
``warnings``; errors are 400 with ``error.details.errors`` naming each offending node or edge.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from pydantic.json_schema import SkipJsonSchema

from pathweaver.agent.config import AgentConfig, parse_agent
from pathweaver.agent.pathway import Edge, Node, Pathway
from pathweaver.agent.validation import (
    Issue,
    Report,
    SizeLimits,
    ensure_valid,
    parse_pathway,
    unknown_knowledge_bases,
    unknown_post_session_keys,
    unknown_tools,
    unknown_variable_keys,
)
from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import DeletedEnvelope, addressable, iso
from pathweaver.errors import Conflict, NotFound, PathwayError, UserError
from pathweaver.offload import heavy
from pathweaver.store.projects import PathwayVersion, StoredAgent
from pathweaver.store.store import Store
from pathweaver.testing.publish import agent_fingerprint, ensure_suite_passed

CallerDep = Annotated[Caller, Depends(project_caller)]
JsonBody = Annotated[Any, Body()]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# Response shapes (documentation: api/openapi.py answers()) -------------------------------
#
# A key that is sometimes left out (never null) is typed ``X | SkipJsonSchema[None] = None``:
# not required, and the schema admits only X.


class IssueOut(BaseModel):
    """A validation warning: what is wrong and where (a node, an edge, a field)."""

    code: str = Field(description="A stable name for the rule, e.g. unreachable_node")
    message: str
    nodeId: str | SkipJsonSchema[None] = None
    edgeId: str | SkipJsonSchema[None] = None
    field: str | SkipJsonSchema[None] = Field(
        default=None, description="A path into the JSON, e.g. nodes[3].data.model"
    )


class ModelChoiceOut(BaseModel):
    """Which model serves an agent or a node instead of the server's default."""

    target: str | None = Field(default=None, description="An upstream named in PATHWEAVER_LLM_TARGETS")
    name: str | None = Field(default=None, description="The model name sent to that upstream")


class PromptModuleOut(BaseModel):
    """A named piece of the agent's prompt, switched on or off."""

    name: str
    description: str
    content: str
    enabled: bool


class VariableConfigOut(BaseModel):
    """A variable the pathway extracts from the conversation."""

    key: str
    type: Literal["string", "number", "email"]
    description: str


class AgentOut(BaseModel):
    """The project's agent config."""

    id: str
    projectId: str
    name: str
    type: Literal["monolithic", "skill"]
    status: Literal["draft", "published"]
    globalPrompt: str | None
    executionMode: Literal["smart", "balance", "turbo"] | None
    timezone: str | None
    memoryEnabled: bool
    searchKnowledgeBaseEnabled: bool
    promptModules: list[PromptModuleOut] | None
    beforeStartConfig: dict[str, Any] | None
    postSessionWebhook: dict[str, Any] | None
    postSessionVariableKeys: list[str] | None
    postEvaluationConfig: dict[str, Any] | None
    placeholderMessages: dict[str, Any] | None
    variableConfigs: list[VariableConfigOut] | None
    voiceIntelligence: dict[str, Any] | None
    firstMessage: str | None
    language: str | None
    sessionVariables: list[str] | None = Field(
        description="Session variables callers pass at session creation"
    )
    model: ModelChoiceOut | None
    requiredSuiteId: str | None = Field(description="A test suite that must pass before publishing")
    updatedAt: str


class AgentEnvelope(BaseModel):
    """The agent config."""

    data: AgentOut


class SavedAgentEnvelope(BaseModel):
    """The saved agent config, with warnings about models this server cannot serve."""

    data: AgentOut
    warnings: list[IssueOut] | SkipJsonSchema[None] = Field(
        default=None, description="Left out when there are none"
    )


class PositionOut(BaseModel):
    """Where a node sits on the canvas."""

    x: float | SkipJsonSchema[None] = None
    y: float | SkipJsonSchema[None] = None


class NodeDataOut(BaseModel):
    """What a node does; unknown fields are kept as sent."""

    type: str = Field(description="The node's kind: start, prompt, end or goto")
    title: str | None = None
    label: str | None = None
    prompt: str | None = None
    tools: list[str] | SkipJsonSchema[None] = None
    variableKeys: list[str] | SkipJsonSchema[None] = None
    isGlobalNode: bool | SkipJsonSchema[None] = None
    globalNodeReason: str | None = None
    referenceNodeId: str | None = None
    knowledgeBaseId: str | None = None
    model: ModelChoiceOut | None = None


class NodeOut(BaseModel):
    """A pathway node as stored: only the fields it was given, unknown ones kept."""

    id: str
    type: str | None = Field(default=None, description="A canvas hint, never interpreted")
    position: PositionOut | SkipJsonSchema[None] = None
    data: NodeDataOut


class EdgeDataOut(BaseModel):
    """When to follow an edge."""

    condition: str | SkipJsonSchema[None] = None


class EdgeOut(BaseModel):
    """A pathway edge as stored: only the fields it was given, unknown ones kept."""

    id: str
    source: str
    target: str
    data: EdgeDataOut | SkipJsonSchema[None] = None


class PathwayOut(BaseModel):
    """The pathway document (unknown top-level fields kept) and its version."""

    nodes: list[NodeOut]
    edges: list[EdgeOut]
    version: int
    updatedAt: str


class SavedPathwayOut(PathwayOut):
    """The saved pathway and the warnings its validation found."""

    warnings: list[IssueOut]


class PathwayEnvelope(BaseModel):
    """The current pathway."""

    data: PathwayOut


class SavedPathwayEnvelope(BaseModel):
    """The pathway as saved in a new version."""

    data: SavedPathwayOut


class NodeEnvelope(BaseModel):
    """A pathway node."""

    data: NodeOut


class NodeListEnvelope(BaseModel):
    """The current pathway's nodes."""

    data: list[NodeOut]


class NodeDeletedOut(BaseModel):
    """A deleted node, and how many edges went with it."""

    id: str
    deleted: Literal[True]
    deletedEdges: int = Field(description="Edges to or from the node, deleted with it")


class NodeDeletedEnvelope(BaseModel):
    """A node was deleted."""

    data: NodeDeletedOut


class EdgeEnvelope(BaseModel):
    """A pathway edge."""

    data: EdgeOut


class PathwayVersionOut(BaseModel):
    """One saved version of the pathway."""

    version: int
    createdAt: str
    author: str
    note: str = Field(description="What changed, e.g. added node ask_name")
    schemaVersion: int = Field(description="The version of the stored document's shape")
    nodeCount: int
    edgeCount: int


class PathwayVersionEnvelope(BaseModel):
    """The current pathway version."""

    data: PathwayVersionOut


class PathwayVersionListEnvelope(BaseModel):
    """Every version of the pathway, newest first."""

    data: list[PathwayVersionOut]


# Agent ---------------------------------------------------------------------------------


def agent_json(stored: StoredAgent) -> dict[str, Any]:
    return {
        "id": stored.id,
        "projectId": stored.project_id,
        **stored.config.to_json(),
        "updatedAt": iso(stored.updated_at),
    }


async def get_agent(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"data": agent_json(await _store(request).projects.get_agent(projectId))}


async def update_agent(request: Request, projectId: str, caller: CallerDep, body: JsonBody = None) -> Any:
    """PUT and PATCH: a partial update; fields not sent keep their value.

    The whole config is checked as it will be stored (a value stored before a rule existed
    must be fixed in the same request). Pathway nodes that name a variable key the new
    config does not declare are warnings in the answer (the node does not extract it until
    the pathway or the agent catches up), found with the current pathway in the transaction
    that stores the agent, so they are those of the pathway this config will run with.
    """
    if not isinstance(body, dict):
        raise UserError("the request body must be a JSON object of agent fields")
    if isinstance(body.get("data"), dict):
        raise UserError('send the agent\'s fields themselves, not the {"data": ...} envelope of a read')
    # What a read adds (GET, then PUT what it answered): not settings, so not refused.
    fields = {key: value for key, value in body.items() if key not in _READ_ONLY_AGENT_FIELDS}
    store = _store(request)
    undeclared: list[Issue] = []

    async def change(stored: dict[str, Any], previous: AgentConfig, pathway: Pathway) -> AgentConfig:
        config = parse_agent(fields, base=stored)
        undeclared[:] = await heavy(unknown_variable_keys, pathway, config)  # grows with it
        if config.required_suite_id and _publishing_needs_suite(config, previous):
            await ensure_suite_passed(store, projectId, config.required_suite_id, config)
        return config

    saved = await store.projects.update_agent(projectId, change)
    answer: dict[str, Any] = {"data": agent_json(saved)}
    warnings = [
        *undeclared,
        *unknown_post_session_keys(saved.config),
        *model_warnings(request, None, saved.config),
    ]
    if warnings:
        answer["warnings"] = [issue.to_json() for issue in warnings]
    return answer


#: Fields an agent read answers beside the config; a save ignores them.
_READ_ONLY_AGENT_FIELDS = frozenset({"id", "projectId", "createdAt", "updatedAt", "warnings"})


def _publishing_needs_suite(config: AgentConfig, previous: AgentConfig) -> bool:
    """Whether this save publishes (or changes a published agent) under a required suite."""
    return (
        config.status == "published"
        and bool(config.required_suite_id)
        and (previous.status != "published" or agent_fingerprint(config) != agent_fingerprint(previous))
    )


def model_warnings(request: Request, pathway: Pathway | None, agent: AgentConfig | None) -> list[Issue]:
    """Model choices this server cannot serve (a warning: another deployment may serve them)."""
    models = request.app.state.conversations.models
    found: list[Issue] = []
    if agent is not None and (problem := models.problem(agent.model)):
        found.append(Issue("unknown_model", f"agent model: {problem}", field="model"))
    for index, node in enumerate(pathway.nodes if pathway is not None else ()):
        if problem := models.problem(node.data.model):
            found.append(
                Issue(
                    "unknown_model",
                    f'node "{node.id}" model: {problem}',
                    node_id=node.id,
                    field=f"nodes[{index}].data.model",
                )
            )
    return found


# Pathway -------------------------------------------------------------------------------


def pathway_json(version: PathwayVersion, report: Report | None = None) -> dict[str, Any]:
    body = {**version.document, "version": version.version, "updatedAt": iso(version.created_at)}
    if report is not None:
        body["warnings"] = [issue.to_json() for issue in report.warnings]
    return body


async def pathway_answer(version: PathwayVersion, report: Report | None = None) -> Response:
    """``{"data": pathway}`` rendered off the event loop. Returning the dict would have
    FastAPI walk it with ``jsonable_encoder`` on the loop: 166 ms for a pathway of 2,000
    nodes, during which every other request of the worker waited (``bench/hostile``)."""
    body = await asyncio.to_thread(
        json.dumps,
        {"data": pathway_json(version, report)},
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    return Response(body, media_type="application/json")


def version_json(version: PathwayVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "createdAt": iso(version.created_at),
        "author": version.author,
        "note": version.note,
        "schemaVersion": version.schema_version,
        "nodeCount": len(version.document.get("nodes", [])),
        "edgeCount": len(version.document.get("edges", [])),
    }


async def _change(
    request: Request, project_id: str, caller: Caller, note: str, change: Any, based_on: int | None = None
) -> tuple[PathwayVersion, Any, Report]:
    """Apply ``change`` and store the result if it is valid. Warnings: models this server
    cannot serve, and tools the project does not have (the node runs without them).

    Every pathway route comes through here, so none makes a version that changes nothing: a
    PUT of the current document, a node or edge PATCH that sets what is already there, a
    rollback to the content that is current all answer the current version as it is (the
    route's usual status and shape; warnings as for a save). ``based_on`` (the PUT's
    ``version``) refuses a save whose base is not the current version with 409, checked in
    the store's write transaction (:meth:`ProjectStore.update_pathway`).
    """
    reports: list[Report] = []
    tool_ids = await _store(request).tools.tool_ids(project_id)
    kb_ids = {base.id for base in await _store(request).knowledge.list_bases(project_id)}

    def checked(pathway: Pathway, agent: AgentConfig) -> tuple[Pathway, Any]:
        new, result = change(pathway)
        refused = unaddressable_ids(pathway, new)
        if refused:
            raise PathwayError(
                refused[0].message, details={"errors": [i.to_json() for i in refused]}, code="invalid_pathway"
            )
        report = ensure_valid(new, agent, limits=SizeLimits.from_settings(request.app.state.settings))
        report.warnings.extend(model_warnings(request, new, None))
        report.warnings.extend(unknown_tools(new, tool_ids))
        report.warnings.extend(unknown_knowledge_bases(new, kb_ids))
        reports.append(report)
        return new, result

    saved, result = await _store(request).projects.update_pathway(
        project_id, checked, author=caller.author, note=note, based_on=based_on
    )
    return saved, result, reports[0]


def unaddressable_ids(old: Pathway, new: Pathway) -> list[Issue]:
    """Node and edge ids new in ``new`` that a URL path segment cannot carry ("/", "." or
    ".."): the node and edge routes could not address them. Ids already stored stay (the
    routes take them, encoded or not)."""
    issues = []
    nodes, edges = [node.id for node in new.nodes], [edge.id for edge in new.edges]
    known = {"node": set(old.node_by_id), "edge": {edge.id for edge in old.edges}}
    for kind, ids in (("node", nodes), ("edge", edges)):
        for index, item_id in enumerate(ids):
            if item_id in known[kind] or (item_id not in (".", "..") and "/" not in item_id):
                continue
            message = f'{kind} id "{item_id}": an id may not contain "/" or be "." or ".."; choose another '
            message += f"(the {kind} routes carry it in a URL path)"
            where = {"node_id": item_id} if kind == "node" else {"edge_id": item_id}
            issues.append(Issue("unaddressable_id", message, field=f"{kind}s[{index}].id", **where))
    return issues


async def get_pathway(request: Request, projectId: str, caller: CallerDep) -> Any:
    return await pathway_answer(await _store(request).projects.get_pathway(projectId))


async def replace_pathway(request: Request, projectId: str, caller: CallerDep, body: JsonBody = None) -> Any:
    """Replace the whole pathway. ``version`` in the body (as GET answers it) is the version
    the edit started from: when it is no longer current the save is refused with 409
    (``pathway_version_conflict``, details naming the current version, its author and time)
    and nothing is stored. Without it (or with null) the save is not checked, as before.
    A document equal to the current one is not stored again: the current version is answered.
    """
    if not isinstance(body, dict):
        raise UserError("the request body must be a JSON object with nodes and edges")
    based_on = _based_on(body.get("version"))
    document = {k: v for k, v in body.items() if k not in ("version", "updatedAt", "warnings")}
    # Off the event loop: a pathway near the body cap (2,000 nodes) takes 130 ms to parse.
    pathway = await heavy(parse_pathway, document)
    saved, _, report = await _change(
        request, projectId, caller, "replaced", lambda _old: (pathway, None), based_on
    )
    return await pathway_answer(saved, report)


def _based_on(version: Any) -> int | None:
    """The ``version`` of a PUT body: None when not sent, else a positive integer.

    A text is not a version of ours and is ignored: Pathors' own pathway documents carry a
    format version such as ``"1.0"``, and a Pathors client that sends its document back must
    keep saving (without the check), as it did before the check existed."""
    if version is None or isinstance(version, str):
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UserError(
            f"version must be the positive integer version your edit is based on, as GET /pathway "
            f"answers it; got {json.dumps(version)[:40]} (leave it out to save without the check)",
            details={"param": "version"},
        )
    return version


async def list_nodes(request: Request, projectId: str, caller: CallerDep) -> Any:
    version = await _store(request).projects.get_pathway(projectId)
    return {"data": version.document.get("nodes", [])}


async def get_node(request: Request, projectId: str, nodeId: str, caller: CallerDep) -> Any:
    version = await _store(request).projects.get_pathway(projectId)
    for node in version.document.get("nodes", []):
        if node.get("id") == nodeId:
            return {"data": node}
    raise NotFound(f"node {nodeId!r} not found")


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: Annotated[str, AfterValidator(addressable)] = Field(min_length=1, max_length=200)
    position: dict[str, Any]
    data: dict[str, Any]


async def create_node(request: Request, projectId: str, body: NodeIn, caller: CallerDep) -> Any:
    raw = body.model_dump(mode="json")

    def add(pathway: Pathway) -> tuple[Pathway, Node]:
        if pathway.node(body.id) is not None:
            raise Conflict(f"a node with id {body.id!r} already exists; choose another id")
        node = parse_pathway({"nodes": [raw], "edges": []}).nodes[0]
        return _replace(pathway, nodes=[*pathway.nodes, node]), node

    _, node, _ = await _change(request, projectId, caller, f"added node {body.id}", add)
    return JSONResponse({"data": node.to_json()}, status_code=201)


class NodePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] | None = None
    position: dict[str, Any] | None = None


async def patch_node(
    request: Request, projectId: str, nodeId: str, body: NodePatch, caller: CallerDep
) -> Any:
    def patch(pathway: Pathway) -> tuple[Pathway, Node]:
        old = pathway.node(nodeId)
        if old is None:
            raise NotFound(f"node {nodeId!r} not found")
        raw = old.to_json()
        if body.data is not None:
            raw["data"] = {**raw.get("data", {}), **body.data}
        if body.position is not None:
            raw["position"] = body.position
        node = parse_pathway({"nodes": [raw], "edges": []}).nodes[0]
        return _replace(pathway, nodes=[node if n.id == nodeId else n for n in pathway.nodes]), node

    _, node, _ = await _change(request, projectId, caller, f"edited node {nodeId}", patch)
    return {"data": node.to_json()}


async def delete_node(request: Request, projectId: str, nodeId: str, caller: CallerDep) -> Any:
    def remove(pathway: Pathway) -> tuple[Pathway, int]:
        if pathway.node(nodeId) is None:
            raise NotFound(f"node {nodeId!r} not found")
        edges = [e for e in pathway.edges if nodeId not in (e.source, e.target)]
        nodes = [n for n in pathway.nodes if n.id != nodeId]
        return _replace(pathway, nodes=nodes, edges=edges), len(pathway.edges) - len(edges)

    _, removed_edges, _ = await _change(request, projectId, caller, f"deleted node {nodeId}", remove)
    return {"data": {"id": nodeId, "deleted": True, "deletedEdges": removed_edges}}


class EdgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str | None, AfterValidator(addressable)] = Field(default=None, min_length=1, max_length=200)
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    #: Empty is accepted, as in a pathway PUT (saved with an ``empty_condition`` warning).
    condition: str = Field(default="", max_length=4000)
    #: A condition over variables (``party_size > 8``), decided without the model.
    expression: str | None = Field(default=None, max_length=4000)


def _check_endpoints(pathway: Pathway, source: str, target: str) -> None:
    for end, node_id in (("source", source), ("target", target)):
        if pathway.node(node_id) is None:
            raise UserError(f"{end} node {node_id!r} does not exist; create it first or fix the id")


async def create_edge(request: Request, projectId: str, body: EdgeIn, caller: CallerDep) -> Any:
    # A made-up id never holds "/" (a stored node id may).
    ends = "-".join(end.replace("/", "-") for end in (body.source, body.target))
    edge_id = body.id or f"edge-{ends}-{int(time.time() * 1000)}"

    def add(pathway: Pathway) -> tuple[Pathway, Edge]:
        _check_endpoints(pathway, body.source, body.target)
        if any(e.id == edge_id for e in pathway.edges):
            raise Conflict(f"an edge with id {edge_id!r} already exists; choose another id")
        edge = Edge.model_validate(
            {
                "id": edge_id,
                "source": body.source,
                "target": body.target,
                "data": {
                    "condition": body.condition,
                    **({"expression": body.expression} if body.expression else {}),
                },
            }
        )
        return _replace(pathway, edges=[*pathway.edges, edge]), edge

    _, edge, _ = await _change(request, projectId, caller, f"added edge {edge_id}", add)
    return JSONResponse({"data": edge.to_json()}, status_code=201)


class EdgePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(default=None, min_length=1)
    target: str | None = Field(default=None, min_length=1)
    condition: str | None = Field(default=None, max_length=4000)
    #: Set an expression, or ``""`` to make the edge a plain-language one again.
    expression: str | None = Field(default=None, max_length=4000)


async def patch_edge(
    request: Request, projectId: str, edgeId: str, body: EdgePatch, caller: CallerDep
) -> Any:
    def patch(pathway: Pathway) -> tuple[Pathway, Edge]:
        old = next((e for e in pathway.edges if e.id == edgeId), None)
        if old is None:
            raise NotFound(f"edge {edgeId!r} not found")
        raw = old.to_json()
        raw["source"] = body.source or old.source
        raw["target"] = body.target or old.target
        if body.condition is not None:
            raw["data"] = {**raw.get("data", {}), "condition": body.condition}
        if body.expression is not None:
            data = {k: v for k, v in raw.get("data", {}).items() if k != "expression"}
            raw["data"] = {**data, **({"expression": body.expression} if body.expression.strip() else {})}
        _check_endpoints(pathway, raw["source"], raw["target"])
        edge = Edge.model_validate(raw)
        return _replace(pathway, edges=[edge if e.id == edgeId else e for e in pathway.edges]), edge

    _, edge, _ = await _change(request, projectId, caller, f"edited edge {edgeId}", patch)
    return {"data": edge.to_json()}


async def delete_edge(request: Request, projectId: str, edgeId: str, caller: CallerDep) -> Any:
    def remove(pathway: Pathway) -> tuple[Pathway, None]:
        if not any(e.id == edgeId for e in pathway.edges):
            raise NotFound(f"edge {edgeId!r} not found")
        return _replace(pathway, edges=[e for e in pathway.edges if e.id != edgeId]), None

    await _change(request, projectId, caller, f"deleted edge {edgeId}", remove)
    return {"data": {"id": edgeId, "deleted": True}}


async def current_version(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"data": version_json(await _store(request).projects.get_pathway(projectId))}


async def list_versions(request: Request, projectId: str, caller: CallerDep) -> Any:
    versions = await _store(request).projects.list_pathway_versions(projectId)
    return {"data": [version_json(v) for v in versions]}


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targetVersion: StrictInt = Field(ge=1)


async def rollback(request: Request, projectId: str, body: RollbackIn, caller: CallerDep) -> Any:
    store = _store(request)
    versions = await store.projects.list_pathway_versions(projectId)
    target = next((v for v in versions if v.version == body.targetVersion), None)
    if target is None:
        newest = versions[0].version if versions else 0
        raise UserError(f"targetVersion {body.targetVersion} does not exist; versions are 1 to {newest}")
    restored = await heavy(Pathway.model_validate, target.document)
    saved, _, report = await _change(
        request, projectId, caller, f"rollback to version {body.targetVersion}", lambda _old: (restored, None)
    )
    return await pathway_answer(saved, report)


def _replace(
    pathway: Pathway, *, nodes: list[Node] | None = None, edges: list[Edge] | None = None
) -> Pathway:
    """A new pathway with other nodes or edges (extension fields at the top level kept)."""
    document = pathway.to_json()
    if nodes is not None:
        document["nodes"] = [n.to_json() for n in nodes]
    if edges is not None:
        document["edges"] = [e.to_json() for e in edges]
    return Pathway.model_validate(document)


def management_router() -> APIRouter:
    router = APIRouter(prefix="/v1/projects/{projectId}", tags=["agent and pathway"])

    def route(
        path: str, endpoint: Any, method: str, shape: type[BaseModel], status: int = 200, **kw: Any
    ) -> None:
        router.add_api_route(
            path, endpoint, methods=[method], status_code=status, responses=answers(shape, status), **kw
        )

    route("/agent", get_agent, "GET", AgentEnvelope)
    route("/agent", update_agent, "PUT", SavedAgentEnvelope, name="replace_agent")
    route("/agent", update_agent, "PATCH", SavedAgentEnvelope, name="patch_agent")
    route("/pathway", get_pathway, "GET", PathwayEnvelope)
    route("/pathway", replace_pathway, "PUT", SavedPathwayEnvelope)
    route("/pathway/nodes", list_nodes, "GET", NodeListEnvelope)
    route("/pathway/nodes", create_node, "POST", NodeEnvelope, status=201)
    route("/pathway/nodes/{nodeId:path}", get_node, "GET", NodeEnvelope)
    route("/pathway/nodes/{nodeId:path}", patch_node, "PATCH", NodeEnvelope)
    route("/pathway/nodes/{nodeId:path}", delete_node, "DELETE", NodeDeletedEnvelope)
    route("/pathway/edges", create_edge, "POST", EdgeEnvelope, status=201)
    route("/pathway/edges/{edgeId:path}", patch_edge, "PATCH", EdgeEnvelope)
    route("/pathway/edges/{edgeId:path}", delete_edge, "DELETE", DeletedEnvelope)
    route("/pathway/version", current_version, "GET", PathwayVersionEnvelope)
    route("/pathway/versions", list_versions, "GET", PathwayVersionListEnvelope)
    route("/pathway/rollback", rollback, "POST", SavedPathwayEnvelope)
    return router
