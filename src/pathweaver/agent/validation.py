"""Checking pathways: raw JSON into a typed ``Pathway``, and a ``Pathway`` against its rules.

Two steps, kept apart on purpose:

* ``parse_pathway`` checks the *shape* of raw JSON (an API body, a file): objects where
  objects belong, string ids, lists of strings. It raises ``PathwayError`` listing every
  problem, each naming where it is (``nodes[3] (id "ask_name"): ...``) and what to fix.
* ``validate_pathway`` checks the *meaning* of a well-formed pathway (pathors-api.md
  section 3.7): a start node, unique ids, edges and gotos that land on nodes, known node
  kinds, variable keys and tools that exist. Errors make a pathway unsavable; warnings
  (an unreachable node, no end node, a goto cycle) are reported and the save goes on.

Everything here is pure and runs in O(nodes + edges); ``ensure_valid`` (what a save runs)
also holds a pathway to the size limits (``MAX_NODES`` and the others below). The ``field``
of an issue is a path into the pathway's JSON (``nodes[3].data.variableKeys[0]``), so an
editor can point at it.
"""

from __future__ import annotations

import difflib
import json
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.expressions import ExpressionError, root_name
from pathweaver.agent.expressions import parse as parse_expression
from pathweaver.agent.pathway import NODE_KINDS, Edge, Node, Pathway
from pathweaver.errors import PathwayError

#: Tools any node may list without a project tool config (pathors-api.md section 2.7). Each
#: ends the session, or hands it over, where it is called, so a node with one counts as an end.
BUILTIN_TOOLS = frozenset({"end_call", "transfer_call", "transfer_to_human"})

_KINDS = ", ".join(NODE_KINDS)
#: Kinds that speak, so need a title and a prompt (a goto moves on without a word).
_SPEAKING_KINDS = ("start", "prompt", "end")
# Past this many candidates, "did you mean" would cost more than it helps (and break O(n)).
_SUGGEST_LIMIT = 500
#: What a saved pathway may hold by default (``ensure_valid``; a server sets its own with
#: ``PATHWEAVER_MAX_PATHWAY_NODES`` and the others, :class:`SizeLimits`): every save stores a
#: whole new version, every turn offers a node's edges to the model, and lint and validation
#: grow with both.
MAX_NODES = 2_000
MAX_EDGES = 10_000
#: Edges out of one node: the model chooses among them (and the global nodes) at every turn.
MAX_EDGES_PER_NODE = 200
#: Bytes of the pathway's compact JSON: what one request may carry (the default
#: ``PATHWEAVER_MAX_BODY_BYTES``), so a pathway read can always be sent back.
MAX_PATHWAY_BYTES = 1_000_000


@dataclass(frozen=True)
class SizeLimits:
    """The size limits of a saved pathway (defaults above; a server's from its settings)."""

    nodes: int = MAX_NODES
    edges: int = MAX_EDGES
    edges_per_node: int = MAX_EDGES_PER_NODE
    bytes: int = MAX_PATHWAY_BYTES

    @classmethod
    def from_settings(cls, settings: Any) -> SizeLimits:
        """``PATHWEAVER_MAX_PATHWAY_NODES``, ``_EDGES``, ``_EDGES_PER_NODE`` and ``_BYTES``."""
        return cls(
            settings.max_pathway_nodes,
            settings.max_pathway_edges,
            settings.max_pathway_edges_per_node,
            settings.max_pathway_bytes,
        )


@dataclass(frozen=True)
class Issue:
    """One problem found in a pathway, and where it is."""

    #: A stable name for the rule, e.g. ``unknown_variable_key``.
    code: str
    #: A sentence for people: names the node or edge and says what to fix.
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    #: A path into the pathway's JSON, e.g. ``nodes[3].data.type``.
    field: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.node_id is not None:
            out["nodeId"] = self.node_id
        if self.edge_id is not None:
            out["edgeId"] = self.edge_id
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class Report:
    """What ``validate_pathway`` found: errors block a save, warnings do not."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        return {
            "errors": [issue.to_json() for issue in self.errors],
            "warnings": [issue.to_json() for issue in self.warnings],
        }


def summary(issues: list[Issue]) -> str:
    """The first issue's message, and how many more there are."""
    if not issues:
        return "no problems"
    more = len(issues) - 1
    return issues[0].message + (f" (and {more} more)" if more else "")


# Shape: raw JSON -> Pathway ---------------------------------------------------------------

_OPTIONAL_TEXT = ("title", "label", "prompt", "globalNodeReason", "referenceNodeId", "knowledgeBaseId")
_TEXT_LISTS = ("tools", "variableKeys")


def parse_pathway(raw: object) -> Pathway:
    """Turn raw JSON into a ``Pathway``, or raise ``PathwayError`` listing every shape problem.

    Unknown fields are kept (extensions, canvas hints). ``edges`` may be left out. An edge
    may carry its ``condition`` at the top level, as the edge-creation API takes it
    (section 2.8); it is moved to ``data.condition``, where it is stored. The error's
    ``details["errors"]`` holds one ``Issue.to_json()`` per problem and its message is the
    first of them. Meaning is left to ``validate_pathway``: an unknown ``data.type``, say,
    parses (it is a string) and is reported there.
    """
    problems: list[Issue] = []
    if not isinstance(raw, Mapping):
        message = f'the pathway must be an object with "nodes" and "edges" lists; got {_kind(raw)}'
        raise _fail([Issue("not_an_object", message)])
    document = dict(raw)
    if "nodes" not in document:
        wrapped = isinstance(document.get("data"), Mapping) and "nodes" in document["data"]
        fix = 'send the pathway itself, not the {"data": ...} envelope' if wrapped else "add one"
        problems.append(Issue("missing", f'the pathway has no "nodes" list; {fix}', field="nodes"))
    elif not isinstance(document["nodes"], list):
        message = f"nodes must be a list of node objects; got {_kind(document['nodes'])}"
        problems.append(Issue("wrong_type", message, field="nodes"))
    else:
        for index, node in enumerate(document["nodes"]):
            _check_node_shape(index, node, problems.append)
    edges = document.get("edges", [])
    if not isinstance(edges, list):
        problems.append(
            Issue("wrong_type", f"edges must be a list of edge objects; got {_kind(edges)}", field="edges")
        )
    else:
        document["edges"] = [
            _check_edge_shape(index, edge, problems.append) for index, edge in enumerate(edges)
        ]
    if problems:
        raise _fail(problems)
    try:
        return Pathway.model_validate(document)
    except ValidationError as exc:  # a field the checks above do not know about yet
        raise _fail([_from_pydantic(error) for error in exc.errors()]) from None


def _check_node_shape(index: int, node: object, report: Callable[[Issue], None]) -> None:
    path = f"nodes[{index}]"
    if not isinstance(node, Mapping):
        message = f"{path}: must be an object with id, position and data; got {_kind(node)}"
        report(Issue("not_an_object", message, field=path))
        return
    node_id, id_problem = _read_id(node, "id", "give every node a unique id")
    where = path if node_id is None else f'{path} (id "{node_id}")'

    def problem(code: str, message: str, at: str) -> None:
        report(Issue(code, f"{where}: {message}", node_id=node_id, field=f"{path}.{at}"))

    def wrong(at: str, expected: str, value: object) -> None:
        problem("wrong_type", f"{at} must be {expected}; got {_kind(value)}", at)

    if id_problem is not None:
        problem(*id_problem, "id")
    if node.get("type") is not None and not isinstance(node["type"], str):
        wrong("type", "a string (a canvas hint)", node["type"])
    position = node.get("position", {})
    if not isinstance(position, Mapping):
        wrong("position", "an object {x, y}", position)
    else:
        for axis in ("x", "y"):
            value = position.get(axis, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                wrong(f"position.{axis}", "a number", value)
    if "data" not in node:
        problem("missing", f"data is missing; it holds the node's kind (data.type: one of {_KINDS})", "data")
        return
    data = node["data"]
    if not isinstance(data, Mapping):
        wrong("data", "an object", data)
        return
    if "type" not in data:
        problem("missing", f"data.type is missing; use one of {_KINDS}", "data.type")
    elif not isinstance(data["type"], str):
        wrong("data.type", f"one of {_KINDS}", data["type"])
    for name in _OPTIONAL_TEXT:
        if data.get(name) is not None and not isinstance(data[name], str):
            wrong(f"data.{name}", "a string (or null)", data[name])
    for name in _TEXT_LISTS:
        items = data.get(name, [])
        if not isinstance(items, list):
            wrong(f"data.{name}", "a list of strings", items)
            continue
        for item_index, item in enumerate(items):
            if not isinstance(item, str):
                wrong(f"data.{name}[{item_index}]", "a string", item)
    if not isinstance(data.get("isGlobalNode", False), bool):
        wrong("data.isGlobalNode", "true or false", data["isGlobalNode"])


def _check_edge_shape(index: int, edge: object, report: Callable[[Issue], None]) -> object:
    """Report the shape problems of one edge; return it with a top-level condition moved into data."""
    path = f"edges[{index}]"
    if not isinstance(edge, Mapping):
        message = f"{path}: must be an object with id, source, target and data; got {_kind(edge)}"
        report(Issue("not_an_object", message, field=path))
        return edge
    edge_id, id_problem = _read_id(edge, "id", "give every edge a unique id")
    where = path if edge_id is None else f'{path} (id "{edge_id}")'

    def problem(code: str, message: str, at: str) -> None:
        report(Issue(code, f"{where}: {message}", edge_id=edge_id, field=f"{path}.{at}"))

    if id_problem is not None:
        problem(*id_problem, "id")
    for end in ("source", "target"):
        _, end_problem = _read_id(edge, end, "set it to the id of a node")
        if end_problem is not None:
            problem(*end_problem, end)
    data = edge.get("data", {})
    if not isinstance(data, Mapping):
        problem("wrong_type", f"data must be an object {{condition}}; got {_kind(data)}", "data")
        return edge
    expression = data.get("expression")
    if expression is not None and not isinstance(expression, str):
        problem(
            "wrong_type",
            f"data.expression must be a text such as party_size > 8; got {_kind(expression)}",
            "data.expression",
        )
    at = "data.condition"
    if "condition" in edge:
        if "condition" in data:
            problem(
                "ambiguous", "condition is given twice (condition and data.condition); keep one", "condition"
            )
            return edge
        at = "condition"
        data = {"condition": edge["condition"], **data}
        edge = {**{key: value for key, value in edge.items() if key != "condition"}, "data": data}
    if not isinstance(data.get("condition", ""), str):
        problem(
            "wrong_type",
            f"{at} must be a string (when to follow this edge); got {_kind(data['condition'])}",
            at,
        )
    return edge


def _read_id(item: Mapping[str, Any], key: str, fix: str) -> tuple[str | None, tuple[str, str] | None]:
    """``(item[key], None)`` when it is a usable id, else ``(None, (code, message))``."""
    if key not in item:
        return None, ("missing", f"{key} is missing; {fix}")
    value = item[key]
    if not isinstance(value, str):
        return None, ("wrong_type", f"{key} must be a string; got {_kind(value)}")
    if not value.strip():
        return None, ("empty", f"{key} is empty; {fix}")
    return value, None


def _fail(problems: list[Issue]) -> PathwayError:
    details = {"errors": [issue.to_json() for issue in problems]}
    return PathwayError(summary(problems), details=details, code="invalid_pathway")


def _from_pydantic(error: Any) -> Issue:
    parts = (f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    location = "".join(parts).lstrip(".")
    return Issue("invalid", f"{location or 'the pathway'}: {error['msg']}", field=location or None)


def _kind(value: object) -> str:
    """How a JSON value reads to a person: 'null', 'the number 5', 'a list'."""
    match value:
        case None:
            return "null"
        case bool():
            return str(value).lower()
        case int() | float():
            return f"the number {value}"
        case str():
            return f'the string "{value}"' if len(value) <= 40 else "a string"
        case list() | tuple():
            return "a list"
        case Mapping():
            return "an object"
        case _:
            return type(value).__name__


# Meaning: Pathway -> Report ---------------------------------------------------------------


def validate_pathway(pathway: Pathway, agent: AgentConfig, tool_ids: set[str] | None = None) -> Report:
    """Check a pathway against section 3.7 and against the agent it belongs to.

    Errors (the pathway cannot be saved or run): no start node; a duplicate node or edge
    id; an edge whose source or target is not a node; an unknown ``data.type``; a start,
    prompt or end node without a title (``title`` or ``label``) or a prompt; a goto whose
    ``referenceNodeId`` is not a node (``null`` is allowed: a no-op); an edge leaving an
    end node; a ``tools`` entry that is neither built in nor in ``tool_ids`` (checked only when ``tool_ids`` is
    given); ``isGlobalNode`` on a node that is not a prompt node; a ``data.expression``
    that does not parse.

    Warnings (saved anyway): no end node; a node the start node cannot reach (every global
    node counts as reachable from every regular node, a goto as an edge to its reference);
    a node with no way on to an end node (checked when there is an end, and a node with a
    built-in ending tool counts as one); a cycle of gotos; more than one start node (the
    first is used); a goto without a title; an edge leaving a goto (never followed); a
    global node without a ``globalNodeReason`` (what the model reads to decide to jump); an
    expression that reads a variable the agent neither extracts nor declares as a session
    variable; an edge with an empty condition (unless it has an expression: the model reads
    only "go to <target>", so it follows the edge at random or never; Pathors saves such an
    edge, and an editor saves half-drawn ones); a ``variableKeys`` entry not in the agent's ``variableConfigs`` (the engine
    extracts only declared keys, so the node runs without it).

    An undeclared variable key is a warning, not an error, as in Pathors: switching an
    agent's variables takes two saves (the agent's ``variableConfigs``, the pathway's
    ``variableKeys``), and refusing either one while the other is pending leaves no order
    of the two that succeeds.
    """
    errors: list[Issue] = []
    warnings: list[Issue] = []

    index_of: dict[str, int] = {}
    for index, node in enumerate(pathway.nodes):
        if node.id in index_of:
            message = f'nodes[{index}] has the id "{node.id}", already used by nodes[{index_of[node.id]}]; '
            message += "give each node a unique id"
            errors.append(Issue("duplicate_node_id", message, node_id=node.id, field=f"nodes[{index}].id"))
        else:
            index_of[node.id] = index
    by_id = {node_id: pathway.nodes[index] for node_id, index in index_of.items()}

    starts = [(index, node) for index, node in enumerate(pathway.nodes) if node.kind == "start"]
    if not starts:
        message = (
            'the pathway has no start node; add a node with data.type "start" (conversations begin there)'
        )
        errors.append(Issue("no_start_node", message))
    for index, extra in starts[1:]:
        message = (
            f'node "{extra.id}" is a second start node and only the first, "{starts[0][1].id}", is used; '
        )
        message += 'change its data.type to "prompt"'
        field_ = f"nodes[{index}].data.type"
        warnings.append(Issue("multiple_start_nodes", message, node_id=extra.id, field=field_))
    ending = [
        node for node in by_id.values() if node.kind == "end" or BUILTIN_TOOLS.intersection(node.data.tools)
    ]
    if not ending:
        message = 'the pathway has no end node; add a node with data.type "end" so conversations can finish'
        warnings.append(Issue("no_end_node", message))

    variable_keys = {variable.key for variable in agent.variable_configs or ()}
    for index, node in enumerate(pathway.nodes):
        _check_node(f"nodes[{index}]", node, by_id, errors, warnings)
    warnings.extend(unknown_variable_keys(pathway, agent))
    if tool_ids is not None:
        errors.extend(unknown_tools(pathway, tool_ids))
    edge_index_of: dict[str, int] = {}
    for index, edge in enumerate(pathway.edges):
        path = f"edges[{index}]"
        if edge.id in edge_index_of:
            message = (
                f'edges[{index}] has the id "{edge.id}", already used by edges[{edge_index_of[edge.id]}]; '
            )
            message += "give each edge a unique id"
            errors.append(Issue("duplicate_edge_id", message, edge_id=edge.id, field=f"{path}.id"))
        else:
            edge_index_of[edge.id] = index
        for end, node_id in (("source", edge.source), ("target", edge.target)):
            if node_id not in by_id:
                message = f'edge "{edge.id}": {end} "{node_id}" is not a node of this pathway'
                message += f"{_did_you_mean(node_id, by_id)}; point it at an existing node or delete the edge"
                errors.append(Issue(f"edge_{end}_missing", message, edge_id=edge.id, field=f"{path}.{end}"))
        source = by_id.get(edge.source)
        if source is not None and source.kind == "end":
            message = (
                f'edge "{edge.id}" leaves end node "{source.id}", but an end node finishes the conversation; '
            )
            message += 'delete the edge, or change the node\'s data.type to "prompt"'
            errors.append(
                Issue(
                    "end_node_has_edges", message, node_id=source.id, edge_id=edge.id, field=f"{path}.source"
                )
            )
        elif source is not None and source.kind == "goto":
            message = (
                f'edge "{edge.id}" leaves goto node "{source.id}", but a goto moves on at once, so the edge '
            )
            message += "is never followed; delete it (set the goto's data.referenceNodeId instead)"
            warnings.append(
                Issue("goto_has_edges", message, node_id=source.id, edge_id=edge.id, field=f"{path}.source")
            )
        if edge.data.expression is not None:
            errors_, warnings_ = _check_expression(edge, path, agent, variable_keys)
            errors.extend(errors_)
            warnings.extend(warnings_)
            if edge.expression is not None:
                continue  # an expression edge needs no plain-language condition
        if not edge.condition.strip():
            message = f'edge "{edge.id}" ({edge.source} -> {edge.target}) has no condition, so the model '
            message += f'reads only "go to {edge.target}" and may follow it at any turn or never; write when '
            message += (
                'the conversation should follow it, in the words a user would use ("The user wants to ...")'
            )
            warnings.append(
                Issue("empty_condition", message, edge_id=edge.id, field=f"{path}.data.condition")
            )

    warnings.extend(_graph_warnings(pathway, by_id, index_of, ending))
    return Report(errors=errors, warnings=warnings)


def _check_expression(
    edge: Edge, path: str, agent: AgentConfig, variable_keys: Collection[str]
) -> tuple[list[Issue], list[Issue]]:
    """An edge's ``data.expression``: it must parse; the variables it reads should exist."""
    at = f"{path}.data.expression"
    text = edge.data.expression or ""
    if not text.strip():
        message = (
            f'edge "{edge.id}" from node "{edge.source}" has an empty data.expression; write a condition '
        )
        message += "such as party_size > 8, or remove data.expression to use the plain-language condition"
        return [Issue("invalid_expression", message, node_id=edge.source, edge_id=edge.id, field=at)], []
    try:
        parsed = parse_expression(text)
    except ExpressionError as error:
        message = f'edge "{edge.id}" from node "{edge.source}": the expression {text[:80]!r} is not valid: '
        message += f"{error}"
        return [Issue("invalid_expression", message, node_id=edge.source, edge_id=edge.id, field=at)], []
    known = set(variable_keys) | set(agent.session_variables or ())
    warnings = []
    for name in parsed.names:
        if root_name(name) not in known:
            message = (
                f'edge "{edge.id}" from node "{edge.source}" reads the variable "{root_name(name)}", which '
            )
            message += "is neither an extracted variable (variableConfigs) nor a declared session variable "
            message += "(sessionVariables); until it is set, comparisons with it are false"
            warnings.append(
                Issue("unknown_expression_variable", message, node_id=edge.source, edge_id=edge.id, field=at)
            )
    return [], warnings


def ensure_valid(
    pathway: Pathway, agent: AgentConfig, tool_ids: set[str] | None = None, limits: SizeLimits | None = None
) -> Report:
    """Validate, with the size limits of a saved pathway (:func:`size_issues`); raise
    ``PathwayError`` when there are errors, else return the report.

    The error's message is the first error's; its ``details`` are ``Report.to_json()``
    (``{"errors": [...], "warnings": [...]}``).
    """
    too_big = size_issues(pathway, limits)
    if too_big:
        raise PathwayError(summary(too_big), details=Report(errors=too_big).to_json(), code="invalid_pathway")
    report = validate_pathway(pathway, agent, tool_ids)
    if report.errors:
        raise PathwayError(summary(report.errors), details=report.to_json(), code="invalid_pathway")
    return report


def size_issues(pathway: Pathway, limits: SizeLimits | None = None) -> list[Issue]:
    """The limits a saved pathway passes (:class:`SizeLimits`), checked first and cheaply:
    a pathway past them is not validated further."""
    limits = limits or SizeLimits()
    issues: list[Issue] = []
    if len(pathway.nodes) > limits.nodes:
        message = f"the pathway has {len(pathway.nodes):,} nodes; at most {limits.nodes:,} are allowed: "
        message += "split it into several agents, or merge steps that say the same thing"
        message += " (the server's limit: PATHWEAVER_MAX_PATHWAY_NODES)"
        issues.append(Issue("too_many_nodes", message, field="nodes"))
    if len(pathway.edges) > limits.edges:
        message = f"the pathway has {len(pathway.edges):,} edges; at most {limits.edges:,} are allowed: "
        message += "split it into several agents (the server's limit: PATHWEAVER_MAX_PATHWAY_EDGES)"
        issues.append(Issue("too_many_edges", message, field="edges"))
    for source, edges in pathway.outgoing.items():
        if len(edges) > limits.edges_per_node:
            message = (
                f'node "{source}" has {len(edges):,} edges out; at most {limits.edges_per_node} are allowed '
            )
            message += "(the model chooses among them at every turn there): group the choices behind "
            message += "intermediate nodes"
            issues.append(Issue("too_many_edges_from_node", message, node_id=source))
    if not issues:
        size = len(json.dumps(pathway.to_json(), ensure_ascii=False, separators=(",", ":")).encode())
        if size > limits.bytes:
            message = f"the pathway is {size:,} bytes of JSON; at most {limits.bytes:,} are allowed: "
            message += "shorten the prompts, or split it into several agents"
            issues.append(Issue("pathway_too_large", message))
    return issues


def unknown_tools(pathway: Pathway, tool_ids: Collection[str]) -> list[Issue]:
    """Each ``tools`` entry that is neither built in nor one of ``tool_ids`` (a tool never
    created, or deleted since). The engine skips it (the node runs without it): an error
    for ``validate_pathway`` and the lint, a warning when a pathway is saved."""
    known = {*tool_ids, *BUILTIN_TOOLS}
    issues = []
    for index, node in enumerate(pathway.nodes):
        for tool_index, tool in enumerate(node.data.tools):
            if tool in known:
                continue
            message = f'{node.data.type} node "{node.id}": tools has "{tool}"{_did_you_mean(tool, known)}, '
            message += "which is not a tool of this project, so the node runs without it; create the "
            message += "tool or remove it from the node"
            field_ = f"nodes[{index}].data.tools[{tool_index}]"
            issues.append(Issue("unknown_tool", message, node_id=node.id, field=field_))
    return issues


def unknown_knowledge_bases(pathway: Pathway, kb_ids: Collection[str]) -> list[Issue]:
    """Each node ``knowledgeBaseId`` that is not a knowledge base of the project (never
    created, or deleted since): a warning when a pathway is saved, as the turn then runs
    without knowledge (its trace records the missing base)."""
    issues = []
    for index, node in enumerate(pathway.nodes):
        kb_id = node.data.knowledge_base_id
        if not kb_id or kb_id in kb_ids:
            continue
        message = (
            f'{node.data.type} node "{node.id}": knowledgeBaseId "{kb_id}"{_did_you_mean(kb_id, kb_ids)} '
        )
        message += "is not a knowledge base of this project, so the node answers without knowledge; "
        message += "create the knowledge base (POST /knowledgebases) or clear the field"
        field_ = f"nodes[{index}].data.knowledgeBaseId"
        issues.append(Issue("unknown_knowledge_base", message, node_id=node.id, field=field_))
    return issues


def unknown_post_session_keys(agent: AgentConfig) -> list[Issue]:
    """Each ``postSessionVariableKeys`` entry the agent's ``variableConfigs`` does not declare:
    the end-of-session extraction skips it (a warning when the agent is saved)."""
    declared = {variable.key for variable in agent.variable_configs or ()}
    issues = []
    for index, key in enumerate(agent.post_session_variable_keys or ()):
        if key in declared:
            continue
        message = f'postSessionVariableKeys has "{key}"{_did_you_mean(key, declared)}, which is not in the '
        message += "agent's variableConfigs, so it is never extracted at the end of a session; define it "
        message += "in variableConfigs or remove it"
        issues.append(Issue("unknown_variable_key", message, field=f"postSessionVariableKeys[{index}]"))
    return issues


def unknown_variable_keys(pathway: Pathway, agent: AgentConfig) -> list[Issue]:
    """Each ``variableKeys`` entry that is not a key of the agent's ``variableConfigs``
    (a warning: the engine extracts only declared keys, so the node runs without it)."""
    declared = {variable.key for variable in agent.variable_configs or ()}
    issues = []
    for index, node in enumerate(pathway.nodes):
        for key_index, key in enumerate(node.data.variable_keys):
            if key in declared:
                continue
            message = f'{node.data.type} node "{node.id}": variableKeys has "{key}"'
            message += f"{_did_you_mean(key, declared)}, which is not in the agent's variableConfigs, so the "
            message += "node does not extract it; define it on the agent or remove it from the node"
            field_ = f"nodes[{index}].data.variableKeys[{key_index}]"
            issues.append(Issue("unknown_variable_key", message, node_id=node.id, field=field_))
    return issues


def _check_node(
    path: str,
    node: Node,
    by_id: Mapping[str, Node],
    errors: list[Issue],
    warnings: list[Issue],
) -> None:
    data, name = node.data, f'{node.data.type} node "{node.id}"'

    def issue(code: str, message: str, at: str) -> Issue:
        return Issue(code, message, node_id=node.id, field=f"{path}.{at}")

    if data.type not in NODE_KINDS:
        message = f'node "{node.id}": data.type is "{data.type}"{_did_you_mean(data.type, NODE_KINDS)}; '
        errors.append(issue("unknown_node_type", message + f"use one of {_KINDS}", "data.type"))
    if data.type in _SPEAKING_KINDS:
        if not data.display_title.strip():
            message = f"{name} has no title{_misspelt(node, 'title')}; give it a short one in data.title"
            errors.append(issue("missing_title", message, "data.title"))
        if not (data.prompt or "").strip():
            message = f"{name} has no prompt{_misspelt(node, 'prompt')}; "
            message += "write in data.prompt what the agent should do in this step"
            errors.append(issue("missing_prompt", message, "data.prompt"))
    if data.type == "goto":
        if not data.display_title.strip():
            message = f"{name} has no title; give it one in data.title so the canvas and traces can name it"
            warnings.append(issue("missing_title", message, "data.title"))
        reference = data.reference_node_id
        if reference is not None and reference not in by_id:
            message = f'{name}: data.referenceNodeId "{reference}" is not a node of this pathway'
            message += (
                f"{_did_you_mean(reference, by_id)}; point it at an existing node (or null to stay put)"
            )
            errors.append(issue("goto_target_missing", message, "data.referenceNodeId"))
    if data.is_global_node and data.type != "prompt":
        message = f"{name} has isGlobalNode true, but only prompt nodes can be global; "
        message += 'change its data.type to "prompt" or remove isGlobalNode'
        errors.append(issue("global_not_prompt", message, "data.isGlobalNode"))
    elif node.is_global and not (data.global_node_reason or "").strip():
        message = (
            f'global node "{node.id}" has no globalNodeReason; write when the conversation should jump here '
        )
        message += 'from anywhere ("The user asks to talk to a human")'
        warnings.append(issue("missing_global_reason", message, "data.globalNodeReason"))


def _graph_warnings(
    pathway: Pathway, by_id: Mapping[str, Node], index_of: Mapping[str, int], ending: list[Node]
) -> Iterator[Issue]:
    """Goto cycles, unreachable nodes and dead ends, each found in one linear pass."""
    kind_of = {node_id: node.data.type for node_id, node in by_id.items()}
    goto_to = {
        node_id: node.data.reference_node_id for node_id, node in by_id.items() if kind_of[node_id] == "goto"
    }
    global_ids = {node_id for node_id, node in by_id.items() if node.is_global}
    # Regular nodes are where the conversation rests; every global node is one jump away.
    regular_ids = {node_id for node_id, kind in kind_of.items() if kind not in ("end", "goto")} - global_ids
    successors: dict[str, list[str]] = {}
    predecessors: dict[str, list[str]] = {}
    for edge in pathway.edges:
        # Edges out of end and goto nodes are never followed (reported above).
        if kind_of.get(edge.source, "end") not in ("end", "goto") and edge.target in kind_of:
            successors.setdefault(edge.source, []).append(edge.target)
            predecessors.setdefault(edge.target, []).append(edge.source)
    for node_id, reference in goto_to.items():
        if reference is not None and reference in kind_of:
            successors.setdefault(node_id, []).append(reference)
            predecessors.setdefault(reference, []).append(node_id)

    cycles = _goto_cycles(goto_to)
    for cycle in cycles:
        head = cycle[0]
        if len(cycle) == 1:
            message = (
                f'goto node "{head}" points at itself; point it at the node the conversation should go to'
            )
        else:
            loop = " -> ".join(f'"{node_id}"' for node_id in [*cycle, head])
            message = f"goto nodes {loop} send the conversation round in a circle with no node to stop at; "
            message += "point one of them at a prompt node"
        yield Issue(
            "goto_cycle", message, node_id=head, field=f"nodes[{index_of[head]}].data.referenceNodeId"
        )

    start = pathway.start_node()
    in_play: Collection[str] = kind_of  # with no start node (an error already) reachability means nothing
    if start is not None:
        in_play = _closure([start.id], successors, jumps_from=regular_ids, jump_to=global_ids)
        for node_id, kind in kind_of.items():
            if node_id in in_play or kind == "start":  # extra start nodes have their own warning
                continue
            message = f'node "{node_id}" cannot be reached from the start node "{start.id}"; '
            message += "add an edge (or a goto) into it, or delete it"
            yield Issue("unreachable_node", message, node_id=node_id, field=f"nodes[{index_of[node_id]}]")

    if not ending:
        return
    # Backwards from the ends: a global node that can end makes every regular node able to.
    can_end = _closure([node.id for node in ending], predecessors, jumps_from=global_ids, jump_to=regular_ids)
    in_cycle = {node_id for cycle in cycles for node_id in cycle}
    for node_id, kind in kind_of.items():
        if node_id in can_end or node_id not in in_play or node_id in in_cycle or kind == "end":
            continue
        if kind == "goto" and goto_to[node_id] is None:
            continue  # a goto to null is a no-op: the conversation stays where it was
        message = (
            f'node "{node_id}" has no way on to an end node; add an edge from it (or from a node after it) '
        )
        message += "that leads towards an end node"
        yield Issue("cannot_reach_end", message, node_id=node_id, field=f"nodes[{index_of[node_id]}]")


def _closure(
    seeds: list[str], links: Mapping[str, list[str]], *, jumps_from: Collection[str], jump_to: Collection[str]
) -> set[str]:
    """Every node reached from ``seeds`` along ``links``. Reaching any node in ``jumps_from``
    also reaches all of ``jump_to``: the implicit global transitions, walked once
    (forwards: regular -> every global; backwards: every regular <- a global).
    """
    seen = set(seeds)
    queue = deque(seeds)
    jumped = False
    while queue:
        node_id = queue.popleft()
        targets: Iterable[str] = links.get(node_id, ())
        if not jumped and node_id in jumps_from:
            jumped = True
            targets = [*targets, *jump_to]
        for target in targets:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _goto_cycles(goto_to: Mapping[str, str | None]) -> list[list[str]]:
    """Cycles made only of gotos. Each goto has one next node, so one walk finds them all."""
    done: set[str] = set()
    cycles: list[list[str]] = []
    for first in goto_to:
        path: list[str] = []
        position: dict[str, int] = {}
        current: str | None = first
        while current is not None and current in goto_to and current not in done and current not in position:
            position[current] = len(path)
            path.append(current)
            current = goto_to[current]
        if current is not None and current in position:
            cycles.append(path[position[current] :])
        done.update(path)
    return cycles


def _did_you_mean(value: str, candidates: Collection[str]) -> str:
    if len(candidates) > _SUGGEST_LIMIT:
        return ""
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _misspelt(node: Node, name: str) -> str:
    """A hint when the data holds a near miss of ``name`` (kept as an unknown field)."""
    close = difflib.get_close_matches(name, list(node.data.model_extra or {}), n=1, cutoff=0.6)
    return f' (data has "{close[0]}"; did you mean "{name}"?)' if close else ""
